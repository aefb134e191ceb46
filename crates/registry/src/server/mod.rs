//! Berth's own registry server (`berth registry serve --addr 127.0.0.1:5000 --root DIR`): the OCI
//! distribution API over [`storage::Storage`].
//!
//! Endpoints (distribution-spec end-1..end-13): `GET /v2/`; blobs `GET`/`HEAD`/`DELETE`
//! (`Range` honoured); uploads `POST` (session, monolithic `?digest=`, cross-repository
//! `?mount=&from=`), `PATCH` (streamed or `Content-Range` chunks, out of order → 416), `PUT
//! ?digest=` (the bytes must hash to it: else 400 `DIGEST_INVALID` and the session is gone),
//! `GET`/`DELETE` of a session; manifests `GET`/`HEAD`/`PUT`/`DELETE` (a manifest's config, layers
//! or index entries must be in the repository: else 400 `MANIFEST_BLOB_UNKNOWN`; more than
//! [`MAX_MANIFEST_BYTES`] → 413; an upload over `--max-upload-bytes` → 413); tags list and catalog with `n`/`last` pagination; the referrers
//! API (manifests listed under their `subject`, `artifactType` filter, `OCI-Subject` on push).
//!
//! The URL path is decoded once by the router and validated after decoding ([`names`]).
//! With `--tls-cert`/`--tls-key` it serves HTTPS ([`tls`]); with `--proxy HOST` it is a
//! pull-through cache of that registry ([`proxy`]); `--htpasswd` and `--token-auth` guard it
//! ([`auth`]). `berth registry gc` removes
//! unreferenced blobs ([`gc`]); `GET /v1/search` answers `docker
//! search` over the catalog.

mod auth;
pub mod gc;
mod issuer;
mod names;
pub mod proxy;
mod referrers;
pub mod storage;
mod tls;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use names::{parse_digest, valid_name, ManifestRef};
use storage::Storage;

/// The largest manifest accepted (the spec asks for at least 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The largest monolithic upload held in memory.
const MAX_MONOLITHIC_BYTES: usize = 64 << 20;

/// `berth registry serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,
    /// Storage directory.
    #[arg(long)]
    pub root: PathBuf,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The largest blob upload accepted, in bytes (more: 413).
    #[arg(long, default_value_t = storage::MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// Pull-through cache of this registry (`host[:port]`, or a URL): what is missing here is
    /// fetched from it, verified and kept.
    #[arg(long)]
    pub proxy: Option<String>,
    /// Basic auth for the users of this htpasswd file (bcrypt, `htpasswd -B`; distribution's
    /// auth.htpasswd.path). With --token-auth, the users who may get tokens.
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
    /// The basic-auth realm (auth.htpasswd.realm).
    #[arg(long, default_value = "berth-registry")]
    pub auth_realm: String,
    /// Docker's token auth (auth.token): this server issuing the tokens at /token to the
    /// --htpasswd users, or an external token server's tokens (--token-rootcertbundle).
    #[arg(long)]
    pub token_auth: bool,
    /// The token realm announced to clients (auth.token.realm); default http(s)://ADDR/token.
    /// The external token server's URL with --token-rootcertbundle.
    #[arg(long)]
    pub token_realm: Option<String>,
    /// Accept the tokens of an external token server, signed by a key whose certificate (the
    /// token's x5c chain, or its kid) leads to one of this file's PEM certificates
    /// (auth.token.rootcertbundle). Needs --token-auth and --token-realm.
    #[arg(
        long,
        requires = "token_auth",
        requires = "token_realm",
        conflicts_with = "htpasswd"
    )]
    pub token_rootcertbundle: Option<PathBuf>,
    /// The token service name (auth.token.service).
    #[arg(long, default_value = "berth-registry")]
    pub token_service: String,
    /// The token issuer (auth.token.issuer).
    #[arg(long, default_value = "berth-registry")]
    pub token_issuer: String,
}

impl ServeArgs {
    /// The access control the flags ask for.
    fn auth(&self) -> Result<Option<auth::Auth>, String> {
        let users = self
            .htpasswd
            .as_deref()
            .map(auth::Htpasswd::load)
            .transpose()?;
        if self.token_auth {
            let scheme = if self.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            let realm = self
                .token_realm
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{}/token", self.addr));
            let settings = auth::TokenSettings {
                realm,
                service: self.token_service.clone(),
                issuer: self.token_issuer.clone(),
            };
            if let Some(bundle) = &self.token_rootcertbundle {
                let roots = issuer::Roots::load(bundle)?;
                return Ok(Some(auth::Auth::Token {
                    settings,
                    issuer: auth::Issuer::External(Arc::new(roots)),
                }));
            }
            let Some(users) = users else {
                return Err(
                    "--token-auth needs --htpasswd FILE (the users who may get tokens) \
                    or --token-rootcertbundle FILE (an external token issuer): without either, \
                    anyone would get a token for anything"
                        .to_string(),
                );
            };
            return auth::Auth::token(settings, users).map(Some);
        }
        Ok(users.map(|users| auth::Auth::Basic {
            realm: self.auth_realm.clone(),
            users,
        }))
    }
}

