//! The distribution-API client: one [`Client`] per process (endpoints found, tokens, downloads in
//! flight are shared), one [`Repo`] per repository and operation. A `Repo` picks the registry's
//! endpoint once (`GET /v2/` on each candidate of [`crate::hosts`]), authorizes for its scope before
//! the first request and again when a `401` asks for another scope, and maps the registry's error
//! bodies (`{"errors":[{"code","message"}]}`) to [`RegistryError`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_oci::Digest;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};

use crate::auth::{self, Challenge, Credentials, TokenCache};
use crate::error::RegistryError;
use crate::hosts::{Endpoint, HostsConfig};
use crate::transport::{self, BodyKind, Outgoing};

/// Manifest media types Berth asks for, best first; schema 1 last so it can be refused by name.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1, application/json;q=0.1";

/// The schema 1 media types (refused).
pub const SCHEMA1_TYPES: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The process-wide client.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hosts: HostsConfig,
    tokens: TokenCache,
    /// Endpoint chosen per registry name, with the challenge its `/v2/` answered.
    endpoints: Mutex<HashMap<String, (Endpoint, Option<Challenge>)>>,
    /// One download per blob digest at a time, across all pulls of this process.
    pub(crate) inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Client {
    pub fn new(hosts: HostsConfig) -> Self {
        Client {
            inner: Arc::new(Inner {
                hosts,
                tokens: TokenCache::default(),
                endpoints: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The hosts configuration.
    pub fn hosts(&self) -> &HostsConfig {
        &self.inner.hosts
    }

    /// The lock that serialises downloads of `digest` in this process.
    pub(crate) fn blob_lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.retain(|_, v| Arc::strong_count(v) > 1);
        map.entry(digest.to_string()).or_default().clone()
    }

    /// Finds the endpoint of `registry` (first candidate that answers `GET /v2/`).
    pub(crate) async fn endpoint(
        &self,
        registry: &str,
    ) -> Result<(Endpoint, Option<Challenge>), RegistryError> {
        if let Some(found) = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(registry)
        {
            return Ok(found.clone());
        }
        let mut last = None;
        for ep in self.inner.hosts.endpoints(registry)? {
            let out = Outgoing {
                method: Method::GET,
                path_and_query: "/v2/".to_string(),
                headers: Vec::new(),
                body: None,
            };
            match transport::send(&self.inner.hosts, &ep, out, None).await {
                Ok(resp) => {
                    let challenge = (resp.status() == StatusCode::UNAUTHORIZED)
                        .then(|| challenge_of(&resp))
                        .flatten();
                    let found = (ep, challenge);
                    self.inner
                        .endpoints
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(registry.to_string(), found.clone());
                    return Ok(found);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Connect {
            host: registry.to_string(),
            reason: "no endpoint to try".to_string(),
        }))
    }

    /// A handle on `repository` of `registry` for pulling (and pushing when `push`).
    pub async fn repo(
        &self,
        registry: &str,
        repository: &str,
        push: bool,
        creds: Credentials,
    ) -> Result<Repo, RegistryError> {
        let (ep, challenge) = self.endpoint(registry).await?;
        let actions = if push { "pull,push" } else { "pull" };
        let repo = Repo {
            client: self.clone(),
            ep,
            name: repository.to_string(),
            scope: format!("repository:{repository}:{actions}"),
            creds,
            auth: tokio::sync::Mutex::new(None),
        };
        if let Some(c) = challenge {
            let a = repo.authorize(&c, &repo.scope).await?;
            *repo.auth.lock().await = Some(a);
        }
        Ok(repo)
    }

    /// `docker login`: checks `creds` against `registry` (`GET /v2/` with them).
    pub async fn login(&self, registry: &str, creds: &Credentials) -> Result<(), RegistryError> {
        let (ep, challenge) = self.endpoint(registry).await?;
        let Some(c) = challenge else {
            return Ok(());
        };
        let url = format!("{}/v2/", ep.base_url());
        let a = auth::authorize(
            &self.inner.hosts,
            &self.inner.tokens,
            registry,
            &c,
            "",
            creds,
        )
        .await
        .map_err(|e| match e {
            RegistryError::Unauthorized { message, .. } => RegistryError::LoginRefused {
                url: url.clone(),
                message,
            },
            other => other,
        })?;
        let out = Outgoing {
            method: Method::GET,
            path_and_query: "/v2/".to_string(),
            headers: Vec::new(),
            body: None,
        };
        let resp = transport::send(&self.inner.hosts, &ep, out, Some(&a)).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::LoginFailed {
                url,
                status: status.to_string(),
            });
        }
        let body = transport::read_limited(resp.into_body(), 1 << 16, "login").await?;
        Err(RegistryError::Unauthorized {
            host: registry.to_string(),
            scope: "login".to_string(),
            message: error_message(&body, status),
        })
    }
}

fn challenge_of(resp: &Response<Incoming>) -> Option<Challenge> {
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(auth::parse_challenge)
        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))
}

