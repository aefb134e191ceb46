//! `start`: checks its legacy links (`super::links`), mounts the container's volumes
//! (`super::volumes`) and the rootfs from the image store's mount description, writes the
//! bundle's `config.json` (see [`super::spec`]; volumes as binds of their host paths, the links'
//! variables in the environment), fills empty volumes from the image at the first start of a
//! container created before create filled them (`super::volumes::populate_volumes`), spawns
//! the shim (which creates the container, parked), connects the attach clients that were
//! waiting, releases the container (`start` op), records it as running and hands it to its
//! [`super::monitor`].
//!
//! A start that fails at create (a missing executable, a directory as command) leaves the container
//! as Docker does (`created` if it never ran, else `exited`) with Docker's codes, chosen by the runtime's error kind ([`create_failure_code`]: 127,
//! 126; 128 otherwise) and the runtime's message in `State.Error`; the error goes back with the
//! runtime's words, which the docker CLI reads to choose its own exit code.

use std::path::Path;
use std::sync::Arc;

use berth_runtime::error::ErrorKind as RuntimeKind;
use berth_shim::protocol::{ExternalRuntime, ShimConfig};

use super::model::Container;
use super::settings::LogDriver;
use super::state::Status;
use super::{monitor, shim, spec, ContainerService, Entry};
use crate::error::DaemonError;

/// What a start did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Started,
    /// It was running already (Docker answers 304).
    AlreadyRunning,
}

/// Docker's exit code for a start that failed with `e`, by the runtime's kind: 127 for a command
/// that is not there, 126 for one that cannot be run (and, as Docker does for EACCES, for a
/// permission the kernel refused), 128 for anything else.
pub fn create_failure_code(e: &DaemonError) -> i64 {
    match e.runtime_kind() {
        Some(RuntimeKind::CommandNotFound) => 127,
        Some(RuntimeKind::NotExecutable | RuntimeKind::PermissionDenied) => 126,
        _ => 128,
    }
}

async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(DaemonError::join)?
}

/// Mounts the rootfs (fresh) and writes the bundle's config.json; returns warnings.
fn prepare_bundle(
    c: &Container,
    paths: &super::Paths,
    net: Option<crate::networks::NetworkService>,
    joined_netns: Option<std::path::PathBuf>,
    joins: spec::namespaces::Joins,
    link_hosts: Vec<(String, std::net::IpAddr)>,
) -> Result<Vec<String>, DaemonError> {
    let bundle = paths.bundle(&c.id);
    let rootfs = paths.rootfs(&c.id);
    std::fs::create_dir_all(&rootfs)
        .map_err(|e| DaemonError::io("creating directory", &rootfs, e))?;
    let _ = berth_image::snapshot::unmount_all(&rootfs);
    mount_rootfs(c, &rootfs)?;
    let data = paths.data_dir(&c.id);
    let spec_paths = spec::SpecPaths {
        rootfs: rootfs.clone(),
        hosts: data.join("hosts"),
        hostname: data.join("hostname"),
        resolv_conf: data.join("resolv.conf"),
        cgroup: berth_runtime::cgroups::default_path(&c.id)
            .display()
            .to_string(),
        netns: None,
        joins,
        userns: paths.remap.as_ref().map(|r| r.map.clone()),
    };
    let mut spec_paths = spec_paths;
    if joined_netns.is_some() {
        spec_paths.netns = joined_netns;
    } else if c.host_config.network_mode.as_deref() != Some("host") {
        // On a network: the daemon makes the namespace and plugs the endpoints in. Otherwise
        // (`none`) the runtime makes it with the container (`spec_paths.netns` stays `None`).
        if let Some(net) = network_for_start(net.as_ref(), c) {
            let ns = paths.netns(&c.id);
            if let Err(e) = berth_network::netns::create(&ns) {
                let _ = berth_image::snapshot::unmount_all(&rootfs);
                return Err(DaemonError::Internal(e.to_string()));
            }
            if let Err(e) = net.attach(c, &ns, &paths.data_dir(&c.id), &link_hosts) {
                let _ = berth_image::snapshot::unmount_all(&rootfs);
                berth_network::netns::remove(&ns);
                return Err(e);
            }
            spec_paths.netns = Some(ns);
        }
    }
    let mut warnings = Vec::new();
    let built = spec::build(c, &spec_paths, &mut warnings).and_then(|s| {
        serde_json::to_vec_pretty(&s)
            .map_err(|e| spec::SpecError::Invalid(format!("encoding the runtime spec: {e}")))
    });
    let json = match built {
        Ok(j) => j,
        Err(e) => {
            unmount_rootfs(paths, net.as_ref(), &c.id);
            return Err(e.into());
        }
    };
    let config = bundle.join("config.json");
    std::fs::write(&config, json).map_err(|e| DaemonError::io("writing", &config, e))?;
    Ok(warnings)
}

