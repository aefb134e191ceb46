//! `rm`: refuses an active container without `force` (409, Docker's words); with it, kills the
//! container and waits for its exit. Then marks it `removing`, unmounts and releases the rootfs
//! (dropping the image hold), deletes its record, publishes `destroy`, and deletes its directories
//! in the background (the snapshot's too), so that `run --rm` does not wait on slow `rmdir`s.
//! Its volumes are unmounted and released; with `v` (`rm -v`, and AutoRemove) its anonymous
//! volumes that no other container uses are removed too; named volumes always stay.

use std::time::Duration;

use super::state::{StateError, Status};
use super::stop::until_not_running;
use super::{shim, start, ContainerService};
use crate::error::DaemonError;

/// How long a forced removal waits for the killed container to exit.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// Options of `rm`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    pub force: bool,
}

impl ContainerService {
    /// `DELETE /containers/{id}` without `v`: the container's volumes stay.
    pub async fn remove(&self, name_or_id: &str, opts: RemoveOptions) -> Result<(), DaemonError> {
        self.remove_with_volumes(name_or_id, opts, false).await
    }

    /// `DELETE /containers/{id}?v=`: `volumes` removes the container's anonymous volumes that no
    /// other container uses.
    pub async fn remove_with_volumes(
        &self,
        name_or_id: &str,
        opts: RemoveOptions,
        volumes: bool,
    ) -> Result<(), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        if entry.observed.borrow().removed {
            return Err(DaemonError::NoSuchContainer(name_or_id.to_string()));
        }
        let c = entry.snapshot();
        let status = c.state.status;
        if !status.can_remove(opts.force) {
            return Err(match status {
                Status::Removing => StateError::RemovalInProgress(c.id.clone()).into(),
                s => StateError::RemoveRunning {
                    name: c.name.clone(),
                    status: s.as_str(),
                }
                .into(),
            });
        }
        if status.is_active() {
            self.commit(&entry, false, |c| c.state.manually_stopped = true)?;
            // A frozen container cannot die: thaw it so that the SIGKILL lands (as Docker does).
            if let Err(e) = self.thaw_before_kill(&entry).await {
                tracing::warn!(container = %c.id, error = %e, "thawing before kill failed");
            }
            if let Some(h) = entry.shim() {
                let _ = shim::kill(&h, start::libc_sigkill(), true).await;
                if !until_not_running(&entry, Some(KILL_WAIT)).await {
                    return Err(DaemonError::Internal(format!(
                        "could not kill running container {}, cannot remove",
                        c.id
                    )));
                }
            }
        }
        let c = self.commit(&entry, false, |c| c.state.status = Status::Removing)?;
        if let Some(h) = entry.shim() {
            shim::shutdown(&h).await;
        }
        let paths = self.paths().clone();
        let id = c.id.clone();
        let net = self.networks();
        tokio::task::spawn_blocking(move || start::unmount_rootfs(&paths, net.as_ref(), &id))
            .await
            .map_err(DaemonError::join)?;
        self.unmount_volumes(&c).await;
        if let Err(e) = self.inner.images.release_container(&c.id).await {
            let _ = self.commit(&entry, false, |c| {
                c.state.status = Status::Dead;
                c.state.error = e.to_string();
            });
            return Err(e);
        }
        if let Some(net) = start::network_of(Some(&self.inner.networks), &c.id) {
            let id = c.id.clone();
            let _ = tokio::task::spawn_blocking(move || net.forget(&id)).await;
        }
        self.inner.execs.forget_container(&c.id);
        self.forget(&entry)?;
        self.release_volumes(&c, volumes).await;
        // The files go after the answer (rmdir is slow here); `restore` sweeps what a crash leaves.
        let paths = self.paths().clone();
        let id = c.id.clone();
        drop(tokio::task::spawn_blocking(move || {
            if let Err(e) = remove_files(&paths, &id) {
                tracing::warn!(container = %id, error = %e, "removing the container's files");
            }
        }));
        self.event(&c, "destroy", &[]);
        Ok(())
    }
}

/// Deletes a removed container's directories (its rootfs must be unmounted).
pub(super) fn remove_files(paths: &super::Paths, id: &str) -> Result<(), DaemonError> {
    // A daemon killed during a start can leave a volume's subpath bound in the bundle; the
    // recursive delete below would go through it into the volume's files.
    crate::volumes::subpath::sweep(&paths.bundle(id));
    for dir in [paths.bundle(id), paths.data_dir(id), paths.shim_dir(id)] {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DaemonError::io("removing", dir, e)),
        }
    }
    Ok(())
}

impl From<StateError> for DaemonError {
    fn from(e: StateError) -> Self {
        DaemonError::Conflict(e.to_string())
    }
}
