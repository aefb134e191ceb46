//! A small Docker Engine API client on a UNIX socket (hyper 1, one connection per request): the
//! `-H` / `DOCKER_HOST` address rules of the berth CLI, JSON calls, error bodies turned into
//! [`EngineError::Daemon`], and streamed answers (logs) demultiplexed from stdcopy frames. Paths
//! are unversioned, which every Docker-compatible daemon takes as its own current version.
//!
//! (berth-cli's client cannot be a dependency: the CLI depends on this crate for `berth compose`.)

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use tokio::net::UnixStream;

/// The default daemon address (the berth CLI's).
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// What talking to the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("cannot connect to the engine at {host}: {detail} (is the daemon running? set -H or DOCKER_HOST)")]
    Connect { host: String, detail: String },
    #[error("error talking to the engine at {host}: {detail}")]
    Transport { host: String, detail: String },
    #[error("unsupported engine address {0:?}: berth compose speaks unix:///path only")]
    Address(String),
    #[error("cannot decode the engine's answer to {path}: {detail}")]
    Decode { path: String, detail: String },
    /// A failure on this side (a host file, a bad argument).
    #[error("{0}")]
    Local(String),
}

impl EngineError {
    pub fn is_status(&self, want: u16) -> bool {
        matches!(self, EngineError::Daemon { status, .. } if *status == want)
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Chooses the engine address: the flag, else `BERTH_HOST`, else `DOCKER_HOST`, else the default.
pub fn resolve_host(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> String {
    [flag, berth_host, docker_host]
        .into_iter()
        .flatten()
        .find(|h| !h.is_empty())
        .unwrap_or(DEFAULT_HOST)
        .to_string()
}

/// A client bound to one engine socket.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
}

impl Client {
    pub fn new(host: &str) -> Result<Client> {
        let socket = match host.split_once("://") {
            Some(("unix", p)) => PathBuf::from(p),
            None if host.starts_with('/') => PathBuf::from(host),
            _ => return Err(EngineError::Address(host.to_string())),
        };
        Ok(Client {
            host: host.to_string(),
            socket,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn transport(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Transport {
            host: self.host.clone(),
            detail: e.to_string(),
        }
    }

    /// Connects to the engine's socket.
    pub(crate) async fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket)
            .await
            .map_err(|e| EngineError::Connect {
                host: self.host.clone(),
                detail: e.to_string(),
            })
    }

    /// Sends one request and returns the answer whatever its status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        extra: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "api.moby.localhost")
            .header(
                hyper::header::USER_AGENT,
                concat!("berth-compose/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        for (k, v) in extra {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.transport(e))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))
    }

    /// Sends a request; error statuses become [`EngineError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        let ct = body.as_ref().map(|_| "application/json");
        let resp = self.send(method, path, body, ct, &[]).await?;
        Self::check(resp).await
    }

    /// Sends a body of another type (a build context tar); error statuses as [`Client::request`].
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<Response<Incoming>> {
        let resp = self
            .send(method, path, Some(body), Some(content_type), &[])
            .await?;
        Self::check(resp).await
    }

    /// POST with extra headers (`X-Registry-Auth`); error statuses as [`Client::request`].
    pub async fn post_with_headers(
        &self,
        path: &str,
        extra: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let resp = self.send(Method::POST, path, None, None, extra).await?;
        Self::check(resp).await
    }

    async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
        let status = resp.status();
        if status.as_u16() < 400 {
            return Ok(resp);
        }
        let raw = read_all(resp).await.unwrap_or_default();
        let message = serde_json::from_slice::<berth_api::ErrorResponse>(&raw)
            .map(|e| e.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&raw).trim().to_string());
        Err(EngineError::Daemon {
            status: status.as_u16(),
            message,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.request(Method::GET, path, None).await?;
        decode(path, &read_all(resp).await?)
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let raw = serde_json::to_vec(body).map_err(|e| self.transport(e))?;
        let resp = self.request(Method::POST, path, Some(raw)).await?;
        decode(path, &read_all(resp).await?)
    }

    /// POST with no body, ignoring the answer (304 counts as done).
    pub async fn post(&self, path: &str) -> Result<Bytes> {
        let resp = self.request(Method::POST, path, None).await?;
        read_all(resp).await
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        let resp = self.request(Method::DELETE, path, None).await?;
        read_all(resp).await.map(|_| ())
    }
}

fn decode<T: DeserializeOwned>(path: &str, raw: &[u8]) -> Result<T> {
    let raw = if raw.is_empty() {
        b"null".as_slice()
    } else {
        raw
    };
    serde_json::from_slice(raw).map_err(|e| EngineError::Decode {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// Reads a whole answer body.
pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| EngineError::Transport {
            host: String::new(),
            detail: e.to_string(),
        })
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Splits stdcopy frames (8-byte header: stream, 0, 0, 0, big-endian length) from `buf`,
/// returning complete payloads and leaving a partial frame in `buf`. A body that does not start
/// like a frame (a TTY container's raw stream) is returned whole as stdout.
pub fn demux(buf: &mut Vec<u8>, raw: bool) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    if raw {
        out.push((1, std::mem::take(buf)));
        return out;
    }
    loop {
        if buf.len() < 8 {
            return out;
        }
        let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            return out;
        }
        let stream = buf[0];
        let payload = buf[8..8 + len].to_vec();
        buf.drain(..8 + len);
        out.push((stream, payload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(resolve_host(None, None, Some("unix:///d")), "unix:///d");
        assert_eq!(
            resolve_host(Some("unix:///f"), None, Some("unix:///d")),
            "unix:///f"
        );
        assert_eq!(resolve_host(None, None, None), DEFAULT_HOST);
        assert!(Client::new("tcp://1.2.3.4:2375").is_err());
        assert!(Client::new("unix:///x.sock").is_ok());
    }

    #[test]
    fn frames() {
        let mut buf = vec![
            1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i', 2, 0, 0, 0, 0, 0, 0, 3, b'e',
        ];
        let got = demux(&mut buf, false);
        assert_eq!(got, vec![(1, b"hi".to_vec())]);
        assert_eq!(buf.len(), 9);
        buf.extend_from_slice(b"rr");
        assert_eq!(demux(&mut buf, false), vec![(2, b"err".to_vec())]);
        assert!(buf.is_empty());
    }
}
