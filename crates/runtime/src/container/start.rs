//! `start`: releases a created container's init from the exec fifo, then runs poststart hooks.

use super::state::{State, Status, EXEC_FIFO};
use crate::{hooks, Result, RuntimeError};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::os::fd::AsFd;
use std::path::Path;

pub fn start(root: &Path, id: &str) -> Result<State> {
    let state = State::load(root, id)?;
    let status = state.status(root);
    if !status.can_start() {
        return Err(RuntimeError::InvalidState {
            id: id.to_string(),
            state: status.to_string(),
            action: "start",
        });
    }
    let path = State::dir(root, id).join(EXEC_FIFO);
    // Non-blocking, so a dead init cannot hang us: poll, and check the init between polls.
    let fifo = nix::fcntl::open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| RuntimeError::Sys {
        what: format!("open {}", path.display()),
        source,
    })?;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::Error::EINTR) => {}
            Ok(_) => {
                let mut byte = [0u8; 1];
                match nix::unistd::read(&fifo, &mut byte) {
                    Ok(1) => break,
                    Ok(_) | Err(nix::Error::EAGAIN) => {}
                    Err(source) => {
                        return Err(RuntimeError::Sys {
                            what: format!("read {}", path.display()),
                            source,
                        })
                    }
                }
            }
            Err(source) => {
                return Err(RuntimeError::Sys {
                    what: "poll exec fifo".into(),
                    source,
                })
            }
        }
        if !state.init_alive() {
            let _ = std::fs::remove_file(&path);
            return Err(RuntimeError::Other(format!(
                "container {id:?}: init exited before start"
            )));
        }
    }
    std::fs::remove_file(&path).map_err(|source| RuntimeError::Io {
        what: "remove exec fifo",
        path: path.clone(),
        source,
    })?;
    let json = serde_json::to_vec(&state.oci(Status::Running)).unwrap_or_default();
    hooks::run_warn(
        "poststart",
        state
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().as_ref()),
        &json,
    );
    Ok(state)
}
