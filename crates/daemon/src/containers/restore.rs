//! Live restore: when the daemon starts, every container the store says was running is looked up
//! through its shim's state dir. A shim that answers is re-adopted (a new monitor waits on it); a
//! container that exited meanwhile gets its true exit status from `exit.json`; one whose shim is
//! gone without a status is recorded as exited with 255. Restart policies then apply as after any
//! exit, and exited containers start again as Docker's do when its daemon starts: `always` ones
//! (even when the user stopped them), `unless-stopped` ones the user did not stop, and
//! `on-failure[:N]` ones that failed and have retries left.
//! A removal cut short is finished.

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
    }
}
