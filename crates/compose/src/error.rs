//! The loader's error type: every variant names the file (and, from a parsed file, the line,
//! column and key path) and says what to change.

use crate::yaml::Mark;
use std::path::PathBuf;

/// Everything loading a project can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error(transparent)]
    Interpolate(#[from] crate::interpolate::PlacedError),
    #[error(transparent)]
    EnvFile(#[from] crate::envfile::EnvFileError),
    /// A key with a value the Compose Specification does not allow.
    #[error("{mark}: {path}: {message}")]
    Schema {
        mark: Mark,
        path: String,
        message: String,
    },
    /// A project-level problem (no file found, a bad project name, a dependency cycle).
    #[error("{0}")]
    Project(String),
}

impl LoadError {
    pub fn schema(mark: &Mark, path: &str, message: impl Into<String>) -> LoadError {
        LoadError::Schema {
            mark: mark.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, LoadError>;
