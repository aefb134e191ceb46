//! `wait`: resolves when the condition holds — `not-running` (now, if it is not running; else
//! at its next exit), `next-exit` (the next exit from now), `removed` (the container is gone) —
//! with the exit code. As Docker's, a container that a restart policy brings back counts as
//! running while it restarts, and every exit ends the waits of the first two conditions, with
//! that exit's code: `docker wait` on a `--restart always` container returns when its process
//! exits. The server sends its headers before calling this (the docker CLI starts the container
//! only after it saw them).

use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;

/// Docker's wait conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<Self, DaemonError> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(DaemonError::InvalidArgument(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// A registered wait: resolve it with [`Waiter::done`].
pub struct Waiter {
    rx: tokio::sync::watch::Receiver<super::Observed>,
    condition: WaitCondition,
    exits_at_start: u64,
    /// `not-running` held when the wait was registered.
    met_at_start: bool,
}

/// Whether `o` is running in Docker's sense (paused and restarting included; a container being
/// removed is waited for).
fn running(o: &super::Observed) -> bool {
    o.status.is_active() || o.status == Status::Removing
}

impl Waiter {
    /// Resolves with the exit code; `Err` if the daemon dropped the container's state.
    pub async fn done(mut self) -> Result<i64, DaemonError> {
        let start = self.exits_at_start;
        let (cond, met) = (self.condition, self.met_at_start);
        let o = self
            .rx
            .wait_for(|o| match cond {
                WaitCondition::NotRunning => met || o.exits > start || o.removed || !running(o),
                WaitCondition::NextExit => o.exits > start || o.removed,
                WaitCondition::Removed => o.removed,
            })
            .await
            .map_err(|_| DaemonError::Internal("the container's state went away".into()))?;
        Ok(o.exit_code)
    }
}

impl ContainerService {
    /// Registers a wait now (so no exit between this call and the await is missed).
    pub fn wait(&self, name_or_id: &str, condition: WaitCondition) -> Result<Waiter, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let rx = entry.observed.subscribe();
        let (exits_at_start, met_at_start) = {
            let o = rx.borrow();
            (o.exits, !running(&o))
        };
        Ok(Waiter {
            rx,
            condition,
            exits_at_start,
            met_at_start,
        })
    }
}
