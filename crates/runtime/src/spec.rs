//! Loading and validating a bundle's `config.json` into an [`oci_spec::runtime::Spec`].
//! Errors name the offending field (e.g. `linux.namespaces[2].type`).

use berth_oci::runtime::Spec;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// Reads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(|e| SpecError::Invalid {
        path,
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}
