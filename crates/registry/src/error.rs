//! The registry crate's error type. Each error has a [`ErrorKind`] so the daemon can map it to a
//! status code; messages name the registry, repository, digest or URL and say what to do.

use berth_image::content::ContentError;
use berth_image::ImageError;
use berth_oci::Digest;

/// What sort of failure a [`RegistryError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Unauthorized,
    Forbidden,
    Unavailable,
    Internal,
}

/// Errors of the registry client and server.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("connecting to registry {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("registry {host}: {method} {url}: {reason}")]
    Http {
        host: String,
        method: String,
        url: String,
        reason: String,
    },
    #[error("{what} not found on registry {host}: {message}")]
    NotFound {
        host: String,
        what: String,
        message: String,
    },
    #[error("registry {host} refused the credentials for {scope}: {message}; check `berth login {host}`")]
    Unauthorized {
        host: String,
        scope: String,
        message: String,
    },
    /// Docker's words for credentials `GET /v2/` refused at `docker login`.
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed { url: String, status: String },
    /// Docker's words for credentials a token server refused at `docker login`.
    #[error("Get \"{url}\": {message}")]
    LoginRefused { url: String, message: String },
    #[error("registry {host} denied access to {scope}: {message}")]
    Denied {
        host: String,
        scope: String,
        message: String,
    },
    #[error("registry {host} answered {status} to {method} {url}: {message}")]
    Status {
        host: String,
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what} from {host}: digest mismatch, expected {expected}, the content hashes to {actual}; nothing was stored")]
    DigestMismatch {
        host: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what} from {host}: {reason}")]
    BadContent {
        host: String,
        what: String,
        reason: String,
    },
    #[error("{reference}: schema 1 manifests are not supported (deprecated by Docker); push the image again with a current client")]
    Schema1 { reference: String },
    #[error("{reference}: no manifest for platform {platform} in the manifest list")]
    NoPlatform { reference: String, platform: String },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("tls setup for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl RegistryError {
    /// The kind, for a status mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Reference { .. } | RegistryError::Schema1 { .. } => {
                ErrorKind::InvalidArgument
            }
            RegistryError::NotFound { .. } | RegistryError::NoPlatform { .. } => {
                ErrorKind::NotFound
            }
            RegistryError::Unauthorized { .. }
            | RegistryError::LoginFailed { .. }
            | RegistryError::LoginRefused { .. } => ErrorKind::Unauthorized,
            RegistryError::Denied { .. } => ErrorKind::Forbidden,
            RegistryError::Connect { .. }
            | RegistryError::Http { .. }
            | RegistryError::Status { .. }
            | RegistryError::Tls { .. } => ErrorKind::Unavailable,
            RegistryError::DigestMismatch { .. }
            | RegistryError::BadContent { .. }
            | RegistryError::TooLarge { .. } => ErrorKind::Unavailable,
            RegistryError::Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_image::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                _ => ErrorKind::Internal,
            },
            RegistryError::Content(_) | RegistryError::Io { .. } | RegistryError::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }

    /// Whether trying the same request again may succeed (dropped connections, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Connect { .. } | RegistryError::Http { .. } => true,
            RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        RegistryError::Internal(e.to_string())
    }
}
