//! The image store's error type and its kinds (the daemon maps each kind to one HTTP status).

use std::path::PathBuf;

use crate::content::ContentError;
use crate::metadata::MetadataError;
use crate::model::{ManifestError, VerifyError};

/// What sort of failure an [`ImageError`] is, for the daemon's status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Unavailable,
    Internal,
}

/// Errors of the image store façade, the formats and GC.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no such image: {0}")]
    NotFound(String),
    #[error(
        "image id prefix {prefix:?} is ambiguous: it matches {count} images; give more digits"
    )]
    Ambiguous { prefix: String, count: usize },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Reference(#[from] berth_oci::ReferenceError),
    #[error(transparent)]
    Digest(#[from] berth_oci::DigestError),
    #[error("invalid archive: {0}")]
    Archive(String),
    /// A loaded archive is larger than [`crate::store::Limits::load_bytes`].
    #[error("the archive is larger than the load limit of {limit} bytes uncompressed; refusing (nothing was stored)")]
    LoadTooLarge { limit: u64 },
    #[error("invalid image {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("invalid image: {0}")]
    Verify(#[from] VerifyError),
    #[error("invalid image: {0}")]
    Manifest(#[from] ManifestError),
    #[error("image config {digest}: {source}")]
    Config {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("layer {index} of image {image}: diff id mismatch, the config says {expected}, the layer's uncompressed tar hashes to {actual}")]
    DiffId {
        image: String,
        index: usize,
        expected: String,
        actual: String,
    },
    #[error("invalid change {change:?}: {reason}")]
    Change { change: String, reason: String },
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("image store i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// The kind of failure, for the daemon's one status-mapping function.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Ambiguous { .. }
            | ImageError::Reference(_)
            | ImageError::Digest(_)
            | ImageError::Archive(_)
            | ImageError::LoadTooLarge { .. }
            | ImageError::Invalid { .. }
            | ImageError::Verify(_)
            | ImageError::Manifest(_)
            | ImageError::Config { .. }
            | ImageError::DiffId { .. }
            | ImageError::Change { .. }
            | ImageError::Layer(_) => ErrorKind::InvalidArgument,
            ImageError::Content(crate::content::ContentError::NotFound { .. }) => {
                ErrorKind::NotFound
            }
            ImageError::Content(_)
            | ImageError::Snapshot(_)
            | ImageError::Metadata(_)
            | ImageError::Io { .. } => ErrorKind::Internal,
        }
    }

    /// An archive error.
    pub(crate) fn archive(msg: impl Into<String>) -> Self {
        ImageError::Archive(msg.into())
    }

    /// An invalid-image error naming the object.
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        ImageError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Attaches a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, ImageError> {
        self.map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
