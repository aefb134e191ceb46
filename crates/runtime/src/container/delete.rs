//! `delete`: removes a container's cgroup, its rootfs bind in the shared mount table (when it has
//! no mount namespace of its own) and its state, then runs poststop hooks. A running container
//! is killed first only with `force`; a created one is killed always (it never ran).

use super::state::{State, Status};
use crate::sys::RealSys;
use crate::{hooks, rootfs, Result, RuntimeError};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let state = match State::load(root, id) {
        // A create killed half-way leaves a directory without state.json; a corrupt one is
        // unreadable: with --force, remove whatever is there.
        Err(RuntimeError::NotFound(_)) if force => return remove_dir(root, id),
        Err(RuntimeError::Other(msg)) if force && msg.starts_with("corrupt state") => {
            return remove_dir(root, id)
        }
        other => other?,
    };
    let status = state.status(root);
    match status {
        Status::Stopped => {}
        Status::Created => stop(&state)?,
        _ if force => stop(&state)?,
        _ => {
            return Err(RuntimeError::InvalidState {
                id: id.to_string(),
                state: status.to_string(),
                action: "delete (stop it first or use --force)",
            })
        }
    }
    destroy(root, &state)
}

fn remove_dir(root: &Path, id: &str) -> Result<()> {
    super::state::validate_id(id)?;
    let dir = State::dir(root, id);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::Io {
            what: "remove state dir",
            path: dir,
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Kills every process of the container and waits for the init to be gone.
pub fn stop(state: &State) -> Result<()> {
    let cgroup = state.cgroup()?;
    state.signal_init(Signal::SIGKILL)?;
    if cgroup.exists() {
        for pid in cgroup.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        // Frozen tasks cannot die: let them.
        if matches!(cgroup.is_frozen(), Ok(true)) {
            cgroup.thaw()?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.init_alive() {
        if Instant::now() > deadline {
            return Err(RuntimeError::Other(format!(
                "container {:?}: init {} did not die after SIGKILL",
                state.id, state.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Removes the cgroup and the state dir of a stopped container, then runs poststop hooks.
pub fn destroy(root: &Path, state: &State) -> Result<()> {
    let cgroup = state.cgroup()?;
    if cgroup.exists() {
        for pid in cgroup.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }
    cgroup.destroy()?;
    let dir = State::dir(root, &state.id);
    // Without a mount namespace of its own, the container's mounts sit below a bind in the
    // runtime's mount table: they go now, with the processes.
    if let Some(id) = rootfs::shared::load(&dir) {
        rootfs::shared::release(&state.rootfs, id, &RealSys)?;
    }
    std::fs::remove_dir_all(&dir).map_err(|source| RuntimeError::Io {
        what: "remove state dir",
        path: dir,
        source,
    })?;
    let json = serde_json::to_vec(&state.oci(Status::Stopped)).unwrap_or_default();
    hooks::run_warn(
        "poststop",
        state
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().as_ref()),
        &json,
    );
    Ok(())
}
