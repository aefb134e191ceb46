//! The CLI's HTTP/1.1 client for the Docker Engine API on a UNIX socket (hyper 1): host
//! selection, `HEAD /_ping` version negotiation exactly as docker CLI 28 does it, `/v1.NN/`
//! prefixes, JSON error bodies turned into [`CliError::Daemon`], and helpers for JSON, streamed
//! and hijacked (attach/exec) exchanges.

pub mod body;
pub mod hijack;
pub mod negotiate;
pub mod stdcopy;

use crate::error::{CliError, Result};
use body::ReqBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use tokio::net::UnixStream;

/// The API version this client speaks at most (docker CLI 28's own).
pub const CLIENT_API_VERSION: &str = berth_api::API_VERSION;
/// The default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// The version assumed when the daemon's ping carries no `Api-Version` header.
pub const FALLBACK_API_VERSION: &str = "1.24";

const USER_AGENT: &str = concat!("Berth-Client/", env!("CARGO_PKG_VERSION"), " (linux)");

/// A connection-per-request client bound to one daemon socket.
pub struct Client {
    host: String,
    socket: PathBuf,
    pinned: Option<String>,
    version: tokio::sync::OnceCell<String>,
}

impl Client {
    /// A client for `host` (`unix:///path`). `pinned` (from `DOCKER_API_VERSION`) skips negotiation.
    pub fn new(host: &str, pinned: Option<String>) -> Result<Client> {
        let socket = match host.split_once("://") {
            Some(("unix", path)) => PathBuf::from(path),
            // Never plaintext: the API over TCP is root on the daemon's machine, and this
            // client has no TLS yet.
            Some(("tcp" | "http" | "https", _)) => {
                return Err(CliError::Message(format!(
                    "cannot connect to {host:?}: berth's CLI speaks only unix:// and never sends the API over TCP unencrypted; use the docker CLI with --tlsverify for a TCP daemon (docs/daemon-tls.md)"
                )))
            }
            Some((scheme, _)) => {
                return Err(CliError::Message(format!(
                    "unsupported daemon host scheme {scheme:?} in {host:?}: berth's CLI speaks only unix://"
                )))
            }
            None if host.starts_with('/') => PathBuf::from(host),
            None => return Err(CliError::Message(format!("invalid daemon host {host:?}: expected unix:///path"))),
        };
        Ok(Client {
            host: host.to_string(),
            socket,
            pinned,
            version: tokio::sync::OnceCell::new(),
        })
    }

    /// The daemon address as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The negotiated API version (pings the daemon once per process unless pinned).
    pub async fn api_version(&self) -> Result<String> {
        if let Some(v) = &self.pinned {
            return Ok(v.clone());
        }
        self.version
            .get_or_try_init(|| async {
                let ping = self.ping().await?;
                Ok::<_, CliError>(negotiate::choose(ping.api_version.as_deref()))
            })
            .await
            .cloned()
    }

    /// `HEAD /_ping`, falling back to `GET /_ping` when HEAD is not answered with 200 or 500.
    pub async fn ping(&self) -> Result<negotiate::Ping> {
        let resp = self
            .send(Method::HEAD, "/_ping", body::empty(), &[])
            .await?;
        let resp = if resp.status() == StatusCode::OK
            || resp.status() == StatusCode::INTERNAL_SERVER_ERROR
        {
            resp
        } else {
            self.send(Method::GET, "/_ping", body::empty(), &[]).await?
        };
        Ok(negotiate::Ping::from_headers(resp.headers()))
    }

    /// The versioned form of an API path (`/containers/json` → `/v1.50/containers/json`).
    pub async fn versioned(&self, path: &str) -> Result<String> {
        Ok(format!("/v{}{}", self.api_version().await?, path))
    }

