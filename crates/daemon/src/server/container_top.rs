//! `GET /containers/{id}/top`: the processes of a running container, as `ps` prints them.

use axum::extract::{Path, State};
use axum::Json;
use berth_api::container::ContainerTopResponse;

use super::error::ApiError;
use super::params::Params;
use super::AppState;

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