/// The network service, when the container has something on it: endpoints or published ports.
/// A container without either (`--network none`, `host`, `container:`) changes nothing there,
/// so its start and stop skip the network hooks (each one re-applies the firewall, an `nft`
/// process of its own).
pub(crate) fn network_of(
    net: Option<&crate::networks::NetworkService>,
    id: &str,
) -> Option<crate::networks::NetworkService> {
    let net = net?;
    (!net.endpoints_of(id).is_empty() || !net.ports_of(id).is_empty()).then(|| net.clone())
}

/// The network service for a start: always when the mode names a network (attach registers the
/// endpoint if needed), else only when [`network_of`] finds the container on it.
fn network_for_start(
    net: Option<&crate::networks::NetworkService>,
    c: &Container,
) -> Option<crate::networks::NetworkService> {
    let mode = c.host_config.network_mode.as_deref().unwrap_or_default();
    if crate::networks::endpoints::mode_network(mode).is_some() {
        net.cloned()
    } else {
        network_of(net, &c.id)
    }
}

/// Mounts the container's rootfs. The writable layer of an auto-removed container dies with it,
/// so its overlay is mounted `volatile` (never synced; see [`berth_image::snapshot::volatile`]),
/// falling back to a plain mount on a kernel without the option.
fn mount_rootfs(c: &Container, rootfs: &Path) -> Result<(), DaemonError> {
    let plain = || berth_image::snapshot::mount_all(&c.rootfs_mounts, rootfs);
    let mounted = if c.host_config.auto_remove {
        berth_image::snapshot::mount_all(&berth_image::snapshot::volatile(&c.rootfs_mounts), rootfs)
            .or_else(|_| plain())
    } else {
        plain()
    };
    mounted.map_err(|e| {
        DaemonError::Internal(format!("mounting the rootfs of container {}: {e}", c.id))
    })
}

/// Unmounts the rootfs of `id` and takes it off its networks (idempotent).
pub(crate) fn unmount_rootfs(
    paths: &super::Paths,
    net: Option<&crate::networks::NetworkService>,
    id: &str,
) {
    let rootfs = paths.rootfs(id);
    if let Some(net) = network_of(net, id) {
        net.detach(id);
    }
    berth_network::netns::remove(&paths.netns(id));
    if let Err(e) = berth_image::snapshot::unmount_all(&rootfs) {
        tracing::warn!(container = id, error = %e, "unmounting the rootfs");
    }
}

