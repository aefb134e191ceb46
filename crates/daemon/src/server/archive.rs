//! `HEAD|GET|PUT /containers/{id}/archive` (`docker cp`): the path stat travels base64-encoded
//! JSON in the `X-Docker-Container-Path-Stat` header; GET streams a tar, PUT reads one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use berth_api::container::{ContainerPathStat, PATH_STAT_HEADER};
use tokio::sync::oneshot;

use super::error::ApiError;
use super::params::Params;
use super::stream::{body_reader, body_writer};
use super::AppState;
use crate::containers::archive::{ExtractOptions, PathStat};
use crate::error::DaemonError;

/// How much of a refused upload is read before answering.
const DRAIN_LIMIT: usize = 64 << 20;

fn stat_header(st: &PathStat) -> Result<(HeaderName, HeaderValue), ApiError> {
    let wire = ContainerPathStat {
        name: st.name.clone(),
        size: st.size,
        mode: st.mode,
        mtime: super::time::rfc3339_nanos(st.mtime_nanos),
        link_target: st.link_target.clone(),
    };
    let json = serde_json::to_vec(&wire)
        .map_err(|e| ApiError(DaemonError::Internal(format!("encoding a path stat: {e}"))))?;
    let value = HeaderValue::from_str(&BASE64.encode(&json))
        .map_err(|e| ApiError(DaemonError::Internal(format!("encoding a path stat: {e}"))))?;
    Ok((HeaderName::from_static(PATH_STAT_HEADER), value))
}

fn path_param(params: &Params) -> Result<String, ApiError> {
    params
        .non_empty("path")
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("path cannot be empty"))
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let path = path_param(&params)?;
    let st = s.engine.containers.stat_path(&id, &path).await?;
    Ok(([stat_header(&st)?], ()).into_response())
}

/// `GET /containers/{id}/archive?path=`.
pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let path = path_param(&params)?;
    let (writer, abort, body) = body_writer();
    let (ready_tx, ready_rx) = oneshot::channel();
    let containers = s.engine.containers.clone();
    let task = tokio::spawn(async move {
        let result = containers.archive_path(&id, &path, ready_tx, writer).await;
        if let Err(e) = &result {
            tracing::warn!(container = %id, path = %path, error = %e, "archive failed");
            let _ = abort.send(Err(std::io::Error::other(e.to_string()))).await;
        }
        result
    });
    match ready_rx.await {
        Ok(st) => Ok((
            [
                stat_header(&st)?,
                (CONTENT_TYPE, HeaderValue::from_static("application/x-tar")),
            ],
            body,
        )
            .into_response()),
        Err(_) => Err(ApiError(match task.await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => DaemonError::Internal("the archive ended before it began".into()),
            Err(e) => DaemonError::join(e),
        })),
    }
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
pub async fn put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> Result<Response, ApiError> {
    let path = path_param(&params)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: params.flag("noOverwriteDirNonDir"),
        copy_uid_gid: params.flag("copyUIDGID"),
    };
    // A missing container is a 404; the body is read first (bounded) so that the client, still
    // writing it, sees the answer rather than a broken pipe.
    if let Err(e) = s.engine.containers.lookup(&id) {
        let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
        return Err(e.into());
    }
    s.engine
        .containers
        .extract_to_dir(&id, &path, opts, body_reader(body))
        .await?;
    Ok(().into_response())
}
