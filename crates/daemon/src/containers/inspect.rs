//! `inspect`: the record in Docker's `GET /containers/{id}/json` shape (Id, Created, Path, Args,
//! State, Image, Name, RestartCount, HostConfig, Config, Mounts, minimal NetworkSettings,
//! GraphDriver, the paths of the container's own files and log).

use std::collections::BTreeMap;

use berth_api::container::{ContainerInspect, ContainerState, EndpointSettings, NetworkSettings};
use berth_api::image::GraphDriver;

use super::model::Container;
use super::{spec, ContainerService};
use crate::error::DaemonError;
use berth_oci::time::rfc3339_nanos;

/// Docker's "never" timestamp.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time_or_zero(nanos: i64) -> String {
    if nanos <= 0 {
        ZERO_TIME.to_string()
    } else {
        rfc3339_nanos(nanos)
    }
}

/// The `State` object.
pub fn state_of(c: &Container) -> ContainerState {
    let s = &c.state;
    ContainerState {
        status: s.status.as_str().to_string(),
        running: s.status.is_active(),
        paused: s.status == super::state::Status::Paused,
        restarting: s.status == super::state::Status::Restarting,
        oom_killed: s.oom_killed,
        dead: s.status == super::state::Status::Dead,
        pid: s.pid,
        exit_code: s.exit_code,
        error: s.error.clone(),
        started_at: time_or_zero(s.started_at),
        finished_at: time_or_zero(s.finished_at),
        health: s.health.as_ref().map(super::health::Health::to_wire),
    }
}

/// The networks a container shows (the mode's name, with an empty endpoint).
pub fn networks_of(c: &Container) -> BTreeMap<String, EndpointSettings> {
    let mode = c
        .host_config
        .network_mode
        .clone()
        .unwrap_or_else(|| "bridge".into());
    BTreeMap::from([(mode, EndpointSettings::default())])
}

impl ContainerService {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, name_or_id: &str) -> Result<ContainerInspect, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let c = entry.snapshot();
        let paths = self.paths();
        let data = paths.data_dir(&c.id);
        let mounts = spec::mounts::user_mounts(&c.host_config)
            .unwrap_or_default()
            .iter()
            .map(|m| m.mount_point())
            .collect();
        let mut config = c.config.clone();
        if config.hostname.is_empty() {
            config.hostname = spec::hostname(&c);
        }
        let mut driver_data = BTreeMap::new();
        driver_data.insert(
            "MergedDir".to_string(),
            paths.rootfs(&c.id).display().to_string(),
        );
        Ok(ContainerInspect {
            id: c.id.clone(),
            created: rfc3339_nanos(c.created),
            path: c.path.clone(),
            args: c.args.clone(),
            state: state_of(&c),
            image: c.image_id.clone(),
            resolv_conf_path: data.join("resolv.conf").display().to_string(),
            hostname_path: data.join("hostname").display().to_string(),
            hosts_path: data.join("hosts").display().to_string(),
            log_path: paths.log_path(&c.id).display().to_string(),
            name: format!("/{}", c.name),
            restart_count: c.state.restart_count,
            driver: self.inner.images.driver().name().to_string(),
            platform: "linux".to_string(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: Some(self.inner.execs.of_container(&c.id)).filter(|ids| !ids.is_empty()),
            host_config: c.host_config.clone(),
            graph_driver: graph_driver(self.inner.images.driver().name(), driver_data),
            mounts,
            config,
            network_settings: self.network_settings(&c),
        })
    }
}

impl ContainerService {
    /// `NetworkSettings`: endpoints from the network service (the mode's name otherwise) and
    /// published ports.
    fn network_settings(&self, c: &Container) -> NetworkSettings {
        let mut settings = NetworkSettings {
            networks: networks_of(c),
            ..Default::default()
        };
        let Some(net) = self.networks() else {
            return settings;
        };
        let views = net.endpoints_of(&c.id);
        if let Some(v) = views
            .iter()
            .find(|v| v.is_default_bridge() && v.endpoint.active)
        {
            v.fill_top_level(&mut settings);
        }
        if !views.is_empty() {
            settings.networks = views
                .iter()
                .map(|v| (v.network_name.clone(), v.settings()))
                .collect();
        }
        if c.state.status.is_active() {
            settings.sandbox_key = self.paths().netns(&c.id).display().to_string();
        }
        settings.ports = crate::networks::publish::inspect_ports(
            &net.ports_of(&c.id),
            c.config.exposed_ports.as_ref(),
        );
        settings
    }
}

fn graph_driver(name: &str, data: BTreeMap<String, String>) -> GraphDriver {
    GraphDriver {
        name: name.to_string(),
        data,
    }
}
