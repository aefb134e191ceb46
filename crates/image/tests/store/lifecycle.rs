//! Containers on images (holds, commit), compressed imports, concurrent loads, and the consistency
//! check finding and repairing damage.

use std::io::Write;

use berth_image::formats::import::ImportOptions;
use berth_image::store::{CommitOptions, SaveFormat};
use berth_image::ErrorKind;

use crate::common::*;

fn names_in(flat: &[u8]) -> Vec<String> {
    tar::Archive::new(flat)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn commit_of_a_container_makes_a_child_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let base = import(&store, "base:1", &[("keep", b"k"), ("drop", b"d")]);
    store
        .prepare_container_rootfs("base:1", "ctr-commit")
        .unwrap();
    let rw = store.snapshotter().writable_dir("ctr-commit").unwrap();
    std::fs::write(rw.join("added"), b"new").unwrap();
    std::fs::remove_file(rw.join("drop")).unwrap();
    let opts = CommitOptions {
        reference: Some("child:1".into()),
        comment: Some("made in a test".into()),
        created_by: Some("sh -c edit".into()),
        ..Default::default()
    };
    let child = store
        .commit_container("base:1", "ctr-commit", &opts)
        .unwrap();
    store.release_container("ctr-commit").unwrap();

    let details = store.inspect("child:1").unwrap();
    assert_eq!(details.image.id, child);
    assert_eq!(details.diff_ids.len(), 2);
    assert_eq!(details.image.parent.as_deref(), Some(base.as_str()));
    let history = store.history("child:1").unwrap();
    assert_eq!(history[0].created_by, "sh -c edit");
    assert_eq!(history.len(), 2);

    let top = store.unpack("child:1").unwrap().unwrap();
    let mut flat = Vec::new();
    store.export_snapshot(&top, &mut flat).unwrap();
    let names = names_in(&flat);
    assert!(names.iter().any(|n| n.ends_with("added")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("keep")), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("drop")), "{names:?}");

    // The parent cannot go while the child exists.
    let err = store.remove(&base, true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("dependent child images"), "{err}");
    store.untag("base:1").unwrap();
    // prune keeps the untagged parent of a child.
    let (pruned, _) = store.prune(false).unwrap();
    assert!(pruned.is_empty(), "{pruned:?}");
    assert_clean(&store);
}

#[test]
fn gzip_and_zstd_rootfs_import_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let plain = tar_of(&[("etc/hostname", b"berth")]);
    let gz = gzip(&plain);
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let mut ids = Vec::new();
    for (name, bytes) in [("gz:1", gz), ("zst:1", zst)] {
        let opts = ImportOptions {
            reference: Some(name.into()),
            changes: vec!["ENV A=1".into()],
            created: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        ids.push(store.import(&bytes[..], &opts).unwrap());
    }
    // Same rootfs, same config: the same image, whichever compression carried it.
    let a = store.inspect("gz:1").unwrap();
    let b = store.inspect("zst:1").unwrap();
    assert_eq!(a.diff_ids, b.diff_ids);
    assert_eq!(ids[0], ids[1]);
    let mut archive = Vec::new();
    store
        .save(&["gz:1", "zst:1"], SaveFormat::OciLayout, &mut archive)
        .unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_store(other_dir.path());
    let loaded = other.load(&archive[..], None).unwrap();
    assert_eq!(loaded[0].id, ids[0]);
    assert_clean(&other);
    // An unknown --change names the instruction and stores nothing.
    let before = fingerprint(&store);
    let err = store
        .import(
            &plain[..],
            &ImportOptions {
                changes: vec!["FROM scratch".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("FROM"), "{err}");
    assert_eq!(fingerprint(&store), before);
}

#[test]
fn concurrent_loads_of_the_same_archive_share_layers() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = open_store(src_dir.path());
    import(&src, "shared:1", &[("big", &vec![3u8; 1 << 20][..])]);
    let mut archive = Vec::new();
    src.save(&["shared:1"], SaveFormat::DockerArchive, &mut archive)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| store.load(&archive[..], None)))
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(fingerprint(&store).snapshots.len(), 1);
    assert_clean(&store);
}

#[test]
fn check_finds_damage_and_repair_removes_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let id = import(&store, "victim:1", &[("f", b"1")]);
    assert_clean(&store);
    // An orphan blob and a stale ingest.
    store
        .content()
        .write_blob(None, None, &b"orphan"[..])
        .unwrap();
    let ingest = store.content().root().join("ingest").join(".tmp-stale");
    std::fs::File::create(&ingest)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    // An active snapshot nobody holds.
    store.snapshotter().prepare("stray", None).unwrap();
    let report = store.check().unwrap();
    assert_eq!(report.problems.len(), 3, "{:#?}", report.problems);
    let after = store.repair().unwrap();
    assert!(after.is_clean(), "{:#?}", after.problems);

    // A corrupted config blob is reported, not silently removed.
    let config = store
        .content()
        .path(&berth_oci::Digest::parse(&id).unwrap());
    let mut perms = std::fs::metadata(&config).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&config, perms).unwrap();
    std::fs::write(&config, b"{}").unwrap();
    let report = store.check().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains(&id) && p.to_string().contains("corrupt")),
        "{:#?}",
        report.problems
    );
}

