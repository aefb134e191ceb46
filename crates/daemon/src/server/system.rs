//! System routes: `/_ping` (GET and HEAD), `/version`, `/info`, `/events` (streamed, with `since`,
//! `until` and `filters`) and `/system/df`; and, until plugins exist, the empty answers of their
//! list and inspect routes (so that `docker inspect NAME`, which tries every object type, reaches
//! Docker's "No such object").

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::events::{EventActor, EventMessage};
use berth_api::image::ImageSummary;
use berth_api::system::{
    ComponentVersion, DiskUsage, Platform, PluginsInfo, Runtime, SwarmInfo, SystemInfo,
    SystemVersion,
};
use berth_api::{API_VERSION, MIN_API_VERSION};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::params::Params;
use super::{images, stream, AppState};
use crate::events::{now_nanos, Event, EventFilter, EventType};
use crate::system::ENGINE_VERSION;

const PING_HEADERS: [(&str, &str); 4] = [
    ("builder-version", "1"),
    ("swarm", "inactive"),
    ("cache-control", "no-cache, no-store, must-revalidate"),
    ("pragma", "no-cache"),
];

/// `GET /plugins`: none.
pub async fn plugins_list() -> Json<Vec<serde_json::Value>> {
    Json(Vec::new())
}

/// `GET /plugins/{name}/json` (names may hold `/`): Docker's 404, as Berth has no plugins.
pub async fn plugin_inspect(axum::extract::Path(rest): axum::extract::Path<String>) -> ApiError {
    let message = match rest.strip_suffix("/json") {
        Some(name) => format!("plugin \"{name}\" not found"),
        None => "page not found".to_string(),
    };
    ApiError(crate::error::DaemonError::NotFound(message))
}

/// `GET /_ping`.
pub async fn ping() -> Response {
    let mut r = ([(CONTENT_TYPE, "text/plain; charset=utf-8")], "OK").into_response();
    add_ping_headers(&mut r);
    r
}

/// `HEAD /_ping`: the same headers, no body.
pub async fn ping_head() -> Response {
    let mut r = ([(CONTENT_LENGTH, "0")], ()).into_response();
    add_ping_headers(&mut r);
    r
}

fn add_ping_headers(r: &mut Response) {
    for (k, v) in PING_HEADERS {
        let name = match k {
            "cache-control" => CACHE_CONTROL,
            "pragma" => PRAGMA,
            other => axum::http::HeaderName::from_static(other),
        };
        r.headers_mut()
            .insert(name, axum::http::HeaderValue::from_static(v));
    }
}

