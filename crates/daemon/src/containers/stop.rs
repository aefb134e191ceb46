//! `stop`: the stop signal (the request's, else `StopSignal`, else SIGTERM), then SIGKILL to every
//! process of the container after the timeout (the request's `t`, else `StopTimeout`, else 10 s;
//! negative waits forever). A container that is not running answers 304; a paused one is thawed
//! first.

use std::time::Duration;

use super::kill::parse_signal;
use super::state::Status;
use super::{shim, ContainerService, Entry};
use crate::error::DaemonError;

/// Docker's default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;
/// How long to wait for the exit after SIGKILL before giving up.
pub(crate) const AFTER_KILL: Duration = Duration::from_secs(30);

/// What a stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Stopped,
    /// Not running (Docker answers 304).
    NotRunning,
}

/// Waits until the container is no longer active, up to `limit` (`None`: forever).
pub(crate) async fn until_not_running(entry: &Entry, limit: Option<Duration>) -> bool {
    let mut rx = entry.observed.subscribe();
    let cond = rx.wait_for(|o| !o.status.is_active() || o.removed);
    match limit {
        Some(d) => matches!(tokio::time::timeout(d, cond).await, Ok(Ok(_))),
        None => cond.await.is_ok(),
    }
}

impl ContainerService {
    /// `POST /containers/{id}/stop`.
    pub async fn stop(
        &self,
        name_or_id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<Stopped, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        match c.state.status {
            Status::Restarting => {
                let c = self.commit(&entry, false, |c| {
                    c.state.manually_stopped = true;
                    c.state.status = Status::Exited;
                })?;
                self.event(&c, "stop", &[]);
                return Ok(Stopped::Stopped);
            }
            s if !s.is_active() => return Ok(Stopped::NotRunning),
            // As Docker: the stop signal goes to a thawed container.
            Status::Paused => self.thaw_before_kill(&entry).await?,
            _ => {}
        }
        let sig = parse_signal(
            signal
                .filter(|s| !s.is_empty())
                .or(c.config.stop_signal.as_deref())
                .unwrap_or("SIGTERM"),
        )?;
        let secs = timeout
            .or(c.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        self.commit(&entry, false, |c| c.state.manually_stopped = true)?;
        if let Some(handle) = entry.shim() {
            if shim::kill(&handle, sig, false).await.is_ok() {
                self.event(&c, "kill", &[("signal", sig.to_string())]);
            }
            let limit = (secs >= 0).then(|| Duration::from_secs(secs as u64));
            if !until_not_running(&entry, limit).await {
                let kill = super::start::libc_sigkill();
                if shim::kill(&handle, kill, true).await.is_ok() {
                    self.event(&c, "kill", &[("signal", kill.to_string())]);
                }
                if !until_not_running(&entry, Some(AFTER_KILL)).await {
                    return Err(DaemonError::Internal(format!(
                        "container {} did not exit within {}s of SIGKILL",
                        c.id,
                        AFTER_KILL.as_secs()
                    )));
                }
            }
        } else {
            until_not_running(&entry, Some(AFTER_KILL)).await;
        }
        self.event(&entry.snapshot(), "stop", &[]);
        Ok(Stopped::Stopped)
    }
}
