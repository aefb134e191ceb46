//! Docker's views of containers, built from the engine's values: inspect's answer
//! (`GET /containers/{id}/json`: `State` with `Health`, `Mounts`, `NetworkSettings`, the paths),
//! the `Status` text and the networks and mounts of `GET /containers/json` entries.

use std::collections::BTreeMap;

use berth_api::container::{
    ContainerInspect, ContainerState, EndpointSettings, Health as WireHealth, HealthcheckResult,
    MountPoint, NetworkSettings,
};
use berth_api::image::GraphDriver;
use berth_api::stats::ZERO_TIME;

use super::network_views;
use super::time::rfc3339_nanos;
use crate::containers::health::{Health, Status as HealthStatus};
use crate::containers::inspect::ContainerDetails;
use crate::containers::model::Container;
use crate::containers::settings::{Mount, MountKind};
use crate::containers::state::Status;

fn time_or_zero(nanos: i64) -> String {
    if nanos <= 0 {
        ZERO_TIME.to_string()
    } else {
        rfc3339_nanos(nanos)
    }
}

/// Inspect's answer.
pub fn inspect(d: &ContainerDetails) -> ContainerInspect {
    let c = &d.container;
    let mut config = c.config.clone();
    if config.hostname.is_empty() {
        config.hostname = d.hostname.clone();
    }
    let driver_data = BTreeMap::from([("MergedDir".to_string(), d.rootfs.display().to_string())]);
    ContainerInspect {
        id: c.id.clone(),
        created: rfc3339_nanos(c.created),
        path: c.path.clone(),
        args: c.args.clone(),
        state: state(c),
        image: c.image_id.clone(),
        resolv_conf_path: d.data_dir.join("resolv.conf").display().to_string(),
        hostname_path: d.data_dir.join("hostname").display().to_string(),
        hosts_path: d.data_dir.join("hosts").display().to_string(),
        log_path: d.log_path.display().to_string(),
        name: format!("/{}", c.name),
        restart_count: c.state.restart_count,
        driver: d.driver.clone(),
        platform: "linux".to_string(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: Some(d.exec_ids.clone()).filter(|ids| !ids.is_empty()),
        host_config: c.host_config.clone(),
        graph_driver: GraphDriver {
            name: d.driver.clone(),
            data: driver_data,
        },
        mounts: d.mounts.iter().map(mount_point).collect(),
        config,
        network_settings: network_settings(d),
    }
}

/// The `State` object.
pub fn state(c: &Container) -> ContainerState {
    let s = &c.state;
    ContainerState {
        status: s.status.as_str().to_string(),
        running: s.status.is_active(),
        paused: s.status == Status::Paused,
        restarting: s.status == Status::Restarting,
        oom_killed: s.oom_killed,
        dead: s.status == Status::Dead,
        pid: s.pid,
        exit_code: s.exit_code,
        error: s.error.clone(),
        started_at: time_or_zero(s.started_at),
        finished_at: time_or_zero(s.finished_at),
        health: s.health.as_ref().map(health),
    }
}

/// `State.Health`.
pub fn health(h: &Health) -> WireHealth {
    WireHealth {
        status: h.status.as_str().to_string(),
        failing_streak: h.failing_streak,
        log: h
            .log
            .iter()
            .map(|r| HealthcheckResult {
                start: rfc3339_nanos(r.start),
                end: rfc3339_nanos(r.end),
                exit_code: r.exit_code,
                output: r.output.clone(),
            })
            .collect(),
    }
}

/// What `docker ps` shows in parentheses after `Up ...`.
fn ps_health(h: &Health) -> &'static str {
    match h.status {
        HealthStatus::Starting => "health: starting",
        other => other.as_str(),
    }
}

