//! The store over the overlayfs snapshotter with real mounts: whiteouts and opaque directories of a
//! loaded image take effect in a container's rootfs, and `commit_container` captures its changes.
//! Needs root: opt in with `BERTH_ROOT_TESTS=1`; opted in without root, the test fails.

use std::path::{Path, PathBuf};

use berth_image::snapshot::{mount_all, unmount_all, OverlaySnapshotter};
use berth_image::store::CommitOptions;
use berth_image::ImageStore;
use berth_oci::Digest;

use crate::common::*;

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

/// Unmounts on drop, so a failing assertion leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_all(&self.0);
    }
}

/// A docker archive of two layers: the second deletes `a` and makes `d` opaque.
fn whiteout_archive() -> Vec<u8> {
    let l1 = tar_of(&[("a", b"a"), ("b", b"b"), ("d/x", b"x")]);
    let l2 = tar_of(&[(".wh.a", b""), ("d/.wh..wh..opq", b""), ("d/y", b"y")]);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        Digest::sha256_of(&l1),
        Digest::sha256_of(&l2)
    );
    let config_name = format!("{}.json", Digest::sha256_of(config.as_bytes()).hex());
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["wh:1"],"Layers":["1/layer.tar","2/layer.tar"]}}]"#
    );
    let files: Vec<(&str, &[u8])> = vec![
        ("1/layer.tar", &l1),
        ("2/layer.tar", &l2),
        (&config_name, config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ];
    tar_of(&files)
}

fn open_overlay(dir: &Path) -> ImageStore {
    let snaps = OverlaySnapshotter::open(&dir.join("snapshots")).unwrap();
    ImageStore::open(&dir.join("images"), Box::new(snaps)).unwrap()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn overlay_rootfs_honours_whiteouts_and_commit_captures_changes() {
    if !root_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open_overlay(dir.path());
    store.load(&whiteout_archive()[..], None).unwrap();
    let mounts = store.prepare_container_rootfs("wh:1", "ctr-ovl").unwrap();
    let target = dir.path().join("rootfs");
    std::fs::create_dir(&target).unwrap();
    mount_all(&mounts, &target).unwrap();
    let guard = Mounted(target.clone());
    assert!(!target.join("a").exists());
    assert!(target.join("b").exists());
    assert!(!target.join("d/x").exists());
    assert_eq!(std::fs::read(target.join("d/y")).unwrap(), b"y");
    std::fs::write(target.join("c"), b"c").unwrap();
    std::fs::remove_file(target.join("b")).unwrap();
    drop(guard);

    let child = store
        .commit_container("wh:1", "ctr-ovl", &CommitOptions::default())
        .unwrap();
    store.release_container("ctr-ovl").unwrap();
    let top = store.unpack(child.as_str()).unwrap().unwrap();
    let mut flat = Vec::new();
    store.export_snapshot(&top, &mut flat).unwrap();
    let names: Vec<String> = tar::Archive::new(&flat[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n.ends_with('c')), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with('b') || n.ends_with('a')),
        "{names:?}"
    );
    assert_clean(&store);
    store.remove(child.as_str(), false).unwrap();
    store.remove("wh:1", false).unwrap();
    let fp = fingerprint(&store);
    assert!(fp.blobs.is_empty() && fp.snapshots.is_empty(), "{fp:?}");
}
