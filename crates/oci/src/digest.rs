//! Content digests (`algorithm:hex`).

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}")]
    Invalid(String),
}

/// A validated content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);
