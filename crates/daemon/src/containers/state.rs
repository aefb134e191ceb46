//! The container lifecycle as an explicit state machine. Every verb asks [`Status`] whether it may
//! run (`can_start`, `can_kill`, `can_remove`, ...); every change of a record goes through the
//! service's one write path (`ContainerService::commit`), which checks the move with
//! [`Status::check_move`] and refuses an illegal one before anything is stored. An illegal move is a
//! typed [`StateError`] that the server answers with 409, never a panic.
//!
//! ```text
//!   create ──► created ──start──► running ──exit──► exited ──start──► running
//!                 │                 │  ▲               │
//!                 │          (policy) ▼  │ (backoff)     │
//!                 │               restarting ──────────┘
//!                 └──────────────┬─────────────────────┘
//!                            removing ──► (gone)          dead: removal failed half-way
//! ```

use serde::{Deserialize, Serialize};

/// Where a container is in its lifecycle (Docker's `State.Status` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

/// A verb that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("container {id} is {status}: cannot {verb} it")]
    Illegal {
        id: String,
        status: &'static str,
        verb: &'static str,
    },
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("cannot remove container \"/{name}\": container is {status}: stop the container before removing or force remove")]
    RemoveRunning { name: String, status: &'static str },
    #[error("removal of container {0} is already in progress")]
    RemovalInProgress(String),
    #[error("Container {0} is paused, unpause the container before stopping or killing")]
    Paused(String),
    #[error("container {id} is {from}: it cannot become {to}")]
    IllegalMove {
        id: String,
        from: &'static str,
        to: &'static str,
    },
}

impl Status {
    /// Docker's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Parses Docker's name of a state (the `status` filter).
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => return None,
        })
    }

    /// Whether a process is (or is about to be) alive.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// `start` may run (a running container answers 304 before asking this).
    pub fn can_start(self) -> bool {
        matches!(self, Status::Created | Status::Exited | Status::Restarting)
    }

    /// `kill` and `stop` may signal the process.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Running | Status::Restarting)
    }

    /// `rm` may proceed (with `force`, an active container is killed first).
    pub fn can_remove(self, force: bool) -> bool {
        match self {
            Status::Created | Status::Exited | Status::Dead => true,
            Status::Running | Status::Paused | Status::Restarting => force,
            Status::Removing => false,
        }
    }

    /// Whether moving from `self` to `to` is a legal edge of the lifecycle.
    pub fn allows(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (Removing, Removing) => false,
            (_, Removing) | (_, Dead) => true,
            (Created | Exited | Restarting, Running) => true,
            (Running | Paused | Restarting, Exited) => true,
            // A paused process can still die (killed from the host): its policy applies.
            (Paused, Restarting) => true,
            // A start that failed before the process ran leaves the container exited too.
            (Created, Exited) => true,
            (Running, Paused) | (Paused, Running) => true,
            (Running | Exited, Restarting) => true,
            (Removing, Exited) => true,
            _ => false,
        }
    }

    /// Moves to `to` or explains why not.
    pub fn transition(
        self,
        id: &str,
        to: Status,
        verb: &'static str,
    ) -> Result<Status, StateError> {
        if self.allows(to) {
            Ok(to)
        } else {
            Err(self.refusal(id, verb))
        }
    }

    /// The check of the one write path: staying in a state is always allowed (a record changes
    /// more than its status), any other move must be an edge of the lifecycle.
    pub fn check_move(self, id: &str, to: Status) -> Result<(), StateError> {
        if self == to || self.allows(to) {
            Ok(())
        } else {
            Err(StateError::IllegalMove {
                id: id.to_string(),
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// The error refusing `verb` in this state.
    pub fn refusal(self, id: &str, verb: &'static str) -> StateError {
        match (self, verb) {
            (Status::Removing, _) => StateError::RemovalInProgress(id.to_string()),
            (Status::Paused, "kill" | "stop") => StateError::Paused(id.to_string()),
            (_, "kill") => StateError::NotRunning(id.to_string()),
            _ => StateError::Illegal {
                id: id.to_string(),
                status: self.as_str(),
                verb,
            },
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_edges() {
        assert!(Status::Created.can_start());
        assert!(Status::Exited.can_start());
        assert!(!Status::Running.can_start());
        assert!(!Status::Removing.can_start());
        assert!(Status::Running.can_kill());
        assert!(!Status::Exited.can_kill());
        assert!(Status::Exited.can_remove(false));
        assert!(!Status::Running.can_remove(false));
        assert!(Status::Running.can_remove(true));
        assert!(!Status::Removing.can_remove(true));
        assert!(Status::Created.allows(Status::Running));
        assert!(!Status::Created.allows(Status::Paused));
        assert!(!Status::Exited.allows(Status::Paused));
    }

    #[test]
    fn the_write_path_refuses_moves_off_the_lifecycle() {
        use Status::*;
        let all = [Created, Running, Paused, Restarting, Removing, Exited, Dead];
        // Every move the verbs make.
        for (from, to) in [
            (Created, Running),
            (Exited, Running),
            (Restarting, Running),
            (Created, Exited),
            (Running, Exited),
            (Running, Restarting),
            (Paused, Restarting),
            (Running, Paused),
            (Paused, Running),
            (Exited, Removing),
            (Running, Removing),
            (Removing, Dead),
            (Removing, Exited),
        ] {
            assert!(from.check_move("c", to).is_ok(), "{from} -> {to}");
        }
        for s in all {
            assert!(s.check_move("c", s).is_ok(), "{s} -> {s}");
        }
        // And some that no verb may make.
        for (from, to) in [
            (Exited, Paused),
            (Created, Paused),
            (Dead, Running),
            (Removing, Running),
            (Dead, Exited),
            (Exited, Created),
            (Running, Created),
        ] {
            let err = from.check_move("c", to).unwrap_err();
            assert!(
                matches!(err, StateError::IllegalMove { .. }),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn refusals_are_typed() {
        let e = Status::Exited
            .transition("abc", Status::Paused, "pause")
            .unwrap_err();
        assert!(matches!(e, StateError::Illegal { .. }));
        assert_eq!(
            Status::Exited.refusal("abc", "kill").to_string(),
            "Container abc is not running"
        );
        assert!(matches!(
            Status::Removing.refusal("abc", "start"),
            StateError::RemovalInProgress(_)
        ));
    }
}
