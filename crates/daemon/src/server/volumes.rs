//! `/volumes`: list (filters `name`, `driver`, `label`, `dangling`; the plugins' volumes merged
//! in, a plugin that fails to list a `Warnings` entry), inspect, create, remove (`force`) and
//! prune (filters `all`, `label`, `label!`; before API 1.42 every unused volume, from 1.42
//! anonymous ones unless `all=true`; 409 while another prune runs), decoded into `volumes` calls
//! and encoded as Docker's `Volume`. [`volume`] also builds the volume entries of `/system/df`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use berth_api::volume::{
    UsageData, Volume as WireVolume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};
use berth_api::ApiVersion;

use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::AppState;
use crate::volumes::model::{CreateVolume, PruneFilter, Volume, VolumeFilter, VolumeUsage};

/// Docker's `Volume` of `v`; `usage` only for `/system/df`.
pub fn volume(v: &Volume, usage: Option<&VolumeUsage>) -> WireVolume {
    let status = v.status.as_ref().and_then(|s| match s {
        serde_json::Value::Object(m) => Some(m.clone().into_iter().collect::<BTreeMap<_, _>>()),
        _ => None,
    });
    WireVolume {
        name: v.name.clone(),
        driver: v.driver.clone(),
        mountpoint: v.mountpoint.display().to_string(),
        // A plugin's volume listed without a creation time: Go's zero time, as dockerd shows it.
        created_at: if v.created == 0 {
            "0001-01-01T00:00:00Z".to_string()
        } else {
            berth_oci::time::rfc3339(v.created.div_euclid(1_000_000_000))
        },
        status,
        labels: v.labels.clone(),
        scope: v.scope.as_str().to_string(),
        options: (!v.options.is_empty()).then(|| v.options.clone()),
        usage_data: usage.map(|u| UsageData {
            size: i64::try_from(u.size).unwrap_or(i64::MAX),
            ref_count: i64::try_from(u.references).unwrap_or(i64::MAX),
        }),
    }
}

/// The `Volumes` of `/system/df`: each with its `UsageData`.
pub fn disk_usage(usage: &[VolumeUsage]) -> Vec<serde_json::Value> {
    usage
        .iter()
        .filter_map(|u| serde_json::to_value(volume(&u.volume, Some(u))).ok())
        .collect()
}

/// `GET /volumes`.
pub async fn list(
    State(s): State<AppState>,
    params: Params,
) -> Result<Json<VolumeListResponse>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["name", "driver", "label", "dangling"])?;
    let filter = VolumeFilter {
        name: f.get("name").to_vec(),
        driver: f.get("driver").to_vec(),
        label: f.get("label").to_vec(),
        dangling: f.bool("dangling")?,
    };
    let listing = s.engine.volumes.list(&filter).await;
    Ok(Json(VolumeListResponse {
        volumes: listing.volumes.iter().map(|v| volume(v, None)).collect(),
        warnings: listing.warnings,
    }))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<WireVolume>, ApiError> {
    let v = s.engine.volumes.get(&name).await?;
    Ok(Json(volume(&v, None)))
}

/// `POST /volumes/create`: 201 with the volume (an existing one of that name as it is).
pub async fn create(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<VolumeCreateRequest>,
) -> Result<Response, ApiError> {
    let req = CreateVolume {
        name: req.name.unwrap_or_default(),
        driver: req.driver.unwrap_or_default(),
        options: req.driver_opts.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
    };
    let (v, _) = s.engine.volumes.create(req, None).await?;
    Ok((StatusCode::CREATED, Json(volume(&v, None))).into_response())
}

/// `DELETE /volumes/{name}?force=`: 204.
pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    s.engine.volumes.remove(&name, params.flag("force")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`.
pub async fn prune(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    params: Params,
) -> Result<Json<VolumePruneResponse>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["all", "label", "label!"])?;
    let all = match f.get("all") {
        [] => false,
        [one] => match one.to_ascii_lowercase().as_str() {
            "1" | "true" | "t" => true,
            "0" | "false" | "f" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
                )))
            }
        },
        many => {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'all=[{}]': only one value is expected",
                many.join(" ")
            )))
        }
    };
    let filter = PruneFilter {
        // Before API 1.42 prune took every unused volume, named or not.
        all: all || !version.at_least(1, 42),
        label: f.get("label").to_vec(),
        label_not: f.get("label!").to_vec(),
    };
    let report = s.engine.volumes.prune(&filter).await?;
    Ok(Json(VolumePruneResponse {
        volumes_deleted: report.deleted,
        space_reclaimed: report.reclaimed,
    }))
}
