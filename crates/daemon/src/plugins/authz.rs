//! Docker's authorization plugin protocol (`authz`), as a client. The API server's middleware
//! (`crate::server::authz`) describes each request in an [`AuthzRequest`] and asks the plugins
//! named by `--authorization-plugin` about it, in order, through [`Authorizer`]:
//!
//! - before the request is served, `POST /AuthZPlugin.AuthZReq` with the request (method, URI,
//!   headers, and a JSON body up to [`MAX_BODY`], base64 as Go encodes bytes);
//! - after it, for an answer that is not a stream, `POST /AuthZPlugin.AuthZRes` with the same
//!   description plus the response's status, headers and JSON body.
//!
//! Every plugin must allow (`{"Allow": true}`); the first that does not ends the chain with
//! Docker's 403, `authorization denied by plugin NAME: <Msg>`. A plugin that cannot be found
//! or activated, answers an error, or misses the call deadline refuses the request too (fail
//! closed), in Docker's words: `plugin NAME failed with error: <why>` (500). A plugin's `Err`
//! in a 200 answer is ignored, as dockerd ignores it: only `Allow` and `Msg` count.
//!
//! Plugins are found and activated by the daemon's [`Registry`] like volume drivers; their
//! manifest must list `authz`. The registry's deadlines bound every call, so a hung plugin
//! costs a request at most the find wait plus the call deadline.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize, Serializer};

use super::{PluginError, Registry};

/// The interface an authorization plugin's manifest lists.
pub const INTERFACE: &str = "authz";
/// The call made before a request is served.
pub const REQUEST_METHOD: &str = "AuthZPlugin.AuthZReq";
/// The call made with the response.
pub const RESPONSE_METHOD: &str = "AuthZPlugin.AuthZRes";
/// The largest body sent to the plugins (Docker's `maxBodySize`, 4 MiB): a larger JSON
/// request body is refused, as dockerd refuses it.
pub const MAX_BODY: usize = 4 << 20;

/// What the plugins are told about one API request and, for `AuthZRes`, its response. Field
/// names and omissions are Docker's (`RequestUri`, bodies as base64, empty fields left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthzRequest {
    /// The user the connection authenticated as (a TLS client certificate's common name).
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// How the user was authenticated (`TLS`).
    #[serde(rename = "UserAuthNMethod", skip_serializing_if = "String::is_empty")]
    pub user_authn_method: String,
    /// `GET`, `POST`, ...
    #[serde(rename = "RequestMethod", skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// The URI as the client sent it, version prefix and query included (`/v1.50/info`).
    #[serde(rename = "RequestUri", skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(
        rename = "RequestBody",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "base64_bytes"
    )]
    pub body: Vec<u8>,
    /// One value per header (the last one), names in Go's canonical form, credentials left out.
    #[serde(rename = "RequestHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(rename = "ResponseStatusCode", skip_serializing_if = "is_zero")]
    pub response_status: u16,
    #[serde(
        rename = "ResponseBody",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "base64_bytes"
    )]
    pub response_body: Vec<u8>,
    #[serde(rename = "ResponseHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// Bytes as Go's `encoding/json` writes a `[]byte`: standard base64 with padding.
fn base64_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A plugin's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthzAnswer {
    #[serde(rename = "Allow", default)]
    pub allow: bool,
    #[serde(rename = "Msg", default)]
    pub msg: String,
    /// Read but not acted on, as dockerd does.
    #[serde(rename = "Err", default)]
    pub err: String,
}

/// Header names whose values never reach a plugin: credentials (Docker's list), and the build
/// secrets `berth build` sends.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-registry-config",
    "x-registry-auth",
    crate::server::build::SECRETS_HEADER,
];

/// `content-type` → `Content-Type`, as Go's `CanonicalMIMEHeaderKey` spells header names.
pub fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The headers a plugin is shown: canonical names, the last value of each, credentials and
/// `Host` (which Go keeps apart from the headers) left out.
pub fn visible_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower == "host" || SECRET_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        out.insert(
            canonical_header(name),
            String::from_utf8_lossy(value).into_owned(),
        );
    }
    out
}

/// Whether a request to `path` with `content_type` has its body shown to the plugins, by
/// Docker's rule: JSON bodies only (`application/json`, any parameters, any case), and never
/// the body of `/auth` (registry credentials).
pub fn shows_body(path: &str, content_type: Option<&str>) -> bool {
    if is_auth_endpoint(path) {
        return false;
    }
    content_type.is_some_and(is_json)
}

