//! `pause` / `unpause`: freezes and thaws every process of a running container through its shim
//! (the cgroup freezer), moving it between `running` and `paused`. Pausing a container that is not
//! running, or unpausing one that is not paused, is a 409 with Docker's words.

use super::state::Status;
use super::{shim, ContainerService};
use crate::error::DaemonError;

impl ContainerService {
    /// `POST /containers/{id}/pause`.
    pub async fn pause(&self, name_or_id: &str) -> Result<(), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        match c.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(DaemonError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            _ => {
                return Err(DaemonError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        let handle = entry
            .shim()
            .ok_or_else(|| DaemonError::Conflict(format!("Container {} is not running", c.id)))?;
        tokio::task::spawn_blocking(move || handle.pause())
            .await
            .map_err(DaemonError::join)?
            .map_err(shim::error)?;
        let c = self.commit(&entry, false, |c| c.state.status = Status::Paused)?;
        self.event(&c, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(&self, name_or_id: &str) -> Result<(), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if c.state.status != Status::Paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        self.thaw(&entry).await
    }

    /// Thaws a paused container so that a kill can take it (`rm -f`, `kill`); the caller holds
    /// `entry.op`. A container that is not paused is left alone.
    pub async fn thaw_before_kill(&self, entry: &super::Entry) -> Result<(), DaemonError> {
        if entry.snapshot().state.status != Status::Paused {
            return Ok(());
        }
        self.thaw(entry).await
    }

    /// Resumes the frozen processes and records the container as running.
    async fn thaw(&self, entry: &super::Entry) -> Result<(), DaemonError> {
        if let Some(handle) = entry.shim() {
            tokio::task::spawn_blocking(move || handle.resume())
                .await
                .map_err(DaemonError::join)?
                .map_err(shim::error)?;
        }
        let c = self.commit(entry, false, |c| {
            if c.state.status == Status::Paused {
                c.state.status = Status::Running;
            }
        })?;
        self.event(&c, "unpause", &[]);
        Ok(())
    }
}
