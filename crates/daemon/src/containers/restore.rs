//! Live restore: when the daemon starts, every container the store says was running is looked up
//! through its shim's state dir. A shim that answers is re-adopted (a new monitor waits on it); a
//! container that exited meanwhile gets its true exit status from `exit.json`; one whose shim is
//! gone without a status is recorded as exited with 255. Restart policies then apply as after any
//! exit, and `always`/`unless-stopped` containers that were not stopped by the user start again.
//! A removal cut short is finished.

use berth_shim::client::Recovered;

use super::monitor;
use super::remove::RemoveOptions;
use super::state::Status;
use super::{shim, ContainerService};

impl ContainerService {
    /// Reconciles every container with its shim (see the module docs).
    pub async fn restore(&self) {
        for entry in self.entries() {
            let c = entry.snapshot();
            match c.state.status {
                Status::Running | Status::Paused | Status::Restarting => {
                    match shim::recover(&self.paths().shim_dir(&c.id)).await {
                        Recovered::Running(h) => {
                            tracing::info!(container = %c.id, "re-adopted running container");
                            entry.set_shim(Some(h.clone()));
                            monitor::spawn(self.clone(), entry.clone(), h);
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
                Status::Exited => {
                    let policy = c
                        .host_config
                        .restart_policy
                        .as_ref()
                        .map(|p| p.name.as_str())
                        .unwrap_or("");
                    if matches!(policy, "always" | "unless-stopped")
                        && !c.state.manually_stopped
                        && c.state.has_been_started
                    {
                        let _op = entry.op.lock().await;
                        if let Err(e) = self.start_locked(&entry).await {
                            tracing::warn!(container = %c.id, error = %e, "restart on daemon start failed");
                        }
                    }
                }
                Status::Removing => {
                    let _ = self.commit(&entry, false, |c| c.state.status = Status::Dead);
                    let _ = self.remove(&c.id, RemoveOptions { force: true }).await;
                }
                Status::Created | Status::Dead => {}
            }
        }
    }
}
