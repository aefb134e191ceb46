//! `POST /build`: the legacy builder's API as the docker CLI (without buildx), docker-py and
//! compose speak it. The body is the context tar (plain or compressed); the answer is a JSON
//! stream of `stream` lines, an `aux` with the image ID, and an in-band `errorDetail` on failure.
//!
//! One Berth extension, which Docker's clients never send: the header `X-Berth-Build-Secrets`
//! carries `berth build --secret`s (base64 of a JSON object from id to the base64 of the
//! secret's bytes; at most [`MAX_SECRET_BYTES`] in all). See `docs/build.md`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as URL_SAFE};
use base64::Engine as _;
use berth_build::exec::NetworkMode;
use berth_registry::Credentials;

use super::error::ApiError;
use super::params::Params;
use super::{stream, AppState};
use crate::build::{BuildRequest, Secret};

/// A JSON object of strings (`buildargs`, `labels`); `null` values are dropped as Docker does.
fn json_map(params: &Params, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = params.non_empty(key) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// `X-Registry-Config`: base64 JSON of credentials by registry (`e30=` is `{}`).
fn registry_config(headers: &HeaderMap) -> Result<BTreeMap<String, Credentials>, ApiError> {
    let Some(raw) = headers
        .get("x-registry-config")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(BTreeMap::new());
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(BTreeMap::new());
    }
    let bytes = URL_SAFE
        .decode(raw.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(raw))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Config header: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Config header: {e}")))
}

/// The header `berth build` sends its secrets in.
pub const SECRETS_HEADER: &str = "x-berth-build-secrets";

/// The most secret bytes one build request carries.
pub const MAX_SECRET_BYTES: usize = 64 << 10;

/// `X-Berth-Build-Secrets`: the secrets by id. Error messages never quote the header's value.
fn secrets(headers: &HeaderMap) -> Result<BTreeMap<String, Secret>, ApiError> {
    let Some(raw) = headers.get(SECRETS_HEADER) else {
        return Ok(BTreeMap::new());
    };
    let bad =
        |why: &str| ApiError::bad_request(format!("invalid X-Berth-Build-Secrets header: {why}"));
    let raw = raw.to_str().map_err(|_| bad("not ASCII"))?.trim();
    let json = URL_SAFE
        .decode(raw.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(raw))
        .map_err(|_| bad("not base64"))?;
    let encoded: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| bad("not a JSON object of strings"))?;
    let mut out = BTreeMap::new();
    let mut total = 0;
    for (id, value) in encoded {
        if id.is_empty() || id.contains(['/', '\0']) {
            return Err(bad(&format!("invalid secret id {id:?}")));
        }
        let bytes = STANDARD
            .decode(value.as_bytes())
            .map_err(|_| bad(&format!("secret {id} is not base64")))?;
        total += bytes.len();
        if total > MAX_SECRET_BYTES {
            return Err(ApiError::bad_request(format!(
                "the build's secrets are larger than the {} KiB a build request carries",
                MAX_SECRET_BYTES >> 10
            )));
        }
        out.insert(id, Secret::new(bytes));
    }
    Ok(out)
}

fn request(params: &Params) -> Result<BuildRequest, ApiError> {
    if params.non_empty("version") == Some("2") {
        return Err(ApiError::bad_request(
            "BuildKit (version=2) is not supported by this daemon: use the legacy builder (DOCKER_BUILDKIT=0)",
        ));
    }
    if let Some(remote) = params.non_empty("remote") {
        return Err(ApiError::bad_request(format!(
            "remote build contexts are not supported ({remote}): send the context as a tar"
        )));
    }
    let flag_default = |key: &str, default: bool| match params.get(key) {
        None | Some("") => default,
        Some(_) => params.flag(key),
    };
    let network = match params.non_empty("networkmode") {
        None | Some("default") | Some("bridge") => NetworkMode::Default,
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "network mode {other:?} is not supported for builds (default, bridge, host or none)"
            )))
        }
    };
    let build_args = json_map(params, "buildargs")?;
    let source_date_epoch = match build_args.get("SOURCE_DATE_EPOCH") {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid SOURCE_DATE_EPOCH {v:?}: a number of seconds since 1970-01-01"
            ))
        })?),
    };
    Ok(BuildRequest {
        dockerfile: params
            .non_empty("dockerfile")
            .unwrap_or("Dockerfile")
            .to_string(),
        tags: params
            .all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        build_args,
        source_date_epoch,
        secrets: BTreeMap::new(),
        cache_from: match params.non_empty("cachefrom") {
            None => Vec::new(),
            Some(raw) => serde_json::from_str(raw)
                .map_err(|e| ApiError::bad_request(format!("invalid cachefrom {raw:?}: {e}")))?,
        },
        target: params.non_empty("target").map(str::to_string),
        no_cache: params.flag("nocache"),
        pull: params.flag("pull"),
        labels: json_map(params, "labels")?,
        quiet: params.flag("q"),
        rm: flag_default("rm", true),
        force_rm: params.flag("forcerm"),
        registry_auth: BTreeMap::new(),
        network,
        platform: params.non_empty("platform").map(str::to_string),
    })
}

/// `POST /build`.
pub async fn build(
    State(s): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut req = request(&params)?;
    req.registry_auth = registry_config(&headers)?;
    req.secrets = secrets(&headers)?;
    for t in &req.tags {
        berth_oci::Reference::parse(t).map_err(|e| {
            ApiError::bad_request(format!("invalid tag {t:?}: invalid reference format: {e}"))
        })?;
    }
    let reader = stream::body_reader(body);
    let (writer, _tx, out) = stream::body_writer();
    let engine = s.engine.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || crate::build::run(engine, rt, req, reader, writer));
    Ok(([(CONTENT_TYPE, "application/json")], out).into_response())
}

/// `POST /build/prune`: `{"CachesDeleted": [...], "SpaceReclaimed": N}`. The classic builder's
/// cache is used only while a build runs, so every entry is unused between builds: `all` and the
/// default prune the same entries. Filters and the space limits (`keep-storage`,
/// `reserved-space`, `max-used-space`, `min-free-space`) are refused by name: the cache keeps no
/// ages, sizes per entry or kinds to choose by.
pub async fn prune(State(s): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let filters = params.filters()?;
    if let Some(name) = filters.names().next() {
        return Err(ApiError::bad_request(format!(
            "build cache prune filter '{name}' is not supported: Berth's classic builder cache \
             keeps no ages or kinds to choose by; prune it whole"
        )));
    }
    for limit in [
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if params.non_empty(limit).is_some_and(|v| v != "0") {
            return Err(ApiError::bad_request(format!(
                "build cache prune {limit} is not supported: Berth's classic builder cache \
                 keeps no sizes per entry; prune it whole"
            )));
        }
    }
    let engine = s.engine.clone();
    let pruned = tokio::task::spawn_blocking(move || crate::build::prune(&engine))
        .await
        .map_err(|e| ApiError(crate::error::DaemonError::join(e)))?
        .map_err(|m| ApiError(crate::error::DaemonError::Internal(m)))?;
    let body = serde_json::json!({
        "CachesDeleted": pruned.caches,
        "SpaceReclaimed": pruned.reclaimed,
    });
    Ok(axum::Json(body).into_response())
}
