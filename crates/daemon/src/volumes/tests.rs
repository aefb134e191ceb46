//! The volume service on a temp data root (local volumes without mount options: no root needed):
//! create and find, references and mounts against removal, prune (one at a time), and what a
//! reopen does with the leftovers of a crash.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::model::{CreateVolume, PruneFilter, VolumeFilter, ANONYMOUS_LABEL};
use super::VolumeService;
use crate::error::ErrorKind;
use crate::events::Events;

fn named(name: &str) -> CreateVolume {
    CreateVolume {
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_reference_mount_and_remove() {
    let root = tempfile::tempdir().unwrap();
    let events = Events::new();
    let mut sub = events.subscribe(None);
    let svc = VolumeService::open(root.path(), events).unwrap();
    let (v, made) = svc.create(named("data"), None).await.unwrap();
    assert!(made);
    assert_eq!(v.mountpoint, root.path().join("volumes/data/_data"));
    assert!(v.mountpoint.is_dir());
    assert_eq!(sub.live.try_recv().unwrap().action, "create");
    // Again: the same volume, not made; another driver is a conflict.
    let (again, made) = svc.create(named("data"), Some("c1")).await.unwrap();
    assert_eq!((again.name.as_str(), made), ("data", false));
    let other = CreateVolume {
        driver: "local".into(),
        ..named("data")
    };
    assert!(svc.create(other, None).await.is_ok());

    // Referenced by c1 and mounted by a copy: in use until both let go.
    let e = svc.remove("data", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.to_string(), "remove data: volume is in use - [c1]");
    svc.release("data", "c1");
    assert_eq!(svc.mount("data", "cp-1").await.unwrap(), v.mountpoint);
    assert_eq!(
        svc.remove("data", true).await.unwrap_err().to_string(),
        "remove data: volume is in use - [cp-1]"
    );
    assert!(svc.unmount("data", "cp-1").await.unwrap());
    assert!(!svc.unmount("data", "cp-1").await.unwrap());
    svc.remove("data", false).await.unwrap();
    assert!(!root.path().join("volumes/data").exists());
    let e = svc.remove("data", false).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (ErrorKind::NotFound, "get data: no such volume".to_string())
    );
    svc.remove("data", true).await.unwrap();
    let e = svc.mount("data", "x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn bad_names_and_options_make_nothing() {
    let root = tempfile::tempdir().unwrap();
    let svc = VolumeService::open(root.path(), Events::new()).unwrap();
    for req in [
        named("a"),
        named("../escape"),
        CreateVolume {
            options: BTreeMap::from([("bogus".into(), "1".into())]),
            ..named("opts")
        },
    ] {
        let e = svc.create(req, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    assert!(svc.list(&VolumeFilter::default()).await.volumes.is_empty());
    assert_eq!(
        std::fs::read_dir(root.path().join("volumes"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn anonymous_volumes_and_prune() {
    let root = tempfile::tempdir().unwrap();
    let svc = VolumeService::open(root.path(), Events::new()).unwrap();
    let (anon, _) = svc.create(CreateVolume::default(), None).await.unwrap();
    assert_eq!(anon.name.len(), 64);
    assert_eq!(
        anon.labels.get(ANONYMOUS_LABEL).map(String::as_str),
        Some("")
    );
    let (used, _) = svc
        .create(CreateVolume::default(), Some("c"))
        .await
        .unwrap();
    svc.create(named("keep"), None).await.unwrap();
    std::fs::write(anon.mountpoint.join("f"), b"1234").unwrap();
    let report = svc.prune(&PruneFilter::default()).await.unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&anon.name));
    assert_eq!(report.reclaimed, 4);
    let dangling = VolumeFilter {
        dangling: Some(true),
        ..Default::default()
    };
    let left: Vec<String> = svc
        .list(&dangling)
        .await
        .volumes
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(left, ["keep"]);
    let all = PruneFilter {
        all: true,
        ..Default::default()
    };
    assert_eq!(svc.prune(&all).await.unwrap().deleted, ["keep"]);
    assert_eq!(svc.list_stored(&VolumeFilter::default())[0].name, used.name);
}

#[tokio::test]
async fn a_prune_while_one_runs_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let svc = VolumeService::open(root.path(), Events::new()).unwrap();
    let (anon, _) = svc.create(CreateVolume::default(), None).await.unwrap();
    // The first prune stops at the candidate's lock, held here, while it runs.
    let held = svc.lock(&anon.name).await;
    let first = tokio::spawn({
        let svc = svc.clone();
        async move { svc.prune(&PruneFilter::default()).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !svc.inner.pruning.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the first prune never ran");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let e = svc.prune(&PruneFilter::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.to_string(), "a prune operation is already running");
    drop(held);
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.deleted, [anon.name]);
    // Over: the next one runs.
    assert!(svc
        .prune(&PruneFilter::default())
        .await
        .unwrap()
        .deleted
        .is_empty());
}

#[tokio::test]
async fn a_reopen_sweeps_leftovers_and_finishes_removals() {
    let root = tempfile::tempdir().unwrap();
    {
        let svc = VolumeService::open(root.path(), Events::new()).unwrap();
        svc.create(named("kept"), None).await.unwrap();
        svc.create(named("going"), None).await.unwrap();
        // A removal cut short after its mark; a create cut short before its record.
        svc.inner.store.set_removing("going", true).unwrap();
        svc.inner.local.create("orphan").unwrap();
    }
    std::fs::create_dir(root.path().join("volumes/.tmp-half-1-0")).unwrap();
    let svc = VolumeService::open(root.path(), Events::new()).unwrap();
    let names: Vec<String> = svc
        .list(&VolumeFilter::default())
        .await
        .volumes
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["kept"]);
    let dirs: Vec<String> = std::fs::read_dir(root.path().join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, ["kept"]);
    let (problems, known) = super::check(root.path()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(known.contains("kept"));
    std::fs::remove_dir_all(root.path().join("volumes/kept")).unwrap();
    let (problems, _) = super::check(root.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("is missing"), "{problems:?}");
}
