//! Docker's `save` archive: `manifest.json` (one entry per image: config path, repo tags, layer
//! paths), `repositories`, and the files those name. Docker 25+ writes the files as an OCI layout
//! (`blobs/sha256/…`, `index.json`, `oci-layout`) inside the same tar; Berth writes that form, and
//! reads both it and the older `<id>/layer.tar` + `<hex>.json` form (what skopeo writes).
//!
//! When the archive is also an OCI layout, the manifests come from it (so manifest digests survive a
//! save/load round trip) and the names of `manifest.json` are added to them.

use std::collections::BTreeMap;

use berth_oci::{Digest, Reference};
use serde::{Deserialize, Serialize};

use super::oci_layout::{self, SaveImage, Sink};
use super::{LayerSource, PendingImage, Source};
use crate::content::ContentStore;
use crate::error::ImageError;
use crate::model::Descriptor;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveManifest {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// Whether `src` looks like a Docker save archive.
pub fn is_archive(src: &Source) -> bool {
    src.has("manifest.json")
}

/// The digest a member's name promises: `blobs/sha256/<hex>` or `<hex>.json`.
fn digest_in_name(name: &str) -> Option<Digest> {
    let name = name.trim_start_matches("./");
    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
        return Digest::from_sha256_hex(hex).ok();
    }
    let base = name.rsplit('/').next()?;
    Digest::from_sha256_hex(base.strip_suffix(".json")?).ok()
}

/// Reads every image of a Docker save archive.
pub fn read(src: &Source) -> Result<Vec<PendingImage>, ImageError> {
    let entries: Vec<ArchiveManifest> =
        serde_json::from_slice(&src.read_small("manifest.json")?)
            .map_err(|e| ImageError::archive(format!("manifest.json: {e}")))?;
    let mut from_layout: Vec<PendingImage> = if oci_layout::is_layout(src) {
        oci_layout::read(src, None)?
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for entry in entries {
        let names = entry
            .repo_tags
            .iter()
            .flatten()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let config_bytes = src.read_small(&entry.config)?;
        let config_digest = Digest::sha256_of(&config_bytes);
        if let Some(promised) = digest_in_name(&entry.config) {
            if promised != config_digest {
                return Err(ImageError::invalid(
                    format!("config {}", entry.config),
                    format!(
                        "its name promises {promised} but its content hashes to {config_digest}"
                    ),
                ));
            }
        }
        if let Some(pos) = from_layout
            .iter()
            .position(|p| p.config_digest == config_digest)
        {
            let mut p = from_layout.remove(pos);
            for n in names {
                if !p.names.contains(&n) {
                    p.names.push(n);
                }
            }
            out.push(p);
            continue;
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for l in &entry.layers {
            let path = src.path(l)?;
            let descriptor = match digest_in_name(l) {
                Some(d) => {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    Some(Descriptor::new("", d, size))
                }
                None => None,
            };
            layers.push(LayerSource::File { path, descriptor });
        }
        out.push(PendingImage::new(config_bytes, layers, None, names)?);
    }
    // Images only the layout names (docker 25 lists every image in both, but be lenient).
    out.extend(from_layout);
    Ok(out)
}

/// Writes a Docker save archive (which is also an OCI layout) of `images`.
pub fn write(
    images: &[SaveImage],
    content: &ContentStore,
    sink: &mut dyn Sink,
) -> Result<(), ImageError> {
    oci_layout::write(images, content, sink)?;
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let tags: Vec<String> = img
            .names
            .iter()
            .filter(|n| n.tag().is_some() && n.digest().is_none())
            .map(|n| n.familiar())
            .collect();
        for n in img.names.iter().filter(|n| n.digest().is_none()) {
            if let Some(tag) = n.tag() {
                repositories
                    .entry(n.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), img.config.hex().to_string());
            }
        }
        manifest.push(ArchiveManifest {
            config: oci_layout::blob_path(&img.config),
            repo_tags: Some(tags),
            layers: img
                .layers
                .iter()
                .map(|l| oci_layout::blob_path(&l.digest))
                .collect(),
        });
    }
    let json = |v: serde_json::Result<Vec<u8>>| {
        v.map_err(|e| ImageError::archive(format!("manifest.json: {e}")))
    };
    let m = json(serde_json::to_vec(&manifest))?;
    oci_layout::write_layout_file(sink, "manifest.json", &m)?;
    let r = json(serde_json::to_vec(&repositories))?;
    oci_layout::write_layout_file(sink, "repositories", &r)
}
