//! save | load round trips, tags, rmi semantics and GC of shared layers.

use berth_image::store::{RemoveAction, SaveFormat};
use berth_image::ErrorKind;

use crate::common::*;

#[test]
fn save_load_round_trip_keeps_ids_and_tags() {
    let a = tempfile::tempdir().unwrap();
    let store = open_store(a.path());
    let one = import(&store, "one:1", &[("etc/one", b"1")]);
    let two = import(&store, "localhost:5000/team/two:2", &[("etc/two", b"2")]);
    store.tag("one:1", "one:extra").unwrap();
    let mut archive = Vec::new();
    store
        .save(
            &[&one, "localhost:5000/team/two:2"],
            SaveFormat::DockerArchive,
            &mut archive,
        )
        .unwrap();

    let b = tempfile::tempdir().unwrap();
    let other = open_store(b.path());
    let loaded = other.load(&archive[..], None).unwrap();
    assert_eq!(loaded.len(), 2);
    let got = other.get("one:extra").unwrap();
    assert_eq!(got.id.to_string(), one);
    assert_eq!(got.repo_tags, vec!["one:1", "one:extra"]);
    let got2 = other.get("localhost:5000/team/two:2").unwrap();
    assert_eq!(got2.id.to_string(), two);
    // The manifest digest survives too (the archive is also an OCI layout).
    assert_eq!(
        got.manifest_digest,
        store.get(&one).unwrap().manifest_digest
    );
    assert_clean(&other);

    // The rootfs is there.
    let top = other.unpack("one:1").unwrap().unwrap();
    let mut flat = Vec::new();
    other.export_snapshot(&top, &mut flat).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&flat[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n.ends_with("etc/one")), "{names:?}");

    // OCI layout directory out and back in.
    let layout = a.path().join("layout");
    store.save_oci_dir(&["one:1"], &layout).unwrap();
    let c = tempfile::tempdir().unwrap();
    let third = open_store(c.path());
    let l = third.load_oci_dir(&layout, None).unwrap();
    assert_eq!(l[0].id.to_string(), one);
    assert_eq!(l[0].names, vec!["one:1"]);
}

#[test]
fn rmi_keeps_shared_layers_and_gc_frees_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let base = import(&store, "base:1", &[("bin/x", b"x")]);
    // A second image sharing the layer: same rootfs, other config.
    store
        .import(
            &tar_of(&[("bin/x", b"x")])[..],
            &berth_image::formats::import::ImportOptions {
                reference: Some("other:1".into()),
                changes: vec!["ENV A=1".into()],
                created: Some("2026-01-01T00:00:00Z".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let other = store.get("other:1").unwrap();
    assert_ne!(other.id.to_string(), base);
    assert_eq!(other.top_chain_id, store.get(&base).unwrap().top_chain_id);
    let before = fingerprint(&store);

    // Two names from different repositories: by ID it must be forced.
    store.tag("base:1", "alias:1").unwrap();
    let err = store.remove(&base, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .contains("referenced in multiple repositories"),
        "{err}"
    );
    // By name, only untags.
    assert_eq!(
        store.remove("alias:1", false).unwrap(),
        vec![RemoveAction::Untagged("alias:1".into())]
    );
    assert_eq!(fingerprint(&store), before);

    // A container holds the image: rmi refuses.
    store.prepare_container_rootfs("base:1", "ctr-1").unwrap();
    let err = store.remove("base:1", false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    store.release_container("ctr-1").unwrap();

    let actions = store.remove("base:1", false).unwrap();
    assert!(actions.contains(&RemoveAction::Deleted(base.clone())));
    assert!(matches!(
        store.get("base:1").unwrap_err().kind(),
        ErrorKind::NotFound
    ));
    // The shared layer stays for the other image.
    let top = other.top_chain_id.clone().unwrap();
    assert!(store.snapshotter().stat(&top).is_ok());
    assert_clean(&store);

    store.remove("other:1", false).unwrap();
    let after = fingerprint(&store);
    assert!(
        after.images.is_empty() && after.blobs.is_empty() && after.snapshots.is_empty(),
        "{after:?}"
    );
    assert_clean(&store);
}

#[test]
fn history_and_inspect_show_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let id = import(&store, "hist:1", &[("a", b"a")]);
    let h = store.history("hist:1").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id);
    assert_eq!(h[0].comment, "Imported from -");
    let d = store.inspect(&id[7..19]).unwrap();
    assert_eq!(d.container_config().cmd.unwrap(), vec!["/bin/sh"]);
    assert_eq!(d.diff_ids.len(), 1);
}