/// The registry's error text: `CODE: message` from a distribution error body, else the status.
pub fn error_message(body: &[u8], status: StatusCode) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    // Token servers (Docker Hub's among them) answer `{"details": "..."}`.
    #[derive(serde::Deserialize)]
    struct Details {
        details: String,
    }
    if let Ok(d) = serde_json::from_slice::<Details>(body) {
        if !d.details.is_empty() {
            return match status {
                StatusCode::UNAUTHORIZED => format!("unauthorized: {}", d.details),
                StatusCode::TOO_MANY_REQUESTS => format!("toomanyrequests: {}", d.details),
                _ => d.details,
            };
        }
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|i| match (i.code.is_empty(), i.message.is_empty()) {
                (false, false) => {
                    format!("{}: {}", i.code.to_lowercase().replace('_', " "), i.message)
                }
                (false, true) => i.code.to_lowercase().replace('_', " "),
                _ => i.message.clone(),
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_string();
    if text.is_empty() || text.starts_with('<') {
        status.to_string()
    } else {
        format!("{status}: {text}")
    }
}

/// One repository of one registry, authorized for one scope.
pub struct Repo {
    client: Client,
    ep: Endpoint,
    name: String,
    scope: String,
    creds: Credentials,
    auth: tokio::sync::Mutex<Option<String>>,
}

/// What a manifest GET returned.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub media_type: String,
    pub bytes: Bytes,
    /// The digest of the bytes (computed here, never taken from a header).
    pub digest: Digest,
}

/// How an upload began.
pub enum UploadStart {
    /// A cross-repository mount made the blob present.
    Mounted,
    /// Upload to this location (absolute or relative URL).
    Location(String),
}

impl Repo {
    /// The repository name (`library/busybox`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process-wide client this repo belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The registry name as given.
    pub fn registry(&self) -> &str {
        &self.ep.registry
    }

    /// The endpoint's base URL.
    pub fn base_url(&self) -> String {
        self.ep.base_url()
    }

    async fn authorize(&self, c: &Challenge, scope: &str) -> Result<String, RegistryError> {
        auth::authorize(
            &self.client.inner.hosts,
            &self.client.inner.tokens,
            &self.ep.registry,
            c,
            scope,
            &self.creds,
        )
        .await
    }

    /// Sends a request with this repo's authorization; on a `401` with a challenge, authorizes
    /// (for the challenge's scope when it names one) and retries once if the body can be replayed.
    pub async fn send(&self, out: Outgoing) -> Result<Response<Incoming>, RegistryError> {
        let replay = out.try_clone();
        let auth = self.auth.lock().await.clone();
        let resp =
            transport::send(&self.client.inner.hosts, &self.ep, out, auth.as_deref()).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let (Some(challenge), Some(again)) = (challenge_of(&resp), replay) else {
            return Ok(resp);
        };
        let scope = match &challenge {
            Challenge::Bearer { scope: Some(s), .. } if !s.is_empty() => s.clone(),
            _ => self.scope.clone(),
        };
        let a = self.authorize(&challenge, &scope).await?;
        *self.auth.lock().await = Some(a.clone());
        transport::send(&self.client.inner.hosts, &self.ep, again, Some(&a)).await
    }

