//! The registry client against a fake registry that misbehaves on purpose (no root needed):
//! verification (REG-01..03, wrong diff IDs; the fake's `Docker-Content-Digest` header always
//! lies, so every pull checks that the recorded digest is the bytes' own), resume and retry
//! (REG-07), one download per layer (REG-08), redirects without credentials (REG-09), token auth
//! (REG-11), platforms and schema 1, mirrors, push to Berth's server and its pull-through cache;
//! layers unpacked while later ones download, pinned against GC until the commit.

#![allow(clippy::unwrap_used)]

mod fake;

use std::sync::Arc;

use berth_image::model::{media, Platform};
use berth_image::snapshot::PlainSnapshotter;
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};
use berth_registry::pull::{pull, PullOptions};
use berth_registry::{Client, Credentials, HostsConfig, ProgressSink, RegistryError};
use fake::Fake;

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// An image in the fake: plain-tar layers; returns (manifest digest, config digest).
fn add_image(
    fake: &Fake,
    tag: &str,
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<Digest>>,
    arch: &str,
) -> (Digest, Digest) {
    let mut f = fake.lock();
    let diff_ids =
        diff_ids.unwrap_or_else(|| layers.iter().map(|l| Digest::sha256_of(l)).collect());
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {"Cmd": ["sh"]},
    }))
    .unwrap();
    let config_digest = Digest::sha256_of(&config);
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let d = Digest::sha256_of(l);
            f.blobs.insert(d.to_string(), l.clone());
            serde_json::json!({"mediaType": media::OCI_LAYER, "digest": d, "size": l.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    f.blobs.insert(config_digest.to_string(), config);
    let md = Digest::sha256_of(&manifest);
    f.manifests.insert(
        tag.to_string(),
        (media::OCI_MANIFEST.to_string(), manifest.clone()),
    );
    f.manifests
        .insert(md.to_string(), (media::OCI_MANIFEST.to_string(), manifest));
    (md, config_digest)
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<ImageStore>,
    client: Client,
    fake: Fake,
    host: String,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let snaps = PlainSnapshotter::open(&dir.path().join("snapshots")).unwrap();
    let store = ImageStore::open(&dir.path().join("images"), Box::new(snaps)).unwrap();
    let fake = Fake::default();
    let host = fake.serve().await;
    Env {
        _dir: dir,
        store: Arc::new(store),
        client: Client::new(HostsConfig::default()),
        fake,
        host,
    }
}

impl Env {
    fn reference(&self, s: &str) -> Reference {
        Reference::parse(&format!("{}/{s}", self.host)).unwrap()
    }

    async fn pull(&self, s: &str) -> Result<berth_registry::pull::Pulled, RegistryError> {
        self.pull_with(s, PullOptions::default()).await
    }

    async fn pull_with(
        &self,
        s: &str,
        opts: PullOptions,
    ) -> Result<berth_registry::pull::Pulled, RegistryError> {
        pull(
            &self.client,
            self.store.clone(),
            &self.reference(s),
            &opts,
            &ProgressSink::none(),
        )
        .await
    }

    fn assert_empty(&self) {
        assert!(
            self.store.list().unwrap().is_empty(),
            "an image became visible"
        );
    }
}

fn layer(n: u8, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(n))
        .collect();
    tar_of(&[(&format!("file{n}"), &data)])
}

#[tokio::test]
async fn pull_stores_the_image_with_its_tag_and_repo_digest() {
    let e = env().await;
    let (md, cfg) = add_image(
        &e.fake,
        "1",
        &[layer(1, 3000), layer(2, 5000)],
        None,
        "amd64",
    );
    let pulled = e.pull("app:1").await.unwrap();
    assert_eq!(pulled.id, cfg);
    assert_eq!(pulled.digest, md);
    let img = e.store.get(&format!("{}/app:1", e.host)).unwrap();
    assert_eq!(img.id, cfg);
    assert_eq!(img.repo_digests, vec![format!("{}/app@{md}", e.host)]);
    // By digest, the same image; nothing downloaded again.
    let before = e.fake.lock().log.requests.len();
    let again = e.pull(&format!("app@{md}")).await.unwrap();
    assert_eq!(again.id, cfg);
    let blob_gets = e.fake.lock().log.requests[before..]
        .iter()
        .filter(|r| r.1.contains("/blobs/sha256:") && !r.1.ends_with(cfg.as_str()))
        .count();
    assert_eq!(blob_gets, 0, "layers already stored were downloaded again");
}

