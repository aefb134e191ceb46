//! Live restore: when the daemon starts, every container the store says was running is looked up
//! through its shim's state dir. A shim that answers is re-adopted (a new monitor waits on it); a
//! container that exited meanwhile gets its true exit status from `exit.json`; one whose shim is
//! gone without a status is recorded as exited with 255. Restart policies then apply as after any
//! exit, and exited containers start again as Docker's do when its daemon starts: `always` ones
//! (even when the user stopped them), `unless-stopped` ones the user did not stop, and
//! `on-failure[:N]` ones that failed and have retries left.
//! A removal cut short is finished, and the directories of containers removed before a crash (they
//! are deleted after `rm` answers) are swept. Cut-short creates and starts are settled too: the
//! image store's rootfs of a container that was never recorded is released, and a created or exited
//! container whose shim runs is adopted as started (its exit recorded if it already ended).
//! Every container's volume references are registered again, and the mounts of the running ones;
//! then the volumes nobody runs with are unmounted (`VolumeService::settle`).

use berth_shim::client::Recovered;

use super::model::Container;
use super::monitor;
use super::remove::RemoveOptions;
use super::state::Status;
use super::{shim, ContainerService};

/// Whether an exited container starts again when the daemon starts (see the module docs).
pub fn restarts_on_daemon_start(c: &Container) -> bool {
    let Some(p) = &c.host_config.restart_policy else {
        return false;
    };
    if !c.state.has_been_started {
        return false;
    }
    match p.name.as_str() {
        "always" => true,
        "unless-stopped" => !c.state.manually_stopped,
        "on-failure" => {
            c.state.exit_code != 0
                && (p.maximum_retry_count == 0 || c.state.restart_count < p.maximum_retry_count)
        }
        _ => false,
    }
}

/// Unmounts and deletes the directories of containers the store no longer knows: bundles and data
/// dirs are named by the 64-hex-digit ID, shim dirs by its first 32 digits.
fn sweep_orphans(
    paths: &super::Paths,
    net: Option<&crate::networks::NetworkService>,
    known: &[String],
) {
    let ids = |dir: &std::path::Path, len: usize| -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.len() == len && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .filter(|n| !known.iter().any(|k| k.starts_with(n.as_str())))
            .collect()
    };
    let mut orphans = ids(&paths.exec, 64);
    orphans.extend(ids(&paths.data, 64));
    orphans.sort();
    orphans.dedup();
    for id in orphans {
        super::start::unmount_rootfs(paths, net, &id);
        if let Err(e) = super::remove::remove_files(paths, &id) {
            tracing::warn!(container = %id, error = %e, "sweeping a removed container's files");
        }
    }
    for short in ids(&paths.shims, 32) {
        let _ = std::fs::remove_dir_all(paths.shims.join(short));
    }
    sweep_copy_mounts(&paths.data);
}

/// Unmounts and deletes the temp roots `docker cp` of a stopped container mounts
/// (`archive-<id>-<nanos>` in the data dir) that a daemon killed mid-copy left behind.
fn sweep_copy_mounts(data: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(data) else {
        return;
    };
    for e in rd.flatten() {
        let leftover = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("archive-"));
        if leftover {
            let path = e.path();
            if let Err(err) = berth_image::snapshot::unmount_all(&path) {
                tracing::warn!(path = %path.display(), error = %err, "unmounting a cp leftover");
                continue;
            }
            let _ = std::fs::remove_dir(&path);
        }
    }
}

