//! Access control of `berth registry serve`, named after the distribution registry's `auth:`
//! settings:
//!
//! - **htpasswd** (`--htpasswd FILE`, `--auth-realm`): every request carries `Authorization:
//!   Basic` for a user of the file (bcrypt hashes only, as distribution accepts); else `401` with
//!   `WWW-Authenticate: Basic realm="…"` and an `UNAUTHORIZED` error body.
//! - **token** (`--token-auth`, `--token-realm`, `--token-service`, `--token-issuer`): Docker's
//!   token flow. A request without a valid bearer token for what it does gets `401` with
//!   `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client asks the realm for a token
//!   and retries with `Authorization: Bearer`. The issuer ([`Issuer`]) is this server
//!   ([`super::token`], for the `--htpasswd` users: token auth without users is refused) or an
//!   external token server whose signing certificates chain to `--token-rootcertbundle`
//!   ([`super::issuer`]).
//!
//! What a request needs ([`Need`]): `GET`/`HEAD` on a repository → `pull`, `POST`/`PUT`/`PATCH` →
//! `push`, `DELETE` → `delete`, the catalog → `registry:catalog:*`, `/v2/` → any valid token.
//! A cross-repository mount (`POST …/blobs/uploads/?mount=&from=`) also needs `pull` on `from`:
//! without it the mount is dropped from the request, which becomes a plain upload (`202`), so
//! a push grant never reads another repository's blobs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::issuer::Roots;
use super::token::{self, grants, Claims};

/// Users and their bcrypt hashes, from an htpasswd file.
#[derive(Clone)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd")
            .field("users", &self.users.len())
            .finish()
    }
}

impl Htpasswd {
    /// Reads `user:hash` lines (blank lines and `#` comments skipped); a hash that is not bcrypt
    /// is refused, naming the line.
    pub fn load(path: &Path) -> Result<Htpasswd, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Htpasswd::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Htpasswd, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: not user:hash", i + 1));
            };
            if !["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
                return Err(format!(
                    "line {}: the hash of {user:?} is not bcrypt (htpasswd -B)",
                    i + 1
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd { users })
    }

    /// Whether `user` has `password`.
    pub fn check(&self, user: &str, password: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false))
    }
}

/// The token server's settings.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The URL clients ask for tokens (this server's `/token`).
    pub realm: String,
    pub service: String,
    pub issuer: String,
}

/// The server's access control.
#[derive(Debug, Clone)]
pub enum Auth {
    Basic {
        realm: String,
        users: Htpasswd,
    },
    Token {
        settings: TokenSettings,
        issuer: Issuer,
    },
}

/// Who signs the tokens the server accepts.
#[derive(Debug, Clone)]
pub enum Issuer {
    /// This server, at `/token`, for these users, with a key made at start.
    Own { users: Htpasswd, key: Arc<[u8; 32]> },
    /// An external token server (at the realm) whose signing certificates chain to these roots.
    External(Arc<Roots>),
}

impl Auth {
    /// Token auth by this server for `users`, with a fresh signing key.
    pub fn token(settings: TokenSettings, users: Htpasswd) -> Result<Auth, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("making the token key: {e}"))?;
        Ok(Auth::Token {
            settings,
            issuer: Issuer::Own {
                users,
                key: Arc::new(key),
            },
        })
    }

    /// The claims of a bearer token, if valid for this server.
    fn claims(&self, token: &str) -> Option<Claims> {
        match self {
            Auth::Basic { .. } => None,
            Auth::Token {
                settings,
                issuer: Issuer::Own { key, .. },
            } => token::verify(token, key, settings),
            Auth::Token {
                settings,
                issuer: Issuer::External(roots),
            } => roots.verify(token, settings),
        }
    }
}

/// What a request needs: `(type, name, action)`, or just a valid identity for `/v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Login,
    Scope {
        kind: &'static str,
        name: String,
        action: &'static str,
    },
}

impl Need {
    /// From the request's method and path (under `/v2/`, percent-encoded as received). The
    /// repository is read as the router's `dispatch` reads it (decoded, then the same suffixes in
    /// the same order), so a token for `x` never reaches `x/blobs/y`.
    pub fn of(method: &Method, path: &str) -> Need {
        let path = percent_decoded(path);
        let rest = path
            .strip_prefix("/v2")
            .unwrap_or(&path)
            .trim_matches('/')
            .to_string();
        if rest.is_empty() {
            return Need::Login;
        }
        if rest == "_catalog" || path.starts_with("/v1/search") {
            return Need::Scope {
                kind: "registry",
                name: "catalog".to_string(),
                action: "*",
            };
        }
        let name = rest
            .strip_suffix("/tags/list")
            .or_else(|| rest.rsplit_once("/manifests/").map(|(n, _)| n))
            .or_else(|| rest.rsplit_once("/referrers/").map(|(n, _)| n))
            .or_else(|| rest.strip_suffix("/blobs/uploads"))
            .or_else(|| rest.rsplit_once("/blobs/uploads/").map(|(n, _)| n))
            .or_else(|| rest.rsplit_once("/blobs/").map(|(n, _)| n))
            .unwrap_or(&rest)
            .to_string();
        let action = match *method {
            Method::GET | Method::HEAD => "pull",
            Method::DELETE => "delete",
            _ => "push",
        };
        Need::Scope {
            kind: "repository",
            name,
            action,
        }
    }

