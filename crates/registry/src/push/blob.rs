//! Pushing one stored blob as it is: `HEAD` to skip what the registry has, a cross-repository
//! mount, else a monolithic `PUT` (small blobs), one streamed `PATCH`, or `Content-Range` chunks;
//! closed by `PUT ?digest=` and checked against the digest the registry reports.

use std::io::Read;
use std::sync::Arc;

use berth_image::model::Descriptor;
use berth_image::ImageStore;
use berth_oci::Digest;
use bytes::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, StatusCode};

use super::PushOptions;
use crate::client::{Repo, UploadStart};
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};
use crate::transport::{self, BodyKind, Outgoing};

/// Blobs up to this size go up in one monolithic `PUT`.
const MONOLITHIC_MAX: u64 = 1 << 20;
/// Bytes per read from the content store while streaming.
const READ_CHUNK: usize = 1 << 20;

/// Pushes stored blob `d` as it is (skipped when the registry has it).
pub(super) async fn push(
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
        return close(repo, &location, &d.digest, progress, &id).await;
    };
    checked(repo, resp, &d.digest).await?;
    progress.send(Progress::item(&id, "Pushed"));
    Ok(())
}

/// Closes the upload at `location` as blob `digest` (`PUT ?digest=`, no body) and reports it
/// pushed.
pub(super) async fn close(
    repo: &Repo,
    location: &str,
    digest: &Digest,
    progress: &ProgressSink,
    id: &str,
) -> Result<(), RegistryError> {
    let resp = repo
        .send(Outgoing {
            method: Method::PUT,
            path_and_query: repo.upload_path(location, &[("digest", digest.as_str())])?,
            headers: vec![(CONTENT_LENGTH, "0".to_string())],
            body: Some(BodyKind::Bytes(Bytes::new())),
        })
        .await?;
    checked(repo, resp, digest).await?;
    progress.send(Progress::item(id, "Pushed"));
    Ok(())
}

/// The answer to an upload's final `PUT`: `201 Created`, and the digest the registry reports (if
/// it does) must be `digest`.
async fn checked(
    repo: &Repo,
    resp: hyper::Response<hyper::body::Incoming>,
    digest: &Digest,
) -> Result<(), RegistryError> {
    if resp.status() != StatusCode::CREATED {
        return Err(repo
            .fail(resp, "PUT", &format!("upload of blob {digest}"))
            .await);
    }
    if let Some(got) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        if got != digest.as_str() {
            return Err(RegistryError::BadContent {
                host: repo.registry().to_string(),
                what: format!("blob {digest}"),
                reason: format!("the registry stored it as {got}"),
            });
        }
    }
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
