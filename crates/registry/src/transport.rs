//! One HTTP/1.1 exchange with a registry over hyper: a connection per request (plain TCP or rustls),
//! request bodies as [`ReqBody`] (in memory or streamed from a channel), and redirects followed
//! with the rules that keep credentials safe:
//!
//! - a redirect to another host (authority) never carries the `Authorization` header;
//! - a redirect from HTTPS to plain HTTP is refused unless the target is an insecure registry;
//! - at most [`MAX_REDIRECTS`] hops.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{AUTHORIZATION, HOST, LOCATION};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::error::RegistryError;
use crate::hosts::{split_host_port, Endpoint, HostsConfig, Scheme};

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// How long a TCP connect or TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the registry may take to send response headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(120);

/// A request body.
pub type ReqBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A streamed body: send chunks into the returned sender; an `Err` aborts the request.
pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, ReqBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody(rx).boxed_unsync())
}

struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

fn http_err(
    ep_host: &str,
    method: &Method,
    url: &str,
    reason: impl std::fmt::Display,
) -> RegistryError {
    RegistryError::Http {
        host: ep_host.to_string(),
        method: method.to_string(),
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// Sends `req` to the absolute `url` and returns the response head and streaming body.
/// `tls` is used for HTTPS; `registry` names the registry in errors.
async fn send_once(
    registry: &str,
    url: &Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    req: Request<ReqBody>,
) -> Result<Response<Incoming>, RegistryError> {
    let method = req.method().clone();
    let url_s = url.to_string();
    let authority = url
        .authority()
        .ok_or_else(|| http_err(registry, &method, &url_s, "the URL has no host"))?
        .as_str()
        .to_string();
    let https = url.scheme_str() == Some("https");
    let (host, port) = split_host_port(&authority);
    let port = port.unwrap_or(if https { 443 } else { 80 });
    let connect_err = |reason: String| RegistryError::Connect {
        host: authority.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| connect_err("timed out".to_string()))?
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let response = if https {
        let tls = tls.ok_or_else(|| connect_err("no TLS configuration for an https URL".into()))?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| connect_err(format!("server name {host:?}: {e}")))?;
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
        )
        .await
        .map_err(|_| connect_err("TLS handshake timed out".to_string()))?
        .map_err(|e| connect_err(format!("TLS handshake: {e}")))?;
        exchange(TokioIo::new(stream), req, &method, &url_s, registry).await?
    } else {
        exchange(TokioIo::new(tcp), req, &method, &url_s, registry).await?
    };
    Ok(response)
}

async fn exchange<IO>(
    io: IO,
    req: Request<ReqBody>,
    method: &Method,
    url: &str,
    registry: &str,
) -> Result<Response<Incoming>, RegistryError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| http_err(registry, method, url, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "registry connection ended");
        }
    });
    tokio::time::timeout(HEADER_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| http_err(registry, method, url, "no response within the timeout"))?
        .map_err(|e| http_err(registry, method, url, e))
}

/// A request to replay across redirects: the body must be replayable (in memory) or consumed once.
pub struct Outgoing {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(hyper::header::HeaderName, String)>,
    /// `None` sends an empty body. A streamed body cannot follow a redirect.
    pub body: Option<BodyKind>,
}

/// A request body for [`Outgoing`].
pub enum BodyKind {
    Bytes(Bytes),
    Stream(ReqBody),
}

/// Sends `out` to endpoint `ep` (with `auth` on the registry's own host only), following redirects.
pub async fn send(
    hosts: &HostsConfig,
    ep: &Endpoint,
    out: Outgoing,
    auth: Option<&str>,
) -> Result<Response<Incoming>, RegistryError> {
    let mut url: Uri = format!("{}{}", ep.base_url(), out.path_and_query)
        .parse()
        .map_err(|e| http_err(&ep.registry, &out.method, &out.path_and_query, e))?;
    let mut method = out.method.clone();
    let mut body = out.body;
    for _ in 0..=MAX_REDIRECTS {
        let authority = url
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let same_host = authority == ep.authority;
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(url.clone())
            .header(HOST, authority.as_str())
            .header(hyper::header::USER_AGENT, crate::USER_AGENT);
        for (k, v) in &out.headers {
            builder = builder.header(k, v);
        }
        if same_host {
            if let Some(a) = auth {
                builder = builder.header(AUTHORIZATION, a);
            }
        }
        let (req_body, replay) = match body.take() {
            None => (empty(), None),
            Some(BodyKind::Bytes(b)) => (full(b.clone()), Some(BodyKind::Bytes(b))),
            Some(BodyKind::Stream(s)) => (s, None),
        };
        let req = builder
            .body(req_body)
            .map_err(|e| http_err(&ep.registry, &method, &url.to_string(), e))?;
        let tls = if same_host {
            ep.tls.clone()
        } else {
            // Another host: verified TLS unless it is itself an insecure registry.
            hosts
                .endpoints(&authority)?
                .into_iter()
                .find(|e| e.scheme == Scheme::Https)
                .and_then(|e| e.tls)
        };
        let resp = send_once(&ep.registry, &url, tls, req).await?;
        let status = resp.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                http_err(
                    &ep.registry,
                    &method,
                    &url.to_string(),
                    "redirect without a Location",
                )
            })?
            .to_string();
        let next = resolve_location(&url, &location).ok_or_else(|| {
            http_err(
                &ep.registry,
                &method,
                &url.to_string(),
                format!("bad redirect Location {location:?}"),
            )
        })?;
        let next_auth = next
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if url.scheme_str() == Some("https")
            && next.scheme_str() == Some("http")
            && !hosts.is_insecure(&next_auth)
        {
            return Err(http_err(
                &ep.registry,
                &method,
                &url.to_string(),
                format!("refusing a redirect from https to plain http ({next})"),
            ));
        }
        if status == StatusCode::SEE_OTHER {
            method = Method::GET;
            replay_none(&mut body);
        } else {
            body = replay;
        }
        url = next;
    }
    Err(http_err(
        &ep.registry,
        &method,
        &url.to_string(),
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}

fn replay_none(body: &mut Option<BodyKind>) {
    *body = None;
}

/// An absolute or relative `Location` against the URL that answered.
pub fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}").parse().ok();
    }
    let path = base.path();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{authority}{dir}/{location}")
        .parse()
        .ok()
}

/// Reads at most `limit` bytes of a body; more is an error.
pub async fn read_limited(body: Incoming, limit: u64, what: &str) -> Result<Bytes, RegistryError> {
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RegistryError::Http {
            host: String::new(),
            method: "GET".to_string(),
            url: what.to_string(),
            reason: format!("reading the body: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > limit {
                return Err(RegistryError::TooLarge {
                    what: what.to_string(),
                    limit,
                });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_answering_url() {
        let base: Uri = "https://r.example:5000/v2/a/blobs/sha256:x"
            .parse()
            .unwrap_or_default();
        let abs = resolve_location(&base, "http://other/b").map(|u| u.to_string());
        assert_eq!(abs.as_deref(), Some("http://other/b"));
        let root = resolve_location(&base, "/v2/a/blobs/uploads/1?x=1").map(|u| u.to_string());
        assert_eq!(
            root.as_deref(),
            Some("https://r.example:5000/v2/a/blobs/uploads/1?x=1")
        );
        let rel = resolve_location(&base, "y").map(|u| u.to_string());
        assert_eq!(rel.as_deref(), Some("https://r.example:5000/v2/a/blobs/y"));
    }
}
