//! `kill`: sends a signal (name like `KILL`/`SIGKILL` or a number) to the container's init through
//! its shim; with SIGKILL it answers once the container is down, as Docker does. Marks the container as stopped by the user, so restart policies leave it alone, as
//! Docker does. A paused container is thawed first when the signal should end it (see
//! [`thaws_paused`]).

use super::state::Status;
use super::{shim, ContainerService};
use crate::error::DaemonError;

/// Parses a signal as Docker accepts it: `9`, `KILL`, `SIGKILL`, `sigkill`.
pub fn parse_signal(text: &str) -> Result<i32, DaemonError> {
    berth_oci::signal::parse_signal(text)
        .map_err(|_| DaemonError::InvalidArgument(format!("Invalid signal: {text}")))
}

/// Whether a kill with `sig` thaws a paused container first, as Docker's: SIGKILL always, any
/// signal when the container has no `StopSignal`, else only its stop signal. Other signals wait,
/// pending, until `unpause`.
pub(crate) fn thaws_paused(sig: i32, stop_signal: Option<&str>) -> bool {
    sig == super::start::libc_sigkill()
        || stop_signal
            .filter(|s| !s.is_empty())
            .is_none_or(|s| parse_signal(s).is_ok_and(|stop| stop == sig))
}

impl ContainerService {
    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name_or_id: &str, signal: Option<&str>) -> Result<(), DaemonError> {
        let sig = parse_signal(signal.unwrap_or("SIGKILL"))?;
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        if c.state.status == Status::Restarting {
            // Nothing runs during the backoff: the kill just cancels the restart.
            let c = self.commit(&entry, false, |c| {
                c.state.manually_stopped = true;
                c.state.status = Status::Exited;
            })?;
            self.event(&c, "kill", &[("signal", sig.to_string())]);
            return Ok(());
        }
        let paused = c.state.status == Status::Paused;
        if paused && thaws_paused(sig, c.config.stop_signal.as_deref()) {
            self.thaw_before_kill(&entry).await?;
        } else if !paused && !c.state.status.can_kill() {
            return Err(c.state.status.refusal(&c.id, "kill").into());
        }
        let handle = entry
            .shim()
            .ok_or_else(|| DaemonError::Conflict(format!("Container {} is not running", c.id)))?;
        self.commit(&entry, false, |c| c.state.manually_stopped = true)?;
        shim::kill(&handle, sig, false).await?;
        self.event(&c, "kill", &[("signal", sig.to_string())]);
        if sig == super::start::libc_sigkill() {
            // As Docker's: a SIGKILL answers once the container is down (its exit recorded), so
            // an inspect or `rm` right after sees it stopped.
            super::stop::until_not_running(&entry, Some(super::stop::AFTER_KILL)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), 10);
        assert!(parse_signal("BOGUS").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn which_kills_thaw_a_paused_container() {
        assert!(thaws_paused(9, Some("SIGUSR1")));
        assert!(thaws_paused(10, None));
        assert!(thaws_paused(10, Some("USR1")));
        assert!(!thaws_paused(15, Some("SIGUSR1")));
    }
}
