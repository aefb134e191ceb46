//! A fake registry that misbehaves on purpose: serves manifests and blobs from memory, counts
//! requests, and can drop a blob body half-way, answer 503 once, demand a bearer token,
//! redirect blob downloads to another host name, or hold a blob back until released.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Frame;

#[derive(Default)]
pub struct Behaviour {
    /// Blob digests whose first GET breaks off after half the bytes.
    pub drop_once: Vec<String>,
    /// Blob digests whose first GET answers 503.
    pub unavailable_once: Vec<String>,
    /// Bytes served instead of a blob's own.
    pub replace: HashMap<String, Vec<u8>>,
    /// Demand `Bearer` tokens from `/token` (basic `user:pass` required there when set).
    pub token_auth: Option<(String, String)>,
    /// Redirect blob GETs to `http://localhost:<port>/redirected/...`.
    pub redirect_blobs: bool,
    /// Blob digests whose GETs wait for a permit of their semaphore before answering.
    pub hold: HashMap<String, Arc<tokio::sync::Semaphore>>,
}

#[derive(Default)]
pub struct Log {
    /// (method, path, range header, authorization header)
    pub requests: Vec<(String, String, Option<String>, Option<String>)>,
    /// Scopes asked of the token endpoint.
    pub token_scopes: Vec<String>,
}

#[derive(Default)]
pub struct Inner {
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    pub blobs: HashMap<String, Vec<u8>>,
    pub behaviour: Behaviour,
    pub log: Log,
    pub port: u16,
}

#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<Inner>>);

impl Fake {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// GETs of `/v2/<name>/blobs/<digest>` seen (not counting redirected ones).
    pub fn blob_gets(&self, digest: &str) -> usize {
        self.lock()
            .log
            .requests
            .iter()
            .filter(|(m, p, _, _)| m == "GET" && p.ends_with(&format!("/blobs/{digest}")))
            .count()
    }

    /// Starts serving on 127.0.0.1; returns `127.0.0.1:port`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        self.lock().port = port;
        let app = Router::new()
            .route("/v2/", axum::routing::get(base))
            .route("/token", axum::routing::get(token))
            .route("/redirected/{digest}", axum::routing::get(redirected))
            .route("/v2/{*rest}", axum::routing::any(v2))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("127.0.0.1:{port}")
    }
}

fn unauthorized(f: &Inner, scope: &str) -> Response {
    let challenge = format!(
        "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"fake\",scope=\"{scope}\"",
        f.port
    );
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", challenge)],
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
    )
        .into_response()
}

fn authorized(f: &Inner, headers: &HeaderMap) -> bool {
    f.behaviour.token_auth.is_none()
        || headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer good-token")
}

async fn base(State(f): State<Fake>, headers: HeaderMap) -> Response {
    let f = f.lock();
    if !authorized(&f, &headers) {
        return unauthorized(&f, "");
    }
    StatusCode::OK.into_response()
}

async fn token(
    State(f): State<Fake>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let mut f = f.lock();
    let q = q.unwrap_or_default();
    let scope = form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    f.log.token_scopes.push(scope);
    if let Some((u, p)) = &f.behaviour.token_auth {
        use base64::Engine as _;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, r#"{"details":"bad credentials"}"#).into_response();
        }
    }
    axum::Json(serde_json::json!({"token": "good-token", "expires_in": 300})).into_response()
}

async fn redirected(
    State(f): State<Fake>,
    Path(digest): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let mut f = f.lock();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    f.log.requests.push((
        method.to_string(),
        format!("/redirected/{digest}"),
        None,
        auth,
    ));
    match f.blobs.get(&digest) {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A body that sends `first`, lets it reach the client, and then fails (the connection is cut).
struct Broken(Option<Bytes>, Pin<Box<tokio::time::Sleep>>);

impl HttpBody for Broken {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(b) = self.0.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        match self.1.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other("cut")))),
            Poll::Pending => Poll::Pending,
        }
    }
}

async fn v2(
    State(fake): State<Fake>,
    Path(rest): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let held = rest
        .rsplit_once("/blobs/")
        .and_then(|(_, d)| fake.lock().behaviour.hold.get(d).cloned());
    if let Some(gate) = held {
        let _permit = gate.acquire().await;
    }
    let mut f = fake.lock();
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    f.log.requests.push((
        method.to_string(),
        format!("/v2/{rest}"),
        range.clone(),
        auth,
    ));
    let (name, kind, reference) = if let Some((n, r)) = rest.split_once("/manifests/") {
        (n.to_string(), "manifests", r.to_string())
    } else if let Some((n, r)) = rest.split_once("/blobs/") {
        (n.to_string(), "blobs", r.to_string())
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(&f, &headers) {
        return unauthorized(&f, &format!("repository:{name}:pull"));
    }
    if kind == "manifests" {
        return match f.manifests.get(&reference) {
            // A lying Docker-Content-Digest header: clients must hash the bytes (REG-03).
            Some((mt, bytes)) => (
                [
                    ("content-type", mt.clone()),
                    (
                        "docker-content-digest",
                        format!("sha256:{}", "0".repeat(64)),
                    ),
                ],
                bytes.clone(),
            )
                .into_response(),
            None => (
                StatusCode::NOT_FOUND,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
                .into_response(),
        };
    }
    if let Some(i) = f
        .behaviour
        .unavailable_once
        .iter()
        .position(|d| *d == reference)
    {
        f.behaviour.unavailable_once.remove(i);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if f.behaviour.redirect_blobs {
        let to = format!("http://localhost:{}/redirected/{reference}", f.port);
        return (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response();
    }
    let Some(blob) = f
        .behaviour
        .replace
        .get(&reference)
        .or(f.blobs.get(&reference))
        .cloned()
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(i) = f.behaviour.drop_once.iter().position(|d| *d == reference) {
        f.behaviour.drop_once.remove(i);
        let half = Bytes::from(blob[..blob.len() / 2].to_vec());
        return Response::builder()
            .header("content-length", blob.len())
            .body(Body::new(Broken(
                Some(half),
                Box::pin(tokio::time::sleep(std::time::Duration::from_millis(200))),
            )))
            .unwrap_or_default();
    }
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(s) if s <= blob.len() => (
            StatusCode::PARTIAL_CONTENT,
            [(
                "content-range",
                format!("bytes {s}-{}/{}", blob.len().saturating_sub(1), blob.len()),
            )],
            blob[s..].to_vec(),
        )
            .into_response(),
        _ => blob.into_response(),
    }
}
