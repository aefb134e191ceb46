//! Image routes: list (with filters), inspect, history, tag, delete, prune, load, save (`/images/get`
//! and `/images/{name}/get`), `/images/create?fromSrc=-` (import) and `?fromImage=` (pull, in
//! [`super::distribution`]). Names may contain `/` and `:`,
//! so `/images/{*rest}` is matched greedily and split at its last known suffix (`/json`, ...).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::image::{
    DeleteResponseItem, GraphDriver, HistoryItem, ImageConfig, ImageInspect, ImageMetadata,
    ImagePruneResponse, ImageSummary, RootFs,
};
use berth_api::progress::JsonMessage;
use berth_image::formats::import::ImportOptions;
use berth_image::store::{ImageDetails, RemoveAction};

use super::error::ApiError;
use super::params::Params;
use super::time::unix_seconds;
use super::{stream, AppState};
use crate::error::DaemonError;
use crate::images::ImageFilter;

/// The list entry of an image.
pub fn summary(d: &ImageDetails) -> ImageSummary {
    let img = &d.image;
    ImageSummary {
        id: img.id.to_string(),
        parent_id: img.parent.clone().unwrap_or_default(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        created: img.created.as_deref().and_then(unix_seconds).unwrap_or(0),
        size: i64::try_from(img.size).unwrap_or(i64::MAX),
        shared_size: -1,
        labels: d.labels(),
        containers: -1,
    }
}

/// `GET /images/json`.
pub async fn list(
    State(s): State<AppState>,
    params: Params,
) -> Result<Json<Vec<ImageSummary>>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["dangling", "reference", "label", "before", "since"])?;
    let one = |key: &str| f.get(key).first().cloned();
    let filter = ImageFilter {
        dangling: f.bool("dangling")?,
        reference: f.get("reference").to_vec(),
        label: f.get("label").to_vec(),
        before: one("before"),
        since: one("since"),
    };
    let images = s.engine.images.list(filter).await?;
    Ok(Json(images.iter().map(summary).collect()))
}

/// Splits `name/suffix` at the last `/`, if the suffix is one of `suffixes`.
fn split_suffix<'a>(rest: &'a str, suffixes: &[&str]) -> Option<(&'a str, &'a str)> {
    let (name, suffix) = rest.rsplit_once('/')?;
    (suffixes.contains(&suffix) && !name.is_empty()).then_some((name, suffix))
}

fn page_not_found() -> ApiError {
    ApiError(DaemonError::NotFound("page not found".to_string()))
}

/// `GET /images/{name}/json|history|get` and `GET /images/search`.
pub async fn get_named(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    match split_suffix(&rest, &["json", "history", "get"]) {
        Some((name, "json")) => inspect(&s, name).await,
        Some((name, "history")) => history(&s, name).await,
        Some((name, _)) => save(&s, vec![name.to_string()]).await,
        None if rest == "search" => super::distribution::search(&s, &params).await,
        None => Err(page_not_found()),
    }
}

/// `POST /images/{name}/tag|push`.
pub async fn post_named(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match split_suffix(&rest, &["tag", "push"]) {
        Some((name, "tag")) => {
            let repo = params
                .non_empty("repo")
                .ok_or_else(|| ApiError::bad_request("repository name (repo) must be given"))?;
            let target = match params.non_empty("tag") {
                Some(tag) => format!("{repo}:{tag}"),
                None => repo.to_string(),
            };
            s.engine.images.tag(name, &target).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        Some((name, _)) => super::distribution::push(&s, name, &params, &headers).await,
        None => Err(page_not_found()),
    }
}

async fn inspect(s: &AppState, name: &str) -> Result<Response, ApiError> {
    let d = s.engine.images.inspect(name).await?;
    let c = d.container_config();
    let extra_str = |key: &str| {
        d.config
            .extra
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let comment = d
        .config
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_else(|| extra_str("comment"));
    let config = ImageConfig {
        user: c.user.unwrap_or_default(),
        exposed_ports: c.exposed_ports,
        env: c.env,
        cmd: c.cmd,
        healthcheck: c.healthcheck,
        args_escaped: c.args_escaped,
        volumes: c.volumes,
        working_dir: c.working_dir.unwrap_or_default(),
        entrypoint: c.entrypoint,
        on_build: c.on_build,
        labels: c.labels,
        stop_signal: c.stop_signal,
        shell: c.shell,
    };
    let body = ImageInspect {
        id: d.image.id.to_string(),
        repo_tags: d.image.repo_tags.clone(),
        repo_digests: d.image.repo_digests.clone(),
        parent: d.image.parent.clone().unwrap_or_default(),
        comment,
        created: d.image.created.clone(),
        docker_version: extra_str("docker_version"),
        author: d.config.author.clone().unwrap_or_default(),
        container_config: Some(config.clone()),
        config,
        architecture: d.config.architecture.clone(),
        variant: d.config.variant.clone(),
        os: d.config.os.clone(),
        os_version: d.config.os_version.clone(),
        size: i64::try_from(d.image.size).unwrap_or(i64::MAX),
        graph_driver: GraphDriver {
            name: s.engine.images.driver().name().to_string(),
            data: Default::default(),
        },
        root_fs: RootFs {
            kind: "layers".to_string(),
            layers: d.diff_ids.iter().map(ToString::to_string).collect(),
        },
        metadata: ImageMetadata::default(),
    };
    Ok(Json(body).into_response())
}

async fn history(s: &AppState, name: &str) -> Result<Response, ApiError> {
    let entries = s.engine.images.history(name).await?;
    let items: Vec<HistoryItem> = entries
        .into_iter()
        .map(|h| HistoryItem {
            id: h.id,
            created: h.created.as_deref().and_then(unix_seconds).unwrap_or(0),
            created_by: h.created_by,
            tags: h.tags,
            size: i64::try_from(h.size).unwrap_or(i64::MAX),
            comment: h.comment,
        })
        .collect();
    Ok(Json(items).into_response())
}

fn delete_items(actions: Vec<RemoveAction>) -> Vec<DeleteResponseItem> {
    actions
        .into_iter()
        .map(|a| match a {
            RemoveAction::Untagged(n) => DeleteResponseItem::Untagged(n),
            RemoveAction::Deleted(d) => DeleteResponseItem::Deleted(d),
        })
        .collect()
}

/// `DELETE /images/{name}?force=&noprune=`.
pub async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<Vec<DeleteResponseItem>>, ApiError> {
    // `noprune` keeps untagged parents; the store never leaves them dangling, so it changes nothing.
    let actions = s.engine.images.remove(&name, params.flag("force")).await?;
    Ok(Json(delete_items(actions)))
}

/// `POST /images/prune?filters=`.
pub async fn prune(
    State(s): State<AppState>,
    params: Params,
) -> Result<Json<ImagePruneResponse>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["dangling"])?;
    let dangling_only = f.bool("dangling")?.unwrap_or(true);
    let report = s.engine.images.prune(dangling_only).await?;
    Ok(Json(ImagePruneResponse {
        images_deleted: delete_items(report.deleted),
        space_reclaimed: report.reclaimed,
    }))
}

