//! The conformance suite every [`Snapshotter`] passes: lifecycle chains, the refusal and
//! idempotency rules, unknown keys, crash leftovers, reopening and concurrent use.
//!
//! Tree contents are checked through the returned mount descriptions: bind mounts are read at their
//! source without mounting; overlay mounts are really mounted when `BERTH_ROOT_TESTS=1` (which then
//! requires root) and skipped otherwise.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::*;
use crate::layer::WhiteoutMode;

/// Whether the parts of a test that mount run: when built with `BERTH_ROOT_TESTS=1` (the
/// `root_tests` cfg, crates/build-support/root_tests.rs), and then they must run as root.
pub(super) fn root_tests() -> bool {
    if cfg!(root_tests) {
        assert!(
            nix::unistd::geteuid().is_root(),
            "BERTH_ROOT_TESTS=1 but not running as root"
        );
    }
    cfg!(root_tests)
}

/// A temp directory with mounts on it, unmounted on drop (also when a test fails).
pub(super) struct Mounted {
    pub dir: tempfile::TempDir,
}

impl Mounted {
    pub fn new(mounts: &[Mount]) -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        mount_all(mounts, dir.path()).unwrap();
        Mounted { dir }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_all(self.dir.path());
    }
}

/// Path → content (`<dir>`, `-> target`, or the file's text), relative to `root`.
pub(super) fn read_tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, "<dir>".into());
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", fs::read_link(&path).unwrap().display()),
                );
            } else if meta.is_file() {
                out.insert(rel, fs::read_to_string(&path).unwrap());
            } else {
                out.insert(rel, "<special>".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The tree the mounts describe, or `None` when it cannot be seen without privileges.
pub(super) fn tree_of(mounts: &[Mount]) -> Option<BTreeMap<String, String>> {
    if let [m] = mounts {
        if m.kind == "bind" {
            return Some(read_tree(Path::new(&m.source)));
        }
    }
    if !root_tests() {
        return None;
    }
    let mounted = Mounted::new(mounts);
    Some(read_tree(mounted.dir.path()))
}

fn tree(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Deletes `name` in `key` the way a layer apply would for this snapshotter.
/// Returns false when that needs privileges the test does not have.
fn delete(s: &impl Snapshotter, key: &str, name: &str) -> bool {
    let path = s.writable_dir(key).unwrap().join(name);
    match s.whiteout_mode() {
        WhiteoutMode::Delete => {
            fs::remove_file(path).unwrap();
            true
        }
        WhiteoutMode::Overlay => {
            if !nix::unistd::geteuid().is_root() {
                return false;
            }
            use nix::sys::stat::{makedev, mknod, Mode, SFlag};
            mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
            true
        }
    }
}

fn write(s: &impl Snapshotter, key: &str, name: &str, content: &str) {
    let path = s.writable_dir(key).unwrap().join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Runs every case against snapshotters made by `make` (each case in a fresh root).
pub(super) fn conformance<S: Snapshotter>(make: impl Fn(&Path) -> S + Sync) {
    type Case<S> = fn(&dyn Fn(&Path) -> S);
    let cases: &[(&str, Case<S>)] = &[
        ("chain", |m| chain(m)),
        ("unknown keys", |m| unknown_keys(m)),
        ("idempotency", |m| idempotency(m)),
        ("remove refuses parents", |m| remove_refuses_parents(m)),
        ("remove detached", |m| remove_detached(m)),
        ("crash leftovers", |m| crash_leftovers(m)),
        ("reopen", |m| reopen(m)),
        ("concurrent", |m| concurrent(m)),
    ];
    for (name, case) in cases {
        eprintln!("conformance case: {name}");
        case(&make);
    }
}

fn chain<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    let m = s.prepare("extract-1", None).unwrap();
    assert_eq!(tree_of(&m), Some(tree(&[])));
    assert!(!m[0].read_only());
    write(&s, "extract-1", "etc/hostname", "one");
    write(&s, "extract-1", "gone", "soon deleted");
    s.commit("layer-1", "extract-1").unwrap();
    assert!(matches!(
        s.stat("extract-1"),
        Err(SnapshotError::NotFound { .. })
    ));

    let m = s.prepare("extract-2", Some("layer-1")).unwrap();
    let base = tree(&[
        ("etc", "<dir>"),
        ("etc/hostname", "one"),
        ("gone", "soon deleted"),
    ]);
    if let Some(t) = tree_of(&m) {
        assert_eq!(t, base);
    }
    write(&s, "extract-2", "etc/hostname", "two");
    write(&s, "extract-2", "new", "added");
    let deleted = delete(&s, "extract-2", "gone");
    s.commit("layer-2", "extract-2").unwrap();

    let v = s.view("look", Some("layer-2")).unwrap();
    assert!(v.iter().all(Mount::read_only), "{v:?}");
    let mut expected = tree(&[("etc", "<dir>"), ("etc/hostname", "two"), ("new", "added")]);
    if !deleted {
        expected.insert("gone".into(), "soon deleted".into());
    }
    if let Some(t) = tree_of(&v) {
        assert_eq!(t, expected);
    }
    assert_eq!(s.mounts("look").unwrap(), v);
    // A committed snapshot mounts read-only; a one-layer view is a read-only bind.
    assert!(s.mounts("layer-2").unwrap().iter().all(Mount::read_only));
    let one = s.view("look-1", Some("layer-1")).unwrap();
    assert_eq!((one[0].kind.as_str(), one[0].read_only()), ("bind", true));
    assert_eq!(tree_of(&one), Some(base.clone()));

    // Views and committed snapshots are not writable and cannot be committed.
    for key in ["look", "layer-2"] {
        assert!(matches!(
            s.writable_dir(key),
            Err(SnapshotError::NotActive { .. })
        ));
        assert!(matches!(
            s.commit("x", key),
            Err(SnapshotError::NotActive { .. })
        ));
    }

    // A container on top: writable, and its writes do not reach the layers.
    let c = s.prepare("container", Some("layer-2")).unwrap();
    assert!(!c[0].read_only());
    write(&s, "container", "scratch", "mine");
    assert_eq!(tree_of(&one), Some(base));

    let infos = s.list().unwrap();
    let summary: Vec<(&str, Kind, Option<&str>)> = infos
        .iter()
        .map(|i| (i.name.as_str(), i.kind, i.parent.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("container", Kind::Active, Some("layer-2")),
            ("layer-1", Kind::Committed, None),
            ("layer-2", Kind::Committed, Some("layer-1")),
            ("look", Kind::View, Some("layer-2")),
            ("look-1", Kind::View, Some("layer-1")),
        ]
    );
    assert_eq!(s.stat("layer-2").unwrap(), infos[2]);
}

fn unknown_keys<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    let nf = |r: Result<(), SnapshotError>| {
        let e = r.unwrap_err();
        assert!(
            matches!(e, SnapshotError::NotFound { ref key } if key == "nope"),
            "{e}"
        );
        assert!(e.to_string().contains("\"nope\""), "{e}");
    };
    nf(s.stat("nope").map(drop));
    nf(s.mounts("nope").map(drop));
    nf(s.commit("x", "nope"));
    nf(s.remove("nope"));
    nf(s.writable_dir("nope").map(drop));
    nf(s.prepare("k", Some("nope")).map(drop));
    nf(s.view("k", Some("nope")).map(drop));
    // Only committed snapshots are parents.
    s.prepare("active", None).unwrap();
    s.view("view", None).unwrap();
    for parent in ["active", "view"] {
        assert!(matches!(
            s.prepare("k", Some(parent)),
            Err(SnapshotError::ParentNotCommitted { .. })
        ));
    }
    assert!(matches!(
        s.prepare("", None),
        Err(SnapshotError::InvalidKey { .. })
    ));
    assert_eq!(s.list().unwrap().len(), 2, "failed calls created nothing");
}

fn idempotency<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    s.prepare("a", None).unwrap();
    write(&s, "a", "f", "a");
    assert!(matches!(
        s.prepare("a", None),
        Err(SnapshotError::AlreadyExists { .. })
    ));
    assert!(matches!(
        s.view("a", None),
        Err(SnapshotError::AlreadyExists { .. })
    ));
    // The failed prepare did not touch the existing snapshot.
    assert_eq!(
        read_tree(&s.writable_dir("a").unwrap()),
        tree(&[("f", "a")])
    );
    s.commit("base", "a").unwrap();
    s.prepare("b", None).unwrap();
    let e = s.commit("base", "b").unwrap_err();
    assert!(matches!(e, SnapshotError::AlreadyExists { .. }), "{e}");
    assert_eq!(s.stat("b").unwrap().kind, Kind::Active, "b is still active");
    assert!(matches!(
        s.commit("again", "base"),
        Err(SnapshotError::NotActive { .. })
    ));
    s.remove("b").unwrap();
    assert!(matches!(s.remove("b"), Err(SnapshotError::NotFound { .. })));
    // A removed key can be created again, empty.
    s.prepare("b", None).unwrap();
    assert_eq!(read_tree(&s.writable_dir("b").unwrap()), tree(&[]));
}

fn remove_refuses_parents<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    s.prepare("a", None).unwrap();
    s.commit("l1", "a").unwrap();
    s.prepare("b", Some("l1")).unwrap();
    s.commit("l2", "b").unwrap();
    s.view("v", Some("l2")).unwrap();
    let e = s.remove("l1").unwrap_err();
    assert!(
        matches!(e, SnapshotError::HasChildren { ref children, .. } if children == &["l2"]),
        "{e}"
    );
    assert!(matches!(
        s.remove("l2"),
        Err(SnapshotError::HasChildren { .. })
    ));
    for key in ["v", "l2", "l1"] {
        s.remove(key).unwrap();
    }
    assert!(s.list().unwrap().is_empty());
    let left: Vec<_> = fs::read_dir(root.path().join("snapshots"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "directories removed: {left:?}");
}

fn remove_detached<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    s.prepare("a", None).unwrap();
    s.commit("l1", "a").unwrap();
    s.prepare("c", Some("l1")).unwrap();
    assert!(matches!(
        s.remove_detached("l1"),
        Err(SnapshotError::HasChildren { .. })
    ));
    let dir = s.writable_dir("c").unwrap();
    fs::write(dir.join("f"), "x").unwrap();
    s.remove_detached("c").unwrap();
    assert!(matches!(s.stat("c"), Err(SnapshotError::NotFound { .. })));
    assert!(matches!(
        s.remove_detached("c"),
        Err(SnapshotError::NotFound { .. })
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dir.exists() {
        assert!(std::time::Instant::now() < deadline, "{dir:?} still there");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    s.remove_detached("l1").unwrap();
    assert!(s.list().unwrap().is_empty());
}

fn crash_leftovers<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    let s = make(root.path());
    // A crash between creating directories and writing the index leaves an unnamed directory
    // under the next id; the next prepare must not inherit its content.
    let orphan = root.path().join("snapshots/0/fs");
    fs::create_dir_all(&orphan).unwrap();
    fs::write(orphan.join("junk"), "half-applied layer").unwrap();
    let stray = root.path().join("snapshots/4242");
    fs::create_dir_all(stray.join("fs")).unwrap();
    s.prepare("k", None).unwrap();
    assert_eq!(read_tree(&s.writable_dir("k").unwrap()), tree(&[]));
    assert_eq!(s.list().unwrap().len(), 1);
    assert!(s.cleanup().unwrap() >= 1);
    assert!(!stray.exists());
    assert!(s.writable_dir("k").unwrap().exists(), "live snapshot kept");
    assert_eq!(s.cleanup().unwrap(), 0, "cleanup is idempotent");
    // A stray temp file of the index is not the index, and cleanup removes it.
    fs::write(root.path().join(".tmp-index"), "{").unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
    assert_eq!(s.cleanup().unwrap(), 1);
    assert!(!root.path().join(".tmp-index").exists());
}

fn reopen<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    {
        let s = make(root.path());
        s.prepare("a", None).unwrap();
        write(&s, "a", "f", "kept");
        s.commit("l1", "a").unwrap();
        s.prepare("c", Some("l1")).unwrap();
    }
    let s = make(root.path());
    assert_eq!(s.stat("c").unwrap().parent.as_deref(), Some("l1"));
    assert_eq!(s.stat("l1").unwrap().kind, Kind::Committed);
    let v = s.view("v", Some("l1")).unwrap();
    assert_eq!(tree_of(&v), Some(tree(&[("f", "kept")])));
}

fn concurrent<S: Snapshotter>(make: &dyn Fn(&Path) -> S) {
    let root = tempfile::tempdir().unwrap();
    // Two instances on one root, as two processes would be.
    let (s1, s2) = (make(root.path()), make(root.path()));
    s1.prepare("base", None).unwrap();
    s1.commit("l", "base").unwrap();
    std::thread::scope(|scope| {
        for (n, s) in [&s1, &s2].into_iter().enumerate() {
            scope.spawn(move || {
                for i in 0..10 {
                    s.prepare(&format!("c{n}-{i}"), Some("l")).unwrap();
                }
            });
        }
    });
    assert_eq!(s2.list().unwrap().len(), 21);
    assert!(matches!(
        s1.remove("l"),
        Err(SnapshotError::HasChildren { .. })
    ));
}

/// Creates a chain of `n` layers (`layer-0` … `layer-{n-1}`), layer i adding file `f<i>`.
pub(super) fn layer_chain(s: &impl Snapshotter, n: usize) {
    let mut parent: Option<String> = None;
    for i in 0..n {
        let key = format!("extract-{i}");
        s.prepare(&key, parent.as_deref()).unwrap();
        write(s, &key, &format!("f{i}"), &i.to_string());
        let name = format!("layer-{i}");
        s.commit(&name, &key).unwrap();
        parent = Some(name);
    }
}
