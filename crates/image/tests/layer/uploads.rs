//! The applier's options for tars that are not layers (`docker cp` uploads): `.wh.` names taken
//! literally, and no replacing a directory with a non-directory or the reverse.

use std::path::Path;

use berth_image::layer::{apply, ApplyOptions, LayerError, WhiteoutMode};

use crate::support::RawTar;

fn base() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layer = RawTar::new()
        .dir("a")
        .file("a/x", b"x")
        .dir("d")
        .file("d/inner", b"in")
        .file("f", b"f")
        .end();
    apply(
        &layer[..],
        dir.path(),
        &ApplyOptions::new(WhiteoutMode::Delete),
    )
    .unwrap();
    dir
}

fn exists(root: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(root.join(rel)).is_ok()
}

#[test]
fn literal_names_are_files_not_whiteouts() {
    let dir = base();
    let upload = RawTar::new()
        .file("a/.wh.x", b"")
        .file("d/.wh..wh..opq", b"")
        .end();
    let opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
    apply(&upload[..], dir.path(), &opts).unwrap();
    for kept in ["a/x", "a/.wh.x", "d/inner", "d/.wh..wh..opq"] {
        assert!(exists(dir.path(), kept), "{kept} missing");
    }
}

#[test]
fn no_overwrite_dir_non_dir_refuses_either_way_and_a_layer_replaces() {
    let mut opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
    opts.no_overwrite_dir_non_dir = true;
    let dir = base();
    let err = apply(
        &RawTar::new().file("d", b"now a file").end()[..],
        dir.path(),
        &opts,
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::Overwrite { .. }), "{err}");
    assert!(err.is_refusal());
    assert_eq!(
        err.to_string(),
        "cannot overwrite directory \"d\" with non-directory \"d\""
    );
    assert!(exists(dir.path(), "d/inner"), "the directory is untouched");
    let err = apply(&RawTar::new().dir("f").end()[..], dir.path(), &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot overwrite non-directory \"f\" with directory \"f\""
    );
    // Same kinds still replace; without the option, kinds change as in a layer.
    apply(
        &RawTar::new().file("f", b"new").end()[..],
        dir.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"new");
    opts.no_overwrite_dir_non_dir = false;
    apply(
        &RawTar::new().file("d", b"file").end()[..],
        dir.path(),
        &opts,
    )
    .unwrap();
    assert!(dir.path().join("d").is_file());
}
