//! The image model: descriptors, manifests (OCI and Docker schema2), indexes / manifest lists, image
//! configs with their history, and the diff-ID → chain-ID arithmetic.
//!
//! These are lenient serde types: unknown fields of a config are kept (`extra`) so `inspect` shows what
//! the image author wrote, but the stored blob bytes — never a re-serialisation — are what digests are
//! computed over. Every descriptor carries a digest and a size that the loader checks.

mod config;
mod manifest;

use std::collections::BTreeMap;

use berth_oci::Digest;
use serde::{Deserialize, Serialize};

pub use config::{ContainerConfig, History, ImageConfig, RootFs};
pub use manifest::{select_platform, Index, Manifest, ManifestError, ManifestOrIndex, Platform};

/// Media types Berth reads and writes.
pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// The annotation naming an image in an OCI layout's `index.json`.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// containerd's annotation with the full image name (docker 25+ `save` writes it).
    pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

    /// Whether a media type names an index / manifest list.
    pub fn is_index(mt: &str) -> bool {
        mt == OCI_INDEX || mt == DOCKER_LIST
    }

    /// Whether a media type names an image manifest.
    pub fn is_manifest(mt: &str) -> bool {
        mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
    }
}

/// A content descriptor: what a blob is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with the given media type.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
    }

    /// A plain descriptor.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}

/// A mismatch between a descriptor and the bytes it describes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{what} {expected}: size mismatch, descriptor says {expected_size} bytes, content has {actual_size}")]
    Size {
        what: String,
        expected: Digest,
        expected_size: u64,
        actual_size: u64,
    },
    #[error("{what}: digest mismatch, descriptor says {expected}, content hashes to {actual}")]
    Digest {
        what: String,
        expected: Digest,
        actual: Digest,
    },
}

/// Checks `bytes` against a descriptor (size first, then digest).
pub fn verify_bytes(what: &str, desc: &Descriptor, bytes: &[u8]) -> Result<(), VerifyError> {
    if desc.size != bytes.len() as u64 {
        return Err(VerifyError::Size {
            what: what.to_string(),
            expected: desc.digest.clone(),
            expected_size: desc.size,
            actual_size: bytes.len() as u64,
        });
    }
    let actual = Digest::sha256_of(bytes);
    if actual != desc.digest {
        return Err(VerifyError::Digest {
            what: what.to_string(),
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(())
}

/// Chain IDs of a stack of diff IDs, bottom first:
/// `ChainID(L0) = DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// An image's layer stack with its chain IDs worked out once (one hash per layer), for code
/// that handles the layers one at a time: a pull unpacking layer after layer looks each chain
/// ID and its parent up instead of hashing the stack below it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerChain {
    diff_ids: Vec<Digest>,
    chain_ids: Vec<Digest>,
}

impl LayerChain {
    pub fn new(diff_ids: Vec<Digest>) -> LayerChain {
        let chain_ids = chain_ids(&diff_ids);
        LayerChain {
            diff_ids,
            chain_ids,
        }
    }

    pub fn len(&self) -> usize {
        self.diff_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diff_ids.is_empty()
    }

    pub fn diff_ids(&self) -> &[Digest] {
        &self.diff_ids
    }

    pub fn chain_ids(&self) -> &[Digest] {
        &self.chain_ids
    }

    /// Layer `index`'s diff ID, chain ID and its parent's chain ID.
    pub fn layer(&self, index: usize) -> Option<(&Digest, &Digest, Option<&Digest>)> {
        let parent = match index.checked_sub(1) {
            Some(p) => Some(self.chain_ids.get(p)?),
            None => None,
        };
        Some((
            self.diff_ids.get(index)?,
            self.chain_ids.get(index)?,
            parent,
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