#[tokio::test]
async fn a_blob_that_does_not_hash_to_its_digest_stores_nothing() {
    let e = env().await;
    let good = layer(1, 4000);
    let d = Digest::sha256_of(&good);
    add_image(&e.fake, "1", std::slice::from_ref(&good), None, "amd64");
    let mut evil = good.clone();
    evil[600] ^= 0xff;
    e.fake.lock().behaviour.replace.insert(d.to_string(), evil);
    let err = e.pull("app:1").await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    e.assert_empty();
    assert!(!e.store.content().exists(&d));
    assert!(e.store.content().list().unwrap().is_empty());
}

#[tokio::test]
async fn a_pull_by_digest_checks_the_manifest_bytes() {
    let e = env().await;
    let (md, _) = add_image(&e.fake, "1", &[layer(1, 100)], None, "amd64");
    // The registry answers the digest with other bytes.
    let other = {
        let mut f = e.fake.lock();
        let (mt, mut bytes) = f.manifests[md.as_str()].clone();
        bytes.push(b' ');
        f.manifests.insert(md.to_string(), (mt, bytes.clone()));
        Digest::sha256_of(&bytes)
    };
    let err = e.pull(&format!("app@{md}")).await.unwrap_err();
    assert!(err.to_string().contains(other.as_str()), "{err}");
    e.assert_empty();
}

#[tokio::test]
async fn a_layer_whose_diff_id_does_not_match_the_config_is_refused() {
    let e = env().await;
    let wrong = Digest::sha256_of(b"something else");
    add_image(&e.fake, "1", &[layer(1, 100)], Some(vec![wrong]), "amd64");
    let err = e.pull("app:1").await.unwrap_err();
    assert!(err.to_string().contains("diff"), "{err}");
    e.assert_empty();
}

#[tokio::test]
async fn a_dropped_download_resumes_with_range_and_a_503_is_retried() {
    let e = env().await;
    let big = layer(7, 300_000);
    let d = Digest::sha256_of(&big);
    add_image(&e.fake, "1", std::slice::from_ref(&big), None, "amd64");
    {
        let mut f = e.fake.lock();
        f.behaviour.unavailable_once.push(d.to_string());
        f.behaviour.drop_once.push(d.to_string());
    }
    e.pull("app:1").await.unwrap();
    let log = &e.fake.lock().log.requests;
    let ranges: Vec<_> = log
        .iter()
        .filter(|r| r.1.ends_with(d.as_str()))
        .map(|r| r.2.clone())
        .collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    let resumed = ranges[2].as_deref().unwrap_or_default();
    assert!(
        resumed.starts_with("bytes=") && resumed != "bytes=0-",
        "{ranges:?}"
    );
}

#[tokio::test]
async fn two_pulls_at_once_download_each_layer_once() {
    let e = env().await;
    let shared = layer(1, 200_000);
    let d = Digest::sha256_of(&shared);
    add_image(&e.fake, "a", &[shared.clone(), layer(2, 10)], None, "amd64");
    add_image(&e.fake, "b", &[shared.clone(), layer(3, 10)], None, "amd64");
    let (a, b, c) = tokio::join!(e.pull("app:a"), e.pull("app:b"), e.pull("app:a"));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(e.fake.blob_gets(d.as_str()), 1);
}

