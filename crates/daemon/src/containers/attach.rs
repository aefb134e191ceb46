//! `attach`: connects a client to a container's stdio. For a running container the shim's attach
//! stream is opened at once; for one that is not started yet the client waits in the entry's
//! `waiting_attaches` and `start` connects it to the new shim *before* releasing the process, so no
//! output is lost (the `docker run` order: attach, wait, start). With `logs` the recorded output is
//! replayed first, framed as the stream is. The server does the HTTP hijack and copies bytes.

use berth_shim::client::ShimHandle;
use berth_shim::protocol::frame_header;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use super::logs::{read_all, LogOptions};
use super::state::Status;
use super::{shim, ContainerService, Entry};
use crate::error::DaemonError;

/// What the client attaches to.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub stream: bool,
    pub logs: bool,
}

/// A client waiting for the next start.
pub struct PendingAttach {
    opts: AttachOptions,
    tx: oneshot::Sender<UnixStream>,
}

/// Where the live stream comes from.
pub enum AttachSource {
    /// The shim's stream, connected.
    Now(UnixStream),
    /// Connected at the next start (dropped if the container goes away first).
    AtStart(oneshot::Receiver<UnixStream>),
    /// Nothing live (no `stream`, or a container that cannot run).
    Nothing,
}

/// An attach session.
pub struct Attachment {
    pub tty: bool,
    /// Recorded output to send first (`logs=1`), framed.
    pub replay: Vec<u8>,
    pub source: AttachSource,
}

/// Frames recorded lines as the live stream is framed.
fn frame(lines: &[super::logs::LogLine], tty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if !tty {
            out.extend_from_slice(&frame_header(l.stream, l.data.len()));
        }
        out.extend_from_slice(&l.data);
    }
    out
}

impl ContainerService {
    /// `POST /containers/{id}/attach`: resolves the container and sets the session up (before the
    /// server hijacks, so errors keep their status codes).
    pub async fn attach(
        &self,
        name_or_id: &str,
        opts: AttachOptions,
    ) -> Result<Attachment, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        // The verb lock orders us against start: either we queue before it, or see it running.
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        let tty = c.config.tty;
        let replay = if opts.logs {
            let lo = LogOptions {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..Default::default()
            };
            let path = self.paths().log_path(&c.id);
            let (lines, _) = tokio::task::spawn_blocking(move || read_all(&path, &lo))
                .await
                .map_err(DaemonError::join)?;
            frame(&lines, tty)
        } else {
            Vec::new()
        };
        let source = if !opts.stream {
            AttachSource::Nothing
        } else if let (Status::Running, Some(h)) = (c.state.status, entry.shim()) {
            AttachSource::Now(shim::attach(&h, opts.stdin, opts.stdout, opts.stderr).await?)
        } else if matches!(
            c.state.status,
            Status::Created | Status::Exited | Status::Restarting
        ) {
            let (tx, rx) = oneshot::channel();
            entry
                .waiting_attaches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(PendingAttach { opts, tx });
            AttachSource::AtStart(rx)
        } else {
            AttachSource::Nothing
        };
        self.event(&c, "attach", &[]);
        Ok(Attachment {
            tty,
            replay,
            source,
        })
    }

    /// Records that an attach client detached with its detach keys (the `detach` event).
    pub fn detached(&self, name_or_id: &str) {
        if let Ok(entry) = self.lookup(name_or_id) {
            self.event(&entry.snapshot(), "detach", &[]);
        }
    }

    /// Connects every waiting attach client to the container's new shim (called by start).
    pub(crate) async fn connect_waiting_attaches(&self, entry: &Entry, handle: &ShimHandle) {
        let waiting: Vec<PendingAttach> = std::mem::take(
            &mut *entry
                .waiting_attaches
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for w in waiting {
            if w.tx.is_closed() {
                continue;
            }
            let o = w.opts;
            match shim::attach(handle, o.stdin, o.stdout, o.stderr).await {
                Ok(s) => {
                    let _ = w.tx.send(s);
                }
                Err(e) => tracing::warn!(error = %e, "connecting a waiting attach client"),
            }
        }
    }
}
