//! Container routes: each handler parses the request into the engine's terms, makes one
//! [`ContainerService`](crate::containers::ContainerService) call and encodes the answer in
//! Docker's shape (built by [`super::container_views`]). The hijacked attach lives in
//! [`super::attach`]; the other container routes in [`super::container_control`] (rename,
//! pause/unpause, update, restart), [`super::container_fs`] (export, changes, commit),
//! [`super::container_prune`], [`super::container_top`] and [`super::container_sizes`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use berth_api::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspectWithSizes, ContainerSummary,
    SummaryHostConfig, SummaryNetworkSettings, WaitError, WaitResponse,
};
use berth_api::ApiVersion;
use berth_shim::protocol::frame_header;

use super::container_list_filters::ViewFilters;
use super::container_request;
use super::container_views::{self, networks_of, status_text};
use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::stream::channel_body;
use super::time::rfc3339_nanos;
use super::AppState;
use crate::containers::list::ContainerFilter;
use crate::containers::logs::LogOptions;
use crate::containers::model::Container;
use crate::containers::now_nanos;
use crate::containers::remove::RemoveOptions;
use crate::containers::start::Started;
use crate::containers::stop::Stopped;
use crate::containers::wait::WaitCondition;

/// `POST /containers/create`.
pub async fn create(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    params: Params,
    JsonBody(req): JsonBody<ContainerCreateRequest>,
) -> Result<Response, ApiError> {
    let host = req.host_config.unwrap_or_default();
    super::mount_request::check_api_version(&host, version)?;
    super::unsupported::refuse_in_create(&host)?;
    let endpoints = container_request::endpoints_for_version(
        version,
        &host,
        req.networking_config.and_then(|n| n.endpoints_config),
    )?;
    let created = s
        .engine
        .containers
        .create(container_request::create_request(
            params.non_empty("name").map(str::to_string),
            req.config,
            host,
            endpoints,
        )?)
        .await?;
    let body = ContainerCreateResponse {
        id: created.id,
        warnings: created.warnings,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /containers/{id}/start`: 204, or 304 when already running.
pub async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    Ok(match s.engine.containers.start(&id).await? {
        Started::Started => StatusCode::NO_CONTENT,
        Started::AlreadyRunning => StatusCode::NOT_MODIFIED,
    })
}

fn int_param(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .non_empty(key)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
        })
        .transpose()
}

/// `POST /containers/{id}/stop?t=&signal=`: 204, or 304 when not running.
pub async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let t = int_param(&params, "t")?;
    Ok(
        match s
            .engine
            .containers
            .stop(&id, params.non_empty("signal"), t)
            .await?
        {
            Stopped::Stopped => StatusCode::NO_CONTENT,
            Stopped::NotRunning => StatusCode::NOT_MODIFIED,
        },
    )
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    s.engine
        .containers
        .kill(&id, params.non_empty("signal"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait?condition=`: the headers go out at once; the JSON follows when the
/// condition holds.
pub async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let condition = WaitCondition::parse(params.get("condition").unwrap_or(""))?;
    let waiter = s.engine.containers.wait(&id, condition)?;
    let (tx, body) = channel_body();
    let mut shutdown = s.shutdown.clone();
    tokio::spawn(async move {
        let answer = tokio::select! {
            r = waiter.done() => match r {
                Ok(code) => WaitResponse { status_code: code, error: None },
                Err(e) => WaitResponse { status_code: -1, error: Some(WaitError { message: e.to_string() }) },
            },
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tx.closed() => return,
        };
        let mut line = serde_json::to_vec(&answer).unwrap_or_default();
        line.push(b'\n');
        let _ = tx.send(Ok(Bytes::from(line))).await;
    });
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /containers/{id}/json` (`?size=1` adds `SizeRw` and `SizeRootFs`, `docker inspect -s`).
pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let inspect = container_views::inspect(&s.engine.containers.inspect(&id)?);
    if !params.flag("size") {
        return Ok(Json(inspect).into_response());
    }
    let image_id = inspect.image.clone();
    let (size_rw, size_root_fs) = super::container_sizes::sizes(&s, &inspect.id, &image_id).await;
    Ok(Json(ContainerInspectWithSizes {
        inspect,
        size_rw,
        size_root_fs,
    })
    .into_response())
}

pub(super) fn summary(c: &Container, now: i64) -> ContainerSummary {
    ContainerSummary {
        id: c.id.clone(),
        names: vec![format!("/{}", c.name)],
        image: c.image_name.clone(),
        image_id: c.image_id.clone(),
        command: container_views::list_command(&c.path, &c.args),
        created: c.created / 1_000_000_000,
        ports: Vec::new(),
        size_rw: None,
        size_root_fs: None,
        labels: c.labels(),
        state: c.state.status.as_str().to_string(),
        status: status_text(c, now),
        host_config: SummaryHostConfig {
            network_mode: c.host_config.network_mode.clone().unwrap_or_default(),
        },
        network_settings: SummaryNetworkSettings {
            networks: networks_of(c),
        },
        mounts: c
            .settings
            .mounts
            .iter()
            .map(container_views::mount_point)
            .collect(),
        image_manifest_descriptor: None,
    }
}

/// `GET /containers/json`.
pub async fn list(
    State(s): State<AppState>,
    params: Params,
) -> Result<Json<Vec<ContainerSummary>>, ApiError> {
    let f = params.filters()?;
    f.allow_only(&[
        "id",
        "name",
        "label",
        "status",
        "exited",
        "ancestor",
        "before",
        "since",
        "network",
        "volume",
        "health",
        "isolation",
        "is-task",
        "publish",
        "expose",
    ])?;
    let one = |key: &str| f.get(key).first().cloned();
    let exited = f
        .get("exited")
        .iter()
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid filter 'exited={v}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = int_param(&params, "limit")?
        .filter(|n| *n > 0)
        .map(|n| n as usize);
    let view_filters = ViewFilters::parse(&f)?;
    // The view's filters come after the engine's list: the limit then applies to what passes.
    let engine_limit = limit.filter(|_| view_filters.is_empty());
    let filter = ContainerFilter {
        all: params.flag("all") || limit.is_some(),
        limit: engine_limit,
        id: f.get("id").to_vec(),
        name: f.get("name").to_vec(),
        label: f.get("label").to_vec(),
        status: f.get("status").to_vec(),
        exited,
        ancestor: f.get("ancestor").to_vec(),
        health: f.get("health").to_vec(),
        before: one("before"),
        since: one("since"),
    };
    let now = now_nanos();
    let list = s.engine.containers.list(filter).await?;
    let link_names = s.engine.containers.link_names();
    let mut list: Vec<ContainerSummary> = list
        .iter()
        .filter_map(|c| {
            let mut entry = summary(c, now);
            entry
                .names
                .extend(link_names.get(&c.id).into_iter().flatten().cloned());
            let exposed = c.config.exposed_ports.as_ref();
            super::network_views::fill_summary(&s.engine.networks, &mut entry, exposed);
            view_filters.keeps(c, &entry).then_some(entry)
        })
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    if params.flag("size") {
        super::container_sizes::fill_sizes(&s, &mut list).await;
    }
    Ok(Json(list))
}

/// `since`/`until` of logs: unix seconds with an optional fraction, or RFC 3339.
fn time_param(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = params.non_empty(key) else {
        return Ok(None);
    };
    if let Some(n) = super::time::unix_nanos(v) {
        return Ok(Some(n));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: i64 = secs
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))?;
    let frac: String = format!("{frac:0<9}").chars().take(9).collect();
    let nanos: i64 = frac.parse().unwrap_or(0);
    Ok(Some(secs * 1_000_000_000 + nanos).filter(|n| *n != 0))
}

/// `GET /containers/{id}/logs`.
pub async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (stdout, stderr) = (params.flag("stdout"), params.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match params.non_empty("tail") {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n:?}")))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let opts = LogOptions {
        stdout,
        stderr,
        follow: params.flag("follow"),
        tail,
        since: time_param(&params, "since")?,
        until: time_param(&params, "until")?,
    };
    let timestamps = params.flag("timestamps");
    let (tty, mut lines) = s.engine.containers.logs(&id, opts)?;
    let (tx, body) = channel_body();
    let mut shutdown = s.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                l = lines.recv() => match l { Some(l) => l, None => return },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let mut payload = Vec::with_capacity(line.data.len() + 40);
            if timestamps {
                let t = super::time::unix_nanos(&line.time)
                    .map(rfc3339_nanos)
                    .unwrap_or(line.time);
                payload.extend_from_slice(t.as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(&line.data);
            let mut chunk = Vec::with_capacity(payload.len() + 8);
            if !tty {
                chunk.extend_from_slice(&frame_header(line.stream, payload.len()));
            }
            chunk.extend_from_slice(&payload);
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
    });
    let media = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(CONTENT_TYPE, media)], body).into_response())
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let (h, w) = params.tty_size()?;
    s.engine.containers.resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /containers/{id}?force=&v=`; with `link=1` (a link name without its parent) Docker's
/// refusal.
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    if params.flag("link") {
        s.engine.containers.remove_link(&id).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let opts = RemoveOptions {
        force: params.flag("force"),
    };
    s.engine
        .containers
        .remove_with_volumes(&id, opts, params.flag("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{PARENT}/{ALIAS}?link=1` (`docker rm --link /PARENT/ALIAS`; the CLI sends
/// the link's name as two path segments): removes the legacy link. Without `link` no
/// container has such a name.
pub async fn remove_link(
    State(s): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let name = format!("{parent}/{alias}");
    if !params.flag("link") {
        return Err(crate::error::DaemonError::NoSuchContainer(name).into());
    }
    s.engine.containers.remove_link(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
