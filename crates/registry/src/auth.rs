//! Registry authentication: anonymous, basic, and the bearer-token flow of Docker's token spec.
//!
//! A request that gets `401` carries a `WWW-Authenticate` challenge. `Basic` means: send the user's
//! credentials on every request to that registry. `Bearer realm=..,service=..,scope=..` means: ask the
//! token server at `realm` (with basic credentials when the user has some, or a refresh token) for a
//! token scoped to exactly what this operation needs (`repository:NAME:pull`, `...:pull,push`), then
//! send `Authorization: Bearer <token>`. Tokens are cached per registry, scope and credentials
//! (all of them, hashed: a user name with a wrong password is another identity) until they
//! expire (`expires_in`, 60 s when absent, as the spec says).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use sha2::Digest as _;

use crate::error::RegistryError;
use crate::hosts::{Endpoint, HostsConfig, Scheme};
use crate::transport::{self, Outgoing};

/// Credentials for one registry, as the docker CLI sends them in `X-Registry-Auth`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// An OAuth refresh token from an earlier login.
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    /// A bearer token to send as is.
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Whether there is anything to authenticate with.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    fn basic(&self) -> Option<String> {
        (!self.username.is_empty()).then(|| {
            let raw = format!("{}:{}", self.username, self.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }

    /// What tokens are cached under: a hash of every secret, not the user name alone, so a
    /// token one caller's credentials earned never serves another caller's wrong password (one
    /// daemon serves many API clients); empty for anonymous.
    fn identity(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut h = sha2::Sha256::new();
        for part in [
            &self.username,
            &self.password,
            &self.identity_token,
            &self.registry_token,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        format!("{:x}", h.finalize())
    }

    /// Decodes `X-Registry-Auth` (base64url JSON, padded or not); `{}`/empty means anonymous.
    pub fn from_header(value: &str) -> Result<Credentials, RegistryError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Credentials::default());
        }
        let bad = |reason: String| RegistryError::Reference {
            reference: "X-Registry-Auth".to_string(),
            reason,
        };
        let trimmed = value.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .map_err(|e| bad(format!("not base64: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not an auth config: {e}")))
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value (`Bearer realm="..",service=".."` or `Basic realm=".."`).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `a="x, y",b=z` → pairs; quoted values may hold commas and `\"`.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_string(), val.trim().to_string()));
    }
    out
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// (registry, scope, identity) a token was issued for.
type TokenKey = (String, String, String);

/// Bearer tokens by (registry, scope, identity), until they expire.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &TokenKey) -> Option<String> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((t, until)) if *until > Instant::now() => Some(t.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: TokenKey, token: String, ttl: Duration) {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        // Renew a little early so a token never expires in flight.
        let ttl = ttl
            .saturating_sub(Duration::from_secs(5))
            .max(Duration::from_secs(1));
        map.insert(key, (token, Instant::now() + ttl));
    }
}

