//! `inspect`: everything the engine knows of one container, for a front door to show
//! ([`ContainerDetails`]): its record, the effective hostname, its user mounts, its exec sessions,
//! the storage driver, the paths of its own files and log, and what the network service holds
//! for it (endpoints, published ports, the namespace while it runs). The Docker shape of
//! `GET /containers/{id}/json` is built from it in `server::container_views`.

use std::path::PathBuf;

use berth_network::ports::PortMapping;

use super::model::Container;
use super::settings::Mount;
use super::{spec, ContainerService};
use crate::error::DaemonError;
use crate::networks::views::EndpointView;

/// One container as the engine sees it.
#[derive(Debug, Clone)]
pub struct ContainerDetails {
    pub container: Container,
    /// The container's hostname (configured, the host's with host networking, else the short ID).
    pub hostname: String,
    /// The user's mounts (binds and tmpfs), in the order they are mounted.
    pub mounts: Vec<Mount>,
    /// Its exec sessions.
    pub exec_ids: Vec<String>,
    /// The storage driver's name (`overlay2`, `vfs`).
    pub driver: String,
    /// Where its rootfs is mounted while it runs.
    pub rootfs: PathBuf,
    /// Its own `resolv.conf`, `hostname` and `hosts` live here.
    pub data_dir: PathBuf,
    /// The json-file log.
    pub log_path: PathBuf,
    /// What the network service holds for it; `None` without a network service.
    pub network: Option<NetworkDetails>,
}

/// A container's networking as the network service holds it.
#[derive(Debug, Clone, Default)]
pub struct NetworkDetails {
    /// Its endpoints, primary network first.
    pub endpoints: Vec<EndpointView>,
    /// Its published ports (while it runs).
    pub ports: Vec<PortMapping>,
    /// Its network namespace, while it runs.
    pub sandbox_key: Option<PathBuf>,
}

impl ContainerService {
    /// One container's details (`GET /containers/{id}/json`).
    pub fn inspect(&self, name_or_id: &str) -> Result<ContainerDetails, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let mut c = entry.snapshot();
        c.host_config.links = self.links_shown(&c);
        let paths = self.paths();
        let network = self.networks().map(|net| NetworkDetails {
            endpoints: net.endpoints_of(&c.id),
            ports: net.ports_of(&c.id),
            sandbox_key: c.state.status.is_active().then(|| paths.netns(&c.id)),
        });
        Ok(ContainerDetails {
            hostname: spec::hostname(&c),
            mounts: c.settings.mounts.clone(),
            exec_ids: self.inner.execs.of_container(&c.id),
            driver: self.inner.images.driver().name().to_string(),
            rootfs: paths.rootfs(&c.id),
            data_dir: paths.data_dir(&c.id),
            log_path: paths.log_path(&c.id),
            network,
            container: c,
        })
    }
}
