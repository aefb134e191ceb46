//! The network namespace of a container on a network (bridge or user-defined): the daemon makes it
//! before the container exists, so the networks service can plug veths into it, with its loopback
//! up. The namespace is made by a short-lived OS thread of its own — network namespaces are per
//! thread, so `unshare` there leaves the daemon's threads untouched — bound to a file in the
//! container's bundle, and handed to the runtime by path. A container without networking
//! (`--network none`) gets its namespace from the runtime itself (which brings `lo` up), at no
//! cost to the daemon; [`ContainerService::netns_path`] then names it through the init's pid.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::error::DaemonError;

fn fail(path: &Path, what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Internal(format!("network namespace {}: {what}: {e}", path.display()))
}

/// Creates a network namespace bound at `path` (replacing a stale one) with `lo` up.
pub fn create(path: &Path) -> Result<(), DaemonError> {
    remove(path);
    std::fs::File::create(path).map_err(|e| DaemonError::io("creating", path, e))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<(), DaemonError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| fail(&target, "unshare", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| fail(&target, "binding", e))?;
        berth_runtime::namespaces::loopback_up().map_err(|e| fail(&target, "bringing lo up", e))
    })
    .join()
    .map_err(|_| fail(path, "creating", "the helper thread panicked"))?;
    if made.is_err() {
        remove(path);
    }
    made
}

/// Unbinds and deletes the namespace file (idempotent).
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

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
            std::collections::BTreeMap<String, berth_api::container::EndpointSettings>,
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
