//! The network namespace of a container, as the container verbs see it: which one it has (the
//! bound file of a container on a network, the init's of one the runtime made, another
//! container's for `container:<x>`), and the networks service the verbs plug it into. Making and
//! removing the bound namespace is `berth_network::netns`'s (`create`, `remove`): the daemon only
//! says where (a file in the container's exec dir) and when (at start, before the container
//! exists, so the networks service can plug veths in). A container without networking
//! (`--network none`) gets its namespace from the runtime itself (which brings `lo` up), at no
//! cost to the daemon; [`ContainerService::netns_path`] then names it through the init's pid.

use crate::error::DaemonError;

impl super::ContainerService {
    /// The networks subsystem of this engine ([`super::ContainerOptions::networks`]), always
    /// there; as an `Option` because the teardown helpers of `start` and `restore` still take one.
    pub(crate) fn networks(&self) -> Option<crate::networks::NetworkService> {
        Some(self.inner.networks.clone())
    }

    /// Running containers with a private network namespace, with its path, for the networks'
    /// reconcile after live restore.
    pub fn running_netns(&self) -> std::collections::BTreeMap<String, std::path::PathBuf> {
        self.entries()
            .iter()
            .map(|e| e.snapshot())
            .filter(|c| c.state.status.is_active())
            .map(|c| (c.id.clone(), self.paths().netns(&c.id)))
            .collect()
    }
}

impl super::ContainerService {
    /// At create: checks the network mode (`container:<x>` names a container; a user network
    /// exists) and registers the container's endpoint (its address is allocated now and kept).
    pub(crate) async fn register_network(
        &self,
        c: &super::model::Container,
        endpoints: Option<
            std::collections::BTreeMap<String, crate::networks::model::EndpointRequest>,
        >,
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        if let Some(target) = mode.strip_prefix("container:") {
            self.lookup(target)?;
            return Ok(());
        }
        let Some(net) = self.networks() else {
            return Ok(());
        };
        let c = c.clone();
        tokio::task::spawn_blocking(move || {
            // As Docker does, an unknown network fails the start, not the create.
            if net.check_mode(&mode)? {
                net.register(&c, endpoints.as_ref())?;
            }
            Ok(())
        })
        .await
        .map_err(DaemonError::join)?
    }

    /// For `container:<x>`: the network namespace of running container `x`.
    pub(crate) fn joined_netns(
        &self,
        c: &super::model::Container,
    ) -> Result<Option<std::path::PathBuf>, DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let Some(target) = mode.strip_prefix("container:") else {
            return Ok(None);
        };
        let other = self.lookup(target)?.snapshot();
        if !other.state.status.is_active() || other.state.pid <= 0 {
            return Err(DaemonError::Conflict(format!(
                "cannot join network namespace of a non running container: container {} is {}",
                other.id,
                other.state.status.as_str()
            )));
        }
        Ok(Some(std::path::PathBuf::from(format!(
            "/proc/{}/ns/net",
            other.state.pid
        ))))
    }
}

impl super::ContainerService {
    /// The network namespace of container `id` while it runs with its own stack: the bound file,
    /// or (a namespace the runtime made) the init's.
    pub fn netns_path(&self, id: &str) -> std::path::PathBuf {
        let bound = self.paths().netns(id);
        if bound.exists() {
            return bound;
        }
        match self.lookup(id).map(|e| e.snapshot().state.pid) {
            Ok(pid) if pid > 0 => std::path::PathBuf::from(format!("/proc/{pid}/ns/net")),
            _ => bound,
        }
    }
}
