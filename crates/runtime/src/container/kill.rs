//! `kill`: sends a signal to the init, or with `all` to every process of the container's cgroup.

use super::state::State;
use crate::{Result, RuntimeError};
use nix::sys::signal::Signal;
use std::path::Path;

/// Parses `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || RuntimeError::Other(format!("unknown signal {text:?}"));
    let number = berth_oci::signal::parse_signal(text).map_err(|_| bad())?;
    Signal::try_from(number).map_err(|_| bad())
}

pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let state = State::load(root, id)?;
    let status = state.status(root);
    if !status.can_kill() {
        return Err(RuntimeError::InvalidState {
            id: id.to_string(),
            state: status.to_string(),
            action: "kill",
        });
    }
    if all {
        for pid in state.cgroup()?.pids()? {
            match nix::sys::signal::kill(pid, signal) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => {
                    return Err(RuntimeError::Sys {
                        what: format!("signal {signal} to {pid} of {id}"),
                        source,
                    })
                }
            }
        }
        return Ok(());
    }
    state.signal_init(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
    }
}
