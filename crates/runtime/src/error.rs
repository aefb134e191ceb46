//! The runtime's error type: one variant per module, rolled up with `#[from]`.

use std::path::PathBuf;

/// Anything that can go wrong while creating or managing a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error("container {id:?} is {state}, cannot {action}")]
    InvalidState {
        id: String,
        state: String,
        action: &'static str,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
