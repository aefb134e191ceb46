//! Pushing a local image to a registry.
//!
//! 1. Read the image's stored manifest and check its config and layer blobs are in the content
//!    store.
//! 2. Per blob (at most [`PushOptions::max_concurrent`] at once): `HEAD` skips what the registry
//!    has; a cross-repository mount (`?mount=&from=`) is tried from another repository of the same
//!    registry the image came from; otherwise the blob is uploaded: small ones in one monolithic
//!    `PUT`, others streamed in one `PATCH` (as Docker does) or in `Content-Range` chunks of
//!    [`PushOptions::chunk_size`], then closed with `PUT ?digest=`.
//! 3. `PUT` the manifest by tag; the `Docker-Content-Digest` the registry returns must equal the
//!    local manifest digest.
//! 4. Record the repo digest (`repo@sha256:…`) on the image.

use std::io::Read;
use std::sync::Arc;

use berth_image::formats::{LayerSource, PendingImage};
use berth_image::model::{Descriptor, ManifestOrIndex};
use berth_image::ImageStore;
use berth_oci::{Digest, Reference};
use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use tokio::sync::Semaphore;

use crate::auth::Credentials;
use crate::client::{Client, Repo, UploadStart};
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};
use crate::transport::{self, BodyKind, Outgoing};

/// Blobs uploaded at once by default (Docker's `max-concurrent-uploads`).
pub const DEFAULT_CONCURRENT_UPLOADS: usize = 5;
/// Blobs up to this size go up in one monolithic `PUT`.
const MONOLITHIC_MAX: u64 = 1 << 20;
/// Bytes per read from the content store while streaming.
const READ_CHUNK: usize = 1 << 20;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub credentials: Credentials,
    pub max_concurrent: usize,
    /// Upload in `Content-Range` chunks of this many bytes instead of one streamed `PATCH`.
    pub chunk_size: Option<u64>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            credentials: Credentials::default(),
            max_concurrent: DEFAULT_CONCURRENT_UPLOADS,
            chunk_size: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: Digest,
    pub size: u64,
}

struct Local {
    manifest_mt: String,
    manifest: Bytes,
    config: Descriptor,
    config_bytes: Vec<u8>,
    layers: Vec<Descriptor>,
    /// Other repositories of the target registry that name this image (mount sources).
    mount_from: Vec<String>,
}

fn read_local(store: &ImageStore, name: &str, target: &Reference) -> Result<Local, RegistryError> {
    let img = store.get(name)?;
    let md = Digest::parse(&img.manifest_digest).map_err(RegistryError::internal)?;
    let bytes = store.content().read_blob(&md)?;
    let m = match ManifestOrIndex::parse(md.as_str(), Some(&img.manifest_media_type), &bytes) {
        Ok(ManifestOrIndex::Manifest(m)) => m,
        Ok(ManifestOrIndex::Index(_)) => {
            return Err(RegistryError::Internal(format!(
                "image {name}: its stored manifest {md} is an index"
            )))
        }
        Err(e) => return Err(RegistryError::Internal(format!("image {name}: {e}"))),
    };
    for d in std::iter::once(&m.config).chain(&m.layers) {
        let size = store.content().size(&d.digest)?;
        if size != d.size {
            return Err(RegistryError::Internal(format!(
                "image {name}: blob {} has {size} bytes, its manifest says {}",
                d.digest, d.size
            )));
        }
    }
    let config_bytes = store.content().read_blob(&m.config.digest)?;
    let mut mount_from = Vec::new();
    for n in img.repo_tags.iter().chain(&img.repo_digests) {
        if let Ok(r) = Reference::parse(n) {
            if r.registry() == target.registry()
                && r.repository() != target.repository()
                && !mount_from.iter().any(|m: &String| m == r.repository())
            {
                mount_from.push(r.repository().to_string());
            }
        }
    }
    Ok(Local {
        manifest_mt: img.manifest_media_type.clone(),
        manifest: Bytes::from(bytes),
        config: m.config.clone(),
        config_bytes,
        layers: m.layers.clone(),
        mount_from,
    })
}

/// Pushes the local image `name` to `target` (a tag reference).
pub async fn push(
    client: &Client,
    store: Arc<ImageStore>,
    name: &str,
    target: &Reference,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Pushed, RegistryError> {
    let tag = target
        .tag()
        .unwrap_or(berth_oci::reference::DEFAULT_TAG)
        .to_string();
    let local = {
        let (s, n, t) = (store.clone(), name.to_string(), target.clone());
        tokio::task::spawn_blocking(move || read_local(&s, &n, &t))
            .await
            .map_err(RegistryError::internal)??
    };
    let repo = Arc::new(
        client
            .repo(
                target.registry(),
                target.repository(),
                true,
                opts.credentials.clone(),
            )
            .await?,
    );
    progress.send(Progress::Status(format!(
        "The push refers to repository [{}]",
        target.name()
    )));
    for l in local.layers.iter().rev() {
        progress.send(Progress::item(short_id(&l.digest), "Preparing"));
    }
    let permits = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for (d, show) in local
        .layers
        .iter()
        .map(|l| (l, true))
        .chain(std::iter::once((&local.config, false)))
    {
        if !seen.insert(d.digest.clone()) {
            continue;
        }
        let (repo, store, d, progress, permits, opts) = (
            repo.clone(),
            store.clone(),
            d.clone(),
            if show {
                progress.clone()
            } else {
                ProgressSink::none()
            },
            permits.clone(),
            opts.clone(),
        );
        let mount_from = local.mount_from.first().cloned();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(RegistryError::internal)?;
            push_blob(&repo, &store, &d, mount_from.as_deref(), &opts, &progress).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(RegistryError::internal)??;
    }
    let digest = Digest::sha256_of(&local.manifest);
    let size = local.manifest.len() as u64;
    let returned = repo
        .put_manifest(&tag, &local.manifest_mt, local.manifest.clone())
        .await?;
    if let Some(r) = returned {
        if r != digest.as_str() {
            return Err(RegistryError::BadContent {
                host: repo.registry().to_string(),
                what: format!("manifest {}:{tag}", repo.name()),
                reason: format!("the registry stored it as {r}, but its bytes hash to {digest}"),
            });
        }
    }
    // Record the repo digest: the same image, one more name.
    let pending = PendingImage::new(
        local.config_bytes,
        local
            .layers
            .iter()
            .cloned()
            .map(LayerSource::Blob)
            .collect(),
        Some((local.manifest_mt.clone(), local.manifest.to_vec())),
        vec![target.name_only().with_digest(digest.clone())],
    )?;
    debug_assert_eq!(pending.config_digest, local.config.digest);
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.commit_pending(vec![pending]))
        .await
        .map_err(RegistryError::internal)??;
    Ok(Pushed { tag, digest, size })
}

