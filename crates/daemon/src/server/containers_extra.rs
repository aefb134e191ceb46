//! The container routes beyond the lifecycle core of [`super::containers`]: top, rename,
//! pause/unpause, update, restart, prune, export, changes and commit. Each parses the request,
//! makes one engine call and encodes Docker's answer.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::container::{
    ContainerPruneResponse, ContainerTopResponse, ContainerUpdateResponse, FilesystemChange,
    HostConfig,
};

use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::stream::body_writer;
use super::AppState;
use crate::containers::commit::CommitRequest;
use crate::containers::now_nanos;
use crate::containers::prune::PruneFilter;
use crate::system::disk_usage::{ContainerSizes, ContainerUsage, Sizer};

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<ContainerTopResponse>, ApiError> {
    let top = s
        .engine
        .containers
        .top(&id, params.get("ps_args").unwrap_or(""))
        .await?;
    Ok(Json(ContainerTopResponse {
        titles: top.titles,
        processes: top.processes,
    }))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers
        .rename(&id, params.get("name").unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/pause`.
pub async fn pause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.containers.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.containers.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/update`: the body is the resources part of a `HostConfig` plus
/// `RestartPolicy`.
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<HostConfig>,
) -> Result<Json<ContainerUpdateResponse>, ApiError> {
    let warnings = s.engine.containers.update(&id, req).await?;
    Ok(Json(ContainerUpdateResponse { warnings }))
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub async fn restart(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let t = params
        .non_empty("t")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for t: {v:?}")))
        })
        .transpose()?;
    s.engine
        .containers
        .restart(&id, params.non_empty("signal"), t)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A prune `until`: a Go duration before now (`10m`, `24h`, `1h30m`), unix seconds, or RFC 3339.
fn until_nanos(v: &str, now: i64) -> Option<i64> {
    if let Some(n) = super::time::unix_nanos(v) {
        return Some(n);
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    berth_api::units::parse_go_duration(v).ok().map(|d| now - d)
}

/// `POST /containers/prune?filters=`.
pub async fn prune(
    State(s): State<AppState>,
    params: Params,
) -> Result<Json<ContainerPruneResponse>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["until", "label", "label!"])?;
    let until = match f.get("until").first() {
        Some(v) => Some(
            until_nanos(v, now_nanos())
                .ok_or_else(|| ApiError::bad_request(format!("invalid filter 'until={v}'")))?,
        ),
        None => None,
    };
    let report = s
        .engine
        .containers
        .prune(PruneFilter {
            until,
            label: f.get("label").to_vec(),
            label_not: f.get("label!").to_vec(),
        })
        .await?;
    Ok(Json(ContainerPruneResponse {
        containers_deleted: (!report.deleted.is_empty()).then_some(report.deleted),
        space_reclaimed: report.space_reclaimed,
    }))
}

/// `GET /containers/{id}/export`: a flat tar, streamed.
pub async fn export(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.engine.containers.lookup(&id)?;
    let (writer, abort, body) = body_writer();
    let containers = s.engine.containers.clone();
    tokio::spawn(async move {
        if let Err(e) = containers.export(&id, writer).await {
            tracing::warn!(container = %id, error = %e, "export failed");
            let _ = abort.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    Ok(([(CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `GET /containers/{id}/changes`.
pub async fn changes(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<FilesystemChange>>, ApiError> {
    let changes = s.engine.containers.changes(&id).await?;
    Ok(Json(
        changes
            .into_iter()
            .map(|c| FilesystemChange {
                path: c.path,
                kind: c.kind,
            })
            .collect(),
    ))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: the body, if any, is the
/// config to start from; `pause` defaults to true. Answers 201 `{"Id":"sha256:..."}`.
pub async fn commit(
    State(s): State<AppState>,
    params: Params,
    JsonBody(config): JsonBody<Option<berth_api::container::ContainerConfig>>,
) -> Result<(StatusCode, Json<berth_api::exec::IdResponse>), ApiError> {
    let container = params
        .non_empty("container")
        .ok_or_else(|| ApiError::bad_request("the container parameter is required"))?;
    let reference = params
        .non_empty("repo")
        .map(|repo| match params.non_empty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        });
    let req = CommitRequest {
        reference,
        comment: params.non_empty("comment").map(str::to_string),
        author: params.non_empty("author").map(str::to_string),
        pause: params.get("pause").is_none() || params.flag("pause"),
        changes: params
            .all("changes")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect(),
        // An empty body decodes as the default config: commit the container's own then.
        config: config.filter(|c| *c != Default::default()),
    };
    let id = s.engine.containers.commit_to_image(container, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(berth_api::exec::IdResponse { id: id.to_string() }),
    ))
}

/// Docker's `(SizeRw, SizeRootFs)` of the engine's sizes.
fn docker_sizes(z: ContainerSizes) -> (i64, i64) {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (int(z.rw), int(z.root_fs))
}

/// `(SizeRw, SizeRootFs)` of container `id` made from image `image_id` (`docker inspect -s`).
pub async fn sizes(s: &AppState, id: &str, image_id: &str) -> (i64, i64) {
    docker_sizes(Sizer::new(&s.engine).sizes(id, image_id).await)
}

/// Fills the sizes of listed containers (`GET /containers/json?size=1`, `docker ps --size`).
pub async fn fill_sizes(s: &AppState, list: &mut [berth_api::container::ContainerSummary]) {
    let mut sizer = Sizer::new(&s.engine);
    for c in list {
        let (rw, root) = docker_sizes(sizer.sizes(&c.id, &c.image_id).await);
        c.size_rw = Some(rw);
        c.size_root_fs = Some(root);
    }
}

/// The containers of `GET /system/df`: each as `GET /containers/json` lists it, with its sizes.
pub fn disk_usage(
    s: &AppState,
    containers: &[ContainerUsage],
) -> Vec<berth_api::container::ContainerSummary> {
    let now = now_nanos();
    containers
        .iter()
        .map(|u| {
            let c = &u.container;
            let mut entry = super::containers::summary(c, now);
            super::network_views::fill_summary(
                &s.engine.networks,
                &mut entry,
                c.config.exposed_ports.as_ref(),
            );
            let (rw, root) = docker_sizes(u.sizes);
            entry.size_rw = Some(rw);
            entry.size_root_fs = Some(root);
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::until_nanos;

    #[test]
    fn until_takes_durations_and_times() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(until_nanos("1h", now), Some(now - 3600 * 1_000_000_000));
        assert_eq!(until_nanos("1m30s", now), Some(now - 90 * 1_000_000_000));
        assert_eq!(until_nanos("12", now), Some(12 * 1_000_000_000));
        assert_eq!(until_nanos("soon", now), None);
    }
}
