//! Committing pending images all-or-nothing: blobs first (verified), then layers (unpacked, diff IDs
//! checked), then one metadata transaction that makes the images and their names visible. On any
//! error nothing becomes visible and a GC pass removes what the attempt wrote.

use std::io::Read;

use berth_oci::Digest;

use super::{names, ImageStore};
use crate::error::{ImageError, IoContext};
use crate::formats::{LayerSource, LoadedImage, PendingImage};
use crate::layer::{self, Compression};
use crate::metadata::{self, ImageBlob, ImageLayer, ImageRecord, NewImage};
use crate::model::{chain_ids, media, Descriptor, Manifest};

impl ImageStore {
    /// Stores `pending` images: all of them, or — on error — none, leaving the store as it was.
    /// (Registry pulls write their blobs, then call this.)
    pub fn commit_pending(
        &self,
        pending: Vec<PendingImage>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let _op = self.shared_op();
        self.commit_pending_locked(pending)
    }

    /// [`ImageStore::commit_pending`] for callers that already hold the shared operation lock.
    pub(crate) fn commit_pending_locked(
        &self,
        pending: Vec<PendingImage>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let result = self.try_commit(&pending);
        if result.is_err() {
            // The pins of the attempt are gone; free what it wrote that nothing else uses.
            let _ = self.gc();
        }
        result
    }

    fn try_commit(&self, pending: &[PendingImage]) -> Result<Vec<LoadedImage>, ImageError> {
        let mut pin = self.pins().pin([]);
        let mut staged = Vec::with_capacity(pending.len());
        for p in pending {
            let image = p.config_digest.to_string();
            pin.add([image.clone()]);
            self.content().write_blob(
                Some(&p.config_digest),
                Some(p.config_bytes.len() as u64),
                &p.config_bytes[..],
            )?;
            let mut descs = Vec::with_capacity(p.layers.len());
            for l in &p.layers {
                let desc = self.write_layer_blob(l, &mut pin)?;
                descs.push(desc);
            }
            let (manifest_mt, manifest_bytes) = match &p.manifest {
                Some(m) => m.clone(),
                None => synthesize_manifest(p, &descs)?,
            };
            let manifest_digest = Digest::sha256_of(&manifest_bytes);
            pin.add([manifest_digest.to_string()]);
            self.content().write_blob(
                Some(&manifest_digest),
                Some(manifest_bytes.len() as u64),
                &manifest_bytes[..],
            )?;
            let diff_ids = &p.config.rootfs.diff_ids;
            let chains = chain_ids(diff_ids);
            pin.add(chains.iter().map(|c| c.to_string()));
            let mut size = 0;
            let mut layers = Vec::with_capacity(chains.len());
            for (i, chain) in chains.iter().enumerate() {
                let rec = self.ensure_layer(&super::unpack::LayerJob {
                    image: &image,
                    index: i,
                    chain_id: chain,
                    parent: i.checked_sub(1).map(|p| &chains[p]),
                    diff_id: &diff_ids[i],
                    blob: &descs[i].digest,
                })?;
                size += rec.size;
                layers.push(ImageLayer {
                    chain_id: chain.to_string(),
                    blob_digest: descs[i].digest.to_string(),
                    blob_size: descs[i].size,
                    media_type: descs[i].media_type.clone(),
                });
            }
            staged.push(NewImage {
                record: ImageRecord {
                    id: image.clone(),
                    manifest_digest: manifest_digest.to_string(),
                    manifest_media_type: manifest_mt,
                    created: p.config.created.clone(),
                    size,
                    top_chain_id: chains.last().map(|c| c.to_string()),
                    parent: p.parent.clone(),
                    added: metadata::now(),
                },
                layers,
                blobs: vec![
                    ImageBlob {
                        digest: manifest_digest.to_string(),
                        role: "manifest".to_string(),
                    },
                    ImageBlob {
                        digest: image,
                        role: "config".to_string(),
                    },
                ],
            });
        }
        crate::fault::crash_point!("image.load.before-tag");
        let mut loaded = Vec::new();
        self.meta().write(|tx| -> Result<(), ImageError> {
            for (new, p) in staged.iter().zip(pending) {
                metadata::insert_image(tx, new)?;
                for n in &p.names {
                    metadata::set_ref(tx, &names::ref_record(n, &new.record.id))?;
                }
                loaded.push(LoadedImage {
                    id: p.config_digest.clone(),
                    names: p.names.iter().map(|n| n.familiar()).collect(),
                });
            }
            Ok(())
        })?;
        Ok(loaded)
    }

    /// Writes (verifying) one layer blob; returns its descriptor with a media type.
    fn write_layer_blob(
        &self,
        l: &LayerSource,
        pin: &mut super::pins::PinGuard<'_>,
    ) -> Result<Descriptor, ImageError> {
        let (mut desc, path) = match l {
            LayerSource::Blob(d) => {
                pin.add([d.digest.to_string()]);
                let size = self.content().size(&d.digest)?;
                if size != d.size {
                    return Err(ImageError::invalid(
                        format!("layer {}", d.digest),
                        format!("stored blob has {size} bytes, descriptor says {}", d.size),
                    ));
                }
                (d.clone(), None)
            }
            LayerSource::File { path, descriptor } => {
                let f = std::fs::File::open(path).at(path)?;
                let (digest, size) = match descriptor {
                    Some(d) => {
                        pin.add([d.digest.to_string()]);
                        self.content()
                            .write_blob(Some(&d.digest), Some(d.size), f)?
                    }
                    None => {
                        let out = self.content().write_blob(None, None, f)?;
                        pin.add([out.0.to_string()]);
                        out
                    }
                };
                let mt = descriptor
                    .as_ref()
                    .map(|d| d.media_type.clone())
                    .unwrap_or_default();
                (Descriptor::new(&mt, digest, size), Some(path))
            }
        };
        if desc.media_type.is_empty() {
            let blob = self.content().open_blob(&desc.digest)?;
            let (compression, _) =
                layer::detect(blob.take(16)).map_err(|source| ImageError::Io {
                    path: path
                        .cloned()
                        .unwrap_or_else(|| self.content().path(&desc.digest)),
                    source,
                })?;
            desc.media_type = match compression {
                Compression::None => media::OCI_LAYER,
                Compression::Gzip => media::OCI_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
            }
            .to_string();
        }
        Ok(desc)
    }
}

/// An OCI manifest for an image that came without one.
fn synthesize_manifest(
    p: &PendingImage,
    layers: &[Descriptor],
) -> Result<(String, Vec<u8>), ImageError> {
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::new(
            media::OCI_CONFIG,
            p.config_digest.clone(),
            p.config_bytes.len() as u64,
        ),
        layers: layers.to_vec(),
        subject: None,
        annotations: None,
    };
    let bytes =
        serde_json::to_vec(&m).map_err(|e| ImageError::invalid("manifest", e.to_string()))?;
    Ok((media::OCI_MANIFEST.to_string(), bytes))
}