/// The `Status` column of a container at `now` (nanoseconds): "Up 5 minutes (healthy)",
/// "Exited (0) 3 seconds ago".
pub fn status_text(c: &Container, now: i64) -> String {
    let ago = |t: i64| berth_api::units::human_duration_secs((now - t) / 1_000_000_000);
    let s = &c.state;
    match s.status {
        Status::Running => match &s.health {
            Some(h) => format!("Up {} ({})", ago(s.started_at), ps_health(h)),
            None => format!("Up {}", ago(s.started_at)),
        },
        Status::Paused => format!("Up {} (Paused)", ago(s.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, ago(s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited if !s.has_been_started && s.finished_at == 0 => "Created".into(),
        Status::Exited => format!("Exited ({}) {} ago", s.exit_code, ago(s.finished_at)),
    }
}

/// The list's `Command`: the path, then the arguments, each one holding a space put in single
/// quotes, as moby's list does (the quotes are not escaped: it is a display, not a shell line).
pub fn list_command(path: &str, args: &[String]) -> String {
    std::iter::once(path.to_string())
        .chain(args.iter().map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The networks a container shows without endpoints (the mode's name, with an empty endpoint).
pub fn networks_of(c: &Container) -> BTreeMap<String, EndpointSettings> {
    let mode = c
        .host_config
        .network_mode
        .clone()
        .unwrap_or_else(|| "bridge".into());
    BTreeMap::from([(mode, EndpointSettings::default())])
}

/// A `Mounts` entry. A volume shows its name, driver and host path, with Docker's mode `z` for
/// a local volume the user gave no mode (an image's volume keeps its empty mode).
pub fn mount_point(m: &Mount) -> MountPoint {
    let base = MountPoint {
        kind: m.kind.as_str().to_string(),
        name: None,
        source: m.source.clone(),
        destination: m.destination.clone(),
        driver: None,
        mode: m.mode.clone(),
        rw: !m.read_only,
        propagation: String::new(),
    };
    match (m.kind, &m.volume) {
        (MountKind::Bind, _) => MountPoint {
            propagation: m.propagation().unwrap_or("rprivate").to_string(),
            ..base
        },
        (MountKind::Volume, Some(v)) => MountPoint {
            name: Some(m.source.clone()),
            source: v.mountpoint.clone(),
            driver: Some(v.driver.clone()),
            mode: if m.mode.is_empty() && v.driver == "local" && !v.from_config {
                "z".to_string()
            } else {
                m.mode.clone()
            },
            ..base
        },
        _ => base,
    }
}

/// `NetworkSettings`: the endpoints (the mode's name without any) and published ports; the
/// default bridge's endpoint also at top level.
fn network_settings(d: &ContainerDetails) -> NetworkSettings {
    let c = &d.container;
    let mut settings = NetworkSettings {
        networks: networks_of(c),
        ..Default::default()
    };
    let Some(net) = &d.network else {
        return settings;
    };
    if let Some(v) = net
        .endpoints
        .iter()
        .find(|v| v.is_default_bridge() && v.endpoint.active)
    {
        network_views::fill_top_level(v, &mut settings);
    }
    if !net.endpoints.is_empty() {
        settings.networks = net
            .endpoints
            .iter()
            .map(|v| (v.network_name.clone(), network_views::endpoint_settings(v)))
            .collect();
    }
    if let Some(ns) = &net.sandbox_key {
        settings.sandbox_key = ns.display().to_string();
    }
    settings.ports = network_views::inspect_ports(&net.ports, c.config.exposed_ports.as_ref());
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::health::ProbeResult;

    #[test]
    fn health_views() {
        let mut h = Health::starting(None);
        assert_eq!(ps_health(&h), "health: starting");
        let probe = ProbeResult {
            start: 1_000_000_000,
            end: 1_000_000_000,
            exit_code: 0,
            output: String::new(),
        };
        h.record(probe, 3, false);
        assert_eq!(ps_health(&h), "healthy");
        let w = health(&h);
        assert_eq!(w.status, "healthy");
        assert_eq!(w.log.len(), 1);
        assert!(w.log[0].start.starts_with("1970-01-01T00:00:01"));
    }

    #[test]
    fn list_command_quotes_arguments_with_spaces() {
        let args: Vec<String> = ["-c", "echo \"a b\" c", "x y", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            list_command("/bin/sh", &args),
            "/bin/sh -c 'echo \"a b\" c' 'x y' "
        );
        assert_eq!(list_command("/true", &[]), "/true");
    }
}
