//! Docker's token flow, this server being its own token server (`--token-auth` with
//! `--htpasswd`): `GET /token?service=&scope=…` answers the htpasswd users (basic credentials)
//! a JWT (HS256, a key made at start, so a restart ends them) granting exactly the scopes asked
//! for, for [`TOKEN_TTL`]; [`verify`] checks such a token. The [`Claims`] are the ones every
//! issuer's tokens carry (`access`: what the bearer may do), read by the middleware.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::auth::{basic_user, unauthorized, Auth, Issuer, TokenSettings};

/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

pub(super) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// One grant of a token: `type` (`repository`), `name`, `actions` (`pull`, `push`, `*`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

/// A token's claims (distribution's token format). `aud` may be one string or a list.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Claims {
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    #[serde(default)]
    pub nbf: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub access: Vec<Access>,
}

/// `aud`: RFC 7519 allows one string or a list.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Claims {
    /// Whether the token is for `settings`' service and issuer and valid now (5 s of clock
    /// skew allowed at its start).
    pub(super) fn valid_for(&self, settings: &TokenSettings) -> bool {
        let aud = match &self.aud {
            Audience::One(a) => a == &settings.service,
            Audience::Many(all) => all.iter().any(|a| a == &settings.service),
        };
        let t = now();
        aud && self.iss == settings.issuer && self.nbf <= t + 5 && t < self.exp
    }
}

/// Whether the claims grant `action` on `kind:name`.
pub(super) fn grants(c: &Claims, kind: &str, name: &str, action: &str) -> bool {
    c.access.iter().any(|a| {
        a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
    })
}

pub(super) fn now() -> u64 {
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

pub(super) fn sign(claims: &Claims, key: &[u8; 32]) -> Result<String, serde_json::Error> {
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(claims)?);
    let signed = format!("{header}.{payload}");
    let mac = B64.encode(hmac(key, signed.as_bytes()));
    Ok(format!("{signed}.{mac}"))
}

/// The claims of a token this server signed, unexpired, for its service.
pub(super) fn verify(token: &str, key: &[u8; 32], settings: &TokenSettings) -> Option<Claims> {
    let (signed, mac) = token.rsplit_once('.')?;
    let given = B64.decode(mac).ok()?;
    let want = hmac(key, signed.as_bytes());
    // Constant time: every byte compared.
    if given.len() != want.len() || given.iter().zip(want).fold(0, |d, (a, b)| d | (a ^ b)) != 0 {
        return None;
    }
    let (_, payload) = signed.split_once('.')?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    claims.valid_for(settings).then_some(claims)
}

/// Parses `type:name:actions` (the name may hold `:` for a port, as `127.0.0.1:5000/x` never
/// does in a repository name, but `registry:catalog:*` does not).
pub(super) fn parse_scope(s: &str) -> Option<Access> {
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
        issuer: Issuer::Own { users, key },
    } = &*auth
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(subject) = basic_user(given, users) else {
        return unauthorized(
            &format!("Basic realm=\"{}\"", settings.realm),
            "invalid username or password",
        );
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
        aud: Audience::One(settings.service.clone()),
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
            aud: Audience::One("svc".into()),
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
    fn scopes_parse_with_ports_and_several_actions() {
        let a = parse_scope("repository:reg/a:pull,push");
        assert!(a.is_some_and(|a| a.name == "reg/a" && a.actions == ["pull", "push"]));
        let c = parse_scope("registry:catalog:*");
        assert!(c.is_some_and(|c| c.kind == "registry" && c.actions == ["*"]));
        assert!(parse_scope("nonsense").is_none());
    }
}
