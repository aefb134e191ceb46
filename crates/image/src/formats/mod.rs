//! Image archive formats, in and out: Docker's `save` archive ([`docker_archive`]), the OCI image
//! layout as a directory or a tar ([`oci_layout`]), a rootfs tar imported as a one-layer image
//! ([`import`]) and a snapshot exported as a flat tar ([`export`]).
//!
//! Readers turn their input into [`PendingImage`]s: verified manifests and configs plus the layer
//! files still to be verified while they are written and unpacked. The store commits pending images
//! all-or-nothing (see [`crate::store`]), so a reader never makes anything visible itself.

pub mod docker_archive;
pub mod export;
pub mod import;
pub mod oci_layout;
mod source;

use std::path::PathBuf;

use berth_oci::{Digest, Reference};

use crate::model::{Descriptor, ImageConfig};

pub use source::Source;

/// Largest manifest, index or config Berth reads into memory.
pub const MAX_JSON_BYTES: u64 = 16 << 20;

/// Where a layer of a pending image comes from.
#[derive(Debug, Clone)]
pub enum LayerSource {
    /// A file of the archive, with the descriptor that names it when the format has one.
    File {
        path: PathBuf,
        descriptor: Option<Descriptor>,
    },
    /// A blob already in the content store.
    Blob(Descriptor),
}

/// An image read from an archive, not yet in the store.
#[derive(Debug, Clone)]
pub struct PendingImage {
    /// The manifest bytes (already verified against their descriptor) and media type; `None` for
    /// formats without a manifest (old docker archives), in which case the store writes one.
    pub manifest: Option<(String, Vec<u8>)>,
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    pub layers: Vec<LayerSource>,
    /// Names to point at the image once it is stored.
    pub names: Vec<Reference>,
    /// The image this one was made from (commit).
    pub parent: Option<String>,
}

impl PendingImage {
    /// Builds a pending image from a verified config, checking it against its layer count.
    pub fn new(
        config_bytes: Vec<u8>,
        layers: Vec<LayerSource>,
        manifest: Option<(String, Vec<u8>)>,
        names: Vec<Reference>,
    ) -> Result<Self, crate::ImageError> {
        let config_digest = Digest::sha256_of(&config_bytes);
        let config =
            ImageConfig::parse(&config_bytes).map_err(|source| crate::ImageError::Config {
                digest: config_digest.to_string(),
                source,
            })?;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(crate::ImageError::invalid(
                format!("config {config_digest}"),
                format!(
                    "rootfs.diff_ids lists {} layers but the manifest has {}",
                    config.rootfs.diff_ids.len(),
                    layers.len()
                ),
            ));
        }
        Ok(PendingImage {
            manifest,
            config_digest,
            config_bytes,
            config,
            layers,
            names,
            parent: None,
        })
    }
}

/// What a load reports per image, like `docker load` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    /// Familiar names now pointing at it.
    pub names: Vec<String>,
}
