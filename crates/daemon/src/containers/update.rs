//! `update`: changes the resource limits and the restart policy of a container. Zero or absent
//! values leave a setting alone (the docker CLI sends every field, zeros for the unset ones). The
//! new limits go into the stored host config and, while the container runs, to its shim, whose
//! runtime writes them into the cgroup (`update` in the shim protocol): the daemon never writes
//! cgroup files, so another runtime or cgroup driver needs no change here. A stopped container
//! keeps them for its next start, as Docker does.

use berth_api::container::HostConfig;
use berth_oci::runtime::LinuxResources;

use super::state::Status;
use super::{shim, spec, ContainerService};
use crate::error::DaemonError;

/// Copies the set fields of `req` (resources and restart policy) over `host`.
pub fn merge(host: &mut HostConfig, req: &HostConfig) {
    let num = |dst: &mut Option<i64>, src: Option<i64>| {
        if let Some(v) = src.filter(|v| *v != 0) {
            *dst = Some(v);
        }
    };
    num(&mut host.cpu_shares, req.cpu_shares);
    num(&mut host.memory, req.memory);
    num(&mut host.cpu_period, req.cpu_period);
    num(&mut host.cpu_quota, req.cpu_quota);
    num(&mut host.cpu_realtime_period, req.cpu_realtime_period);
    num(&mut host.cpu_realtime_runtime, req.cpu_realtime_runtime);
    num(&mut host.memory_reservation, req.memory_reservation);
    num(&mut host.memory_swap, req.memory_swap);
    num(&mut host.nano_cpus, req.nano_cpus);
    num(&mut host.pids_limit, req.pids_limit);
    if let Some(w) = req.blkio_weight.filter(|w| *w != 0) {
        host.blkio_weight = Some(w);
    }
    for (dst, src) in [
        (&mut host.cpuset_cpus, &req.cpuset_cpus),
        (&mut host.cpuset_mems, &req.cpuset_mems),
    ] {
        if let Some(v) = src.as_ref().filter(|v| !v.is_empty()) {
            *dst = Some(v.clone());
        }
    }
    if let Some(p) = req.restart_policy.as_ref().filter(|p| !p.name.is_empty()) {
        host.restart_policy = Some(p.clone());
    }
}

/// The resources of `host` as the runtime takes them (device rules are the container's own,
/// made at create, and are left alone).
fn resources(
    id: &str,
    host: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<LinuxResources, DaemonError> {
    let (res, _devices) = spec::resources::resources(host, warnings)?;
    let mut res: LinuxResources = serde_json::from_value(res)
        .map_err(|e| DaemonError::Internal(format!("resources of container {id}: {e}")))?;
    res.set_devices(None);
    Ok(res)
}

/// Docker's words for limits the runtime refused (the kind stays the runtime's).
fn cannot_update(id: &str, e: DaemonError) -> DaemonError {
    match e {
        DaemonError::Runtime { kind, message } => DaemonError::Runtime {
            kind,
            message: format!("Cannot update container {id}: {message}"),
        },
        other => other,
    }
}

impl ContainerService {
    /// `POST /containers/{id}/update`: returns Docker's warnings.
    pub async fn update(
        &self,
        name_or_id: &str,
        req: HostConfig,
    ) -> Result<Vec<String>, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if c.state.status == Status::Removing {
            return Err(c.state.status.refusal(&c.id, "update").into());
        }
        let mut host = c.host_config.clone();
        merge(&mut host, &req);
        if let Some(p) = &host.restart_policy {
            if host.auto_remove && !matches!(p.name.as_str(), "" | "no") {
                return Err(DaemonError::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                        .into(),
                ));
            }
        }
        // Validates the settings the way a start would.
        let mut warnings = Vec::new();
        let res = resources(&c.id, &host, &mut warnings)?;
        // As Docker: a running (or paused) container takes them now; a restarting one, like a
        // stopped one, at its next start. One without its shim cannot take them: refused rather
        // than stored as if it ran with them.
        if matches!(c.state.status, Status::Running | Status::Paused) {
            let handle = entry.shim().ok_or_else(|| {
                DaemonError::Unavailable(format!(
                    "Cannot update container {}: its shim is not reachable; restart the container",
                    c.id
                ))
            })?;
            tokio::task::spawn_blocking(move || handle.update(&res))
                .await
                .map_err(DaemonError::join)?
                .map_err(|e| cannot_update(&c.id, shim::error(e)))?;
        }
        let updated = self.commit(&entry, false, |c| c.host_config = host)?;
        self.event(&updated, "update", &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::RestartPolicy;

    #[test]
    fn zeros_leave_settings_alone() {
        let mut host = HostConfig {
            memory: Some(64 << 20),
            cpu_shares: Some(512),
            ..HostConfig::default()
        };
        let req = HostConfig {
            memory: Some(0),
            cpu_shares: Some(1024),
            pids_limit: Some(50),
            cpuset_cpus: Some(String::new()),
            restart_policy: Some(RestartPolicy {
                name: "always".into(),
                ..RestartPolicy::default()
            }),
            ..HostConfig::default()
        };
        merge(&mut host, &req);
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.cpu_shares, Some(1024));
        assert_eq!(host.pids_limit, Some(50));
        assert_eq!(host.cpuset_cpus, None);
        assert_eq!(host.restart_policy.map(|p| p.name), Some("always".into()));
    }
}