async fn push_blob(
    repo: &Repo,
    store: &Arc<ImageStore>,
    d: &Descriptor,
    mount_from: Option<&str>,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<(), RegistryError> {
    let id = short_id(&d.digest);
    if repo.blob_exists(&d.digest).await? {
        progress.send(Progress::item(&id, "Layer already exists"));
        return Ok(());
    }
    // A refused mount still opens an upload session: use it.
    let location = match repo
        .start_upload(mount_from.map(|f| (&d.digest, f)))
        .await?
    {
        UploadStart::Mounted => {
            let from = mount_from.unwrap_or_default();
            progress.send(Progress::item(&id, format!("Mounted from {from}")));
            return Ok(());
        }
        UploadStart::Location(l) => l,
    };
    progress.send(Progress::item(&id, "Pushing"));
    let digest_q = [("digest", d.digest.as_str())];
    let resp = if d.size <= MONOLITHIC_MAX && opts.chunk_size.is_none() {
        let (s, dg) = (store.clone(), d.digest.clone());
        let bytes = tokio::task::spawn_blocking(move || s.content().read_blob(&dg))
            .await
            .map_err(RegistryError::internal)??;
        repo.send(Outgoing {
            method: Method::PUT,
            path_and_query: repo.upload_path(&location, &digest_q)?,
            headers: vec![
                (CONTENT_TYPE, "application/octet-stream".to_string()),
                (CONTENT_LENGTH, bytes.len().to_string()),
            ],
            body: Some(BodyKind::Bytes(Bytes::from(bytes))),
        })
        .await?
    } else {
        let chunk = opts.chunk_size.unwrap_or(d.size).max(1);
        let mut location = location;
        let mut offset = 0u64;
        while offset < d.size {
            let len = chunk.min(d.size - offset);
            let (tx, body) = transport::channel(4);
            let feeder = spawn_reader(store.clone(), d.digest.clone(), offset, len, tx);
            let resp = repo
                .send(Outgoing {
                    method: Method::PATCH,
                    path_and_query: repo.upload_path(&location, &[])?,
                    headers: vec![
                        (CONTENT_TYPE, "application/octet-stream".to_string()),
                        (CONTENT_LENGTH, len.to_string()),
                        (
                            hyper::header::CONTENT_RANGE,
                            format!("{offset}-{}", offset + len - 1),
                        ),
                    ],
                    body: Some(BodyKind::Stream(body)),
                })
                .await?;
            feeder.await.map_err(RegistryError::internal)??;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(repo
                    .fail(resp, "PATCH", &format!("upload of blob {}", d.digest))
                    .await);
            }
            if let Some(l) = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                location = l.to_string();
            }
            offset += len;
            progress.send(Progress::Item {
                id: id.clone(),
                status: "Pushing".to_string(),
                current: Some(offset),
                total: Some(d.size),
            });
        }
        repo.send(Outgoing {
            method: Method::PUT,
            path_and_query: repo.upload_path(&location, &digest_q)?,
            headers: vec![(CONTENT_LENGTH, "0".to_string())],
            body: Some(BodyKind::Bytes(Bytes::new())),
        })
        .await?
    };
    if resp.status() != StatusCode::CREATED {
        return Err(repo
            .fail(resp, "PUT", &format!("upload of blob {}", d.digest))
            .await);
    }
    if let Some(got) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        if got != d.digest.as_str() {
            return Err(RegistryError::BadContent {
                host: repo.registry().to_string(),
                what: format!("blob {}", d.digest),
                reason: format!("the registry stored it as {got}"),
            });
        }
    }
    progress.send(Progress::item(&id, "Pushed"));
    Ok(())
}

/// Streams `len` bytes of blob `digest` from `offset` into `tx` on the blocking pool.
fn spawn_reader(
    store: Arc<ImageStore>,
    digest: Digest,
    offset: u64,
    len: u64,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> tokio::task::JoinHandle<Result<(), RegistryError>> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Seek, SeekFrom};
        let mut f = store.content().open_blob(&digest)?;
        let io = |e: std::io::Error| RegistryError::Io {
            what: "reading blob",
            path: digest.to_string(),
            source: e,
        };
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut left = len;
        let mut f = f.take(len);
        while left > 0 {
            let mut buf = vec![0u8; READ_CHUNK.min(left as usize)];
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                let _ = tx.blocking_send(Err(std::io::Error::other("blob ended early")));
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            buf.truncate(n);
            left -= n as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                // The request ended (the registry answered or the connection broke).
                return Ok(());
            }
        }
        Ok(())
    })
}
