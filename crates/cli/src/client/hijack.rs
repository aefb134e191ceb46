//! Hijacked connections for attach and exec: the request carries `Connection: Upgrade` and
//! `Upgrade: tcp`, the daemon must answer 101, and the socket then carries raw stdin one way and
//! output (raw with a TTY, stdcopy-framed without) the other. Stdin EOF half-closes the write
//! side; output ends when the daemon closes its side.

use super::body::ReqBody;
use super::stdcopy::{Demuxer, Frame};
use super::{check, Client};
use crate::error::{CliError, Result};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// A raw bidirectional stream after a successful upgrade, with any bytes already buffered.
pub struct Hijacked {
    pub stream: UnixStream,
    pub buffered: Bytes,
}

impl Client {
    /// Sends an upgrade request to a versioned `path` and returns the raw socket.
    pub async fn hijack(&self, path: &str, content_type: &str, body: ReqBody) -> Result<Hijacked> {
        let uri = self.versioned(path).await?;
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        let conn = tokio::spawn(conn.without_shutdown());
        let req = self.build(
            Method::POST,
            &uri,
            body,
            &[
                ("connection", "Upgrade"),
                ("upgrade", "tcp"),
                ("content-type", content_type),
            ],
        )?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status();
            check(resp).await?;
            return Err(CliError::Message(format!(
                "unable to upgrade to tcp, received {}",
                status.as_u16()
            )));
        }
        drop(sender);
        let parts = conn
            .await
            .map_err(|e| self.transport(e))?
            .map_err(|e| self.transport(e))?;
        Ok(Hijacked {
            stream: parts.io.into_inner(),
            buffered: parts.read_buf,
        })
    }
}

/// Copies the daemon's output to `out`/`err`: raw when `tty`, demultiplexed otherwise. Returns
/// when the daemon closes the stream; an in-band system error becomes an error.
pub async fn copy_output<R, O, E>(
    mut from: R,
    buffered: Bytes,
    tty: bool,
    out: &mut O,
    err: &mut E,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let mut demux = Demuxer::default();
    let mut chunk = buffered.to_vec();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if !chunk.is_empty() {
            if tty {
                out.write_all(&chunk).await?;
                out.flush().await?;
            } else {
                demux.push(&chunk);
                while let Some(frame) = demux.next_frame()? {
                    match frame {
                        Frame::Stdout(b) => {
                            out.write_all(&b).await?;
                            out.flush().await?;
                        }
                        Frame::Stderr(b) => {
                            err.write_all(&b).await?;
                            err.flush().await?;
                        }
                        Frame::SystemError(m) => return Err(CliError::Message(m)),
                    }
                }
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Ok(());
        }
        chunk = buf[..n].to_vec();
    }
}

/// Reads this process's stdin on a plain thread (so that a blocked read never holds up exit)
/// and delivers chunks; the channel closes at EOF.
pub fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(8);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Forwards stdin chunks to the daemon, then half-closes the write side.
pub async fn copy_input<W: AsyncWrite + Unpin>(mut rx: mpsc::Receiver<Vec<u8>>, mut to: W) {
    while let Some(chunk) = rx.recv().await {
        if to.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}
