//! `POST /containers/prune`: removes stopped containers, filtered by `until` and labels.

use axum::extract::State;
use axum::Json;
use berth_api::container::ContainerPruneResponse;

use super::error::ApiError;
use super::params::Params;
use super::AppState;
use crate::containers::now_nanos;
use crate::containers::prune::PruneFilter;

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
