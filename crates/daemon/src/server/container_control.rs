//! Routes that change one container beside the lifecycle core of [`super::containers`]: rename,
//! pause/unpause, update (resources and restart policy) and restart. Each parses the request,
//! makes one engine call and encodes Docker's answer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use berth_api::container::{ContainerUpdateRequest, ContainerUpdateResponse};

use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::AppState;

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
/// `RestartPolicy` (Docker's `UpdateConfig`).
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ContainerUpdateRequest>,
) -> Result<Json<ContainerUpdateResponse>, ApiError> {
    super::unsupported::refuse_in_update(&req)?;
    let warnings = s.engine.containers.update(&id, req.into()).await?;
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
