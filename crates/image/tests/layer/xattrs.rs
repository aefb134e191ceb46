//! overlayfs' own xattrs in layers (issue #14): `trusted.overlay.*` and `user.overlay.*` (opaque,
//! redirect, metacopy, origin, ...) steer overlayfs, so a layer that sets any is refused, naming the
//! entry and the xattr. Our own diffs never carry them: opaque directories travel as `.wh..wh..opq`
//! markers and whiteouts as `.wh.<name>` entries.

use std::fs;

use berth_image::layer::{apply, diff_upper, ApplyOptions, DiffOptions, LayerError, WhiteoutMode};

use crate::support::{Fixture, RawTar};

fn opts() -> ApplyOptions {
    ApplyOptions {
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    }
}

/// An xattr, the entry carrying it, and how that entry is added.
type XattrCase = (&'static str, &'static str, fn(&mut RawTar, &str));

/// Each overlay xattr on each kind of entry is refused with the entry and the xattr named.
#[test]
fn overlay_xattrs_are_refused() {
    let cases: [XattrCase; 6] = [
        ("user.overlay.opaque", "d", |t, n| {
            t.dir(n);
        }),
        ("trusted.overlay.opaque", "d", |t, n| {
            t.dir(n);
        }),
        ("trusted.overlay.redirect", "d", |t, n| {
            t.dir(n);
        }),
        ("user.overlay.metacopy", "f", |t, n| {
            t.file(n, b"x");
        }),
        ("trusted.overlay.origin", "f", |t, n| {
            t.file(n, b"x");
        }),
        ("user.overlay.redirect", "l", |t, n| {
            t.symlink(n, "f");
        }),
    ];
    for (xattr, entry, add) in cases {
        let fx = Fixture::new();
        let key = format!("SCHILY.xattr.{xattr}");
        let mut t = RawTar::new();
        t.file("before", b"1").pax(&key, b"y");
        add(&mut t, entry);
        let layer = t.end();
        let before = fx.outside();
        let err = apply(&layer[..], &fx.target(), &opts()).unwrap_err();
        assert!(
            matches!(&err, LayerError::OverlayXattr { entry: e, xattr: x } if e == entry && x == xattr),
            "{xattr} on {entry}: {err:?}"
        );
        assert!(err.is_refusal());
        let msg = err.to_string();
        assert!(msg.contains(entry) && msg.contains(xattr), "{msg}");
        assert_eq!(fx.outside(), before);
        assert!(xattr::get(fx.target().join(entry), xattr)
            .ok()
            .flatten()
            .is_none());
    }
}

/// Other `user.*` xattrs, including names that merely contain "overlay", still apply.
#[test]
fn other_user_xattrs_still_apply() {
    let fx = Fixture::new();
    let layer = RawTar::new()
        .pax_records(&[
            ("SCHILY.xattr.user.keep", b"v"),
            ("SCHILY.xattr.user.overlayish", b"w"),
        ])
        .file("f", b"x")
        .end();
    apply(&layer[..], &fx.target(), &opts()).unwrap();
    let f = fx.target().join("f");
    assert_eq!(
        xattr::get(&f, "user.keep").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        xattr::get(&f, "user.overlayish").unwrap().as_deref(),
        Some(&b"w"[..])
    );
}

/// An upper dir carrying `user.overlay.*` xattrs (what overlayfs writes when mounted with
/// `userxattr`) diffs to a layer without them, which applies again: our own diffs round-trip.
#[test]
fn diffs_drop_overlay_xattrs_and_apply_again() {
    let base = tempfile::Builder::new()
        .prefix("berth-layer-xattr-")
        .tempdir()
        .unwrap();
    let upper = base.path().join("upper");
    fs::create_dir_all(upper.join("d")).unwrap();
    fs::write(upper.join("d/f"), b"data").unwrap();
    xattr::set(upper.join("d"), "user.overlay.opaque", b"y").unwrap();
    xattr::set(upper.join("d/f"), "user.overlay.metacopy", b"").unwrap();
    xattr::set(upper.join("d/f"), "user.keep", b"k").unwrap();

    let mut layer = Vec::new();
    diff_upper(&upper, &mut layer, &DiffOptions::default()).unwrap();
    let mut ar = tar::Archive::new(&layer[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let Some(pax) = e.pax_extensions().unwrap() else {
            continue;
        };
        for ext in pax {
            let key = ext.unwrap().key().unwrap().to_string();
            assert!(!key.contains(".overlay."), "the diff carries {key}");
        }
    }
    let again = base.path().join("again");
    fs::create_dir(&again).unwrap();
    apply(&layer[..], &again, &opts()).unwrap();
    assert_eq!(fs::read(again.join("d/f")).unwrap(), b"data");
    assert_eq!(
        xattr::get(again.join("d/f"), "user.keep")
            .unwrap()
            .as_deref(),
        Some(&b"k"[..])
    );
}
