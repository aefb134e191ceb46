//! The hijacked `POST /containers/{id}/attach`. With `Upgrade: tcp` the daemon answers
//! `101 UPGRADED` and the connection becomes a raw byte stream both ways (client → stdin, container
//! output → client, already in Docker's framing); without it (old clients) it answers 200 with the
//! output as the body. The client's write half-close means stdin EOF, not "gone": output keeps
//! flowing until the container's stream ends, then the daemon closes.

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
            Ok(upgraded) => pump(TokioIo::new(upgraded), session, opts.stdin).await,
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

/// Copies between the client and the container until the container's stream ends.
async fn pump<C: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    client: C,
    session: Attachment,
    stdin: bool,
) {
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    if !session.replay.is_empty() && client_wr.write_all(&session.replay).await.is_err() {
        return;
    }
    let _ = client_wr.flush().await;
    let Some(stream) = live(session.source).await else {
        let _ = client_wr.shutdown().await;
        return;
    };
    let (mut ctr_rd, mut ctr_wr) = stream.into_split();
    let input = tokio::spawn(async move {
        if stdin {
            let _ = tokio::io::copy(&mut client_rd, &mut ctr_wr).await;
        } else {
            // Drain until the client half-closes; nothing goes to the container.
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut client_rd, &mut sink).await;
        }
        // Client EOF: the container's stdin ends (the shim applies StdinOnce).
        let _ = ctr_wr.shutdown().await;
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match ctr_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client_wr.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = client_wr.flush().await;
            }
        }
    }
    let _ = client_wr.shutdown().await;
    input.abort();
}