    /// Turns a non-success response into an error naming `what`.
    pub async fn fail(&self, resp: Response<Incoming>, method: &str, what: &str) -> RegistryError {
        let status = resp.status();
        let insufficient_scope = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("insufficient_scope"));
        let body = transport::read_limited(resp.into_body(), 1 << 16, what)
            .await
            .unwrap_or_default();
        let message = error_message(&body, status);
        let host = self.ep.registry.clone();
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                host,
                what: what.to_string(),
                message,
            },
            // A token without the scope asked (RFC 6750 `insufficient_scope`): denied, as
            // Docker's registry client reads it.
            StatusCode::UNAUTHORIZED if insufficient_scope => RegistryError::Denied {
                host,
                scope: self.scope.clone(),
                message: "denied: requested access to the resource is denied".to_string(),
            },
            StatusCode::UNAUTHORIZED => RegistryError::Unauthorized {
                host,
                scope: self.scope.clone(),
                message,
            },
            StatusCode::FORBIDDEN => RegistryError::Denied {
                host,
                scope: self.scope.clone(),
                message,
            },
            _ => RegistryError::Status {
                host,
                method: method.to_string(),
                url: what.to_string(),
                status: status.as_u16(),
                message,
            },
        }
    }

    fn get(&self, path: String, headers: Vec<(HeaderName, String)>) -> Outgoing {
        Outgoing {
            method: Method::GET,
            path_and_query: path,
            headers,
            body: None,
        }
    }

    /// `GET /v2/<name>/manifests/<reference>`; schema 1 is refused here.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.name);
        let what = format!("manifest {}:{reference}", self.name);
        let resp = self
            .send(self.get(path, vec![(ACCEPT, MANIFEST_ACCEPT.to_string())]))
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(resp, "GET", &what).await);
        }
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = transport::read_limited(resp.into_body(), MAX_MANIFEST_BYTES, &what).await?;
        let schema1 = SCHEMA1_TYPES.contains(&media_type.as_str())
            || serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("schemaVersion").and_then(|s| s.as_u64()))
                == Some(1);
        if schema1 {
            return Err(RegistryError::Schema1 {
                reference: format!("{}/{}:{reference}", self.ep.registry, self.name),
            });
        }
        let digest = Digest::sha256_of(&bytes);
        Ok(FetchedManifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// `GET` of a blob, from byte `offset` on (a `Range` request when `offset > 0`).
    pub async fn get_blob(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> Result<Response<Incoming>, RegistryError> {
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push((hyper::header::RANGE, format!("bytes={offset}-")));
        }
        let path = format!("/v2/{}/blobs/{digest}", self.name);
        let resp = self.send(self.get(path, headers)).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.fail(resp, "GET", &format!("blob {digest}")).await)
        }
    }

    /// A small blob (a config) read whole and verified against its digest and size.
    pub async fn get_small_blob(
        &self,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Bytes, RegistryError> {
        if size > limit {
            return Err(RegistryError::TooLarge {
                what: format!("blob {digest}"),
                limit,
            });
        }
        let resp = self.get_blob(digest, 0).await?;
        let bytes =
            transport::read_limited(resp.into_body(), size, &format!("blob {digest}")).await?;
        let actual = Digest::sha256_of(&bytes);
        if &actual != digest || bytes.len() as u64 != size {
            return Err(RegistryError::DigestMismatch {
                host: self.ep.registry.clone(),
                what: format!("blob {digest} ({} bytes, {size} expected)", bytes.len()),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Whether the registry has blob `digest` (`HEAD`).
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", self.name);
        let out = Outgoing {
            method: Method::HEAD,
            path_and_query: path,
            headers: Vec::new(),
            body: None,
        };
        let resp = self.send(out).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(resp, "HEAD", &format!("blob {digest}")).await),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/`, with a cross-repository mount when `mount` is given.
    pub async fn start_upload(
        &self,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let mut path = format!("/v2/{}/blobs/uploads/", self.name);
        if let Some((d, from)) = mount {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("mount", d.as_str())
                .append_pair("from", from)
                .finish();
            path = format!("{path}?{q}");
        }
        let out = Outgoing {
            method: Method::POST,
            path_and_query: path,
            headers: vec![(hyper::header::CONTENT_LENGTH, "0".to_string())],
            body: Some(BodyKind::Bytes(Bytes::new())),
        };
        let resp = self.send(out).await?;
        let status = resp.status();
        if status == StatusCode::CREATED && mount.is_some() {
            return Ok(UploadStart::Mounted);
        }
        if status != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST", "blob upload").await);
        }
        let loc = resp
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::BadContent {
                host: self.ep.registry.clone(),
                what: "upload start".to_string(),
                reason: "202 without a Location".to_string(),
            })?;
        Ok(UploadStart::Location(loc.to_string()))
    }

    /// A path-and-query on the registry's own endpoint for an upload `location` (which may be
    /// absolute), with `extra` query pairs appended.
    pub fn upload_path(
        &self,
        location: &str,
        extra: &[(&str, &str)],
    ) -> Result<String, RegistryError> {
        let base: hyper::Uri = format!("{}/v2/", self.ep.base_url())
            .parse()
            .map_err(RegistryError::internal)?;
        let uri = transport::resolve_location(&base, location).ok_or_else(|| {
            RegistryError::BadContent {
                host: self.ep.registry.clone(),
                what: "upload location".to_string(),
                reason: format!("{location:?} is not a URL"),
            }
        })?;
        if uri.authority().map(|a| a.as_str()) != Some(self.ep.authority.as_str()) {
            return Err(RegistryError::BadContent {
                host: self.ep.registry.clone(),
                what: "upload location".to_string(),
                reason: format!("{location:?} points at another host"),
            });
        }
        let mut pq = uri.path().to_string();
        let mut query = uri.query().map(str::to_string).unwrap_or_default();
        for (k, v) in extra {
            let pair = form_urlencoded::Serializer::new(String::new())
                .append_pair(k, v)
                .finish();
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&pair);
        }
        if !query.is_empty() {
            pq = format!("{pq}?{query}");
        }
        Ok(pq)
    }

    /// `PUT /v2/<name>/manifests/<reference>`; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Option<String>, RegistryError> {
        let out = Outgoing {
            method: Method::PUT,
            path_and_query: format!("/v2/{}/manifests/{reference}", self.name),
            headers: vec![(CONTENT_TYPE, media_type.to_string())],
            body: Some(BodyKind::Bytes(bytes)),
        };
        let resp = self.send(out).await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(resp, "PUT", &format!("manifest {}:{reference}", self.name))
                .await);
        }
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }
}

impl Outgoing {
    /// A copy when the body can be sent again.
    pub fn try_clone(&self) -> Option<Outgoing> {
        let body = match &self.body {
            None => None,
            Some(BodyKind::Bytes(b)) => Some(BodyKind::Bytes(b.clone())),
            Some(BodyKind::Stream(_)) => return None,
        };
        Some(Outgoing {
            method: self.method.clone(),
            path_and_query: self.path_and_query.clone(),
            headers: self.headers.clone(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_well() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_message(body, StatusCode::NOT_FOUND),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            error_message(b"", StatusCode::BAD_GATEWAY),
            "502 Bad Gateway"
        );
        // A token server's `details`, in the words Docker's client gives them.
        assert_eq!(
            error_message(
                br#"{"details":"incorrect username or password"}"#,
                StatusCode::UNAUTHORIZED
            ),
            "unauthorized: incorrect username or password"
        );
    }
}