#[tokio::test]
async fn token_auth_asks_for_the_pull_scope_once_and_never_leaks_on_redirect() {
    let e = env().await;
    add_image(&e.fake, "1", &[layer(1, 100)], None, "amd64");
    {
        let mut f = e.fake.lock();
        f.behaviour.token_auth = Some(("u".into(), "p".into()));
        f.behaviour.redirect_blobs = true;
    }
    let creds = Credentials {
        username: "u".into(),
        password: "p".into(),
        ..Default::default()
    };
    let opts = PullOptions {
        credentials: creds.clone(),
        ..Default::default()
    };
    e.pull_with("app:1", opts.clone()).await.unwrap();
    e.store.remove(&format!("{}/app:1", e.host), true).unwrap();
    e.pull_with("app:1", opts).await.unwrap();
    {
        let f = e.fake.lock();
        assert_eq!(f.log.token_scopes, vec!["repository:app:pull".to_string()]);
        let redirected: Vec<_> = f
            .log
            .requests
            .iter()
            .filter(|r| r.1.starts_with("/redirected/"))
            .collect();
        assert!(!redirected.is_empty());
        assert!(redirected.iter().all(|r| r.3.is_none()), "{redirected:?}");
    }
    // A bad password: a clear 401, nothing stored.
    let bad = PullOptions {
        credentials: Credentials {
            username: "u".into(),
            password: "wrong".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let e2 = env().await;
    add_image(&e2.fake, "1", &[layer(1, 100)], None, "amd64");
    e2.fake.lock().behaviour.token_auth = Some(("u".into(), "p".into()));
    let err = e2.pull_with("app:1", bad).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    e2.assert_empty();
}

#[tokio::test]
async fn an_index_gives_the_host_platform_or_the_one_asked_for() {
    let e = env().await;
    let (amd, amd_cfg) = add_image(&e.fake, "amd", &[layer(1, 10)], None, "amd64");
    let (arm, arm_cfg) = add_image(&e.fake, "arm", &[layer(2, 10)], None, "arm64");
    let entry = |d: &Digest, arch: &str| {
        let size = e.fake.lock().manifests[d.as_str()].1.len();
        serde_json::json!({"mediaType": media::OCI_MANIFEST, "digest": d, "size": size,
            "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    let index_digest = Digest::sha256_of(&index);
    e.fake
        .lock()
        .manifests
        .insert("multi".into(), (media::OCI_INDEX.into(), index));
    let host = Platform::host();
    let pulled = e.pull("app:multi").await.unwrap();
    let want = if host.architecture == "arm64" {
        &arm_cfg
    } else {
        &amd_cfg
    };
    assert_eq!(&pulled.id, want);
    assert_eq!(pulled.digest, index_digest);
    let opts = PullOptions {
        platform: Some(berth_registry::pull::parse_platform("linux/arm64").unwrap()),
        ..Default::default()
    };
    assert_eq!(e.pull_with("app:multi", opts).await.unwrap().id, arm_cfg);
    let none = PullOptions {
        platform: Some(berth_registry::pull::parse_platform("linux/s390x").unwrap()),
        ..Default::default()
    };
    let err = e.pull_with("app:multi", none).await.unwrap_err();
    assert!(matches!(err, RegistryError::NoPlatform { .. }), "{err}");
}

#[tokio::test]
async fn schema1_is_refused_by_name() {
    let e = env().await;
    e.fake.lock().manifests.insert(
        "old".into(),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
            br#"{"schemaVersion":1,"name":"app","tag":"old","fsLayers":[]}"#.to_vec(),
        ),
    );
    let err = e.pull("app:old").await.unwrap_err();
    assert!(matches!(err, RegistryError::Schema1 { .. }), "{err}");
    assert!(err.to_string().contains("schema 1"), "{err}");
    let missing = e.pull("app:nope").await.unwrap_err();
    assert!(
        matches!(missing, RegistryError::NotFound { .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn push_to_berths_own_server_and_pull_back_into_another_store() {
    let e = env().await;
    add_image(
        &e.fake,
        "1",
        &[layer(1, 3_000_000), layer(2, 100)],
        None,
        "amd64",
    );
    let pulled = e.pull("app:1").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = berth_registry::server::router(&dir.path().join("srv")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let local = format!("{}/app:1", e.host);
    for (i, chunk) in [None, Some(1_000_000u64)].into_iter().enumerate() {
        let target = Reference::parse(&format!("{addr}/copy{i}/app:v{i}")).unwrap();
        let opts = berth_registry::push::PushOptions {
            chunk_size: chunk,
            ..Default::default()
        };
        let pushed = berth_registry::push::push(
            &e.client,
            e.store.clone(),
            &local,
            &target,
            &opts,
            &ProgressSink::none(),
        )
        .await
        .unwrap();
        let img = e.store.get(&local).unwrap();
        assert_eq!(pushed.digest.as_str(), img.manifest_digest);
        assert!(img
            .repo_digests
            .contains(&format!("{addr}/copy{i}/app@{}", pushed.digest)));
        // Into a fresh store.
        let other = env().await;
        let back = pull(
            &other.client,
            other.store.clone(),
            &target,
            &PullOptions::default(),
            &ProgressSink::none(),
        )
        .await
        .unwrap();
        assert_eq!(back.id, pulled.id);
        assert_eq!(back.digest, pushed.digest);
    }
    // A second push to another repository of the same server mounts instead of uploading.
    let target = Reference::parse(&format!("{addr}/copy2/app:again")).unwrap();
    let (sink, mut rx) = ProgressSink::channel();
    berth_registry::push::push(
        &e.client,
        e.store.clone(),
        &local,
        &target,
        &Default::default(),
        &sink,
    )
    .await
    .unwrap();
    drop(sink);
    let mut statuses = Vec::new();
    while let Some(p) = rx.recv().await {
        if let berth_registry::Progress::Item { status, .. } = p {
            statuses.push(status);
        }
    }
    assert!(statuses.iter().all(|s| s != "Pushing"), "{statuses:?}");
    assert!(
        statuses.iter().any(|s| s.starts_with("Mounted from copy")),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn docker_hub_images_come_from_a_mirror_first() {
    let e = env().await;
    let (md, cfg) = add_image(&e.fake, "1", &[layer(1, 100)], None, "amd64");
    // The fake serves any repository name: it plays a mirror of Docker Hub here.
    let opts = PullOptions {
        mirrors: vec!["http://127.0.0.1:1/".into(), format!("http://{}/", e.host)],
        ..Default::default()
    };
    let hub = Reference::parse("busybox:1").unwrap();
    let pulled = pull(
        &e.client,
        e.store.clone(),
        &hub,
        &opts,
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    assert_eq!((pulled.id, pulled.digest.clone()), (cfg, md.clone()));
    let img = e.store.get("busybox:1").unwrap();
    assert_eq!(img.repo_digests, vec![format!("busybox@{md}")]);
    assert!(e
        .fake
        .lock()
        .log
        .requests
        .iter()
        .any(|r| r.1 == "/v2/library/busybox/manifests/1"));
}

#[tokio::test]
async fn berths_server_as_a_pull_through_cache() {
    let e = env().await;
    add_image(
        &e.fake,
        "1",
        &[layer(1, 200_000), layer(2, 100)],
        None,
        "amd64",
    );
    let pulled = e.pull("app:1").await.unwrap();
    // The origin: a Berth server holding the image.
    let origin_dir = tempfile::tempdir().unwrap();
    let origin_root = origin_dir.path().join("origin");
    let app = berth_registry::server::router(&origin_root).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let target = Reference::parse(&format!("{origin}/lib/app:1")).unwrap();
    berth_registry::push::push(
        &e.client,
        e.store.clone(),
        &format!("{}/app:1", e.host),
        &target,
        &Default::default(),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    // The cache in front of it.
    let cache_dir = tempfile::tempdir().unwrap();
    let app = berth_registry::server::router_with(
        &cache_dir.path().join("cache"),
        u64::MAX,
        Some(&format!("http://{origin}")),
    )
    .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cache = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let via_cache = Reference::parse(&format!("{cache}/lib/app:1")).unwrap();
    for round in 0..2 {
        if round == 1 {
            // The origin forgets everything: the cache answers alone.
            std::fs::remove_dir_all(&origin_root).unwrap();
        }
        let other = env().await;
        let back = pull(
            &other.client,
            other.store.clone(),
            &via_cache,
            &PullOptions::default(),
            &ProgressSink::none(),
        )
        .await
        .unwrap();
        assert_eq!(back.id, pulled.id, "round {round}");
    }
}

#[tokio::test]
async fn layers_are_unpacked_while_later_ones_download_and_gc_leaves_them() {
    let env = env().await;
    let (bottom, top) = (layer(1, 5000), layer(2, 7000));
    add_image(
        &env.fake,
        "two",
        &[bottom.clone(), top.clone()],
        None,
        "amd64",
    );
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (bottom_d, top_d) = (Digest::sha256_of(&bottom), Digest::sha256_of(&top));
    env.fake
        .lock()
        .behaviour
        .hold
        .insert(top_d.to_string(), gate.clone());
    let (sink, mut events) = ProgressSink::channel();
    let (client, store, reference) = (
        env.client.clone(),
        env.store.clone(),
        env.reference("p:two"),
    );
    let pulling = tokio::spawn(async move {
        pull(&client, store, &reference, &PullOptions::default(), &sink).await
    });
    // The bottom layer is unpacked while the top one is held back by the registry.
    let bottom_id: String = bottom_d.hex().chars().take(12).collect();
    let unpacked = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(p) = events.recv().await {
            if let berth_registry::Progress::Item { id, status, .. } = p {
                if id == bottom_id && status == "Pull complete" {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        unpacked.ok(),
        Some(true),
        "the bottom layer was not unpacked first"
    );
    assert!(!pulling.is_finished());
    // A GC now takes nothing of the pull in flight: its blob and its unpacked layer are pinned.
    let report = env.store.gc().unwrap();
    assert!(
        report.blobs.is_empty() && report.layers.is_empty(),
        "{report:?}"
    );
    assert!(env.store.content().exists(&bottom_d));
    gate.add_permits(1);
    let pulled = pulling.await.unwrap().unwrap();
    let img = env.store.get(&format!("{}/p:two", env.host)).unwrap();
    assert_eq!(img.id, pulled.id);
    assert!(env.store.content().exists(&top_d));
}

#[tokio::test]
async fn a_compressed_push_the_registry_refuses_leaves_the_store_as_it_was() {
    let e = env().await;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    add_image(&e.fake, "1", &[tar_of(&[("noise", &noise)])], None, "amd64");
    e.pull("noisy:1").await.unwrap();
    let local = format!("{}/noisy:1", e.host);
    let before = e.store.get(&local).unwrap();
    let blobs_before = e.store.content().list().unwrap();
    // Berth's server taking at most 1 MB per upload: the streamed, compressed layer is cut off.
    let dir = tempfile::tempdir().unwrap();
    let app =
        berth_registry::server::router_with_limit(&dir.path().join("srv"), 1_000_000).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let target = Reference::parse(&format!("{addr}/small/noisy:1")).unwrap();
    let err = berth_registry::push::push(
        &e.client,
        e.store.clone(),
        &local,
        &target,
        &Default::default(),
        &ProgressSink::none(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("413") || err.to_string().to_lowercase().contains("size"),
        "{err}"
    );
    // Nothing changed: the image keeps its manifest, no compressed blob was kept, no temp file.
    let after = e.store.get(&local).unwrap();
    assert_eq!(after.manifest_digest, before.manifest_digest);
    assert_eq!(e.store.content().list().unwrap(), blobs_before);
    let ingest = e.store.content().root().join("ingest");
    let left: Vec<_> = std::fs::read_dir(&ingest)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
