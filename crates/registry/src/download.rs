//! Downloading one blob into the image store's content store: through a resumable
//! [`berth_image::content::Ingest`] (hashed as written, verified and renamed into place on commit),
//! resumed with `Range` after a dropped connection, retried with backoff on transient failures, and
//! done once per digest at a time in this process (a second pull of the same layer waits, then finds
//! it stored). Another process holding the same ingest is waited for the same way.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use berth_image::content::{ContentError, Ingest};
use berth_image::model::Descriptor;
use berth_image::ImageStore;
use http_body_util::BodyExt;
use hyper::StatusCode;

use crate::client::Repo;
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};

/// Attempts per blob (Docker's default `max-download-attempts`).
pub const MAX_ATTEMPTS: u32 = 5;
/// Bytes gathered before one write to the ingest.
const WRITE_BATCH: usize = 1 << 20;

/// How a blob came to be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    AlreadyExists,
    Downloaded,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(RegistryError::internal)?
}

/// Makes blob `desc` present in `store`'s content store, verified.
pub async fn fetch_blob(
    repo: &Repo,
    store: &Arc<ImageStore>,
    desc: &Descriptor,
    progress: &ProgressSink,
) -> Result<Fetched, RegistryError> {
    let id = short_id(&desc.digest);
    let present = |store: &Arc<ImageStore>| {
        store
            .content()
            .size(&desc.digest)
            .is_ok_and(|s| s == desc.size)
    };
    if present(store) {
        progress.send(Progress::item(&id, "Already exists"));
        return Ok(Fetched::AlreadyExists);
    }
    let lock = repo.client().blob_lock(&desc.digest);
    let _held = match lock.try_lock() {
        Ok(g) => g,
        Err(_) => {
            progress.send(Progress::item(&id, "Waiting"));
            lock.lock().await
        }
    };
    if present(store) {
        progress.send(Progress::item(&id, "Download complete"));
        return Ok(Fetched::Downloaded);
    }
    progress.send(Progress::item(&id, "Pulling fs layer"));
    let mut attempt = 0;
    loop {
        match download_once(repo, store, desc, progress, &id).await {
            Ok(()) => break,
            Err(e) if e.is_transient() && attempt + 1 < MAX_ATTEMPTS => {
                attempt += 1;
                tracing::info!(digest = %desc.digest, attempt, error = %e, "blob download failed; retrying");
                progress.send(Progress::item(
                    &id,
                    format!("Retrying in {} ms", backoff(attempt).as_millis()),
                ));
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
    progress.send(Progress::item(&id, "Download complete"));
    Ok(Fetched::Downloaded)
}

/// Opens the ingest of `desc`, waiting while another process holds it.
async fn open_ingest(store: &Arc<ImageStore>, desc: &Descriptor) -> Result<Ingest, RegistryError> {
    let mut waited = 0u32;
    loop {
        let (s, d) = (store.clone(), desc.clone());
        let r = blocking(move || {
            Ok(s.content()
                .ingest(&format!("pull/{}", d.digest), &d.digest, d.size))
        })
        .await?;
        match r {
            Ok(ingest) => return Ok(ingest),
            Err(ContentError::Locked { .. }) if waited < 600 => {
                waited += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn download_once(
    repo: &Repo,
    store: &Arc<ImageStore>,
    desc: &Descriptor,
    progress: &ProgressSink,
    id: &str,
) -> Result<(), RegistryError> {
    let mut ingest = open_ingest(store, desc).await?;
    if store.content().exists(&desc.digest) {
        return Ok(());
    }
    let offset = ingest.offset();
    let mut written = offset;
    if offset < desc.size {
        let resp = repo.get_blob(&desc.digest, offset).await?;
        // A registry that ignores Range sends the whole blob: skip what we have.
        let mut skip = if offset > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
            offset
        } else {
            0
        };
        let mut body = resp.into_body();
        let mut buf = Vec::with_capacity(WRITE_BATCH);
        let mut last_report = 0u64;
        loop {
            let frame = match body.frame().await {
                None => break,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    // Keep what arrived: the next attempt resumes after it.
                    let _ = flush_owned(ingest, &mut buf).await;
                    return Err(RegistryError::Http {
                        host: repo.registry().to_string(),
                        method: "GET".to_string(),
                        url: format!("blob {}", desc.digest),
                        reason: format!(
                            "the download broke off after {written} of {} bytes: {e}",
                            desc.size
                        ),
                    });
                }
            };
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            if skip > 0 {
                let n = (skip as usize).min(data.len());
                let _ = data.split_to(n);
                skip -= n as u64;
            }
            if written + data.len() as u64 > desc.size {
                ingest_abort(ingest).await;
                return Err(RegistryError::BadContent {
                    host: repo.registry().to_string(),
                    what: format!("blob {}", desc.digest),
                    reason: format!(
                        "more than the {} bytes its descriptor promises; nothing was stored",
                        desc.size
                    ),
                });
            }
            written += data.len() as u64;
            buf.extend_from_slice(&data);
            if buf.len() >= WRITE_BATCH {
                ingest = flush_owned(ingest, &mut buf).await?;
            }
            if written - last_report >= 512 * 1024 || written == desc.size {
                last_report = written;
                progress.send(Progress::Item {
                    id: id.to_string(),
                    status: "Downloading".to_string(),
                    current: Some(written),
                    total: Some(desc.size),
                });
            }
        }
        ingest = flush_owned(ingest, &mut buf).await?;
        if written < desc.size {
            return Err(RegistryError::Http {
                host: repo.registry().to_string(),
                method: "GET".to_string(),
                url: format!("blob {}", desc.digest),
                reason: format!("the body ended after {written} of {} bytes", desc.size),
            });
        }
    }
    progress.send(Progress::item(id, "Verifying Checksum"));
    let host = repo.registry().to_string();
    blocking(move || match ingest.commit() {
        Ok(_) => Ok(()),
        Err(ContentError::DigestMismatch { expected, actual }) => {
            Err(RegistryError::DigestMismatch {
                host,
                what: format!("blob {expected}"),
                expected,
                actual,
            })
        }
        Err(e) => Err(e.into()),
    })
    .await
}

async fn flush_owned(mut ingest: Ingest, buf: &mut Vec<u8>) -> Result<Ingest, RegistryError> {
    if buf.is_empty() {
        return Ok(ingest);
    }
    let data = std::mem::replace(buf, Vec::with_capacity(WRITE_BATCH));
    blocking(move || {
        ingest.write_all(&data).map_err(|e| RegistryError::Io {
            what: "writing the ingest of",
            path: ingest.expected().to_string(),
            source: e,
        })?;
        Ok(ingest)
    })
    .await
}

async fn ingest_abort(ingest: Ingest) {
    let _ = tokio::task::spawn_blocking(move || ingest.abort()).await;
}
