//! The Docker Engine API server: routes, the version middleware, the fallback, and serving a UNIX
//! listener until shutdown. One module per API area parses requests into engine calls and encodes
//! the answers ([`system`], [`images`], [`containers`], [`volumes`]...); [`error`] is the one
//! place where error kinds become status codes.
//!
//! Middleware, outermost first:
//! - authorization: the `authorization-plugins` asked about each request and answer ([`authz`]);
//! - version: strips an optional `/v1.NN` prefix (unversioned paths mean [`ApiVersion::CURRENT`]),
//!   refuses versions below 1.24 or above 1.50 with Docker's 400 messages, and stores the
//!   negotiated [`ApiVersion`] in the request's extensions for handlers that gate on it;
//! - every response gets `Api-Version`, `Ostype`, `Server` and `Docker-Experimental`.
//!
//! Unknown routes answer a JSON 404 `page not found`; known Docker routes Berth does not serve yet
//! answer a JSON 501 (swarm routes 503, as a daemon outside a swarm does), never a hang or HTML.

pub mod archive;
pub mod attach;
pub mod authz;
pub mod build;
pub mod container_control;
pub mod container_fs;
pub mod container_list_filters;
pub mod container_prune;
pub mod container_request;
pub mod container_sizes;
pub mod container_top;
pub mod container_views;
pub mod containers;
pub mod distribution;
pub mod endpoint_request;
pub mod error;
pub mod exec;
pub mod images;
pub mod mount_request;
pub mod network_views;
pub mod networks;
pub mod params;
mod reframe;
pub mod stats;
pub mod stream;
pub mod system;
pub mod time;
mod unsupported;
pub mod volumes;

use std::future::Future;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::ApiVersion;
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::error::DaemonError;
use crate::Engine;
use error::ApiError;

/// What every handler gets: the engine and the shutdown signal (streams end when it fires).
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub shutdown: watch::Receiver<bool>,
}

/// The server string of the `Server` header.
pub fn server_header() -> String {
    format!("Berth/{} (linux)", crate::system::ENGINE_VERSION)
}

/// The full application: routes behind the version middleware.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::disk_usage))
        .route("/images/json", get(images::list))
        .route("/images/prune", post(images::prune))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/create", post(images::create))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route(
            "/images/{*rest}",
            get(images::get_named)
                .post(images::post_named)
                .delete(images::delete),
        )
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/prune", post(container_prune::prune))
        .route("/containers/{id}/top", get(container_top::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/rename", post(container_control::rename))
        .route("/containers/{id}/pause", post(container_control::pause))
        .route("/containers/{id}/unpause", post(container_control::unpause))
        .route("/containers/{id}/update", post(container_control::update))
        .route("/containers/{id}/restart", post(container_control::restart))
        .route("/containers/{id}/export", get(container_fs::export))
        .route("/containers/{id}/changes", get(container_fs::changes))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/commit", post(container_fs::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/plugins", get(system::plugins_list))
        .route("/plugins/{*rest}", get(system::plugin_inspect))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route(
            "/containers/{id}/{alias}",
            axum::routing::delete(containers::remove_link),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .fallback(fallback)
        .method_not_allowed_fallback(fallback)
        .with_state(state.clone());
    // The middleware must run before routing (it rewrites the path), so the routes sit behind it
    // as the outer router's fallback service.
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn(version_middleware))
        .layer(middleware::from_fn_with_state(state, authz::authorize))
}

/// Splits `/v1.50/rest` into the version text and `/rest`; `None` when there is no prefix.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/v")?;
    let end = after.find('/').unwrap_or(after.len());
    let version = &after[..end];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let rest = &after[end..];
    Some((version, if rest.is_empty() { "/" } else { rest }))
}

async fn version_middleware(mut req: Request, next: Next) -> Response {
    let mut response = match negotiate(&mut req) {
        Ok(version) => {
            req.extensions_mut().insert(version);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("api-version", berth_api::API_VERSION);
    set("ostype", "linux");
    set("server", &server_header());
    set("docker-experimental", "false");
    response
}

/// Reads and checks the version prefix, rewriting the URI without it.
fn negotiate(req: &mut Request) -> Result<ApiVersion, ApiError> {
    let Some((text, rest)) = split_version(req.uri().path()) else {
        return Ok(ApiVersion::CURRENT);
    };
    let Ok(version) = text.parse::<ApiVersion>() else {
        // Not a version Docker's router would match either: let the fallback answer 404.
        return Ok(ApiVersion::CURRENT);
    };
    if version < ApiVersion::MIN {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            berth_api::MIN_API_VERSION
        )));
    }
    if version > ApiVersion::CURRENT {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {}",
            berth_api::API_VERSION
        )));
    }
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    *req.uri_mut() = Uri::from_parts(parts)
        .map_err(|e| ApiError::bad_request(format!("invalid request path: {e}")))?;
    Ok(version)
}

/// Route families Docker has and Berth does not serve yet.
/// How much of an unrouted request's body the fallback reads before it answers.
const FALLBACK_BODY_LIMIT: usize = 1 << 20;

const NOT_IMPLEMENTED: &[&str] = &[
    "containers",
    "exec",
    "build",
    "commit",
    "networks",
    "volumes",
    "auth",
    "plugins",
    "session",
    "grpc",
    "distribution",
    "images",
    "system",
];
/// Swarm-mode route families.
const SWARM: &[&str] = &["swarm", "nodes", "services", "tasks", "secrets", "configs"];

/// A `GET` of an object whose name holds a `/` (no route matches it): Docker's 404, so that
/// `docker inspect NAME`, which tries every object type, moves on to the next one.
fn missing_named(method: &Method, path: &str) -> Option<ApiError> {
    if method != Method::GET {
        return None;
    }
    let (kind, name) = path.strip_prefix('/')?.split_once('/')?;
    let e = match kind {
        "containers" => DaemonError::NoSuchContainer(name.strip_suffix("/json")?.to_string()),
        "networks" => DaemonError::NotFound(format!("network {name} not found")),
        "volumes" => DaemonError::NotFound(format!("get {name}: no such volume")),
        _ => return None,
    };
    Some(ApiError(e))
}

async fn fallback(method: Method, uri: Uri, body: axum::body::Body) -> ApiError {
    // Read what the client sends before answering: closing on an unread body would break the
    // client's write of it (EPIPE) instead of showing our error.
    let _ = axum::body::to_bytes(body, FALLBACK_BODY_LIMIT).await;
    let first = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if SWARM.contains(&first) {
        return ApiError(DaemonError::Unavailable(
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.".to_string(),
        ));
    }
    if let Some(e) = missing_named(&method, uri.path()) {
        return e;
    }
    if NOT_IMPLEMENTED.contains(&first) {
        return ApiError(DaemonError::NotImplemented(format!(
            "{method} {} is not implemented by berth yet",
            uri.path()
        )));
    }
    ApiError(DaemonError::NotFound("page not found".to_string()))
}

/// Serves `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: UnixListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::split_version;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.50/images/json"),
            Some(("1.50", "/images/json"))
        );
        assert_eq!(split_version("/v1.24"), Some(("1.24", "/")));
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/images/json"), None);
        assert_eq!(split_version("/vx/images"), None);
    }
}
