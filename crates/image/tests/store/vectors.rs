//! Bad input: each vector fails with a clear error and leaves the store exactly as before (no new
//! blob, snapshot or name). The vectors are generated deterministically here.

use berth_image::store::SaveFormat;
use berth_oci::Digest;

use crate::common::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Tar of named members.
pub fn archive(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    tar_of(&refs)
}

fn blob(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// A valid one-layer OCI layout: (layer, config, manifest) bytes plus a hook to tamper.
struct Layout {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn layout(diff_id_override: Option<Digest>) -> Layout {
    let layer = tar_of(&[("hello", b"world")]);
    let diff = diff_id_override.unwrap_or_else(|| Digest::sha256_of(&layer));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        Digest::sha256_of(&config),
        config.len(),
        Digest::sha256_of(&layer),
        layer.len()
    )
    .into_bytes();
    Layout {
        layer,
        config,
        manifest,
    }
}

fn layout_files(l: &Layout, index_entry: String) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".into(),
            format!(r#"{{"schemaVersion":2,"manifests":[{index_entry}]}}"#).into_bytes(),
        ),
        (blob(&Digest::sha256_of(&l.layer)), l.layer.clone()),
        (blob(&Digest::sha256_of(&l.config)), l.config.clone()),
        (blob(&Digest::sha256_of(&l.manifest)), l.manifest.clone()),
    ]
}

fn entry(digest: &Digest, size: usize, media_type: &str) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size},"annotations":{{"io.containerd.image.name":"docker.io/library/victim:1"}}}}"#
    )
}

/// Loads `bytes` into a store holding one image; asserts the error mentions `needle` and that the
/// store is exactly as before.
pub fn assert_rejected(bytes: &[u8], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "existing:1", &[("keep", b"me")]);
    let before = fingerprint(&store);
    let err = store
        .load(bytes, None)
        .expect_err("the vector must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(needle),
        "error {msg:?} should mention {needle:?}"
    );
    assert_eq!(
        fingerprint(&store),
        before,
        "the store changed after: {msg}"
    );
    assert!(store.get("victim:1").is_err());
    assert_clean(&store);
}

#[test]
fn the_valid_layout_loads() {
    let l = layout(None);
    let e = entry(
        &Digest::sha256_of(&l.manifest),
        l.manifest.len(),
        OCI_MANIFEST,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let loaded = store
        .load(&archive(&layout_files(&l, e))[..], None)
        .unwrap();
    assert_eq!(loaded[0].names, vec!["victim:1"]);
    assert_clean(&store);
}

#[test]
fn manifest_size_mismatch() {
    let l = layout(None);
    let e = entry(
        &Digest::sha256_of(&l.manifest),
        l.manifest.len() + 1,
        OCI_MANIFEST,
    );
    assert_rejected(&archive(&layout_files(&l, e)), "size mismatch");
}

#[test]
fn manifest_digest_mismatch() {
    let l = layout(None);
    let wrong = Digest::sha256_of(b"not the manifest");
    let e = entry(&wrong, l.manifest.len(), OCI_MANIFEST);
    let mut files = layout_files(&l, e);
    files.push((blob(&wrong), l.manifest.clone()));
    assert_rejected(&archive(&files), "digest mismatch");
}

#[test]
fn config_digest_mismatch() {
    let mut l = layout(None);
    let real_config = l.config.clone();
    let mut files = {
        let e = entry(
            &Digest::sha256_of(&l.manifest),
            l.manifest.len(),
            OCI_MANIFEST,
        );
        layout_files(&l, e)
    };
    // Same size, other bytes, stored under the config's digest.
    let mut tampered = real_config.clone();
    let pos = tampered.iter().position(|b| *b == b'a').unwrap();
    tampered[pos] = b'b';
    for f in files.iter_mut() {
        if f.0 == blob(&Digest::sha256_of(&real_config)) {
            f.1 = tampered.clone();
        }
    }
    l.config = tampered;
    assert_rejected(&archive(&files), "digest mismatch");
}

#[test]
fn layer_size_mismatch() {
    let l = layout(None);
    let e = entry(
        &Digest::sha256_of(&l.manifest),
        l.manifest.len(),
        OCI_MANIFEST,
    );
    let mut files = layout_files(&l, e);
    for f in files.iter_mut() {
        if f.0 == blob(&Digest::sha256_of(&l.layer)) {
            f.1.truncate(f.1.len() - 512);
        }
    }
    assert_rejected(&archive(&files), "size mismatch");
}

#[test]
fn diff_id_mismatch() {
    let l = layout(Some(Digest::sha256_of(b"another layer")));
    let e = entry(
        &Digest::sha256_of(&l.manifest),
        l.manifest.len(),
        OCI_MANIFEST,
    );
    assert_rejected(&archive(&layout_files(&l, e)), "diff id mismatch");
}

#[test]
fn self_referencing_index() {
    let l = layout(None);
    // The blob stored under digest X is an index listing X itself.
    let x = Digest::sha256_of(b"loop");
    let inner = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_INDEX}","digest":"{x}","size":1}}]}}"#
    )
    .into_bytes();
    let e = entry(&x, inner.len(), OCI_INDEX);
    let mut files = layout_files(&l, e);
    files.push((blob(&x), inner));
    assert_rejected(&archive(&files), "refers to itself");
}

#[test]
fn docker_archive_config_name_mismatch() {
    let layer = tar_of(&[("f", b"1")]);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::sha256_of(&layer)
    );
    let wrong = Digest::sha256_of(b"x");
    let manifest = format!(
        r#"[{{"Config":"{}.json","RepoTags":["victim:1"],"Layers":["l/layer.tar"]}}]"#,
        wrong.hex()
    );
    let files = vec![
        ("manifest.json".to_string(), manifest.into_bytes()),
        (format!("{}.json", wrong.hex()), config.into_bytes()),
        ("l/layer.tar".to_string(), layer),
    ];
    assert_rejected(&archive(&files), "promises");
}

#[test]
fn truncated_archive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "victim:1", &[("big", &vec![7u8; 64 * 1024][..])]);
    let mut full = Vec::new();
    store
        .save(&["victim:1"], SaveFormat::DockerArchive, &mut full)
        .unwrap();
    for cut in [full.len() / 2 + 100, full.len() - 1500] {
        assert_rejected(&full[..cut], "");
    }
}

#[test]
fn gzip_bomb_in_an_import_is_bounded_and_cleaned_up() {
    // A truncated gzip rootfs: the import fails and leaves nothing behind.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let before = fingerprint(&store);
    let gz = gzip(&tar_of(&[("a", &vec![0u8; 100_000][..])]));
    let err = store
        .import(&gz[..gz.len() / 2], &Default::default())
        .expect_err("truncated gzip");
    assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    assert_eq!(fingerprint(&store), before);
    assert_clean(&store);
}