/// `berth registry gc` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct GcArgs {
    /// Storage directory.
    #[arg(long)]
    pub root: PathBuf,
    /// Keep unreferenced blobs younger than this many seconds (uploads whose manifest is coming).
    #[arg(long, default_value_t = 3600)]
    pub grace_seconds: u64,
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// `berth registry ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Serve the OCI distribution API from a directory.
    Serve(Box<ServeArgs>),
    /// Remove blobs no manifest references (safe while serving).
    Gc(GcArgs),
}

/// `berth registry` arguments.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// Runs `berth registry ...`; returns the exit code.
pub fn main(args: RegistryArgs) -> i32 {
    let serve_args = match args.command {
        RegistryCommand::Serve(a) => *a,
        RegistryCommand::Gc(a) => return gc_main(&a),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: starting the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(serve_args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("berth registry: listening on {}: {e}", serve_args.addr);
                return 1;
            }
        };
        let access = match serve_args.auth() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("berth registry: auth: {e}");
                return 1;
            }
        };
        let app = match router_full(
            &serve_args.root,
            serve_args.max_upload_bytes,
            serve_args.proxy.as_deref(),
            access,
        ) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("berth registry: storage {}: {e}", serve_args.root.display());
                return 1;
            }
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let root = serve_args.root.display();
        let served = match (&serve_args.tls_cert, &serve_args.tls_key) {
            (Some(cert), Some(key)) => match tls::listen(listener, cert, key) {
                Ok(l) => {
                    eprintln!(
                        "berth registry: serving {root} on https://{}",
                        serve_args.addr
                    );
                    axum::serve(l, app).with_graceful_shutdown(shutdown).await
                }
                Err(e) => {
                    eprintln!("berth registry: TLS: {e}");
                    return 1;
                }
            },
            _ => {
                eprintln!(
                    "berth registry: serving {root} on http://{}",
                    serve_args.addr
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        match served {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("berth registry: {e}");
                1
            }
        }
    })
}

fn gc_main(a: &GcArgs) -> i32 {
    let storage = match Storage::open(&a.root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth registry gc: storage {}: {e}", a.root.display());
            return 1;
        }
    };
    match gc::collect(
        &storage,
        std::time::Duration::from_secs(a.grace_seconds),
        a.dry_run,
    ) {
        Ok(r) => {
            for d in &r.blobs {
                println!(
                    "{}{d}",
                    if a.dry_run {
                        "would remove "
                    } else {
                        "removed "
                    }
                );
            }
            println!("{} blobs, {} bytes", r.blobs.len(), r.bytes);
            0
        }
        Err(e) => {
            eprintln!("berth registry gc: {e}");
            1
        }
    }
}

/// The server's routes over the storage at `root`.
pub fn router(root: &std::path::Path) -> std::io::Result<Router> {
    router_with_limit(root, storage::MAX_UPLOAD_BYTES)
}

/// [`router`] with uploads limited to `max_upload` bytes (more: 413 and the session is gone).
pub fn router_with_limit(root: &std::path::Path, max_upload: u64) -> std::io::Result<Router> {
    router_with(root, max_upload, None)
}

/// The routes over `root`, with an upload limit and, for a pull-through cache, its upstream
/// registry (`host[:port]` or a URL).
pub fn router_with(
    root: &std::path::Path,
    max_upload: u64,
    proxy: Option<&str>,
) -> std::io::Result<Router> {
    router_full(root, max_upload, proxy, None)
}

/// [`router_with`] guarded by `access` (and serving `/token` for token auth).
fn router_full(
    root: &std::path::Path,
    max_upload: u64,
    proxy: Option<&str>,
    access: Option<auth::Auth>,
) -> std::io::Result<Router> {
    let upstream = proxy.map(|p| {
        let p = p.trim();
        let p = p
            .strip_prefix("https://")
            .or_else(|| p.strip_prefix("http://"))
            .unwrap_or(p);
        proxy::Upstream {
            client: crate::Client::new(crate::HostsConfig {
                certs_dirs: vec!["/etc/docker/certs.d".into(), "/etc/berth/certs.d".into()],
                insecure: Vec::new(),
            }),
            registry: p.split('/').next().unwrap_or(p).to_string(),
        }
    });
    let storage = Arc::new(
        Storage::open(root)?
            .with_max_upload(max_upload)
            .with_upstream(upstream),
    );
    let mut app = Router::new()
        .route("/v2/", axum::routing::get(base))
        .route("/v2", axum::routing::get(base))
        .route("/v2/{*rest}", axum::routing::any(dispatch))
        .route("/v1/search", axum::routing::get(search))
        .with_state(storage);
    if let Some(a) = access {
        let a = Arc::new(a);
        app = app
            .merge(
                Router::new()
                    .route("/token", axum::routing::get(token::token))
                    .with_state(a.clone()),
            )
            .layer(axum::middleware::from_fn_with_state(a, auth::check));
    }
    Ok(app.layer(axum::middleware::map_response(
        |mut r: Response| async move {
            r.headers_mut().insert(
                "docker-distribution-api-version",
                HeaderValue::from_static("registry/2.0"),
            );
            r
        },
    )))
}

