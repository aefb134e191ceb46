//! Routes on a container's filesystem: export (the rootfs as a tar stream), changes (what
//! differs from its image) and commit (a new image from it).

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::container::FilesystemChange;

use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::stream::body_writer;
use super::AppState;
use crate::containers::commit::CommitRequest;

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
