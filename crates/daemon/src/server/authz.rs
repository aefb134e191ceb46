//! Authorization plugins in front of the whole API, as dockerd's authz middleware puts them:
//! outermost, so they see every request as the client sent it (the `/v1.NN` prefix included,
//! before the version check) and the answer as the client will get it. The plugins are the
//! live `authorization-plugins` setting (`SIGHUP` replaces the list); with none, requests pass
//! untouched. The protocol, and the errors in Docker's words, are `crate::plugins::authz`.
//!
//! For each request:
//! 1. Its description: method, URI, headers (credentials left out), and its body when the
//!    plugins may see it. A JSON body (`Content-Type: application/json`) is always shown; one
//!    over 4 MiB is refused, as dockerd refuses it. A body without a `Content-Type` is shown
//!    too when it fits (our JSON handlers read such bodies as JSON, where dockerd's refuse
//!    them); a larger one goes on unseen. Other bodies (tar streams) and `/auth`'s (registry
//!    credentials) are never shown.
//! 2. `AuthZReq` to every plugin; a refusal or a failure answers at once, and the request is
//!    never served.
//! 3. The request is served. A request whose body the plugins did not see carries
//!    [`BodyUnseen`], and the JSON extractor (`params::JsonBody`) refuses to read such a body:
//!    no handler acts on JSON the plugins could not judge.
//! 4. An answer that is not a stream (its size known: JSON, errors, empty answers) is held
//!    and shown to every plugin through `AuthZRes` (its body when JSON, up to 4 MiB); a
//!    refusal or failure replaces a successful answer with the error (a handler's own error
//!    stands, as in dockerd). Streams and upgraded connections (attach, exec, logs, events,
//!    pulls, exports) go out as they are made, without `AuthZRes`: dockerd can only show the
//!    plugins what is left once a stream has been sent, and cannot take it back either.
//!
//! `User` is the common name of the connection's TLS client certificate, with
//! `UserAuthNMethod` `TLS`, as dockerd sets them ([`crate::listen::PeerUser`]); UNIX sockets and
//! TCP without a client certificate name no user.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::error::ApiError;
use super::AppState;
use crate::error::DaemonError;
use crate::listen::PeerUser;
use crate::plugins::authz::{self, Authorizer, AuthzRequest, MAX_BODY};
use crate::plugins::{PluginError, Registry};

/// Marks a request whose body the authorization plugins did not see.
#[derive(Debug, Clone, Copy)]
pub struct BodyUnseen;

/// At start: every authorization plugin found, activated, and implementing `authz`, or the
/// daemon does not start (dockerd's `failed to validate authorization plugin`).
pub async fn check(names: &[String]) -> Result<(), DaemonError> {
    Authorizer::new(Registry::global(), names)
        .check()
        .await
        .map_err(|e| DaemonError::Config(format!("failed to validate authorization plugin: {e}")))
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let names = state.engine.settings.get().authorization_plugins.clone();
    if names.is_empty() {
        return next.run(req).await;
    }
    let authorizer = Authorizer::new(Registry::global(), &names);
    let (method, uri) = (req.method().clone(), req.uri().clone());
    match guarded(&authorizer, req, next).await {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(%method, %uri, error = %e, "request refused by authorization");
            ApiError(e).into_response()
        }
    }
}

async fn guarded(
    authorizer: &Authorizer<'_>,
    req: Request,
    next: Next,
) -> Result<Response, DaemonError> {
    let (mut parts, mut body) = req.into_parts();
    let user = parts.extensions.get::<PeerUser>();
    let mut described = AuthzRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: headers_of(&parts.headers),
        user: user.map(|u| u.0.clone()).unwrap_or_default(),
        user_authn_method: user.map(|_| "TLS".to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let path = parts.uri.path();
    let json = authz::shows_body(path, content_type.as_deref());
    let unlabelled = content_type.is_none() && authz::shows_body(path, Some("application/json"));
    let body = if json || unlabelled {
        let (head, ended) = read_up_to(&mut body, MAX_BODY).await?;
        if ended {
            described.body = head.to_vec();
            Body::from(head.freeze())
        } else if json {
            return Err(PluginError::AuthzBodyTooLarge { limit: MAX_BODY }.into());
        } else {
            parts.extensions.insert(BodyUnseen);
            Body::new(Resumed {
                head: Some(head.freeze()),
                rest: body,
            })
        }
    } else {
        parts.extensions.insert(BodyUnseen);
        body
    };
    authorizer.request(&described).await?;
    let response = next.run(Request::from_parts(parts, body)).await;
    let streamed = response.status() == StatusCode::SWITCHING_PROTOCOLS
        || response.body().size_hint().exact().is_none();
    if streamed {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| DaemonError::Internal(format!("reading the response: {e}")))?
        .to_bytes();
    described.response_status = parts.status.as_u16();
    described.response_headers = headers_of(&parts.headers);
    let json_answer = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(authz::is_json);
    if json_answer && bytes.len() <= MAX_BODY {
        described.response_body = bytes.to_vec();
    }
    match authorizer.response(&described).await {
        Err(e) if parts.status.as_u16() < 400 => Err(e.into()),
        _ => Ok(Response::from_parts(parts, Body::from(bytes))),
    }
}

fn headers_of(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    authz::visible_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
}

/// Reads `body` until it ends (`true`) or more than `limit` bytes have come (`false`).
async fn read_up_to(body: &mut Body, limit: usize) -> Result<(BytesMut, bool), DaemonError> {
    let mut head = BytesMut::new();
    while head.len() <= limit {
        match body.frame().await {
            None => return Ok((head, true)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    head.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return Err(DaemonError::InvalidArgument(format!(
                    "reading the request body: {e}"
                )))
            }
        }
    }
    Ok((head, false))
}

/// A body whose start was read already: that start, then the rest as it comes.
struct Resumed {
    head: Option<Bytes>,
    rest: Body,
}

impl HttpBody for Resumed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + head);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + head);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_read_in_part_resumes_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut body = Body::from(data.clone());
        let (head, ended) = read_up_to(&mut body, 1000).await.unwrap();
        assert!(!ended && head.len() > 1000);
        let resumed = Body::new(Resumed {
            head: Some(head.freeze()),
            rest: body,
        });
        let all = resumed.collect().await.unwrap().to_bytes();
        assert_eq!(all.as_ref(), data.as_slice());
        let mut small = Body::from("{}");
        let (head, ended) = read_up_to(&mut small, 1000).await.unwrap();
        assert!(ended);
        assert_eq!(head.as_ref(), b"{}");
    }
}
