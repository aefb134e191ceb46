//! Registry routes: pulls (`POST /images/create?fromImage=`) and pushes as Docker's JSON progress
//! stream, `POST /auth`, `GET /distribution/{name}/json` and `GET /images/search`.
//!
//! A pull's first line is written only once the reference resolved on the registry, so a missing
//! image, bad credentials or a bad reference keep their HTTP status (as Docker's flushed-writer
//! rule); later failures travel in-band as `{"errorDetail":…,"error":…}`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_api::units::human_size;
use berth_oci::Reference;
use berth_registry::pull::parse_platform;
use berth_registry::{Credentials, Progress, ProgressSink};
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::ApiError;
use super::params::Params;
use super::stream::{self, ChunkSender};
use super::AppState;
use crate::error::DaemonError;
use crate::images::{configure_registries, registry_error, RegistrySettings};

/// Brings the registry client up to the daemon's live settings (`insecure-registries`,
/// `registry-mirrors`, reloaded on `SIGHUP`); a no-op when they did not change.
fn sync_settings(s: &AppState) {
    let r = s.engine.settings.get();
    configure_registries(RegistrySettings {
        insecure: r.insecure_registries.clone(),
        mirrors: r.registry_mirrors.clone(),
    });
}

/// The `X-Registry-Auth` credentials of a request (anonymous when absent).
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, ApiError> {
    match headers.get("x-registry-auth").and_then(|v| v.to_str().ok()) {
        Some(v) => Credentials::from_header(v).map_err(|e| ApiError(registry_error(e))),
        None => Ok(Credentials::default()),
    }
}

/// `fromImage` plus `tag` (a tag or a digest) as one normalised reference.
pub fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference, ApiError> {
    let bad = |e: berth_oci::reference::ReferenceError| {
        ApiError::bad_request(format!("invalid reference format: {e}"))
    };
    let base = Reference::parse_exact(image).map_err(bad)?;
    let r = match tag {
        Some(t) if base.tag().is_none() && base.digest().is_none() => {
            if t.contains(':') {
                let d = berth_oci::Digest::parse(t)
                    .map_err(|e| ApiError::bad_request(format!("invalid digest {t:?}: {e}")))?;
                base.with_digest(d)
            } else {
                base.with_tag(t).map_err(bad)?
            }
        }
        _ => base,
    };
    Ok(if r.digest().is_some() {
        r
    } else {
        r.with_default_tag()
    })
}

/// Docker's progress text (jsonmessage's `JSONProgress.String` at the daemon's width): a bar of
/// `percent / 2` `=` then `>`, padded to 50, and the counts in go-units sizes, the current one
/// right-aligned in 8: `[=========================>                         ]  1.049MB/2.097MB`.
pub fn progress_bar(current: u64, total: u64) -> String {
    let percent = (current as f64 / total.max(1) as f64 * 100.0) as usize / 2;
    let filled = percent.min(50);
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(filled),
        " ".repeat(50 - filled),
        human_size(current as f64),
        human_size(total as f64)
    )
}

/// One progress event as a JSON line.
pub fn message(p: &Progress) -> JsonMessage {
    match p {
        Progress::Status(s) => JsonMessage::status(s.clone()),
        Progress::Item {
            id,
            status,
            current,
            total,
        } => JsonMessage {
            status: Some(status.clone()),
            id: Some(id.clone()),
            progress_detail: Some(ProgressDetail {
                current: *current,
                total: *total,
            }),
            progress: match (current, total) {
                (Some(c), Some(t)) => Some(progress_bar(*c, *t)),
                _ => None,
            },
            ..Default::default()
        },
    }
}

async fn send(tx: &ChunkSender, msg: &JsonMessage) {
    let _ = tx.send(Ok(stream::json_line(msg))).await;
}

