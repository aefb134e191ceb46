//! The conformance suite run against both snapshotters, plus backend-specific tests: the plain
//! copy's metadata fidelity and the overlay's many-layer mount options (mounted as root when
//! `BERTH_ROOT_TESTS=1`).

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use super::conformance::{conformance, layer_chain, root_tests, tree_of, Mounted};
use super::*;

#[test]
fn plain_snapshotter_conforms() {
    conformance(|root: &Path| PlainSnapshotter::open(root).unwrap());
}

#[test]
fn overlay_snapshotter_conforms() {
    conformance(|root: &Path| OverlaySnapshotter::open(root).unwrap());
}

#[test]
fn whiteout_modes() {
    let root = tempfile::tempdir().unwrap();
    let overlay = OverlaySnapshotter::open(&root.path().join("o")).unwrap();
    let plain = PlainSnapshotter::open(&root.path().join("p")).unwrap();
    assert_eq!(overlay.whiteout_mode(), crate::layer::WhiteoutMode::Overlay);
    assert_eq!(plain.whiteout_mode(), crate::layer::WhiteoutMode::Delete);
}

#[test]
fn plain_copy_preserves_types_modes_links_times_and_xattrs() {
    let root = tempfile::tempdir().unwrap();
    let s = PlainSnapshotter::open(root.path()).unwrap();
    s.prepare("a", None).unwrap();
    let w = s.writable_dir("a").unwrap();
    fs::create_dir(w.join("dir")).unwrap();
    fs::write(w.join("dir/tool"), "#!/bin/sh").unwrap();
    fs::set_permissions(w.join("dir/tool"), fs::Permissions::from_mode(0o4751)).unwrap();
    fs::hard_link(w.join("dir/tool"), w.join("tool-link")).unwrap();
    symlink("dir/tool", w.join("sym")).unwrap();
    symlink("/nonexistent/outside", w.join("dangling")).unwrap();
    nix::unistd::mkfifo(
        &w.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    filetime::set_symlink_file_times(w.join("sym"), old, old).unwrap();
    filetime::set_file_mtime(w.join("dir/tool"), old).unwrap();
    let xattr_ok = xattr::set(w.join("dir/tool"), "user.berth", b"yes").is_ok();
    let privileged = nix::unistd::geteuid().is_root();
    if privileged {
        std::os::unix::fs::lchown(w.join("dir/tool"), Some(1234), Some(5678)).unwrap();
        fs::set_permissions(w.join("dir/tool"), fs::Permissions::from_mode(0o4751)).unwrap();
    }
    fs::set_permissions(w.join("dir"), fs::Permissions::from_mode(0o750)).unwrap();
    filetime::set_file_mtime(w.join("dir"), old).unwrap();
    s.commit("l", "a").unwrap();

    s.prepare("b", Some("l")).unwrap();
    let c = s.writable_dir("b").unwrap();
    let meta = |p: &str| fs::symlink_metadata(c.join(p)).unwrap();
    assert_eq!(meta("dir/tool").mode() & 0o7777, 0o4751);
    assert_eq!(meta("dir").mode() & 0o7777, 0o750);
    assert_eq!(meta("dir").mtime(), 1_000_000_000);
    assert_eq!(meta("dir/tool").mtime(), 1_000_000_000);
    assert_eq!(meta("sym").mtime(), 1_000_000_000);
    assert_eq!(
        meta("dir/tool").ino(),
        meta("tool-link").ino(),
        "hard link kept"
    );
    assert_eq!(fs::read_link(c.join("sym")).unwrap(), Path::new("dir/tool"));
    assert_eq!(
        fs::read_link(c.join("dangling")).unwrap(),
        Path::new("/nonexistent/outside")
    );
    assert!(meta("fifo").file_type().is_fifo_like());
    assert_eq!(fs::read_to_string(c.join("dir/tool")).unwrap(), "#!/bin/sh");
    if xattr_ok {
        assert_eq!(
            xattr::get(c.join("dir/tool"), "user.berth").unwrap(),
            Some(b"yes".to_vec())
        );
    }
    if privileged {
        assert_eq!(
            (meta("dir/tool").uid(), meta("dir/tool").gid()),
            (1234, 5678)
        );
    }
    // The copy is independent of its parent.
    fs::write(c.join("dir/tool"), "changed").unwrap();
    let parent_tree = tree_of(&s.mounts("l").unwrap()).unwrap();
    assert_eq!(parent_tree["dir/tool"], "#!/bin/sh");
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

/// Options of a 125-layer overlay fit in one page even under a long root, via relative short links.
#[test]
fn overlay_125_layers_fit_in_one_page() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a-deliberately-long-data-root-".repeat(3));
    let s = OverlaySnapshotter::open(&root).unwrap();
    layer_chain(&s, 125);
    let mounts = s.prepare("container", Some("layer-124")).unwrap();
    let [m] = mounts.as_slice() else {
        panic!("one overlay mount expected: {mounts:?}")
    };
    assert_eq!(m.kind, "overlay");
    assert!(
        m.options.join(",").len() <= MOUNT_OPTIONS_MAX,
        "{}",
        m.options.join(",").len()
    );
    assert_eq!(
        m.cwd.as_deref(),
        Some(root.as_path()),
        "relative form needed"
    );
    let lower = m.options[0].strip_prefix("lowerdir=").unwrap();
    let lowers: Vec<&str> = lower.split(':').collect();
    assert_eq!(lowers.len(), 125);
    // Nearest layer first; each short link resolves to its layer's tree.
    let top = fs::read_to_string(root.join(lowers[0]).join("f124")).unwrap();
    let bottom = fs::read_to_string(root.join(lowers[124]).join("f0")).unwrap();
    assert_eq!((top.as_str(), bottom.as_str()), ("124", "0"));

    // A short chain keeps absolute paths and needs no cwd.
    let few = s.view("few", Some("layer-1")).unwrap();
    assert_eq!(few[0].cwd, None);
    assert!(few[0].options[0].contains(&root.display().to_string()));

    if root_tests() {
        let mounted = Mounted::new(&mounts);
        let merged = mounted.dir.path();
        for i in [0, 1, 62, 124] {
            assert_eq!(
                fs::read_to_string(merged.join(format!("f{i}"))).unwrap(),
                i.to_string()
            );
        }
        fs::write(merged.join("written"), "by the container").unwrap();
        drop(mounted);
        let upper = s.writable_dir("container").unwrap();
        assert_eq!(
            fs::read_to_string(upper.join("written")).unwrap(),
            "by the container"
        );
    }
}

/// Root only: an opaque directory and a whiteout in an upper layer hide the lower content.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn overlay_mount_applies_whiteouts_and_opaque_dirs() {
    if !root_tests() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::open(tmp.path()).unwrap();
    s.prepare("a", None).unwrap();
    let w = s.writable_dir("a").unwrap();
    fs::create_dir_all(w.join("opaque")).unwrap();
    fs::write(w.join("opaque/old"), "old").unwrap();
    fs::write(w.join("deleted"), "x").unwrap();
    fs::write(w.join("kept"), "k").unwrap();
    s.commit("l1", "a").unwrap();
    s.prepare("b", Some("l1")).unwrap();
    let w = s.writable_dir("b").unwrap();
    fs::create_dir(w.join("opaque")).unwrap();
    xattr::set(w.join("opaque"), "trusted.overlay.opaque", b"y").unwrap();
    fs::write(w.join("opaque/new"), "new").unwrap();
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    mknod(
        &w.join("deleted"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .unwrap();
    s.commit("l2", "b").unwrap();
    s.view("v", Some("l2")).unwrap();
    let t = tree_of(&s.mounts("v").unwrap()).unwrap();
    let names: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(names, ["kept", "opaque", "opaque/new"]);
}