    async fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    CliError::Connect {
                        host: self.host.clone(),
                    }
                }
                std::io::ErrorKind::PermissionDenied => CliError::Message(format!(
                    "permission denied while trying to connect to the berth daemon socket at {}",
                    self.host
                )),
                _ => self.transport(e),
            })
    }

    fn transport(&self, e: impl std::fmt::Display) -> CliError {
        CliError::Transport {
            host: self.host.clone(),
            detail: e.to_string(),
        }
    }

    fn build(
        &self,
        method: Method,
        uri: &str,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Request<ReqBody>> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "api.moby.localhost")
            .header(hyper::header::USER_AGENT, USER_AGENT);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body).map_err(|e| self.transport(e))
    }

    /// Sends one request on a fresh connection (unversioned `uri`), whatever the status.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = self.build(method, uri, body, headers)?;
        sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))
    }

    /// Sends a request to a versioned API path and turns error statuses into [`CliError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>> {
        let uri = self.versioned(path).await?;
        let resp = self.send(method, &uri, body, headers).await?;
        check(resp).await
    }

    /// GET a JSON document.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.request(Method::GET, path, body::empty(), &[]).await?;
        read_json(resp).await
    }

    /// POST a JSON body and decode the JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        b: &B,
    ) -> Result<T> {
        let resp = self
            .request(
                Method::POST,
                path,
                body::json(b)?,
                &[("content-type", "application/json")],
            )
            .await?;
        read_json(resp).await
    }

    /// POST with an empty body and decode the JSON answer.
    pub async fn post_for_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.request(Method::POST, path, body::empty(), &[]).await?;
        read_json(resp).await
    }

    /// POST with an empty body, ignoring the (empty) answer; 304 counts as success.
    pub async fn post(&self, path: &str) -> Result<()> {
        let resp = self.request(Method::POST, path, body::empty(), &[]).await?;
        let _ = read_all(resp).await?;
        Ok(())
    }

    /// DELETE, returning the raw answer body.
    pub async fn delete(&self, path: &str) -> Result<Bytes> {
        let resp = self
            .request(Method::DELETE, path, body::empty(), &[])
            .await?;
        read_all(resp).await
    }
}

/// Passes 1xx–3xx answers through; reads the body of an error answer into [`CliError::Daemon`].
pub async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.as_u16() < 400 {
        return Ok(resp);
    }
    let raw = read_all(resp).await.unwrap_or_default();
    Err(daemon_error(status, &raw))
}

/// Decodes an error body (`{"message": ...}`, or plain text) into [`CliError::Daemon`].
pub fn daemon_error(status: StatusCode, raw: &[u8]) -> CliError {
    let message = match serde_json::from_slice::<berth_api::ErrorResponse>(raw) {
        Ok(b) => b.message,
        Err(_) => {
            let text = String::from_utf8_lossy(raw).trim().to_string();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("unknown error")
                    .to_string()
            } else {
                text
            }
        }
    };
    CliError::Daemon {
        status: status.as_u16(),
        message,
    }
}

/// Reads a whole answer body.
pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes> {
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| CliError::Message(format!("error reading response body: {e}")))?;
    Ok(collected.to_bytes())
}

/// Reads and decodes a JSON answer body.
pub async fn read_json<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T> {
    let raw = read_all(resp).await?;
    serde_json::from_slice(&raw)
        .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))
}

/// Builds a query string (`?a=1&b=x`) from pairs, percent-encoding values and sorting by key
/// (stable), as Go's `url.Values.Encode` does; an empty list gives "".
pub fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// Percent-encodes a query component or path segment (RFC 3986 unreserved kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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

/// Go's `url.QueryEscape`: like [`encode`], but a space becomes `+`.
pub fn encode_query(s: &str) -> String {
    encode(s).replace("%20", "+")
}

/// Encodes a path parameter that may contain `/` and `:` (image names), keeping those readable.
pub fn encode_path(s: &str) -> String {
    s.split('/')
        .map(|seg| encode(seg).replace("%3A", ":"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[
                ("all", "1".into()),
                ("filters", r#"{"status":{"exited":true}}"#.into())
            ]),
            "?all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D"
        );
        assert_eq!(
            encode_path("docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn error_bodies_become_daemon_errors() {
        let e = daemon_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such image: x:latest"}"#,
        );
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: x:latest"
        );
        assert!(e.is_status(404));
        let e = daemon_error(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(
            e.to_string(),
            "Error response from daemon: Internal Server Error"
        );
        let e = daemon_error(StatusCode::BAD_REQUEST, b"plain text\n");
        assert_eq!(e.to_string(), "Error response from daemon: plain text");
    }

    #[test]
    fn hosts_parse() {
        assert!(Client::new("unix:///run/x.sock", None).is_ok());
        let tcp = Client::new("tcp://1.2.3.4:2376", None).err();
        assert!(tcp.is_some_and(|e| e.to_string().contains("--tlsverify")));
    }
}