/// Streams a registry operation's progress: waits for the first event (or the end) before
/// answering, so early failures keep their status; then copies events until `done` finishes and
/// ends with `finish`'s lines or the error in-band.
pub async fn progress_response<T: Send + 'static>(
    mut rx: UnboundedReceiver<Progress>,
    done: tokio::task::JoinHandle<Result<T, DaemonError>>,
    finish: impl FnOnce(T) -> Vec<JsonMessage> + Send + 'static,
) -> Result<Response, ApiError> {
    let mut done = done;
    // The operation ending drops its sink: a closed channel with nothing in it is not a first
    // event but the end, whose outcome (an error keeps its status) is the answer.
    let first = tokio::select! {
        Some(p) = rx.recv() => Some(p),
        r = &mut done => {
            let r = r.map_err(|e| ApiError(DaemonError::Internal(e.to_string())))?;
            let out = r.map_err(ApiError)?;
            let mut lines: Vec<JsonMessage> = Vec::new();
            while let Ok(p) = rx.try_recv() {
                lines.push(message(&p));
            }
            lines.extend(finish(out));
            return Ok(stream::json_lines(&lines));
        }
    };
    let (tx, body) = stream::channel_body();
    tokio::spawn(async move {
        if let Some(p) = first {
            send(&tx, &message(&p)).await;
        }
        while let Some(p) = rx.recv().await {
            send(&tx, &message(&p)).await;
        }
        let lines = match done.await {
            Ok(Ok(out)) => finish(out),
            Ok(Err(e)) => vec![JsonMessage::error(e.to_string())],
            Err(e) => vec![JsonMessage::error(format!("internal error: {e}"))],
        };
        for l in &lines {
            send(&tx, l).await;
        }
    });
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /images/create?fromImage=&tag=&platform=`; without a tag (in `fromImage` or `tag`),
/// every tag of the repository, as Docker does (`docker pull --all-tags`).
pub async fn pull(
    s: &AppState,
    image: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    sync_settings(s);
    // `pull -a` sends the bare repository (possibly with a trailing `:`) and no tag.
    let bare = image.trim_end_matches(':');
    let all_tags = params.non_empty("tag").is_none()
        && Reference::parse_exact(bare).is_ok_and(|r| r.tag().is_none() && r.digest().is_none());
    let reference = pull_reference(bare, params.non_empty("tag"))?;
    let platform = params
        .non_empty("platform")
        .map(parse_platform)
        .transpose()
        .map_err(|e| ApiError(registry_error(e)))?;
    let creds = credentials(headers)?;
    let (sink, rx) = ProgressSink::channel();
    let images = s.engine.images.clone();
    let r = reference.clone();
    if all_tags {
        let done = tokio::spawn(async move {
            images
                .pull_all_tags(&r.name_only(), platform, creds, sink)
                .await
        });
        let repo = reference.name_only().familiar();
        return progress_response(rx, done, move |all| {
            let newer = all.iter().any(|(_, p)| !p.up_to_date);
            let mut lines: Vec<JsonMessage> = all
                .iter()
                .map(|(_, p)| JsonMessage::status(format!("Digest: {}", p.digest)))
                .collect();
            lines.push(JsonMessage::status(if newer {
                format!("Status: Downloaded newer image for {repo}")
            } else {
                format!("Status: Image is up to date for {repo}")
            }));
            lines
        })
        .await;
    }
    let done = tokio::spawn(async move { images.pull(&r, platform, creds, sink).await });
    let familiar = reference.familiar();
    progress_response(rx, done, move |pulled| {
        let status = if pulled.up_to_date {
            format!("Status: Image is up to date for {familiar}")
        } else {
            format!("Status: Downloaded newer image for {familiar}")
        };
        vec![
            JsonMessage::status(format!("Digest: {}", pulled.digest)),
            JsonMessage::status(status),
        ]
    })
    .await
}

/// What a push request asks for: one tag, or every local tag of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    Tag(Reference),
    AllTags(Reference),
}

/// `name` (`127.0.0.1:5000/busybox`, maybe with a tag) and the `tag` parameter as Docker reads
/// them: the parameter wins over a tag in the name; with neither, every local tag is pushed
/// (the docker CLI sends `tag` unless `--all-tags`; docker-py sends none unless given one).
pub fn push_target(name: &str, tag: Option<&str>) -> Result<PushTarget, ApiError> {
    let bad = |e: berth_oci::reference::ReferenceError| {
        ApiError::bad_request(format!("invalid reference format: {e}"))
    };
    let base = Reference::parse_exact(name).map_err(bad)?;
    if base.digest().is_some() || tag.is_some_and(|t| t.contains(':')) {
        return Err(ApiError::bad_request(format!(
            "cannot push a digest reference ({name})"
        )));
    }
    Ok(match (tag, base.tag()) {
        (Some(t), _) => PushTarget::Tag(base.name_only().with_tag(t).map_err(bad)?),
        (None, Some(_)) => PushTarget::Tag(base),
        (None, None) => PushTarget::AllTags(base),
    })
}

/// The lines that end a push of one tag: `TAG: digest: D size: N` and the aux record.
fn pushed_lines(p: &berth_registry::push::Pushed) -> Vec<JsonMessage> {
    vec![
        JsonMessage::status(format!("{}: digest: {} size: {}", p.tag, p.digest, p.size)),
        JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(
                serde_json::json!({"Tag": p.tag, "Digest": p.digest.to_string(), "Size": p.size}),
            ),
            ..Default::default()
        },
    ]
}

/// `POST /images/{name}/push?tag=`: `name` is the repository (`127.0.0.1:5000/busybox`); without
/// a tag, every tag of the repository in the local store is pushed, as Docker does.
pub async fn push(
    s: &AppState,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    sync_settings(s);
    let target = push_target(name, params.non_empty("tag"))?;
    let creds = credentials(headers)?;
    let (sink, rx) = ProgressSink::channel();
    let images = s.engine.images.clone();
    match target {
        PushTarget::Tag(t) => {
            // The local image must exist before anything is streamed.
            s.engine.images.inspect(&t.full()).await?;
            let done = tokio::spawn(async move { images.push(&t.full(), &t, creds, sink).await });
            progress_response(rx, done, |p| pushed_lines(&p)).await
        }
        PushTarget::AllTags(repo) => {
            // As for one tag: a repository with no local tag is refused before anything streams.
            let tags = s.engine.images.local_tags(&repo).await?;
            if tags.is_empty() {
                return Err(ApiError(DaemonError::NotFound(format!(
                    "An image does not exist locally with the tag: {}",
                    repo.familiar()
                ))));
            }
            let done =
                tokio::spawn(async move { images.push_all_tags(&repo, tags, creds, sink).await });
            progress_response(rx, done, |all| all.iter().flat_map(pushed_lines).collect()).await
        }
    }
}

/// Splits a search term into the registry to ask and the query (`127.0.0.1:5000/bus` →
/// (`127.0.0.1:5000`, `bus`); `busybox` → (`docker.io`, `busybox`)).
pub fn search_target(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            return (first.to_string(), rest.to_string());
        }
    }
    ("docker.io".to_string(), term.to_string())
}

/// `GET /images/search?term=&limit=&filters=`.
pub async fn search(s: &AppState, params: &Params) -> Result<Response, ApiError> {
    sync_settings(s);
    let term = params
        .non_empty("term")
        .ok_or_else(|| ApiError::bad_request("search term (term) must be given"))?;
    let limit = match params.non_empty("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit {l:?} must be between 1 and 100"))
            })?,
        None => 25,
    };
    let f = params.filters()?;
    f.allow_only(&["is-official", "is-automated", "stars"])?;
    let official = f.bool("is-official")?;
    let automated = f.bool("is-automated")?;
    let stars = match f.get("stars").first() {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid filter 'stars={v}'")))?,
        ),
        None => None,
    };
    let (registry, query) = search_target(term);
    let results = s.engine.images.search(&registry, &query, limit).await?;
    let out: Vec<serde_json::Value> = results
        .into_iter()
        .filter_map(|r| {
            let name = r.get("name")?.as_str()?.to_string();
            let is_official = r
                .get("is_official")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let is_automated = r
                .get("is_automated")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let star_count = r.get("star_count").and_then(|v| v.as_u64()).unwrap_or(0);
            if official.is_some_and(|o| o != is_official)
                || automated.is_some_and(|a| a != is_automated)
                || stars.is_some_and(|n| star_count < n)
            {
                return None;
            }
            // As Docker: results of a registry other than Docker Hub carry its name.
            let name = if registry == "docker.io" {
                name
            } else {
                format!("{registry}/{name}")
            };
            Some(serde_json::json!({
                "name": name,
                "description": r.get("description").and_then(|v| v.as_str()).unwrap_or_default(),
                "star_count": star_count,
                "is_official": is_official,
                "is_automated": is_automated,
            }))
        })
        .take(limit)
        .collect();
    Ok(Json(out).into_response())
}

/// `POST /auth` body.
#[derive(Debug, serde::Deserialize)]
pub struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "serveraddress")]
    server_address: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
}

/// The registry host of a `serveraddress` (`https://index.docker.io/v1/` → `docker.io`).
pub fn registry_host(address: &str) -> String {
    let a = address
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = a.split('/').next().unwrap_or(a);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// `POST /auth`: checks the credentials against the registry.
pub async fn auth(State(s): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the auth body: {e}")))?;
    let b: AuthBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid auth config: {e}")))?;
    let creds = Credentials {
        username: b.username,
        password: b.password,
        identity_token: b.identity_token,
        registry_token: String::new(),
    };
    sync_settings(&s);
    s.engine
        .images
        .login(&registry_host(&b.server_address), &creds)
        .await?;
    Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

/// `GET /distribution/{name}/json`.
pub async fn inspect(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return Err(ApiError(DaemonError::NotFound(
            "page not found".to_string(),
        )));
    };
    sync_settings(&s);
    let reference = pull_reference(name, None)?;
    let creds = credentials(&headers)?;
    let info = s.engine.images.distribution(&reference, creds).await?;
    let platforms: Vec<serde_json::Value> = info
        .platforms
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({"architecture": p.architecture, "os": p.os});
            if let Some(var) = &p.variant {
                v["variant"] = var.clone().into();
            }
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "Descriptor": {
            "mediaType": info.media_type,
            "digest": info.digest.to_string(),
            "size": info.size,
        },
        "Platforms": platforms,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_read_like_docker() {
        let bar = progress_bar(1_048_576, 2_097_152);
        assert_eq!(
            bar,
            format!("[{}>{}]  1.049MB/2.097MB", "=".repeat(25), " ".repeat(25))
        );
        let full = progress_bar(527, 527);
        assert_eq!(full, format!("[{}>]     527B/527B", "=".repeat(50)));
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        let t = |s: &str| search_target(s);
        assert_eq!(
            t("127.0.0.1:5000/bus"),
            ("127.0.0.1:5000".into(), "bus".into())
        );
        assert_eq!(t("busybox"), ("docker.io".into(), "busybox".into()));
        assert_eq!(
            t("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
    }

    #[test]
    fn push_targets_read_tag_and_name_as_docker_does() {
        let t = |n: &str, tag: Option<&str>| match push_target(n, tag) {
            Ok(PushTarget::Tag(r)) => format!("tag {}", r.full()),
            Ok(PushTarget::AllTags(r)) => format!("all {}", r.full()),
            Err(e) => format!("error {}", e.0),
        };
        assert_eq!(t("reg:5000/a", Some("1")), "tag reg:5000/a:1");
        assert_eq!(t("reg:5000/a:2", Some("1")), "tag reg:5000/a:1");
        assert_eq!(t("reg:5000/a:2", None), "tag reg:5000/a:2");
        assert_eq!(t("reg:5000/a", None), "all reg:5000/a");
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(t(&format!("reg:5000/a@{d}"), None).starts_with("error cannot push a digest"));
    }

    #[test]
    fn pull_references_join_tag_and_digest() {
        let r = |i: &str, t: Option<&str>| pull_reference(i, t).map(|r| r.full()).ok();
        assert_eq!(
            r("busybox", None).as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            r("busybox", Some("1.36")).as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            r("127.0.0.1:5000/x", Some(&d)),
            Some(format!("127.0.0.1:5000/x@{d}"))
        );
        assert!(r("UPPER", None).is_none());
    }
}
