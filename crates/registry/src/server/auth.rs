//! Access control of `berth registry serve`, named after the distribution registry's `auth:`
//! settings:
//!
//! - **htpasswd** (`--htpasswd FILE`, `--auth-realm`): every request carries `Authorization:
//!   Basic` for a user of the file (bcrypt hashes only, as distribution accepts); else `401` with
//!   `WWW-Authenticate: Basic realm="…"` and an `UNAUTHORIZED` error body.
//! - **token** (`--token-auth`, `--token-realm`, `--token-service`, `--token-issuer`): Docker's
//!   token flow with this server as its own token server. A request without a valid bearer token
//!   for what it does gets `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the
//!   client asks `GET /token?service=&scope=…` (with the user's basic credentials when
//!   `--htpasswd` is given too: then only its users get tokens) and retries with `Authorization:
//!   Bearer`. Tokens are JWTs (HS256, a key made at start, so a restart ends them) granting
//!   exactly the scopes asked for, for [`TOKEN_TTL`].
//!
//! What a request needs ([`Need`]): `GET`/`HEAD` on a repository → `pull`, `POST`/`PUT`/`PATCH` →
//! `push`, `DELETE` → `delete`, the catalog → `registry:catalog:*`, `/v2/` → any valid token.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
        /// Users allowed to get tokens; anyone when `None`.
        users: Option<Htpasswd>,
        key: Arc<[u8; 32]>,
    },
}

impl Auth {
    /// Token auth with a fresh signing key.
    pub fn token(settings: TokenSettings, users: Option<Htpasswd>) -> Result<Auth, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("making the token key: {e}"))?;
        Ok(Auth::Token {
            settings,
            users,
            key: Arc::new(key),
        })
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
pub async fn check(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
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
            if basic_user(given.as_deref(), users).is_some() {
                return next.run(req).await;
            }
            unauthorized(
                &format!("Basic realm=\"{realm}\""),
                "authentication required",
            )
        }
        Auth::Token { settings, key, .. } => {
            let claims = given
                .as_deref()
                .and_then(|g| g.strip_prefix("Bearer "))
                .and_then(|t| verify(t.trim(), key, settings));
            let allowed = match (&claims, &need) {
                (None, _) => false,
                (Some(_), Need::Login) => true,
                (Some(c), Need::Scope { kind, name, action }) => grants(c, kind, name, action),
            };
            if allowed {
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

fn unauthorized(challenge: &str, message: &str) -> Response {
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
fn basic_user(given: Option<&str>, users: &Htpasswd) -> Option<String> {
    let encoded = given?.strip_prefix("Basic ")?.trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    users.check(user, password).then(|| user.to_string())
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    access: Vec<Access>,
}

fn grants(c: &Claims, kind: &str, name: &str, action: &str) -> bool {
    c.access.iter().any(|a| {
        a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn sign(claims: &Claims, key: &[u8; 32]) -> Result<String, serde_json::Error> {
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(claims)?);
    let signed = format!("{header}.{payload}");
    let mac = B64.encode(hmac(key, signed.as_bytes()));
    Ok(format!("{signed}.{mac}"))
}

/// The claims of a token this server signed, unexpired, for its service.
fn verify(token: &str, key: &[u8; 32], settings: &TokenSettings) -> Option<Claims> {
    let (signed, mac) = token.rsplit_once('.')?;
    let given = B64.decode(mac).ok()?;
    let want = hmac(key, signed.as_bytes());
    // Constant time: every byte compared.
    if given.len() != want.len() || given.iter().zip(want).fold(0, |d, (a, b)| d | (a ^ b)) != 0 {
        return None;
    }
    let (_, payload) = signed.split_once('.')?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    let t = now();
    (claims.aud == settings.service
        && claims.iss == settings.issuer
        && claims.nbf <= t + 5
        && t < claims.exp)
        .then_some(claims)
}

/// Parses `type:name:actions` (the name may hold `:` for a port, as `127.0.0.1:5000/x` never
/// does in a repository name, but `registry:catalog:*` does not).
fn parse_scope(s: &str) -> Option<Access> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `GET /token?service=&scope=…`: a token for the scopes asked (with the user's basic
/// credentials when the server has users).
pub async fn token(
    State(auth): State<Arc<Auth>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let Auth::Token {
        settings,
        users,
        key,
    } = &*auth
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let subject = match users {
        Some(u) => match basic_user(given, u) {
            Some(user) => user,
            None => {
                return unauthorized(
                    &format!("Basic realm=\"{}\"", settings.realm),
                    "invalid username or password",
                )
            }
        },
        None => String::new(),
    };
    if let Some((_, s)) = q.iter().find(|(k, _)| k == "service") {
        if s != &settings.service {
            return (StatusCode::BAD_REQUEST, format!("unknown service {s:?}")).into_response();
        }
    }
    let access = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(parse_scope)
        .collect();
    let t = now();
    let claims = Claims {
        iss: settings.issuer.clone(),
        sub: subject,
        aud: settings.service.clone(),
        exp: t + TOKEN_TTL.as_secs(),
        nbf: t,
        iat: t,
        access,
    };
    match sign(&claims, key) {
        Ok(jwt) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"token": jwt, "access_token": jwt,
                "expires_in": TOKEN_TTL.as_secs()})
            .to_string(),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
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
    fn tokens_are_checked_for_key_service_and_time() {
        let settings = TokenSettings {
            realm: "http://r/token".into(),
            service: "svc".into(),
            issuer: "iss".into(),
        };
        let key = [7u8; 32];
        let t = now();
        let claims = Claims {
            iss: "iss".into(),
            sub: "u".into(),
            aud: "svc".into(),
            exp: t + 60,
            nbf: t,
            iat: t,
            access: vec![parse_scope("repository:a/b:pull,push").unwrap_or(Access {
                kind: String::new(),
                name: String::new(),
                actions: Vec::new(),
            })],
        };
        let jwt = sign(&claims, &key).unwrap_or_default();
        let c = verify(&jwt, &key, &settings);
        assert!(c
            .as_ref()
            .is_some_and(|c| grants(c, "repository", "a/b", "push")));
        assert!(!c
            .as_ref()
            .is_some_and(|c| grants(c, "repository", "a/c", "pull")));
        assert!(verify(&jwt, &[8u8; 32], &settings).is_none());
        let mut tampered = jwt.clone();
        tampered.insert(jwt.find('.').unwrap_or(0) + 3, 'x');
        assert!(verify(&tampered, &key, &settings).is_none());
        let other = TokenSettings {
            service: "other".into(),
            ..settings.clone()
        };
        assert!(verify(&jwt, &key, &other).is_none());
        let old = Claims {
            exp: t.saturating_sub(1),
            ..claims
        };
        assert!(verify(&sign(&old, &key).unwrap_or_default(), &key, &settings).is_none());
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

    #[test]
    fn scopes_parse_with_ports_and_several_actions() {
        let a = parse_scope("repository:reg/a:pull,push");
        assert!(a.is_some_and(|a| a.name == "reg/a" && a.actions == ["pull", "push"]));
        let c = parse_scope("registry:catalog:*");
        assert!(c.is_some_and(|c| c.kind == "registry" && c.actions == ["*"]));
        assert!(parse_scope("nonsense").is_none());
    }
}
