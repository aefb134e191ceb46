//! The runtime's error type: one variant per module, rolled up with `#[from]`, and the
//! [`ErrorKind`] every error has.
//!
//! The kind is what callers in other processes decide on: the setup process sends it over the
//! setup socket with its message (a tag byte, [`ErrorKind::tag`]), the shim puts it on its wire
//! (by name, [`ErrorKind::name`]), and the daemon maps it to a status code and, for a command
//! that cannot run, to Docker's exit codes (127 [`ErrorKind::CommandNotFound`], 126
//! [`ErrorKind::NotExecutable`]). Nobody reads a message to learn what went wrong.

use nix::errno::Errno;
use std::path::PathBuf;

/// What sort of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Something the spec or the request names does not exist (a path, a container, a process).
    NotFound,
    /// The kernel refused an operation on something the spec names (EACCES, EPERM, EROFS).
    PermissionDenied,
    /// `process.args[0]` exists but cannot be run: a directory, no execute permission, a format
    /// the kernel cannot exec (Docker exits 126).
    NotExecutable,
    /// `process.args[0]` is not in `$PATH`, or its path does not exist (Docker exits 127).
    CommandNotFound,
    /// The spec or an argument is invalid.
    InvalidArgument,
    /// The container exists already, or is in a state that does not allow the operation.
    Conflict,
    /// A limit ran out: memory, disk space, descriptors, processes.
    ResourceExhausted,
    /// Anything else: a system call or I/O failure the caller cannot fix. Also the kind of an
    /// error that arrived without one (an older peer).
    System,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::NotExecutable,
        ErrorKind::CommandNotFound,
        ErrorKind::InvalidArgument,
        ErrorKind::Conflict,
        ErrorKind::ResourceExhausted,
        ErrorKind::System,
    ];

    /// The byte that stands for the kind on the setup socket.
    pub fn tag(self) -> u8 {
        match self {
            ErrorKind::NotFound => b'N',
            ErrorKind::PermissionDenied => b'P',
            ErrorKind::NotExecutable => b'X',
            ErrorKind::CommandNotFound => b'C',
            ErrorKind::InvalidArgument => b'I',
            ErrorKind::Conflict => b'K',
            ErrorKind::ResourceExhausted => b'R',
            ErrorKind::System => b'S',
        }
    }

    /// The kind of a tag byte; an unknown byte is [`ErrorKind::System`].
    pub fn from_tag(tag: u8) -> ErrorKind {
        Self::ALL
            .into_iter()
            .find(|k| k.tag() == tag)
            .unwrap_or(ErrorKind::System)
    }

    /// The kind's name on the shim's wire (`command-not-found`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::PermissionDenied => "permission-denied",
            ErrorKind::NotExecutable => "not-executable",
            ErrorKind::CommandNotFound => "command-not-found",
            ErrorKind::InvalidArgument => "invalid-argument",
            ErrorKind::Conflict => "conflict",
            ErrorKind::ResourceExhausted => "resource-exhausted",
            ErrorKind::System => "system",
        }
    }

    /// The kind of a name; an unknown name (from a newer peer) is [`ErrorKind::System`].
    pub fn from_name(name: &str) -> ErrorKind {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .unwrap_or(ErrorKind::System)
    }

    /// The kind of a failed system call.
    pub fn of_errno(errno: Errno) -> ErrorKind {
        match errno {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ESRCH | Errno::ENODEV | Errno::ENXIO => {
                ErrorKind::NotFound
            }
            Errno::EACCES | Errno::EPERM | Errno::EROFS => ErrorKind::PermissionDenied,
            Errno::EEXIST | Errno::EBUSY => ErrorKind::Conflict,
            Errno::ENOSPC
            | Errno::EDQUOT
            | Errno::ENOMEM
            | Errno::EMFILE
            | Errno::ENFILE
            | Errno::EAGAIN
            | Errno::EUSERS => ErrorKind::ResourceExhausted,
            _ => ErrorKind::System,
        }
    }

    /// The kind of a failed `execve` of the container's program, as Docker tells them apart:
    /// missing (ENOENT, ENOTDIR) is 127, present but not runnable (EACCES, ENOEXEC, EISDIR) 126.
    pub fn of_exec_errno(errno: Errno) -> ErrorKind {
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => ErrorKind::CommandNotFound,
            Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR => ErrorKind::NotExecutable,
            other => Self::of_errno(other),
        }
    }

    /// The kind of an I/O error (its errno when it has one).
    pub fn of_io(e: &std::io::Error) -> ErrorKind {
        match e.raw_os_error() {
            Some(n) => Self::of_errno(Errno::from_raw(n)),
            None => match e.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
                _ => ErrorKind::System,
            },
        }
    }

    /// The kind of the first errno found in `e`'s chain of sources, else [`ErrorKind::System`].
    fn of_sources(e: &(dyn std::error::Error + 'static)) -> ErrorKind {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(errno) = e.downcast_ref::<Errno>() {
                return Self::of_errno(*errno);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Self::of_io(io);
            }
            next = e.source();
        }
        ErrorKind::System
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Any string is accepted: a name this version does not know is [`ErrorKind::System`].
impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(ErrorKind::from_name(&name))
    }
}

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
    /// A failure whose kind was decided where it happened: the program to run (not found, not
    /// executable), a bad option, or whatever the setup process reported over the setup socket
    /// (its kind travels with the message).
    #[error("{message}")]
    Failed { kind: ErrorKind, message: String },
    /// Anything else ([`ErrorKind::System`]).
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    /// A failure of `kind` with `message` (what failed on what).
    pub fn failed(kind: ErrorKind, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Failed {
            kind,
            message: message.into(),
        }
    }

    /// An invalid spec field or option.
    pub fn invalid(message: impl Into<String>) -> RuntimeError {
        Self::failed(ErrorKind::InvalidArgument, message)
    }

    /// What sort of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use crate::cgroups::CgroupError;
        use crate::rootfs::RootfsError;
        use crate::security::SecurityError;
        use crate::spec::SpecError;
        match self {
            RuntimeError::Spec(SpecError::Invalid { .. }) => ErrorKind::InvalidArgument,
            RuntimeError::Spec(SpecError::Read { source, .. }) => ErrorKind::of_io(source),
            RuntimeError::Rootfs(RootfsError::Invalid { .. } | RootfsError::Escape { .. }) => {
                ErrorKind::InvalidArgument
            }
            RuntimeError::Rootfs(e) => ErrorKind::of_sources(e),
            RuntimeError::Cgroup(
                CgroupError::Invalid { .. }
                | CgroupError::InvalidPath { .. }
                | CgroupError::Unsupported { .. },
            ) => ErrorKind::InvalidArgument,
            RuntimeError::Cgroup(e) => ErrorKind::of_sources(e),
            RuntimeError::Security(
                SecurityError::UnknownCapability { .. }
                | SecurityError::RlimitOrder { .. }
                | SecurityError::RlimitDuplicate { .. }
                | SecurityError::Umask(_)
                | SecurityError::SeccompInvalid { .. }
                | SecurityError::OomScoreAdjRange(_),
            ) => ErrorKind::InvalidArgument,
            RuntimeError::Security(e) => ErrorKind::of_sources(e),
            RuntimeError::Hook(e) => ErrorKind::of_sources(e),
            RuntimeError::NotFound(_) => ErrorKind::NotFound,
            RuntimeError::AlreadyExists(_) | RuntimeError::InvalidState { .. } => {
                ErrorKind::Conflict
            }
            RuntimeError::Io { source, .. } => ErrorKind::of_io(source),
            RuntimeError::Sys { source, .. } => ErrorKind::of_errno(*source),
            RuntimeError::Failed { kind, .. } => *kind,
            RuntimeError::Other(_) => ErrorKind::System,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_names_round_trip_and_unknown_ones_are_system() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_tag(k.tag()), k);
            assert_eq!(ErrorKind::from_name(k.name()), k);
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).ok(), Some(k));
        }
        assert_eq!(ErrorKind::from_tag(0), ErrorKind::System);
        assert_eq!(ErrorKind::from_name("from-the-future"), ErrorKind::System);
        assert_eq!(
            serde_json::from_str::<ErrorKind>("\"from-the-future\"").ok(),
            Some(ErrorKind::System)
        );
    }

    #[test]
    fn errnos_have_kinds() {
        assert_eq!(
            ErrorKind::of_exec_errno(Errno::ENOENT),
            ErrorKind::CommandNotFound
        );
        for e in [Errno::EACCES, Errno::ENOEXEC, Errno::EISDIR] {
            assert_eq!(ErrorKind::of_exec_errno(e), ErrorKind::NotExecutable);
        }
        assert_eq!(ErrorKind::of_errno(Errno::ENOENT), ErrorKind::NotFound);
        assert_eq!(
            ErrorKind::of_errno(Errno::ENOSPC),
            ErrorKind::ResourceExhausted
        );
        let io = RuntimeError::Io {
            what: "open",
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(io.kind(), ErrorKind::PermissionDenied);
        let hook = RuntimeError::from(crate::hooks::HookError::Spawn {
            point: "prestart",
            path: "/h".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        });
        assert_eq!(hook.kind(), ErrorKind::NotFound);
        assert_eq!(RuntimeError::Other("x".into()).kind(), ErrorKind::System);
        assert_eq!(
            RuntimeError::AlreadyExists("c".into()).kind(),
            ErrorKind::Conflict
        );
    }
}