impl ContainerService {
    /// Releases the rootfs snapshots and holds the image store keeps for containers this store
    /// does not know: a create cut short between the two stores' writes.
    async fn release_unknown_rootfs(&self, known: &[String]) {
        let holders = match self.inner.images.container_holders().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "listing the image store's container holds");
                return;
            }
        };
        for key in holders.iter().filter(|k| !known.contains(k)) {
            tracing::warn!(container = %key, "releasing the rootfs of a container that was never recorded");
            if let Err(e) = self.inner.images.release_container(key).await {
                tracing::warn!(container = %key, error = %e, "releasing an orphan rootfs");
            }
        }
    }

    /// A start cut short by a crash: the record says created or exited while the shim (and the
    /// process) may be up. A running one is adopted as started; a created one whose process
    /// already ended gets its exit recorded (an exited container's shim dir holds the exit that is
    /// already recorded). Returns whether it settled the container.
    async fn settle_cut_short_start(
        &self,
        entry: &std::sync::Arc<super::Entry>,
        c: &Container,
    ) -> bool {
        let dir = self.paths().shim_dir(&c.id);
        if !matches!(c.state.status, Status::Created | Status::Exited) || !dir.exists() {
            return false;
        }
        match shim::recover(&dir).await {
            Recovered::Running(h) => {
                tracing::warn!(container = %c.id, "adopting a container whose start was cut short");
                self.adopt_started(entry, h).await;
                true
            }
            Recovered::Exited(s) if c.state.status == Status::Created => {
                self.on_exit(entry, Some(s)).await;
                true
            }
            Recovered::Lost if c.state.status == Status::Created => {
                let _ = std::fs::remove_dir_all(&dir);
                false
            }
            Recovered::Exited(_) | Recovered::Lost => false,
        }
    }

    /// Records a container whose shim runs as started (its start was cut short after the
    /// process began) and watches it as `start` would have.
    async fn adopt_started(&self, entry: &std::sync::Arc<super::Entry>, h: berth_shim::ShimHandle) {
        let adopted = self.record_started(entry, &h).await;
        if let Err(e) = adopted {
            tracing::warn!(container = %entry.id(), error = %e, "adopting a started container");
            return;
        }
        self.restore_volumes(&entry.snapshot(), true).await;
        entry.set_shim(Some(h.clone()));
        monitor::spawn(self.clone(), entry.clone(), h);
        self.spawn_health_monitor(entry.clone(), false);
    }

    /// Reconciles every container with its shim (see the module docs).
    pub async fn restore(&self) {
        let known: Vec<String> = self.entries().iter().map(|e| e.snapshot().id).collect();
        let paths = self.paths().clone();
        let net = self.networks();
        let known2 = known.clone();
        let _ =
            tokio::task::spawn_blocking(move || sweep_orphans(&paths, net.as_ref(), &known2)).await;
        self.release_unknown_rootfs(&known).await;
        for entry in self.entries() {
            self.restore_volumes(&entry.snapshot(), false).await;
        }
        for entry in self.entries() {
            let c = entry.snapshot();
            if self.settle_cut_short_start(&entry, &c).await {
                continue;
            }
            match c.state.status {
                Status::Running | Status::Paused | Status::Restarting => {
                    match shim::recover(&self.paths().shim_dir(&c.id)).await {
                        Recovered::Running(h) => {
                            tracing::info!(container = %c.id, "re-adopted running container");
                            self.restore_volumes(&c, true).await;
                            entry.set_shim(Some(h.clone()));
                            monitor::spawn(self.clone(), entry.clone(), h);
                            self.spawn_health_monitor(entry.clone(), false);
                        }
                        Recovered::Exited(s) => {
                            tracing::info!(container = %c.id, code = s.exit_code, "container exited while the daemon was down");
                            self.on_exit(&entry, Some(s)).await;
                        }
                        Recovered::Lost if c.state.status == Status::Restarting => {
                            self.on_exit(&entry, None).await;
                        }
                        Recovered::Lost => {
                            tracing::warn!(container = %c.id, "shim lost; recording exit 255");
                            self.on_exit(&entry, None).await;
                        }
                    }
                }
                Status::Exited if restarts_on_daemon_start(&c) => {
                    let _op = entry.op.lock().await;
                    if let Err(e) = self.start_locked(&entry).await {
                        tracing::warn!(container = %c.id, error = %e, "restart on daemon start failed");
                    }
                }
                Status::Exited => {}
                Status::Removing => {
                    let _ = self.commit(&entry, false, |c| c.state.status = Status::Dead);
                    let _ = self.remove(&c.id, RemoveOptions { force: true }).await;
                }
                Status::Created | Status::Dead => {}
            }
        }
        // Volumes whose file system is mounted with no running user left (their containers
        // exited while the daemon was down) are unmounted.
        self.inner.volumes.settle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_cp_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("archive-0123456789ab-17")).unwrap();
        std::fs::create_dir(dir.path().join("keep")).unwrap();
        sweep_copy_mounts(dir.path());
        assert!(!dir.path().join("archive-0123456789ab-17").exists());
        assert!(dir.path().join("keep").exists());
    }

    #[test]
    fn sweep_removes_only_unknown_container_dirs() {
        let root = tempfile::tempdir().unwrap();
        let paths = super::super::Paths {
            data: root.path().join("data"),
            exec: root.path().join("exec"),
            runtime_root: root.path().join("runtime"),
            shims: root.path().join("s"),
            remap: None,
        };
        let (known, orphan) = ("a".repeat(64), "b".repeat(64));
        let mut dirs = Vec::new();
        for id in [&known, &orphan] {
            dirs.extend([paths.rootfs(id), paths.data_dir(id), paths.shim_dir(id)]);
        }
        let other = paths.exec.join("not-a-container");
        for d in dirs.iter().chain([&other]) {
            std::fs::create_dir_all(d).unwrap();
        }
        sweep_orphans(&paths, None, std::slice::from_ref(&known));
        for d in &dirs[..3] {
            assert!(d.exists(), "{d:?} of a known container kept");
        }
        for d in [
            paths.bundle(&orphan),
            paths.data_dir(&orphan),
            paths.shim_dir(&orphan),
        ] {
            assert!(!d.exists(), "{d:?} of a removed container swept");
        }
        assert!(other.exists(), "other entries kept");
    }
}