/// `GET /version`.
pub async fn version(State(s): State<AppState>) -> Json<SystemVersion> {
    let sys = &s.engine.system;
    let host = sys.host();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("GitCommit", "berth"),
        ("GoVersion", "rust"),
        ("Os", "linux"),
        ("Arch", sys.go_arch()),
        ("KernelVersion", host.kernel_version.as_str()),
        ("Experimental", "false"),
        ("BuildTime", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Json(SystemVersion {
        platform: Platform {
            name: "Berth Engine".to_string(),
        },
        components: vec![ComponentVersion {
            name: "Engine".to_string(),
            version: ENGINE_VERSION.to_string(),
            details,
        }],
        version: ENGINE_VERSION.to_string(),
        api_version: API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: "berth".to_string(),
        go_version: "rust".to_string(),
        os: "linux".to_string(),
        arch: sys.go_arch().to_string(),
        kernel_version: host.kernel_version.clone(),
        experimental: Some(false),
        build_time: String::new(),
    })
}

/// `GET /info`.
pub async fn info(State(s): State<AppState>) -> Result<Json<SystemInfo>, ApiError> {
    let engine = &s.engine;
    let host = engine.system.host();
    let images = engine.images.count().await?;
    let driver = engine.images.driver().name().to_string();
    let counts = engine.containers.state_counts();
    Ok(Json(SystemInfo {
        id: host.engine_id.clone(),
        containers: counts.total,
        containers_running: counts.running,
        containers_paused: counts.paused,
        containers_stopped: counts.stopped,
        images: images as u64,
        driver_status: vec![["Backing Filesystem".to_string(), "extfs".to_string()]],
        driver,
        plugins: PluginsInfo {
            volume: vec!["local".to_string()],
            network: vec!["bridge".to_string(), "host".to_string(), "null".to_string()],
            authorization: None,
            log: vec!["json-file".to_string()],
        },
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: true,
        system_time: super::time::rfc3339_nanos(now_nanos()),
        logging_driver: "json-file".to_string(),
        cgroup_driver: "cgroupfs".to_string(),
        cgroup_version: host.cgroup_version.clone(),
        n_events_listener: engine.events.listeners() as i64,
        kernel_version: host.kernel_version.clone(),
        operating_system: host.operating_system.clone(),
        os_version: host.os_version.clone(),
        os_type: "linux".to_string(),
        architecture: host.architecture.clone(),
        ncpu: host.ncpu,
        mem_total: host.mem_total,
        index_server_address: "https://index.docker.io/v1/".to_string(),
        docker_root_dir: host.data_root.display().to_string(),
        name: host.hostname.clone(),
        server_version: ENGINE_VERSION.to_string(),
        // The built-in runtime's names (path `berth`) and the configured external ones.
        runtimes: engine
            .settings
            .get()
            .runtimes
            .listed()
            .into_iter()
            .map(|(name, path, args)| {
                let runtime_args = (!args.is_empty()).then_some(args);
                (name, Runtime { path, runtime_args })
            })
            .collect(),
        default_runtime: engine.settings.get().runtimes.default.clone(),
        swarm: SwarmInfo::default(),
        labels: engine.settings.get().labels.clone(),
        debug: engine.settings.get().debug,
        live_restore_enabled: true,
        isolation: String::new(),
        init_binary: crate::containers::spec::init::BINARY_NAME.to_string(),
        security_options: std::iter::once("name=seccomp,profile=builtin")
            .chain(
                engine
                    .containers
                    .no_new_privileges()
                    .then_some("name=no-new-privileges"),
            )
            .chain(engine.containers.remap().map(|_| "name=userns"))
            .map(String::from)
            .collect(),
        ..Default::default()
    }))
}

/// `GET /system/df`.
pub async fn disk_usage(State(s): State<AppState>) -> Result<Json<DiskUsage>, ApiError> {
    let usage = crate::system::disk_usage::disk_usage(&s.engine).await?;
    let images = usage.images.iter().map(|u| ImageSummary {
        containers: i64::try_from(u.containers).unwrap_or(i64::MAX),
        ..images::summary(&u.details)
    });
    Ok(Json(DiskUsage {
        layers_size: i64::try_from(usage.layers_size).unwrap_or(i64::MAX),
        images: images.collect(),
        containers: super::container_sizes::disk_usage(&s, &usage.containers),
        volumes: super::volumes::disk_usage(&usage.volumes),
        ..Default::default()
    }))
}

/// Parses Docker's event timestamps: unix seconds with optional fractional nanoseconds.
fn parse_time(key: &str, text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid {key} timestamp {text:?}: expected unix seconds"
        ))
    };
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        nanos = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    }
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// `GET /events`.
pub async fn events(State(s): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let filters = params.filters()?;
    filters.allow_only(&[
        "container",
        "event",
        "image",
        "label",
        "type",
        "volume",
        "network",
        "daemon",
        "scope",
    ])?;
    let filter = EventFilter {
        types: filters.get("type").to_vec(),
        actions: filters.get("event").to_vec(),
        images: filters.get("image").to_vec(),
        containers: filters.get("container").to_vec(),
        labels: filters.get("label").to_vec(),
        volumes: filters.get("volume").to_vec(),
    };
    let since = params
        .non_empty("since")
        .map(|t| parse_time("since", t))
        .transpose()?;
    let until = params
        .non_empty("until")
        .map(|t| parse_time("until", t))
        .transpose()?;
    let sub = s.engine.events.subscribe(since);
    let (tx, body) = stream::channel_body();
    let mut shutdown = s.shutdown.clone();
    tokio::spawn(async move {
        let send = |e: &Event| {
            let line = serde_json::to_vec(&message(e)).unwrap_or_default();
            let mut line = line;
            line.push(b'\n');
            tx.send(Ok(line.into()))
        };
        let in_window = |e: &Event| until.is_none_or(|u| e.time_nano <= u);
        for e in sub
            .past
            .iter()
            .filter(|e| filter.matches(e) && in_window(e))
        {
            if send(e).await.is_err() {
                return;
            }
        }
        let mut live = sub.live;
        let deadline = until.map(|u| {
            let wait = u.saturating_sub(now_nanos()).max(0) as u64;
            tokio::time::Instant::now() + Duration::from_nanos(wait)
        });
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => return,
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
                got = live.recv() => match got {
                    Ok(e) if filter.matches(&e) && in_window(&e) => {
                        if send(&e).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// The wire form of an event.
fn message(e: &Event) -> EventMessage {
    let legacy = matches!(e.kind, EventType::Container | EventType::Image);
    EventMessage {
        kind: e.kind.as_str().to_string(),
        action: e.action.clone(),
        actor: EventActor {
            id: e.actor.clone(),
            attributes: e.attributes.clone(),
        },
        scope: "local".to_string(),
        time: e.time_nano / 1_000_000_000,
        time_nano: e.time_nano,
        status: legacy.then(|| e.action.clone()),
        id: legacy.then(|| e.actor.clone()),
        from: (e.kind == EventType::Container)
            .then(|| e.attributes.get("image").cloned())
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn event_timestamps() {
        assert_eq!(parse_time("since", "12").ok(), Some(12_000_000_000));
        assert_eq!(parse_time("since", "12.5").ok(), Some(12_500_000_000));
        assert_eq!(
            parse_time("since", "12.000000001").ok(),
            Some(12_000_000_001)
        );
        assert!(parse_time("since", "1m").is_err());
        assert!(parse_time("since", "1.x").is_err());
    }
}
