//! Content store tests: verified writes, nothing visible on failure, resumable ingests, concurrency.

use super::*;

fn store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    (dir, store)
}

/// Everything under `blobs/` and `ingest/`, to prove a failed write left nothing behind.
fn visible(store: &ContentStore) -> (Vec<(Digest, u64)>, usize) {
    let ingest = fs::read_dir(store.root().join("ingest")).unwrap().count();
    (store.list().unwrap(), ingest)
}

#[test]
fn write_read_list_verify_delete() {
    let (_dir, store) = store();
    let data = b"layer bytes".repeat(10_000);
    let expected = Digest::sha256_of(&data);
    let (digest, size) = store
        .write_blob(Some(&expected), Some(data.len() as u64), &data[..])
        .unwrap();
    assert_eq!(
        (digest.clone(), size),
        (expected.clone(), data.len() as u64)
    );
    assert!(store.exists(&digest));
    assert_eq!(store.size(&digest).unwrap(), size);
    assert_eq!(store.read_blob(&digest).unwrap(), data);
    assert_eq!(
        store.path(&digest),
        store.root().join("blobs/sha256").join(digest.hex())
    );
    assert_eq!(store.list().unwrap(), vec![(digest.clone(), size)]);
    store.verify(&digest).unwrap();
    // Unchecked writes are named by what they hash to.
    let (d2, _) = store.write_blob(None, None, &b"config"[..]).unwrap();
    assert_eq!(d2, Digest::sha256_of(b"config"));
    store.delete(&digest).unwrap();
    assert!(!store.exists(&digest));
    assert!(matches!(
        store.delete(&digest),
        Err(ContentError::NotFound { .. })
    ));
    assert!(matches!(
        store.read_blob(&digest),
        Err(ContentError::NotFound { .. })
    ));
    assert_eq!(visible(&store).1, 0, "no temp files left");
}

#[test]
fn corrupt_stream_is_refused_and_nothing_is_visible() {
    let (_dir, store) = store();
    let expected = Digest::sha256_of(b"the real content");
    let before = visible(&store);
    let err = store
        .write_blob(Some(&expected), None, &b"tampered content"[..])
        .unwrap_err();
    assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(expected.as_str()));
    assert!(!store.exists(&expected));
    assert_eq!(visible(&store), before);
}

#[test]
fn size_mismatch_is_refused_both_ways() {
    let (_dir, store) = store();
    let data = b"0123456789";
    let d = Digest::sha256_of(data);
    for size in [9, 11] {
        let err = store
            .write_blob(Some(&d), Some(size), &data[..])
            .unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { expected, .. } if expected == size));
        assert!(err.to_string().contains(d.as_str()), "{err}");
    }
    // A stream longer than announced is cut off, not read to its end.
    let endless = std::io::repeat(7);
    let err = store.write_blob(None, Some(4), endless).unwrap_err();
    assert!(
        matches!(err, ContentError::SizeMismatch { actual: 5, .. }),
        "{err}"
    );
    assert_eq!(visible(&store), (vec![], 0));
    // Existing blob: the size is still checked.
    store.write_blob(Some(&d), Some(10), &data[..]).unwrap();
    assert!(store.write_blob(Some(&d), Some(3), &b""[..]).is_err());
}

#[test]
fn unsupported_algorithm_is_refused() {
    let (_dir, store) = store();
    let d = Digest::parse(&format!("sha512:{}", "0".repeat(128))).unwrap();
    assert!(matches!(
        store.write_blob(Some(&d), None, &b"x"[..]),
        Err(ContentError::Unsupported(_))
    ));
}

