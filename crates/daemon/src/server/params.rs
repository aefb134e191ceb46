//! Request decoding at the edge: query parameters ([`Params`], with Docker's lenient booleans and
//! repeated keys), `filters`, and JSON bodies ([`JsonBody`]). Every failure is an [`ApiError`] (400
//! with a JSON body), never axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use berth_api::Filters;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON request body accepted.
pub const MAX_JSON_BODY: usize = 16 << 20;

/// The query parameters of a request, in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_none() {
            return Ok(Params::default());
        }
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
    }
}

impl Params {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of `key`.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// The `h` and `w` of a resize request (0 when absent), as Docker's resize endpoints take them.
    pub fn tty_size(&self) -> Result<(u16, u16), ApiError> {
        let dim = |k: &str| {
            self.non_empty(k)
                .unwrap_or("0")
                .parse::<u16>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}")))
        };
        Ok((dim("h")?, dim("w")?))
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as Docker reads it: absent, empty, `0`, `no`, `false`, `none` are false.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            )
        })
    }

    /// The `filters` parameter.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        Ok(Filters::parse(self.get("filters").unwrap_or(""))?)
    }
}

/// A JSON body decoded into `T`; `Content-Type` must be JSON when there is a body (as Docker checks).
/// A body the authorization plugins did not see ([`super::authz::BodyUnseen`]) is never read.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let unseen = req.extensions().get::<super::authz::BodyUnseen>().is_some();
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        json_body(content_type.as_deref(), unseen, &bytes).map(JsonBody)
    }
}

/// Decodes a request body read by hand as [`JsonBody`] decodes one: empty is `{}`; otherwise
/// `Content-Type` must be JSON and the authorization plugins must have seen it.
pub fn json_body<T: DeserializeOwned>(
    content_type: Option<&str>,
    unseen: bool,
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")));
    }
    let json = content_type.is_none_or(crate::plugins::authz::is_json);
    if unseen || !json {
        return Err(ApiError::bad_request(format!(
            "unsupported Content-Type header ({}): must be 'application/json'",
            content_type.unwrap_or_default()
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
