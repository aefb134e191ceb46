//! The read-only verbs: `state`, `list` and `ps`, and `pause`/`resume` through the freezer.

use super::state::{State, Status};
use crate::{Result, RuntimeError};
use nix::unistd::Pid;
use std::path::Path;

/// Every container under `root` with its live status, sorted by id; unreadable entries skipped.
pub fn list(root: &Path) -> Result<Vec<(State, Status)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RuntimeError::Io {
                what: "read state root",
                path: root.to_path_buf(),
                source,
            })
        }
    };
    let mut out: Vec<(State, Status)> = entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            let state = State::load(root, &id).ok()?;
            let status = state.status(root);
            Some((state, status))
        })
        .collect();
    out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(out)
}

/// The pids of the container's processes (from its cgroup).
pub fn ps(root: &Path, id: &str) -> Result<Vec<Pid>> {
    let state = State::load(root, id)?;
    let mut pids = state.cgroup()?.pids()?;
    pids.sort();
    Ok(pids)
}

/// Freezes (`pause = true`) or thaws the container.
pub fn pause(root: &Path, id: &str, pause: bool) -> Result<()> {
    let state = State::load(root, id)?;
    let status = state.status(root);
    let (ok, action) = if pause {
        (
            status == Status::Running || status == Status::Created,
            "pause",
        )
    } else {
        (status == Status::Paused, "resume")
    };
    if !ok {
        return Err(RuntimeError::InvalidState {
            id: id.to_string(),
            state: status.to_string(),
            action,
        });
    }
    let cgroup = state.cgroup()?;
    if pause {
        cgroup.freeze()?;
    } else {
        cgroup.thaw()?;
    }
    Ok(())
}
