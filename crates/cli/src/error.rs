//! The CLI's error type and its mapping to docker's exit codes and stderr texts: flag errors exit
//! 125, argument-count and daemon errors exit 1 (`run`/`create` wrap theirs as 125), and a
//! container's own status passes through silently.

use thiserror::Error;

/// Everything a command can fail with.
#[derive(Debug, Error)]
pub enum CliError {
    /// A bad flag or flag value (exit 125); the message includes the usage block.
    #[error("{message}")]
    Flag { message: String },
    /// Wrong number of positional arguments (exit 1); the message includes the usage block.
    #[error("{message}")]
    Args { message: String },
    /// The daemon answered with an error status and `{"message": ...}`.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// The daemon's socket could not be reached.
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")]
    Connect { host: String },
    /// A transport or protocol failure talking to the daemon.
    #[error("error during connect to {host}: {detail}")]
    Transport { host: String, detail: String },
    /// A local failure (files, terminal, bad input) with its message.
    #[error("{0}")]
    Message(String),
    /// A `docker run`-style status error: printed as `berth: <msg>` plus a help hint.
    #[error("berth: {message}\n\nRun 'berth {command} --help' for more information")]
    Status {
        command: String,
        message: String,
        code: i32,
    },
    /// Exit silently with this status (the container's or exec'd process's own code).
    #[error("exit status {0}")]
    Exit(i32),
}

impl CliError {
    /// Docker's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Flag { .. } => 125,
            CliError::Status { code, .. } => *code,
            CliError::Exit(c) => *c,
            _ => 1,
        }
    }

    /// Whether this is a daemon answer with the given HTTP status.
    pub fn is_status(&self, want: u16) -> bool {
        matches!(self, CliError::Daemon { status, .. } if *status == want)
    }

    /// Wraps an error as `run`/`create` report it (exit 125 unless it already carries a code).
    pub fn into_status(self, command: &str) -> CliError {
        match self {
            CliError::Flag { .. }
            | CliError::Args { .. }
            | CliError::Status { .. }
            | CliError::Exit(_) => self,
            other => CliError::Status {
                command: command.into(),
                message: other.to_string(),
                code: 125,
            },
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Message(e.to_string())
    }
}

/// Shorthand for results of CLI functions.
pub type Result<T> = std::result::Result<T, CliError>;

/// Builds a `CliError::Message`.
pub fn msg(s: impl Into<String>) -> CliError {
    CliError::Message(s.into())
}
