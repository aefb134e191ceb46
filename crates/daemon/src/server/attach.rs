//! The hijacked `POST /containers/{id}/attach`. With `Upgrade: tcp` the daemon answers
//! `101 UPGRADED` and the connection becomes a raw byte stream both ways (client → stdin, container
//! output → client, already in Docker's framing); without it (old clients) it answers 200 with the
//! output as the body. The client's write half-close means stdin EOF, not "gone": output keeps
//! flowing until the container's stream ends, then the daemon closes.
//!
//! Detach keys (`detachKeys`, default ctrl-p ctrl-q) are watched on a tty's input, as Docker does:
//! the sequence is not forwarded, the session ends and the container keeps running. The scanner and
//! the input copy here are shared with exec start.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::ApiVersion;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use super::error::ApiError;
use super::params::Params;
use super::stream::channel_body;
use super::AppState;
use crate::containers::attach::{AttachOptions, AttachSource, Attachment};

/// `POST /containers/{id}/attach`.
pub async fn attach(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    mut req: Request,
) -> Result<Response, ApiError> {
    let opts = AttachOptions {
        stdin: params.flag("stdin"),
        stdout: params.flag("stdout"),
        stderr: params.flag("stderr"),
        stream: params.flag("stream"),
        logs: params.flag("logs"),
    };
    let keys = parse_detach_keys(params.get("detachKeys").unwrap_or(""))?;
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(ApiVersion::CURRENT);
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let session = s.engine.containers.attach(&id, opts).await?;
    let media = if !session.tty && version.at_least(1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    };
    if !upgrade {
        return Ok(output_only(session, media));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let detach = session.tty.then(|| EscapeScanner::new(keys));
                if pump(TokioIo::new(upgraded), session, opts.stdin, detach).await {
                    s.engine.containers.detached(&id);
                }
            }
            Err(e) => tracing::debug!(error = %e, "attach upgrade failed"),
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    Ok(r)
}

/// The container's stream once it is there (`None`: nothing live to attach to).
async fn live(source: AttachSource) -> Option<UnixStream> {
    match source {
        AttachSource::Now(s) => Some(s),
        AttachSource::AtStart(rx) => rx.await.ok(),
        AttachSource::Nothing => None,
    }
}

/// 200 with the output as the body (no stdin): the fallback for clients that do not upgrade.
fn output_only(session: Attachment, media: &'static str) -> Response {
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        if !session.replay.is_empty() && tx.send(Ok(Bytes::from(session.replay))).await.is_err() {
            return;
        }
        let Some(mut stream) = live(session.source).await else {
            return;
        };
        let _ = stream.shutdown().await;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    ([(CONTENT_TYPE, media)], body).into_response()
}

/// Copies between the client and the container until the container's stream ends or the client
/// typed the detach sequence (then returns true and leaves the container's stdin open).
async fn pump<C: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    client: C,
    session: Attachment,
    stdin: bool,
    detach: Option<EscapeScanner>,
) -> bool {
    let (client_rd, mut client_wr) = tokio::io::split(client);
    if !session.replay.is_empty() && client_wr.write_all(&session.replay).await.is_err() {
        return false;
    }
    let _ = client_wr.flush().await;
    let Some(stream) = live(session.source).await else {
        let _ = client_wr.shutdown().await;
        return false;
    };
    let (ctr_rd, ctr_wr) = stream.into_split();
    let detached = relay(
        client_rd,
        &mut client_wr,
        ctr_rd,
        ctr_wr,
        stdin,
        detach,
        super::reframe::Reframe::AsIs,
    )
    .await;
    let _ = client_wr.shutdown().await;
    detached
}

/// Docker's default detach sequence: ctrl-p ctrl-q.
const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Parses Docker's detach-keys syntax (`ctrl-p,ctrl-q`, `a,ctrl-x`; empty: the default): each
/// comma-separated item is one character or `ctrl-` and one of `a-z @ [ \ ] ^ _`.
pub(super) fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, ApiError> {
    if spec.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let invalid = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
    spec.split(',')
        .map(|key| {
            if key.len() == 1 {
                return Ok(key.as_bytes()[0]);
            }
            let lower = key.to_ascii_lowercase();
            let ch = lower
                .strip_prefix("ctrl-")
                .filter(|c| c.len() == 1)
                .ok_or_else(invalid)?;
            match ch.as_bytes()[0] {
                c @ b'a'..=b'z' => Ok(c - b'a' + 1),
                b'@' => Ok(0),
                c @ (b'[' | b'\\' | b']' | b'^' | b'_') => Ok(c - b'@'),
                _ => Err(invalid()),
            }
        })
        .collect()
}

/// Watches input for the detach sequence, holding back a partial match until it is decided.
pub(super) struct EscapeScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeScanner {
    pub(super) fn new(keys: Vec<u8>) -> EscapeScanner {
        EscapeScanner { keys, matched: 0 }
    }

    /// Feeds `input`: the bytes to forward now, and whether the sequence completed (bytes after it
    /// are dropped: the session ends).
    pub(super) fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            // A broken partial match: what was held back is ordinary input after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(self.keys.first() == Some(&b));
            if self.matched == 0 {
                out.push(b);
            } else if self.keys.len() == 1 {
                return (out, true);
            }
        }
        (out, false)
    }
}

/// Copies the client's input to the process (or drops it without `stdin`), watching for `detach`.
/// Returns true when the client detached; on client EOF the process's stdin is half-closed.
async fn copy_input<R, W>(
    mut client_rd: R,
    mut proc_wr: W,
    stdin: bool,
    mut detach: Option<EscapeScanner>,
) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match client_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, detached) = match detach.as_mut() {
            Some(scanner) => scanner.feed(&buf[..n]),
            None => (buf[..n].to_vec(), false),
        };
        if stdin && !data.is_empty() && proc_wr.write_all(&data).await.is_err() {
            break;
        }
        if detached {
            return true;
        }
    }
    // Client EOF: the process's stdin ends (the shim applies StdinOnce).
    let _ = proc_wr.shutdown().await;
    false
}

/// Relays a hijacked session: the client's input to the process, the process's output to the
/// client, until the output ends or the client detaches (true). The caller closes the client.
pub(super) async fn relay<CR, CW, PR, PW>(
    client_rd: CR,
    mut client_wr: CW,
    mut proc_rd: PR,
    proc_wr: PW,
    stdin: bool,
    detach: Option<EscapeScanner>,
    mut reframe: super::reframe::Reframe,
) -> bool
where
    CR: AsyncRead + Unpin + Send + 'static,
    CW: AsyncWrite + Unpin,
    PR: AsyncRead + Unpin,
    PW: AsyncWrite + Unpin + Send + 'static,
{
    let mut input = tokio::spawn(copy_input(client_rd, proc_wr, stdin, detach));
    let mut input_done = false;
    let mut detached = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            r = &mut input, if !input_done => {
                input_done = true;
                if matches!(r, Ok(true)) {
                    detached = true;
                    break;
                }
            }
            r = proc_rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let out = reframe.chunk(&buf[..n]);
                    if client_wr.write_all(&out).await.is_err() {
                        break;
                    }
                    let _ = client_wr.flush().await;
                }
            },
        }
    }
    input.abort();
    detached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detach_keys() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("CTRL-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("a,,b").is_err());
    }

    #[test]
    fn scanner_holds_back_partial_matches() {
        let mut s = EscapeScanner::new(vec![0x10, 0x11]);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(s.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
        let mut one = EscapeScanner::new(vec![b'q']);
        assert_eq!(one.feed(b"aq"), (b"a".to_vec(), true));
    }
}