/// `POST /images/load?quiet=`: the body is the archive; the answer lists what was loaded. As
/// Docker's, the answer is a 200 JSON stream whatever happens: a failure (a broken archive) is
/// its error message, which the docker CLI prints (exit 1) and docker-py raises as its
/// `ImageLoadError`.
pub async fn load(State(s): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let reader = stream::body_reader(body);
    let loaded = match s.engine.images.load(Box::new(reader)).await {
        Ok(loaded) => loaded,
        Err(e) => return Ok(stream::json_lines(&[JsonMessage::error(e.to_string())])),
    };
    let mut lines = Vec::new();
    for img in loaded {
        if img.names.is_empty() {
            lines.push(JsonMessage::stream(format!(
                "Loaded image ID: {}\n",
                img.id
            )));
        }
        for name in img.names {
            lines.push(JsonMessage::stream(format!("Loaded image: {name}\n")));
        }
    }
    Ok(stream::json_lines(&lines))
}

/// `GET /images/get?names=a&names=b`.
pub async fn save_many(State(s): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let names = params.all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given (names=...)"));
    }
    save(&s, names).await
}

/// Streams a save archive; names are resolved first so a missing one is a clean 404.
async fn save(s: &AppState, names: Vec<String>) -> Result<Response, ApiError> {
    s.engine.images.resolve_all(&names).await?;
    let (writer, abort, body) = stream::body_writer();
    let images = s.engine.images.clone();
    tokio::spawn(async move {
        if let Err(e) = images.save(names, Box::new(writer)).await {
            tracing::warn!(error = %e, "image save failed mid-stream");
            let _ = abort.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    Ok(([(CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `POST /images/create`: `fromSrc=-` imports the body, `fromImage=` pulls ([`super::distribution`]).
pub async fn create(
    State(s): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match (params.non_empty("fromSrc"), params.non_empty("fromImage")) {
        (Some("-"), _) => {}
        (Some(_), _) => return Err(ApiError(DaemonError::NotImplemented(
            "importing from a URL is not implemented by berth yet; pipe the archive with fromSrc=-"
                .to_string(),
        ))),
        (None, Some(image)) => {
            return super::distribution::pull(&s, image, &params, &headers).await
        }
        (None, None) => return Err(ApiError::bad_request("fromImage or fromSrc must be given")),
    }
    let reference = params
        .non_empty("repo")
        .map(|repo| match params.non_empty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        });
    let opts = ImportOptions {
        reference,
        changes: params
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        message: params.non_empty("message").map(str::to_string),
        created: None,
    };
    let reader = stream::body_reader(body);
    let id = s.engine.images.import(Box::new(reader), opts).await?;
    Ok(stream::json_lines(&[JsonMessage::status(id.to_string())]))
}

#[cfg(test)]
mod tests {
    use super::split_suffix;

    #[test]
    fn names_split_at_the_last_known_suffix() {
        let s = &["json", "history", "get"];
        assert_eq!(split_suffix("busybox/json", s), Some(("busybox", "json")));
        assert_eq!(
            split_suffix("reg:5000/a/b:1/history", s),
            Some(("reg:5000/a/b:1", "history"))
        );
        assert_eq!(split_suffix("busybox", s), None);
        assert_eq!(split_suffix("/json", s), None);
        assert_eq!(split_suffix("a/other", s), None);
    }
}
