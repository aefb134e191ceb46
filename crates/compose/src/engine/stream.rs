//! Hijacked streams for `exec` and `run`: the upgrade request (`Connection: Upgrade`,
//! `Upgrade: tcp`, answered 101), then stdin copied to the socket (EOF half-closes it) while the
//! output (raw with a TTY, stdcopy frames without) goes to stdout/stderr until the engine closes
//! its side. [`RawTerminal`] puts a terminal stdin into raw mode for a TTY session and restores it
//! on drop.

use super::client::{demux, read_all, Client, EngineError, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A raw socket after a 101 answer, with bytes hyper had already read past the headers.
pub struct Hijacked {
    pub stream: UnixStream,
    pub buffered: Bytes,
}

impl Client {
    /// POSTs `body` to `path` asking for an upgrade; returns the raw socket.
    pub async fn hijack(&self, path: &str, body: &serde_json::Value) -> Result<Hijacked> {
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        let conn = tokio::spawn(conn.without_shutdown());
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(hyper::header::HOST, "api.moby.localhost")
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, "tcp")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| self.transport(e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status().as_u16();
            let raw = read_all(resp).await.unwrap_or_default();
            let message = serde_json::from_slice::<berth_api::ErrorResponse>(&raw)
                .map(|e| e.message)
                .unwrap_or_else(|_| {
                    format!(
                        "unable to upgrade to tcp on {path}, received {status}: {}",
                        String::from_utf8_lossy(&raw).trim()
                    )
                });
            return Err(EngineError::Daemon { status, message });
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

/// Copies stdin (when `stdin`) to the stream and the stream's output to stdout/stderr until
/// the engine closes its side.
pub async fn pump(h: Hijacked, tty: bool, stdin: bool) -> Result<()> {
    let (mut rd, mut wr) = h.stream.into_split();
    let input = stdin.then(|| {
        tokio::spawn(async move {
            let mut inp = tokio::io::stdin();
            let mut buf = vec![0u8; 8192];
            loop {
                match inp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if wr.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = wr.shutdown().await;
        })
    });
    let mut pending = h.buffered.to_vec();
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        for (stream, payload) in demux(&mut pending, tty) {
            write_out(stream, &payload);
        }
        let n = rd
            .read(&mut chunk)
            .await
            .map_err(|e| EngineError::Transport {
                host: String::new(),
                detail: format!("reading the container's output: {e}"),
            })?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    if let Some(t) = input {
        t.abort();
    }
    Ok(())
}

fn write_out(stream: u8, payload: &[u8]) {
    if stream == 2 {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(payload);
        let _ = e.flush();
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(payload);
        let _ = o.flush();
    }
}

/// A terminal stdin in raw mode for the life of the value.
pub struct RawTerminal {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawTerminal {
    /// Raw mode on stdin when it is a terminal; a no-op otherwise.
    pub fn enter() -> RawTerminal {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return RawTerminal { saved: None };
        }
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// The terminal's size as `[height, width]`, when stdout is one.
pub fn console_size() -> Option<[u32; 2]> {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; fd 1 is only read.
    let r = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some([u32::from(ws.ws_row), u32::from(ws.ws_col)])
}