impl ContainerService {
    /// `POST /containers/{id}/start`.
    pub async fn start(&self, name_or_id: &str) -> Result<Started, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let status = entry.snapshot().state.status;
        if status == Status::Running {
            return Ok(Started::AlreadyRunning);
        }
        if status == Status::Paused {
            return Err(DaemonError::Conflict(
                "cannot start a paused container, try unpause instead".into(),
            ));
        }
        if !status.can_start() {
            return Err(status.refusal(&entry.id(), "start").into());
        }
        self.commit(&entry, false, |c| c.state.manually_stopped = false)?;
        self.start_locked(&entry).await?;
        Ok(Started::Started)
    }

    /// Starts the container; the caller holds `entry.op`.
    pub(crate) async fn start_locked(&self, entry: &Arc<Entry>) -> Result<(), DaemonError> {
        let c = entry.snapshot();
        let paths = self.paths().clone();
        let state_dir = paths.shim_dir(&c.id);
        let _ = std::fs::remove_dir_all(&state_dir);
        let (runtime, runtime_root) = match shim_runtime(&self.runtimes(), &paths, &c) {
            Ok(r) => r,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        let joined = match self.joined_netns(&c) {
            Ok(j) => j,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        let joins = match self.namespace_joins(&c) {
            Ok(j) => j,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        let linked = match self.linked(&c) {
            Ok(l) => l,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        // The spec sees each volume as a bind of its host path.
        let volumes = match self.mount_volumes(&c).await {
            Ok(v) => v,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        let (mut c2, p2) = (volumes.spec, paths.clone());
        if !linked.env.is_empty() {
            let own = c2.config.env.take().unwrap_or_default();
            c2.config.env = Some(super::links::with_link_env(&linked.env, &own));
        }
        let net = self.networks();
        let hosts = linked.hosts;
        let prepared =
            blocking_io(move || prepare_bundle(&c2, &p2, net, joined, joins, hosts)).await;
        if let Err(e) = prepared {
            return Err(self.start_failed(entry, e).await);
        }
        // Create fills the volumes now; a container an older daemon created (its volume mounts
        // not marked `nocopy`) has them filled at its first start, the rootfs mounted by then.
        if !c.state.has_been_started && !volumes.copy_ups.is_empty() {
            let (rootfs, ups) = (paths.rootfs(&c.id), volumes.copy_ups);
            let copied = blocking_io(move || {
                for (dest, path) in &ups {
                    crate::volumes::copyup::copy_up(&rootfs, dest, path)?;
                }
                Ok(())
            })
            .await;
            if let Err(e) = copied {
                return Err(self.start_failed(entry, e).await);
            }
        }
        let log = &c.settings.log;
        let config = ShimConfig {
            id: c.id.clone(),
            bundle: paths.bundle(&c.id),
            state_dir: state_dir.clone(),
            runtime_root,
            log_path: (log.driver != LogDriver::None).then(|| paths.log_path(&c.id)),
            log_max_size: log.max_size,
            log_max_file: log.max_files,
            stdin: c.config.open_stdin,
            stdin_once: c.config.stdin_once,
            terminal: c.config.tty,
            runtime,
        };
        let handle = match shim::spawn(config, &self.inner.shim_exe).await {
            Ok(h) => h,
            Err(e) => return Err(self.start_failed(entry, e).await),
        };
        entry.set_shim(Some(handle.clone()));
        self.connect_waiting_attaches(entry, &handle).await;
        if let Err(e) = shim::start(&handle).await {
            let _ = shim::kill(&handle, libc_sigkill(), true).await;
            return Err(self.start_failed(entry, e).await);
        }
        crate::fault::crash_point!("container.start.after-shim");
        let updated = self.record_started(entry, &handle).await?;
        self.event(&updated, "start", &[]);
        monitor::spawn(self.clone(), entry.clone(), handle);
        self.spawn_health_monitor(entry.clone(), true);
        Ok(())
    }

    /// Records the container as running with its shim's pid: the end of a start, and what
    /// restore does for a start a crash cut short after the process began.
    pub(super) async fn record_started(
        &self,
        entry: &Arc<Entry>,
        handle: &berth_shim::ShimHandle,
    ) -> Result<super::model::Container, DaemonError> {
        let h2 = handle.clone();
        let pid = tokio::task::spawn_blocking(move || h2.state().map(|s| s.pid).unwrap_or(0))
            .await
            .unwrap_or(0);
        self.commit(entry, false, |c| {
            c.state.status = Status::Running;
            c.state.pid = i64::from(pid);
            c.state.started_at = super::now_nanos();
            c.state.finished_at = 0;
            c.state.exit_code = 0;
            c.state.error.clear();
            c.state.oom_killed = false;
            c.state.has_been_started = true;
            super::health::monitor::reset_on_start(c);
        })
    }

    /// Records a failed start (Docker's code; `created` when it never ran), cleans up, honours
    /// AutoRemove.
    async fn start_failed(&self, entry: &Arc<Entry>, e: DaemonError) -> DaemonError {
        let id = entry.id();
        entry.set_shim(None);
        let paths = self.paths().clone();
        let id2 = id.clone();
        let net = self.networks();
        let _ =
            tokio::task::spawn_blocking(move || unmount_rootfs(&paths, net.as_ref(), &id2)).await;
        self.unmount_volumes(&entry.snapshot()).await;
        let message = e.to_string();
        let code = create_failure_code(&e);
        let recorded = self.commit(entry, true, |c| {
            // Docker's state follows StartedAt: a container that never ran stays `created`.
            if c.state.has_been_started {
                c.state.status = Status::Exited;
                c.state.finished_at = super::now_nanos();
            } else {
                c.state.status = Status::Created;
            }
            c.state.exit_code = code;
            c.state.error = message.clone();
            c.state.pid = 0;
        });
        if let Ok(c) = recorded {
            self.event(&c, "die", &[("exitCode", code.to_string())]);
            if c.host_config.auto_remove {
                let svc = self.clone();
                // After the caller released the container's lock.
                tokio::spawn(async move {
                    let opts = super::remove::RemoveOptions { force: true };
                    let _ = svc.remove_with_volumes(&id, opts, true).await;
                });
            }
        }
        // Nobody will start this container for the attach clients that waited.
        entry
            .waiting_attaches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        e
    }
}

/// The runtime the shim of `c` drives, by the name the container records, and its root: `None`
/// and the daemon's runtime root for the built-in one; for an external one its executable
/// (resolved now, so a missing one fails the start with its name) and `<exec-root>/runtime-NAME`,
/// the root dockerd gives it. A name no longer configured fails the start with Docker's words.
fn shim_runtime(
    runtimes: &crate::config::runtimes::Runtimes,
    paths: &super::Paths,
    c: &Container,
) -> Result<(Option<ExternalRuntime>, std::path::PathBuf), DaemonError> {
    use crate::config::runtimes::Selected;
    let name = c
        .host_config
        .runtime
        .as_deref()
        .unwrap_or(spec::DEFAULT_RUNTIME);
    match runtimes.get(name) {
        Some(Selected::Builtin) => Ok((None, paths.runtime_root.clone())),
        Some(Selected::External(ext)) => {
            let runtime = ExternalRuntime {
                path: ext.resolve(name)?,
                args: ext.args.clone(),
            };
            let root = paths.runtime_root.with_file_name(format!("runtime-{name}"));
            Ok((Some(runtime), root))
        }
        None => Err(crate::config::runtimes::unknown(name)),
    }
}

pub(crate) fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

/// Whether the bundle still holds a mounted rootfs (for tests and restore).
pub fn rootfs_is_mounted(rootfs: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            let target = rootfs.display().to_string();
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(target.as_str()))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit code of a failed start comes from the kind; the messages here say otherwise.
    #[test]
    fn failed_starts_get_dockers_codes_by_kind() {
        let runtime = |kind| DaemonError::Runtime {
            kind,
            message: "exec: \"x\": permission denied: executable file not found".into(),
        };
        assert_eq!(
            create_failure_code(&runtime(RuntimeKind::CommandNotFound)),
            127
        );
        assert_eq!(
            create_failure_code(&runtime(RuntimeKind::NotExecutable)),
            126
        );
        assert_eq!(
            create_failure_code(&runtime(RuntimeKind::PermissionDenied)),
            126
        );
        for kind in [
            RuntimeKind::NotFound,
            RuntimeKind::InvalidArgument,
            RuntimeKind::Conflict,
            RuntimeKind::ResourceExhausted,
            RuntimeKind::System,
        ] {
            assert_eq!(create_failure_code(&runtime(kind)), 128, "{kind}");
        }
        let text = DaemonError::InvalidArgument("executable file not found in $PATH".into());
        assert_eq!(create_failure_code(&text), 128);
    }
}