/// `application/json; charset=utf-8` → true.
pub fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `/auth`, `/v1.50/auth...` (Docker's `^[^/]*/(v\d[\d.]*/)?auth.*`).
fn is_auth_endpoint(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let rest = match rest.strip_prefix('v') {
        Some(after) => match after.split_once('/') {
            Some((version, tail))
                if version.starts_with(|c: char| c.is_ascii_digit())
                    && version.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                tail
            }
            _ => rest,
        },
        None => rest,
    };
    rest.starts_with("auth")
}

/// The plugins one request is checked against, in order (names given twice asked once).
#[derive(Debug, Clone)]
pub struct Authorizer<'a> {
    registry: &'a Registry,
    names: Vec<String>,
}

impl<'a> Authorizer<'a> {
    pub fn new(registry: &'a Registry, names: &[String]) -> Authorizer<'a> {
        let mut unique: Vec<String> = Vec::with_capacity(names.len());
        for n in names {
            if !unique.contains(n) {
                unique.push(n.clone());
            }
        }
        Authorizer {
            registry,
            names: unique,
        }
    }

    /// `AuthZPlugin.AuthZReq` to every plugin: `Ok` when all allow.
    pub async fn request(&self, req: &AuthzRequest) -> Result<(), PluginError> {
        self.ask(REQUEST_METHOD, req).await
    }

    /// `AuthZPlugin.AuthZRes` to every plugin: `Ok` when all allow the response.
    pub async fn response(&self, req: &AuthzRequest) -> Result<(), PluginError> {
        self.ask(RESPONSE_METHOD, req).await
    }

    /// Finds and activates every plugin (dockerd checks its authorization plugins at start).
    pub async fn check(&self) -> Result<(), PluginError> {
        for name in &self.names {
            self.registry.get(name, INTERFACE).await?;
        }
        Ok(())
    }

    async fn ask(&self, method: &str, req: &AuthzRequest) -> Result<(), PluginError> {
        for name in &self.names {
            let failed = |source: PluginError| PluginError::AuthzFailed {
                name: name.clone(),
                source: Box::new(source),
            };
            let plugin = self.registry.get(name, INTERFACE).await.map_err(failed)?;
            let answer: AuthzAnswer = plugin.call(method, req).await.map_err(failed)?;
            if !answer.allow {
                return Err(PluginError::AuthzDenied {
                    name: name.clone(),
                    message: answer.msg,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_docker_sends_them() {
        let req = AuthzRequest {
            method: "POST".into(),
            uri: "/v1.50/containers/create?name=x".into(),
            body: br#"{"Image":"busybox"}"#.to_vec(),
            headers: BTreeMap::from([("Content-Type".into(), "application/json".into())]),
            ..Default::default()
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "RequestMethod": "POST",
                "RequestUri": "/v1.50/containers/create?name=x",
                "RequestBody": "eyJJbWFnZSI6ImJ1c3lib3gifQ==",
                "RequestHeaders": {"Content-Type": "application/json"},
            })
        );
        let answer: AuthzAnswer = serde_json::from_str(r#"{"Allow":false,"Msg":"no"}"#).unwrap();
        assert!(!answer.allow);
        assert_eq!(answer.msg, "no");
        let empty: AuthzAnswer = serde_json::from_str("{}").unwrap();
        assert!(!empty.allow, "an answer without Allow refuses");
    }

    #[test]
    fn headers_are_canonical_without_credentials() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-registry-AUTH"), "X-Registry-Auth");
        let h = visible_headers([
            ("content-type", &b"application/json"[..]),
            ("host", b"api"),
            ("authorization", b"Basic c2VjcmV0"),
            ("x-registry-auth", b"e30="),
            ("X-Registry-Config", b"e30="),
            ("x-berth-build-secrets", b"e30="),
            ("user-agent", b"Docker-Client/28"),
        ]);
        assert_eq!(
            h.keys().collect::<Vec<_>>(),
            ["Content-Type", "User-Agent"],
            "{h:?}"
        );
    }

    #[test]
    fn only_json_bodies_outside_auth_are_shown() {
        assert!(shows_body("/containers/create", Some("application/json")));
        assert!(shows_body(
            "/v1.50/containers/create",
            Some("Application/JSON; charset=utf-8")
        ));
        assert!(!shows_body("/containers/create", Some("text/plain")));
        assert!(!shows_body("/containers/create", None));
        assert!(!shows_body("/build", Some("application/x-tar")));
        assert!(!shows_body("/auth", Some("application/json")));
        assert!(!shows_body("/v1.50/auth", Some("application/json")));
        assert!(shows_body("/volumes/auth", Some("application/json")));
        assert!(!shows_body("/v1.50/authz", Some("application/json")));
    }
}
