//! One call to a plugin, as dockerd's plugin client makes it: `POST /<Method>` over HTTP/1.1 on
//! a fresh connection (UNIX socket or TCP), `Accept: application/vnd.docker.plugins.v1.2+json`,
//! a JSON body, a JSON answer.
//!
//! Bounds, so that no plugin can hold the daemon: the whole call (connecting, sending, the
//! answer's headers and body) has one deadline, after which the connection is dropped (the
//! plugin sees it close); the answer's body is read up to [`MAX_ANSWER`] bytes. Connecting is
//! retried while the socket is missing or refuses (a plugin starting or restarting), within the
//! same deadline; once the request is sent it is never repeated.
//!
//! An answer other than 2xx is [`PluginError::Refused`] with the plugin's `Err` when its body
//! has one (Docker's rule), else with the start of the body.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::discovery::Address;
use super::PluginError;

/// The media type of the protocol (the `Accept` header dockerd sends).
pub const MEDIA_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// The largest answer read from a plugin.
pub const MAX_ANSWER: usize = 8 << 20;

/// How much of a body without `Err` an error quotes.
const QUOTED: usize = 200;

/// The `Host` of requests on a UNIX socket (dockerd's).
const UNIX_HOST: &str = "plugin.moby.localhost";

/// The first and the longest pause between connection attempts.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Whom a call goes to, and how long it may take.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The plugin's name, for errors.
    pub name: &'a str,
    pub address: &'a Address,
    pub deadline: Duration,
}

/// Calls `method` with `args` (no body when `None`) and decodes the 2xx answer as `R`.
pub async fn call<A: Serialize, R: DeserializeOwned>(
    target: &Target<'_>,
    method: &str,
    args: Option<&A>,
) -> Result<R, PluginError> {
    let fail = |reason: String| PluginError::Call {
        name: target.name.to_string(),
        method: method.to_string(),
        reason,
    };
    let body = match args {
        Some(a) => serde_json::to_vec(a).map_err(|e| fail(format!("encoding the call: {e}")))?,
        None => Vec::new(),
    };
    let (status, answer) = call_raw(target, method, body).await?;
    if !status.is_success() {
        return Err(refused(method, status, &answer));
    }
    serde_json::from_slice(&answer).map_err(|e| {
        fail(format!(
            "the answer is not the JSON expected ({e}): {}",
            quote(&answer)
        ))
    })
}

/// Calls `method` with `body` and returns the status and the body of the answer.
pub async fn call_raw(
    target: &Target<'_>,
    method: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), PluginError> {
    let fail = |reason: String| PluginError::Call {
        name: target.name.to_string(),
        method: method.to_string(),
        reason,
    };
    let end = Instant::now() + target.deadline;
    let exchange = async {
        match target.address {
            Address::Unix(path) => {
                let stream = connect(end, || tokio::net::UnixStream::connect(path)).await;
                let stream =
                    stream.map_err(|e| fail(format!("connecting to {}: {e}", path.display())))?;
                exchange(stream, UNIX_HOST, method, body)
                    .await
                    .map_err(fail)
            }
            Address::Tcp(host_port) => {
                let stream =
                    connect(end, || tokio::net::TcpStream::connect(host_port.as_str())).await;
                let stream = stream.map_err(|e| fail(format!("connecting to {host_port}: {e}")))?;
                exchange(stream, host_port, method, body)
                    .await
                    .map_err(fail)
            }
        }
    };
    match tokio::time::timeout_at(end, exchange).await {
        Ok(result) => result,
        Err(_) => Err(PluginError::Timeout {
            name: target.name.to_string(),
            method: method.to_string(),
            after: target.deadline,
        }),
    }
}

/// Connects, retrying while the peer is not there or refuses, until `end` (then the caller's
/// deadline fires, or the last error is returned when too little time is left to wait).
async fn connect<S, F: Future<Output = io::Result<S>>>(
    end: Instant,
    attempt: impl Fn() -> F,
) -> io::Result<S> {
    let mut pause = RETRY_FIRST;
    loop {
        match attempt().await {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && Instant::now() + pause < end =>
            {
                tracing::debug!(error = %e, "plugin not reachable yet, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One request and its answer on `stream`. The connection is driven in this future, so
/// dropping it (the deadline) closes the socket.
async fn exchange<S>(
    stream: S,
    host: &str,
    method: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("starting HTTP: {e}"))?;
    let request = Request::post(format!("/{method}"))
        .header(hyper::header::HOST, host)
        .header(hyper::header::ACCEPT, MEDIA_TYPE)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("making the request: {e}"))?;
    let answer = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| closed_or(e, "sending the call"))?;
        let status = response.status();
        let too_long = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > MAX_ANSWER as u64);
        if too_long {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is larger than {MAX_ANSWER} bytes")
                } else {
                    format!("reading the answer: {e}")
                }
            })?;
        Ok((status, body.to_bytes()))
    };
    tokio::pin!(answer);
    tokio::select! {
        biased;
        result = &mut answer => result,
        // The connection ended first: whatever it delivered is in the answer's channels, and
        // the answer now finishes (with the data, or with the reason it cannot).
        _ = conn => answer.await,
    }
}

/// hyper's words for a peer that hung up, made plain.
fn closed_or(e: hyper::Error, doing: &str) -> String {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        "the plugin closed the connection without answering".to_string()
    } else {
        format!("{doing}: {e}")
    }
}

/// The error of a non-2xx answer: the plugin's `Err` if the body is JSON with one, else the
/// start of the body.
fn refused(method: &str, status: StatusCode, body: &[u8]) -> PluginError {
    #[derive(Deserialize)]
    struct WithErr {
        #[serde(rename = "Err", default)]
        err: Option<String>,
    }
    let message = match serde_json::from_slice::<WithErr>(body) {
        Ok(WithErr { err: Some(e) }) if !e.is_empty() => e,
        _ if body.is_empty() => format!("the plugin answered {status}"),
        _ => format!("the plugin answered {status}: {}", quote(body)),
    };
    PluginError::Refused {
        method: method.to_string(),
        status: status.as_u16(),
        message,
    }
}

/// The start of a body, as text, for an error message.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED)]);
    let text = text.trim();
    if body.len() > QUOTED {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_the_plugins_err_or_the_body() {
        let e = refused(
            "VolumeDriver.Create",
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"Err":"no space"}"#,
        );
        assert_eq!(e.to_string(), "VolumeDriver.Create: no space");
        assert!(!e.is_not_implemented());
        let e = refused(
            "VolumeDriver.Capabilities",
            StatusCode::NOT_FOUND,
            b"404 page not found\n",
        );
        assert_eq!(
            e.to_string(),
            "VolumeDriver.Capabilities: the plugin answered 404 Not Found: \"404 page not found\""
        );
        assert!(e.is_not_implemented());
        let e = refused("X.Y", StatusCode::BAD_GATEWAY, b"");
        assert_eq!(e.to_string(), "X.Y: the plugin answered 502 Bad Gateway");
        let long = vec![b'a'; 500];
        assert!(refused("X.Y", StatusCode::BAD_GATEWAY, &long)
            .to_string()
            .ends_with("…"));
    }
}
