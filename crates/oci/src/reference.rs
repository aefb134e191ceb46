//! Image references (`[registry/][repository/]name[:tag][@digest]`), normalised like Docker.

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {0}")]
    Invalid(String),
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<crate::Digest>,
}
