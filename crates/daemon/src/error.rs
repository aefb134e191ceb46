//! The daemon's error type. Every error has an [`ErrorKind`]; the HTTP server maps kinds to status
//! codes in exactly one function (`server::error`). Messages the docker CLI shows verbatim keep
//! Docker's wording (`No such image: busybox:latest`), which is the one exception to our lower-case
//! message rule: clients and scripts match on it.

use std::path::PathBuf;

use berth_image::ImageError;
use berth_runtime::error::ErrorKind as RuntimeKind;

/// What sort of failure a [`DaemonError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    /// Refused by policy whatever the state (Docker's 403: a predefined network, a network in use).
    Forbidden,
    /// Credentials a registry refused (Docker's 401 for `POST /auth`).
    Unauthorized,
    InvalidArgument,
    Unavailable,
    NotImplemented,
    Internal,
}

/// Errors of the engine and of the daemon's start-up.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Docker's wording, with the name normalised as Docker does (`nope` → `nope:latest`).
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error(transparent)]
    Image(ImageError),
    /// Docker's wording: `No such container: x`.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A state or name conflict (409), with Docker's wording where clients match on it.
    #[error("{0}")]
    Conflict(String),
    /// Anything else that does not exist (a route, an object).
    #[error("{0}")]
    NotFound(String),
    /// An operation Docker forbids (403), with Docker's wording.
    #[error("{0}")]
    Forbidden(String),
    /// Credentials a registry refused (401), with Docker's wording.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("daemon config: {0}")]
    Config(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// What dockerd reports as an unknown error (500) in another party's words, e.g. a pull
    /// whose registry refused the credentials (`unauthorized: authentication required`).
    #[error("{0}")]
    Unknown(String),
    /// A failure of the container runtime (reported through the shim, or found by the same
    /// rules before it), with the runtime's kind: the status comes from [`Self::kind`], Docker's
    /// exit code for a command that cannot run from [`Self::runtime_kind`]. The message is the
    /// runtime's, in runc's words, which the docker CLI reads.
    #[error("{message}")]
    Runtime { kind: RuntimeKind, message: String },
    /// A plugin that could not be found, activated or called (its own kind).
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
}

impl DaemonError {
    /// The kind, for the status mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DaemonError::NoSuchImage(_)
            | DaemonError::NoSuchContainer(_)
            | DaemonError::NotFound(_) => ErrorKind::NotFound,
            DaemonError::Conflict(_) => ErrorKind::Conflict,
            DaemonError::Forbidden(_) => ErrorKind::Forbidden,
            DaemonError::Unauthorized(_) => ErrorKind::Unauthorized,
            DaemonError::Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_image::ErrorKind::Conflict => ErrorKind::Conflict,
                berth_image::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                berth_image::ErrorKind::Unavailable => ErrorKind::Unavailable,
                berth_image::ErrorKind::Internal => ErrorKind::Internal,
            },
            DaemonError::InvalidArgument(_) | DaemonError::Config(_) => ErrorKind::InvalidArgument,
            DaemonError::NotImplemented(_) => ErrorKind::NotImplemented,
            DaemonError::Unavailable(_) => ErrorKind::Unavailable,
            DaemonError::Io { .. } | DaemonError::Internal(_) | DaemonError::Unknown(_) => {
                ErrorKind::Internal
            }
            DaemonError::Plugin(e) => e.kind(),
            DaemonError::Runtime { kind, .. } => match kind {
                RuntimeKind::NotFound => ErrorKind::NotFound,
                // What the container was given cannot work: Docker's "invalid config" (400).
                RuntimeKind::CommandNotFound
                | RuntimeKind::NotExecutable
                | RuntimeKind::PermissionDenied
                | RuntimeKind::InvalidArgument => ErrorKind::InvalidArgument,
                RuntimeKind::Conflict => ErrorKind::Conflict,
                RuntimeKind::ResourceExhausted => ErrorKind::Unavailable,
                RuntimeKind::System => ErrorKind::Internal,
            },
        }
    }

    /// The runtime's kind, for an error of the container runtime.
    pub fn runtime_kind(&self) -> Option<RuntimeKind> {
        match self {
            DaemonError::Runtime { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// An I/O error on `path` while doing `what` (`"creating directory"`, ...).
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DaemonError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// A blocking task that panicked or was cancelled.
    pub(crate) fn join(e: tokio::task::JoinError) -> Self {
        DaemonError::Internal(format!("background task failed: {e}"))
    }
}

impl From<ImageError> for DaemonError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound(name) => DaemonError::NoSuchImage(docker_image_name(&name)),
            other => DaemonError::Image(other),
        }
    }
}

/// How Docker names a missing image in its message: a reference gets its default tag
/// (`nope` → `nope:latest`), anything else (an ID) stays as given.
fn docker_image_name(name: &str) -> String {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if name.starts_with("sha256:")
        || (hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return name.to_string();
    }
    match berth_oci::Reference::parse(name) {
        Ok(r) => r.with_default_tag().familiar(),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_images_are_named_like_docker() {
        let e = DaemonError::from(ImageError::NotFound("nope".into()));
        assert_eq!(e.to_string(), "No such image: nope:latest");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = DaemonError::from(ImageError::NotFound("docker.io/library/a:1".into()));
        assert_eq!(e.to_string(), "No such image: a:1");
        let e = DaemonError::from(ImageError::NotFound("sha256:abc".into()));
        assert_eq!(e.to_string(), "No such image: sha256:abc");
    }
}
