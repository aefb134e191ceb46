//! Helpers: stores in temp dirs, layer tars and archives built in memory, and a store fingerprint.

use std::io::Write;
use std::path::Path;

use berth_image::formats::import::ImportOptions;
use berth_image::snapshot::PlainSnapshotter;
use berth_image::ImageStore;

/// A store with a plain-copy snapshotter under `dir`.
pub fn open_store(dir: &Path) -> ImageStore {
    let snaps = PlainSnapshotter::open(&dir.join("snapshots")).expect("snapshotter");
    ImageStore::open(&dir.join("images"), Box::new(snaps)).expect("store")
}

/// A tar with the given regular files (deterministic headers).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

/// Gzips bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// Imports a rootfs tar under `name`.
pub fn import(store: &ImageStore, name: &str, files: &[(&str, &[u8])]) -> String {
    let opts = ImportOptions {
        reference: Some(name.to_string()),
        changes: vec!["CMD [\"/bin/sh\"]".to_string()],
        created: Some("2026-01-01T00:00:00Z".to_string()),
        ..Default::default()
    };
    store
        .import(&tar_of(files)[..], &opts)
        .expect("import")
        .to_string()
}

/// Everything observable in a store: images with names, blobs, snapshots.
#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub images: Vec<(String, Vec<String>)>,
    pub blobs: Vec<String>,
    pub snapshots: Vec<String>,
}

pub fn fingerprint(store: &ImageStore) -> Fingerprint {
    let mut images: Vec<_> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|i| (i.id.to_string(), i.repo_tags))
        .collect();
    images.sort();
    Fingerprint {
        images,
        blobs: store
            .content()
            .list()
            .expect("blobs")
            .into_iter()
            .map(|(d, _)| d.to_string())
            .collect(),
        snapshots: store
            .snapshotter()
            .list()
            .expect("snapshots")
            .into_iter()
            .map(|s| s.name)
            .collect(),
    }
}

/// Asserts `check()` finds nothing.
pub fn assert_clean(store: &ImageStore) {
    let report = store.check().expect("check");
    assert!(report.is_clean(), "store not clean: {:#?}", report.problems);
}

/// Whether a command exists.
pub fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a command, panicking with its stderr on failure.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