#[test]
fn ingest_resumes_across_reopen() {
    let (dir, store) = store();
    let data = b"resumable download ".repeat(5_000);
    let d = Digest::sha256_of(&data);
    let size = data.len() as u64;
    let mut ingest = store.ingest("registry/layer-1", &d, size).unwrap();
    assert_eq!(ingest.offset(), 0);
    ingest.write_all(&data[..30_000]).unwrap();
    drop(ingest); // connection lost

    let store = ContentStore::open(dir.path()).unwrap(); // daemon restarted
    let mut ingest = store.ingest("registry/layer-1", &d, size).unwrap();
    assert_eq!(ingest.offset(), 30_000);
    assert!(!store.exists(&d), "partial data is not visible");
    ingest.write_all(&data[30_000..]).unwrap();
    // Writing past the announced size is refused.
    assert!(ingest.write_all(b"extra").is_err());
    assert_eq!(ingest.commit().unwrap(), (d.clone(), size));
    assert_eq!(store.read_blob(&d).unwrap(), data);
    assert_eq!(visible(&store).1, 0, "the ingest directory is gone");
}

#[test]
fn ingest_is_exclusive_restartable_and_verified() {
    let (_dir, store) = store();
    let d = Digest::sha256_of(b"abc");
    let mut first = store.ingest("ref", &d, 3).unwrap();
    assert!(matches!(
        store.ingest("ref", &d, 3),
        Err(ContentError::Locked { .. })
    ));
    first.write_all(b"ab").unwrap();
    drop(first);
    // Another expected digest under the same name restarts from zero.
    let other = Digest::sha256_of(b"xyz");
    let ingest = store.ingest("ref", &other, 3).unwrap();
    assert_eq!(ingest.offset(), 0);
    ingest.abort().unwrap();
    // Wrong bytes: refused at commit, nothing visible, and the ingest starts over.
    let mut bad = store.ingest("ref", &d, 3).unwrap();
    bad.write_all(b"abd").unwrap();
    assert!(matches!(
        bad.commit(),
        Err(ContentError::DigestMismatch { .. })
    ));
    assert!(!store.exists(&d));
    assert_eq!(store.ingest("ref", &d, 3).unwrap().offset(), 0);
    // Short data: refused at commit.
    let mut short = store.ingest("ref", &d, 3).unwrap();
    short.write_all(b"ab").unwrap();
    assert!(matches!(
        short.commit(),
        Err(ContentError::SizeMismatch { .. })
    ));
}

#[test]
fn concurrent_writers_of_one_blob_are_fine() {
    let (_dir, store) = store();
    let data = b"shared layer".repeat(50_000);
    let d = Digest::sha256_of(&data);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let (got, size) = store
                    .write_blob(Some(&d), Some(data.len() as u64), &data[..])
                    .unwrap();
                assert_eq!(got, d);
                assert_eq!(size, data.len() as u64);
                // Whenever visible, the blob is complete.
                store.verify(&d).unwrap();
            });
        }
    });
    assert_eq!(store.list().unwrap(), vec![(d.clone(), data.len() as u64)]);
    assert_eq!(visible(&store).1, 0);
}

#[test]
fn verify_detects_corruption() {
    let (_dir, store) = store();
    let (d, _) = store.write_blob(None, None, &b"pristine"[..]).unwrap();
    fs::write(store.path(&d), b"bit rot").unwrap();
    let err = store.verify(&d).unwrap_err();
    assert!(matches!(err, ContentError::Corrupt { .. }));
    assert!(err.to_string().contains(d.as_str()));
}

#[test]
fn clean_ingests_removes_crash_leftovers_but_not_live_ingests() {
    let (_dir, store) = store();
    let ingest_dir = store.root().join("ingest");
    fs::write(ingest_dir.join(".tmp-crashed"), b"half").unwrap();
    let d = Digest::sha256_of(b"abc");
    let mut abandoned = store.ingest("abandoned", &d, 3).unwrap();
    abandoned.write_all(b"a").unwrap();
    drop(abandoned);
    let live = store.ingest("live", &d, 3).unwrap();
    // Nothing is old enough yet.
    assert_eq!(store.clean_ingests(Duration::from_secs(3600)).unwrap(), 0);
    assert_eq!(store.clean_ingests(Duration::ZERO).unwrap(), 2);
    let left: Vec<_> = fs::read_dir(&ingest_dir).unwrap().collect();
    assert_eq!(left.len(), 1, "only the live ingest stays");
    live.abort().unwrap();
    // Stray files under blobs/ are not blobs.
    fs::write(store.root().join("blobs/sha256/not-a-digest"), b"").unwrap();
    assert!(store.list().unwrap().is_empty());
}