/// The same change committed at an epoch in two stores, on different days: the same image.
#[test]
fn a_commit_at_an_epoch_is_reproducible() {
    const EPOCH: i64 = 1_700_000_000;
    let mut ids = Vec::new();
    for (n, mtime) in [(0, 1_800_000_000u64), (1, 1_900_000_000)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        import(&store, "base:1", &[("keep", b"k")]);
        let key = format!("ctr-epoch-{n}");
        store.prepare_container_rootfs("base:1", &key).unwrap();
        let rw = store.snapshotter().writable_dir(&key).unwrap();
        let f = std::fs::File::create(rw.join("made")).unwrap();
        (&f).write_all(b"same bytes").unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        f.set_modified(when).unwrap();
        let opts = CommitOptions {
            created_by: Some("RUN make".into()),
            ..Default::default()
        };
        let id = store
            .commit_container_at("base:1", &key, &opts, Some(EPOCH))
            .unwrap();
        store.release_container(&key).unwrap();
        let details = store.inspect(id.as_str()).unwrap();
        assert_eq!(
            details.config.created.as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        let last = details.config.history.last().unwrap();
        assert_eq!(last.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        // No mtime in the new layer later than the epoch.
        let top = store.unpack(id.as_str()).unwrap().unwrap();
        let mut flat = Vec::new();
        store.export_snapshot(&top, &mut flat).unwrap();
        let mut ar = tar::Archive::new(&flat[..]);
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            if e.path().unwrap().ends_with("made") {
                assert_eq!(e.header().mtime().unwrap(), EPOCH as u64);
            }
        }
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1]);
}

/// `--cache-from`'s restore: a step of a child's history on its parent gives the image that
/// step made, with its layer blob reused.
#[test]
fn derive_image_restores_a_step_of_another_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "base:1", &[("keep", b"k")]);
    let mut chain = vec!["base:1".to_string()];
    for (n, file) in ["one", "two"].iter().enumerate() {
        let key = format!("ctr-derive-{n}");
        let parent = chain.last().unwrap().clone();
        store.prepare_container_rootfs(&parent, &key).unwrap();
        let rw = store.snapshotter().writable_dir(&key).unwrap();
        std::fs::write(rw.join(file), file.as_bytes()).unwrap();
        let opts = CommitOptions {
            created_by: Some(format!("RUN write {file}")),
            ..Default::default()
        };
        let id = store.commit_container(&parent, &key, &opts).unwrap();
        store.release_container(&key).unwrap();
        chain.push(id.to_string());
    }
    let (base, one, two) = (&chain[0], &chain[1], &chain[2]);
    let base_len = store.inspect(base).unwrap().config.history.len();
    let one_config = store.inspect(one).unwrap().container_config();
    let derived = store
        .derive_image(Some(base), two, base_len, &one_config)
        .unwrap();
    assert_eq!(
        derived.as_str(),
        one.as_str(),
        "the very image the step made"
    );
    // The next step on it gives `two` back the same way.
    let two_config = store.inspect(two).unwrap().container_config();
    let again = store
        .derive_image(Some(one), two, base_len + 1, &two_config)
        .unwrap();
    assert_eq!(again.as_str(), two.as_str());
    let err = store
        .derive_image(Some(base), two, 99, &one_config)
        .unwrap_err();
    assert!(err.to_string().contains("no such history entry"), "{err}");
}

/// A build step that changes only the config: the parent's layers, one `empty_layer` history
/// entry, the new config; at a fixed epoch the same step gives the same image.
#[test]
fn config_image_adds_an_empty_layer_entry_and_no_layer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "base:1", &[("keep", b"k")]);
    let base = store.inspect("base:1").unwrap();
    let mut config = base.container_config();
    config.env = Some(vec!["A=b".to_string()]);
    let id = store
        .config_image(
            "base:1",
            &config,
            "/bin/sh -c #(nop) ENV A=b",
            Some(1_700_000_000),
        )
        .unwrap();
    let made = store.inspect(id.as_str()).unwrap();
    assert_eq!(made.diff_ids, base.diff_ids, "no new layer");
    let last = made.config.history.last().unwrap();
    assert!(last.empty_layer, "{last:?}");
    assert_eq!(
        last.created_by.as_deref(),
        Some("/bin/sh -c #(nop) ENV A=b")
    );
    assert_eq!(last.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(made.config.history.len(), base.config.history.len() + 1);
    assert_eq!(made.container_config().env, config.env);
    let again = store
        .config_image(
            "base:1",
            &config,
            "/bin/sh -c #(nop) ENV A=b",
            Some(1_700_000_000),
        )
        .unwrap();
    assert_eq!(again, id);
}
