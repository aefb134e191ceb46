//! Whiteouts and opaque directories in both modes. Overlay mode needs root (0:0 character devices,
//! `trusted.*` xattrs, an overlayfs mount) and runs only with `BERTH_ROOT_TESTS=1`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::layer::{apply, diff_upper, ApplyOptions, DiffOptions, WhiteoutMode};

use crate::support::{root_tests, RawTar};

fn lower_layer() -> Vec<u8> {
    RawTar::new()
        .dir("a")
        .file("a/x", b"x")
        .file("a/y", b"y")
        .dir("b")
        .file("b/old", b"old")
        .dir("b/sub")
        .file("b/sub/deep", b"deep")
        .dir("c")
        .file("c/old", b"old")
        .dir("d")
        .file("d/gone", b"")
        .end()
}

/// Whiteouts of a file and a directory, an opaque marker before the new content (b) and one after
/// it (c), and aufs metadata that must be ignored.
fn upper_layer() -> Vec<u8> {
    RawTar::new()
        .file("a/.wh.x", b"")
        .file(".wh.d", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"new")
        .dir("c")
        .file("c/sub/new2", b"new2") // c/sub only implied
        .file("c/.wh..wh..opq", b"")
        .file(".wh..wh.plnk", b"")
        .end()
}

fn names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const MERGED: [&str; 8] = [
    "a",
    "a/y",
    "b",
    "b/new",
    "c",
    "c/sub",
    "c/sub/new2",
    "merged-marker",
];

#[test]
fn delete_mode_removes_and_keeps_this_layers_entries() {
    let base = tempfile::tempdir().unwrap();
    let opts = ApplyOptions::new(WhiteoutMode::Delete);
    apply(&lower_layer()[..], base.path(), &opts).unwrap();
    fs::write(base.path().join("merged-marker"), b"").unwrap();
    apply(&upper_layer()[..], base.path(), &opts).unwrap();
    assert_eq!(names(base.path()), MERGED);
}

#[test]
fn whiteout_of_missing_names_is_harmless_in_delete_mode() {
    let base = tempfile::tempdir().unwrap();
    let layer = RawTar::new()
        .file("nodir/.wh.x", b"")
        .file(".wh.absent", b"")
        .file("nodir2/.wh..wh..opq", b"")
        .end();
    apply(
        &layer[..],
        base.path(),
        &ApplyOptions::new(WhiteoutMode::Delete),
    )
    .unwrap();
    assert!(names(base.path()).is_empty());
}

/// An overlay mount, unmounted on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn overlay_mode_matches_overlayfs_and_diffs_back() {
    if !root_tests() {
        return;
    }
    let base = tempfile::Builder::new()
        .prefix("berth-layer-ovl-")
        .tempdir()
        .unwrap();
    let p = |n: &str| base.path().join(n);
    for d in ["lower", "upper", "work", "merged", "again"] {
        fs::create_dir(p(d)).unwrap();
    }
    let opts = ApplyOptions::new(WhiteoutMode::Overlay);
    apply(&lower_layer()[..], &p("lower"), &opts).unwrap();
    fs::write(p("lower/merged-marker"), b"").unwrap();
    apply(&upper_layer()[..], &p("upper"), &opts).unwrap();

    let wh = fs::symlink_metadata(p("upper/a/x")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "a/x is a whiteout device"
    );
    assert!(fs::symlink_metadata(p("upper/d"))
        .unwrap()
        .file_type()
        .is_char_device());
    for dir in ["b", "c"] {
        let v = xattr::get(p("upper").join(dir), "trusted.overlay.opaque").unwrap();
        assert_eq!(v.as_deref(), Some(&b"y"[..]), "{dir} is opaque");
    }

    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        p("lower").display(),
        p("upper").display(),
        p("work").display()
    );
    nix::mount::mount(
        Some("overlay"),
        &p("merged"),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .unwrap();
    let mount = Mount(p("merged"));
    assert_eq!(names(&p("merged")), MERGED);
    drop(mount);

    // The upper dir diffs back to a layer with the same whiteouts, and that layer is stable.
    let mut layer = Vec::new();
    diff_upper(&p("upper"), &mut layer, &DiffOptions::default()).unwrap();
    let mut ar = tar::Archive::new(&layer[..]);
    let paths: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    for want in [
        ".wh.d",
        "a/.wh.x",
        "b/.wh..wh..opq",
        "c/.wh..wh..opq",
        "b/new",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} missing from {paths:?}"
        );
    }
    assert!(!paths.iter().any(|p| p.contains("plnk")));
    apply(&layer[..], &p("again"), &opts).unwrap();
    let mut twice = Vec::new();
    diff_upper(&p("again"), &mut twice, &DiffOptions::default()).unwrap();
    assert!(layer == twice, "diff_upper(apply(diff_upper(x))) differs");
}