type St = Arc<Storage>;

async fn base() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}

/// A distribution error answer.
fn err(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body =
        serde_json::json!({"errors": [{"code": code, "message": message.into(), "detail": null}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "registry storage failed");
    err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

fn name_invalid(name: &str) -> Response {
    err(
        StatusCode::BAD_REQUEST,
        "NAME_INVALID",
        format!("invalid repository name {name:?}"),
    )
}

fn digest_invalid(s: &str) -> Response {
    err(
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
        format!("invalid digest {s:?}"),
    )
}

async fn dispatch(
    State(st): State<St>,
    Path(rest): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let rest = rest.trim_end_matches('/').to_string();
    if rest == "_catalog" {
        return list(&st, None, &q).await;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        return list(&st, Some(name.to_string()), &q).await;
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        let Some(r) = ManifestRef::parse(reference) else {
            return if reference.contains(':') {
                digest_invalid(reference)
            } else {
                err(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("invalid tag {reference:?}"),
                )
            };
        };
        return manifest(&st, name.to_string(), r, method, &headers, body).await;
    }
    if let Some((name, d)) = rest.rsplit_once("/referrers/") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        let Some(d) = parse_digest(d) else {
            return digest_invalid(d);
        };
        return referrers(&st, name.to_string(), d, q.get("artifactType").cloned()).await;
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        return upload_start(&st, name.to_string(), &q, method, body).await;
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        return upload(
            &st,
            name.to_string(),
            id.to_string(),
            &q,
            method,
            &headers,
            body,
        )
        .await;
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        if !valid_name(name) {
            return name_invalid(name);
        }
        let Some(d) = parse_digest(d) else {
            return digest_invalid(d);
        };
        return blob(&st, name.to_string(), d, method, &headers).await;
    }
    err(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint")
}

/// Tags list (`name`) or catalog, paginated by `n` and `last`.
async fn list(
    st: &St,
    name: Option<String>,
    q: &std::collections::HashMap<String, String>,
) -> Response {
    let s = st.clone();
    let n2 = name.clone();
    let Ok(all) = blocking(move || match &n2 {
        Some(n) => s.repo_exists(n).then(|| s.tags(n)),
        None => Some(s.catalog()),
    })
    .await
    else {
        return internal("listing");
    };
    let Some(all) = all else {
        return err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    };
    let last = q.get("last").cloned().unwrap_or_default();
    let mut items: Vec<String> = all
        .into_iter()
        .filter(|t| last.is_empty() || *t > last)
        .collect();
    let n = match q.get("n").map(|n| n.parse::<usize>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return err(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid n",
            )
        }
        None => None,
    };
    let mut link = None;
    if let Some(n) = n {
        if items.len() > n {
            items.truncate(n);
            if let Some(l) = items.last() {
                let path = match &name {
                    Some(nm) => format!("/v2/{nm}/tags/list"),
                    None => "/v2/_catalog".to_string(),
                };
                link = Some(format!("<{path}?n={n}&last={l}>; rel=\"next\""));
            }
        }
    }
    let body = match &name {
        Some(nm) => serde_json::json!({"name": nm, "tags": items}),
        None => serde_json::json!({"repositories": items}),
    };
    let mut r = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LINK, l);
    }
    r
}

/// `GET /v1/search?q=&n=&page=`: Docker Hub's v1 search over the catalog (substring match), so
/// `docker search HOST/TERM` works against this server.
async fn search(
    State(st): State<St>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let term = q.get("q").cloned().unwrap_or_default().to_lowercase();
    let n = q
        .get("n")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(25);
    let page = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let s = st.clone();
    let Ok(all) = blocking(move || s.catalog()).await else {
        return internal("listing the catalog");
    };
    let hits: Vec<String> = all.into_iter().filter(|r| r.contains(&term)).collect();
    let results: Vec<serde_json::Value> = hits
        .iter()
        .skip((page - 1) * n)
        .take(n)
        .map(|name| {
            serde_json::json!({"name": name, "description": "", "star_count": 0,
                "is_official": false, "is_automated": false, "is_trusted": false})
        })
        .collect();
    let body = serde_json::json!({
        "num_results": hits.len(), "num_pages": hits.len().div_ceil(n).max(1),
        "page": page, "page_size": n, "query": term, "results": results,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

mod handlers;
use handlers::{blob, manifest, upload, upload_start};
use referrers::referrers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
