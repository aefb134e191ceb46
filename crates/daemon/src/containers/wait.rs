//! `wait`: resolves when the condition holds — `not-running` (now, if it is not running),
//! `next-exit` (the next exit from now), `removed` (the container is gone) — with the exit code.
//! The server sends its headers before calling this (the docker CLI starts the container only
//! after it saw them).

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
}

impl Waiter {
    /// Resolves with the exit code; `Err` if the daemon dropped the container's state.
    pub async fn done(mut self) -> Result<i64, DaemonError> {
        let start = self.exits_at_start;
        let cond = self.condition;
        let o = self
            .rx
            .wait_for(|o| match cond {
                WaitCondition::NotRunning => {
                    o.removed || !(o.status.is_active() || o.status == Status::Removing)
                }
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
        let exits_at_start = rx.borrow().exits;
        Ok(Waiter {
            rx,
            condition,
            exits_at_start,
        })
    }
}
