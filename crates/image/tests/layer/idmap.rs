//! `--userns-remap`'s id shift: a layer applied with an [`IdMap`] holds its owners shifted into
//! the host range, a tree written back with the same map holds the image's owners again, and an
//! owner the map cannot place refuses the layer.

use std::os::unix::fs::MetadataExt;

use berth_image::layer::{
    apply, tar_dir, ApplyOptions, DiffOptions, IdMap, IdRange, LayerError, WhiteoutMode,
};

use crate::support::root_tests;

fn map() -> IdMap {
    IdMap {
        uids: vec![IdRange {
            container: 0,
            host: 100000,
            size: 65536,
        }],
        gids: vec![IdRange {
            container: 0,
            host: 200000,
            size: 65536,
        }],
    }
}

/// A tar with `etc/` (0:0), `etc/passwd` (0:0) and `home/u/f` (1000:1000).
fn layer(extra_owner: (u64, u64)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, (uid, gid): (u64, u64), data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_size(data.len() as u64);
        h.set_mtime(1000);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("etc/", tar::EntryType::Directory, (0, 0), b"");
    add(
        "etc/passwd",
        tar::EntryType::Regular,
        (0, 0),
        b"root:x:0:0::/:/bin/sh\n",
    );
    add("home/", tar::EntryType::Directory, (0, 0), b"");
    add("home/u/", tar::EntryType::Directory, extra_owner, b"");
    add("home/u/f", tar::EntryType::Regular, extra_owner, b"x");
    b.into_inner().unwrap()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn owners_shift_into_the_range_and_back() {
    if !root_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    std::fs::create_dir(&target).unwrap();
    let opts = ApplyOptions {
        id_map: Some(map()),
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    apply(&layer((1000, 1000))[..], &target, &opts).unwrap();
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(target.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("etc"), (100000, 200000));
    assert_eq!(owner("etc/passwd"), (100000, 200000));
    assert_eq!(owner("home/u/f"), (101000, 201000));

    // A file the host made (owned by root, outside the range) is written as the overflow id.
    std::fs::write(target.join("hostmade"), "").unwrap();
    let mut out = Vec::new();
    let back = DiffOptions {
        id_map: Some(map()),
        ..DiffOptions::default()
    };
    tar_dir(&target, &mut out, &back).unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let owners: Vec<(String, u64, u64)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect();
    assert!(owners.contains(&("etc/passwd".into(), 0, 0)), "{owners:?}");
    assert!(
        owners.contains(&("home/u/f".into(), 1000, 1000)),
        "{owners:?}"
    );
    assert!(
        owners.contains(&("hostmade".into(), 65534, 65534)),
        "{owners:?}"
    );
    // Without the map the host's ids would go into the layer.
    let mut raw = Vec::new();
    tar_dir(&target, &mut raw, &DiffOptions::default()).unwrap();
    let mut ar = tar::Archive::new(&raw[..]);
    assert!(ar.entries().unwrap().any(|e| {
        let e = e.unwrap();
        e.path().unwrap().to_str() == Some("etc/passwd") && e.header().uid().unwrap() == 100000
    }));
}

#[test]
fn an_owner_outside_the_range_refuses_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ApplyOptions {
        id_map: Some(map()),
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    let e = apply(&layer((70000, 5))[..], dir.path(), &opts).unwrap_err();
    assert!(matches!(e, LayerError::Unmapped { id: 70000, .. }), "{e}");
    assert!(e.is_refusal());
}