    fn scope(&self) -> Option<String> {
        match self {
            Need::Login => None,
            Need::Scope { kind, name, action } if *action == "push" => {
                Some(format!("{kind}:{name}:pull,push"))
            }
            Need::Scope { kind, name, action } => Some(format!("{kind}:{name}:{action}")),
        }
    }
}

/// The middleware: lets a request through, or answers `401` with the challenge.
pub async fn check(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/token" {
        return next.run(req).await;
    }
    let need = Need::of(req.method(), &path);
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match &*auth {
        Auth::Basic { realm, users } => {
            // A user of the file may do everything, mounts included.
            if basic_user(given.as_deref(), users).is_some() {
                return next.run(req).await;
            }
            unauthorized(
                &format!("Basic realm=\"{realm}\""),
                "authentication required",
            )
        }
        Auth::Token { settings, .. } => {
            let claims = given
                .as_deref()
                .and_then(|g| g.strip_prefix("Bearer "))
                .and_then(|t| auth.claims(t.trim()));
            let allowed = match (&claims, &need) {
                (None, _) => false,
                (Some(_), Need::Login) => true,
                (Some(c), Need::Scope { kind, name, action }) => grants(c, kind, name, action),
            };
            if allowed {
                if let (Some(c), Some(from)) = (&claims, mount_source(req.uri())) {
                    if *req.method() == Method::POST && !grants(c, "repository", &from, "pull") {
                        drop_mount(&mut req);
                    }
                }
                return next.run(req).await;
            }
            let mut challenge = format!(
                "Bearer realm=\"{}\",service=\"{}\"",
                settings.realm, settings.service
            );
            if let Some(s) = need.scope() {
                challenge.push_str(&format!(",scope=\"{s}\""));
            }
            if claims.is_some() {
                challenge.push_str(",error=\"insufficient_scope\"");
            }
            unauthorized(&challenge, "authentication required")
        }
    }
}

/// The `from` repository of a cross-repository mount request (`?mount=&from=`).
fn mount_source(uri: &Uri) -> Option<String> {
    let q = uri.query()?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !pairs.iter().any(|(k, _)| k == "mount") {
        return None;
    }
    pairs.into_iter().find(|(k, _)| k == "from").map(|(_, v)| v)
}

/// Removes `mount` and `from` from the request's query: a plain upload is started instead.
fn drop_mount(req: &mut Request) {
    let uri = req.uri();
    let kept: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k != "mount" && k != "from")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pq = uri.path().to_string();
    if !kept.is_empty() {
        pq.push('?');
        pq.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .finish(),
        );
    }
    if let Ok(new) = Uri::builder().path_and_query(pq).build() {
        *req.uri_mut() = new;
    }
}

/// `path` with its `%XX` escapes decoded, as the router's path extractor decodes it (an invalid
/// escape or non-UTF-8 result is kept as it is: the router refuses such a path anyway).
fn percent_decoded(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex
            .filter(|_| b[i] == b'%')
            .map(|h| u8::from_str_radix(h, 16))
        {
            Some(Ok(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| path.to_string())
}

pub(super) fn unauthorized(challenge: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message,
        "detail": null}]});
    let mut r = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The user of a valid `Basic` header.
pub(super) fn basic_user(given: Option<&str>, users: &Htpasswd) -> Option<String> {
    let encoded = given?.strip_prefix("Basic ")?.trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    users.check(user, password).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_follow_method_and_path() {
        let scope = |m: Method, p: &str| Need::of(&m, p).scope();
        assert_eq!(scope(Method::GET, "/v2/"), None);
        assert_eq!(
            scope(Method::GET, "/v2/a/b/manifests/latest").as_deref(),
            Some("repository:a/b:pull")
        );
        assert_eq!(
            scope(Method::PATCH, "/v2/a/blobs/uploads/x").as_deref(),
            Some("repository:a:pull,push")
        );
        assert_eq!(
            scope(Method::DELETE, "/v2/x/manifests/sha256:ab").as_deref(),
            Some("repository:x:delete")
        );
        assert_eq!(
            scope(Method::GET, "/v2/_catalog").as_deref(),
            Some("registry:catalog:*")
        );
        // A repository named like an endpoint keeps its full name.
        assert_eq!(
            scope(Method::GET, "/v2/tags/blobs/sha256:ab").as_deref(),
            Some("repository:tags:pull")
        );
        // The repository is the one the router serves: `x/blobs/y`, not `x`, encoded or not.
        assert_eq!(
            scope(Method::PUT, "/v2/x/blobs/y/manifests/latest").as_deref(),
            Some("repository:x/blobs/y:pull,push")
        );
        assert_eq!(
            scope(Method::GET, "/v2/x%2Fblobs%2Fy/manifests/latest").as_deref(),
            Some("repository:x/blobs/y:pull")
        );
        assert_eq!(
            scope(Method::GET, "/v2/a/tags/list").as_deref(),
            Some("repository:a:pull")
        );
    }

    #[test]
    fn htpasswd_takes_bcrypt_only() {
        let hash = bcrypt::hash("s3cret", 4).unwrap_or_default();
        let h =
            Htpasswd::parse(&format!("# users\nberth:{hash}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.check("berth", "s3cret"));
        assert!(!h.check("berth", "nope"));
        assert!(!h.check("other", "s3cret"));
        assert!(Htpasswd::parse("u:{SHA}abc").is_err());
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("berth:s3cret")
        );
        assert_eq!(basic_user(Some(&basic), &h).as_deref(), Some("berth"));
        assert_eq!(basic_user(Some("Basic !!"), &h), None);
    }
}