/// Answers `challenge` for `registry`: the `Authorization` value to send, asking a token server
/// when needed. `scope` is what the operation needs (`repository:a/b:pull`).
pub async fn authorize(
    hosts: &HostsConfig,
    cache: &TokenCache,
    registry: &str,
    challenge: &Challenge,
    scope: &str,
    creds: &Credentials,
) -> Result<String, RegistryError> {
    if !creds.registry_token.is_empty() {
        return Ok(format!("Bearer {}", creds.registry_token));
    }
    let (realm, service) = match challenge {
        Challenge::Basic => {
            return creds.basic().ok_or_else(|| RegistryError::Unauthorized {
                host: registry.to_string(),
                scope: scope.to_string(),
                message: "unauthorized: authentication required".to_string(),
            })
        }
        Challenge::Bearer { realm, service, .. } => (realm, service),
    };
    let key = (registry.to_string(), scope.to_string(), creds.identity());
    if let Some(t) = cache.get(&key) {
        return Ok(format!("Bearer {t}"));
    }
    let realm_uri: hyper::Uri = realm.parse().map_err(|e| RegistryError::BadContent {
        host: registry.to_string(),
        what: "auth challenge".to_string(),
        reason: format!("realm {realm:?} is not a URL: {e}"),
    })?;
    let authority = realm_uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let scheme = if realm_uri.scheme_str() == Some("http") {
        Scheme::Http
    } else {
        Scheme::Https
    };
    if scheme == Scheme::Http && !hosts.is_insecure(&authority) {
        return Err(RegistryError::BadContent {
            host: registry.to_string(),
            what: "auth challenge".to_string(),
            reason: format!("refusing to send credentials to the plain-http token realm {realm}"),
        });
    }
    let ep: Endpoint = hosts
        .endpoints(&authority)?
        .into_iter()
        .find(|e| e.scheme == scheme)
        .ok_or_else(|| RegistryError::Connect {
            host: authority.clone(),
            reason: "no endpoint for the token realm".to_string(),
        })?;
    let query = {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        if !scope.is_empty() {
            q.append_pair("scope", scope);
        }
        q.finish()
    };
    let (method, body, auth, mut headers) = if !creds.identity_token.is_empty() {
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", &creds.identity_token)
                .append_pair("client_id", "berth");
            if let Some(s) = service {
                form.append_pair("service", s);
            }
            form.append_pair("scope", scope);
            form.finish()
        };
        (
            Method::POST,
            Some(transport::BodyKind::Bytes(form.into())),
            None,
            vec![(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".to_string(),
            )],
        )
    } else {
        (Method::GET, None, creds.basic(), Vec::new())
    };
    headers.push((hyper::header::ACCEPT, "application/json".to_string()));
    let path = realm_uri.path();
    let sep = if realm_uri.query().is_some() {
        '&'
    } else {
        '?'
    };
    let pq = match realm_uri.query() {
        Some(q) if method == Method::GET => format!("{path}?{q}{sep}{query}"),
        Some(q) => format!("{path}?{q}"),
        None if method == Method::GET => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let out = Outgoing {
        method,
        path_and_query: pq,
        headers,
        body,
    };
    let resp = transport::send(hosts, &ep, out, auth.as_deref()).await?;
    let status = resp.status();
    let body = transport::read_limited(resp.into_body(), 1 << 20, "token response").await?;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            host: registry.to_string(),
            scope: scope.to_string(),
            message: crate::client::error_message(&body, status),
        });
    }
    if !status.is_success() {
        return Err(RegistryError::Status {
            host: authority,
            method: "GET".to_string(),
            url: realm.clone(),
            status: status.as_u16(),
            message: crate::client::error_message(&body, status),
        });
    }
    let t: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| RegistryError::BadContent {
            host: authority.clone(),
            what: "token response".to_string(),
            reason: e.to_string(),
        })?;
    let token = if t.token.is_empty() {
        t.access_token
    } else {
        t.token
    };
    if token.is_empty() {
        return Err(RegistryError::BadContent {
            host: authority,
            what: "token response".to_string(),
            reason: "no token in it".to_string(),
        });
    }
    let ttl = Duration::from_secs(t.expires_in.unwrap_or(60).max(60));
    cache.put(key, token.clone(), ttl);
    Ok(format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn registry_auth_header_decodes() {
        let anon = Credentials::from_header("e30=").unwrap_or_default();
        assert!(anon.is_empty());
        let enc = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"username":"u","password":"p?>","serveraddress":"r"}"#);
        let c = Credentials::from_header(&enc).unwrap_or_default();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p?>"));
        assert!(Credentials::from_header("!!").is_err());
    }

    #[test]
    fn a_wrong_password_is_another_identity() {
        let user = |password: &str, token: &str| Credentials {
            username: "u".into(),
            password: password.into(),
            identity_token: token.into(),
            registry_token: String::new(),
        };
        assert_eq!(user("p", "").identity(), user("p", "").identity());
        assert_ne!(user("p", "").identity(), user("wrong", "").identity());
        assert_ne!(user("", "t1").identity(), user("", "t2").identity());
        // No field can be shifted into its neighbour to collide.
        let shifted = Credentials {
            username: "up".into(),
            ..user("", "")
        };
        assert_ne!(shifted.identity(), user("p", "").identity());
        assert_eq!(Credentials::default().identity(), "");
    }

    #[test]
    fn tokens_expire() {
        let cache = TokenCache::default();
        let key = ("r".to_string(), "s".to_string(), String::new());
        cache.put(key.clone(), "t".into(), Duration::from_secs(60));
        assert_eq!(cache.get(&key).as_deref(), Some("t"));
        cache.put(key.clone(), "t".into(), Duration::ZERO);
        // A zero TTL is clamped to one second: still valid right now.
        assert!(cache.get(&key).is_some());
    }
}
