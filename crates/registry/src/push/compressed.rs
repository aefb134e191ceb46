//! Pushing a plain-tar layer gzip-compressed: the layer is compressed on every core
//! ([`crate::compress::gzip`]) and each compressed piece goes, in order, both into one streamed
//! `PATCH` to the registry and into a staged (not yet visible) local copy, hashed as it is
//! written; the digest that write ends with closes the upload (`PUT ?digest=`), and the local copy
//! is committed only once the registry accepted the blob. Nothing is read twice and the upload
//! runs while the layer is still being compressed.
//!
//! If the upload fails, the local copy is abandoned (nothing becomes visible, its temp file is
//! gone before the push returns); if the local copy fails, the upload is abandoned with it.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use berth_image::content::Staged;
use berth_image::model::Descriptor;
use berth_image::ImageStore;
use bytes::{Buf, Bytes};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, StatusCode};
use tokio::sync::mpsc::Sender;

use super::{blob, PushOptions};
use crate::client::{Repo, UploadStart};
use crate::compress;
use crate::error::RegistryError;
use crate::progress::{short_id, Progress, ProgressSink};
use crate::transport::{self, BodyKind, Outgoing};

/// Compressed pieces queued towards the registry and towards the local copy.
const QUEUE: usize = 8;
/// How long a failed push waits for its compressor to stop.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Pushes plain-tar layer `d` gzip-compressed as media type `media_type`; returns the compressed
/// blob's descriptor (the blob is now in the local content store too, committed once the registry
/// accepted it).
pub(super) async fn push(
    repo: &Repo,
    store: &Arc<ImageStore>,
    d: &Descriptor,
    media_type: &str,
    opts: &PushOptions,
    progress: &ProgressSink,
) -> Result<Descriptor, RegistryError> {
    let id = short_id(&d.digest);
    let location = match repo.start_upload(None).await? {
        UploadStart::Location(l) => l,
        UploadStart::Mounted => {
            return Err(RegistryError::internal(
                "a registry mounted a blob not asked for",
            ))
        }
    };
    progress.send(Progress::item(&id, "Pushing"));
    let (tx, body) = transport::channel(QUEUE);
    let compressor = {
        let (store, d, progress, id) = (store.clone(), d.clone(), progress.clone(), id.clone());
        let (level, threads) = (opts.gzip_level, opts.gzip_threads);
        tokio::task::spawn_blocking(move || {
            compress_into_store(&store, &d, level, threads, tx, |done| {
                progress.send(Progress::Item {
                    id: id.clone(),
                    status: "Pushing".to_string(),
                    current: Some(done),
                    total: Some(d.size),
                })
            })
        })
    };
    let resp = repo
        .send(Outgoing {
            method: Method::PATCH,
            path_and_query: repo.upload_path(&location, &[])?,
            headers: vec![(CONTENT_TYPE, "application/octet-stream".to_string())],
            body: Some(BodyKind::Stream(body)),
        })
        .await;
    let resp = match resp {
        Ok(r) if r.status() == StatusCode::ACCEPTED => r,
        Ok(r) => {
            let e = repo
                .fail(r, "PATCH", &format!("upload of blob {}", d.digest))
                .await;
            settle(compressor).await;
            return Err(e);
        }
        Err(e) => {
            settle(compressor).await;
            return Err(e);
        }
    };
    let staged = compressor.await.map_err(RegistryError::internal)??;
    let location = resp
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&location)
        .to_string();
    blob::close(repo, &location, staged.digest(), progress, &id).await?;
    let (digest, size) = tokio::task::spawn_blocking(move || staged.commit())
        .await
        .map_err(RegistryError::internal)??;
    Ok(Descriptor::new(media_type, digest, size))
}

/// Waits (a bounded time) for a compressor whose upload failed: with the request gone its sends
/// fail, and its staged local copy (finished or not) is removed when its result is dropped.
async fn settle(compressor: tokio::task::JoinHandle<Result<Staged, RegistryError>>) {
    let _ = tokio::time::timeout(SETTLE, compressor).await;
}

/// Compresses stored blob `d` into a staged local copy and, piece by piece, into `upload`;
/// returns the staged copy (not yet committed).
fn compress_into_store(
    store: &ImageStore,
    d: &Descriptor,
    level: u32,
    threads: usize,
    upload: Sender<Result<Bytes, io::Error>>,
    progress: impl FnMut(u64),
) -> Result<Staged, RegistryError> {
    let source = store.content().open_blob(&d.digest)?;
    let io_err = |source: io::Error| RegistryError::Io {
        what: "compressing layer",
        path: d.digest.to_string(),
        source,
    };
    let (local_tx, local_rx) = sync_channel::<io::Result<Bytes>>(QUEUE);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || store.content().stage_blob(ChannelReader::new(local_rx)));
        let compressed = compress::gzip(
            source,
            level,
            threads,
            |piece| {
                upload
                    .blocking_send(Ok(piece.clone()))
                    .map_err(|_| io::Error::other("the upload to the registry ended early"))?;
                local_tx.send(Ok(piece)).map_err(|_| {
                    io::Error::new(io::ErrorKind::BrokenPipe, "the local copy stopped")
                })
            },
            progress,
        );
        if let Err(e) = &compressed {
            // The local copy must not end as if the stream were whole.
            let _ = local_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
            let _ = upload.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        drop(local_tx);
        drop(upload);
        let stored = writer
            .join()
            .map_err(|_| RegistryError::internal("the local copy's writer panicked"))?;
        let c = match compressed {
            Ok(c) => c,
            // The local copy's own failure says more than the compressor's broken pipe.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Err(stored.err().map_or_else(|| io_err(e), Into::into))
            }
            Err(e) => return Err(io_err(e)),
        };
        let staged = stored?;
        if staged.size() != c.written {
            return Err(RegistryError::internal(format!(
                "compressed {} bytes of layer {} but stored {}",
                c.written,
                d.digest,
                staged.size()
            )));
        }
        Ok(staged)
    })
}

/// A `Read` over pieces arriving on a channel; an `Err` piece fails the read.
struct ChannelReader {
    rx: Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.current = b,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_reader_reads_pieces_and_fails_on_an_error_piece() {
        let (tx, rx) = sync_channel(4);
        let _ = tx.send(Ok(Bytes::from_static(b"ab")));
        let _ = tx.send(Ok(Bytes::from_static(b"cd")));
        drop(tx);
        let mut s = String::new();
        let r = ChannelReader::new(rx).read_to_string(&mut s);
        assert_eq!((r.ok(), s.as_str()), (Some(4), "abcd"));
        let (tx, rx) = sync_channel(4);
        let _ = tx.send(Ok(Bytes::from_static(b"ab")));
        let _ = tx.send(Err(io::Error::other("cut")));
        let mut out = Vec::new();
        assert!(ChannelReader::new(rx).read_to_end(&mut out).is_err());
    }
}
