//! Unpacking layers into committed snapshots, once per chain ID.
//!
//! A layer is applied into a fresh active snapshot (`extract-…`) on top of its parent, its diff ID
//! checked against the config, and the snapshot committed under the chain ID. Unpackers of the same
//! chain ID wait for each other and the second one reuses the first one's snapshot; a failed apply
//! removes its active snapshot. The layer row is recorded right after the commit; until an image uses
//! it, it is garbage that GC (or the next open) removes unless an operation pins it.

use std::sync::atomic::{AtomicU64, Ordering};

use berth_oci::Digest;

use super::ImageStore;
use crate::error::ImageError;
use crate::layer::{self, ApplyOptions};
use crate::metadata::{self, LayerRecord};
use crate::model::{chain_ids, LayerChain};
use crate::snapshot::{Kind, SnapshotError};

static EXTRACT_SEQ: AtomicU64 = AtomicU64::new(0);

/// One layer to make sure of.
pub(crate) struct LayerJob<'a> {
    pub image: &'a str,
    pub index: usize,
    pub chain_id: &'a Digest,
    pub parent: Option<&'a Digest>,
    pub diff_id: &'a Digest,
    pub blob: &'a Digest,
}

impl ImageStore {
    /// Makes sure the layer of `job` is unpacked and recorded; returns its record.
    pub(crate) fn ensure_layer(&self, job: &LayerJob<'_>) -> Result<LayerRecord, ImageError> {
        let chain = job.chain_id.as_str();
        let _lock = self.unpack_locks.lock(chain);
        let existing = metadata::layer(self.meta().conn(), chain)?;
        let snap = match self.snapshotter().stat(chain) {
            Ok(info) => Some(info),
            Err(SnapshotError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        match (existing, snap) {
            (Some(rec), Some(info)) if info.kind == Kind::Committed => return Ok(rec),
            (_, Some(_)) => {
                // A snapshot without its record (or not committed): left by a crash; redo it.
                self.snapshotter().remove(chain)?;
            }
            _ => {}
        }
        let key = format!(
            "extract-{}-{}-{}",
            std::process::id(),
            EXTRACT_SEQ.fetch_add(1, Ordering::Relaxed),
            job.chain_id.short()
        );
        let _pin = self.pins().pin([key.clone()]);
        self.snapshotter()
            .prepare(&key, job.parent.map(Digest::as_str))?;
        let applied = (|| -> Result<layer::Applied, ImageError> {
            let dir = self.snapshotter().writable_dir(&key)?;
            let blob = self.content().open_blob(job.blob)?;
            let mut opts = ApplyOptions::new(self.snapshotter().whiteout_mode())
                .with_max_bytes(self.limits.layer_bytes);
            opts.id_map = self.id_map().cloned();
            let applied = layer::apply(std::io::BufReader::new(blob), &dir, &opts)?;
            if &applied.diff_id != job.diff_id {
                return Err(ImageError::DiffId {
                    image: job.image.to_string(),
                    index: job.index,
                    expected: job.diff_id.to_string(),
                    actual: applied.diff_id.to_string(),
                });
            }
            self.snapshotter().commit(chain, &key)?;
            Ok(applied)
        })();
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                let _ = self.snapshotter().remove(&key);
                return Err(e);
            }
        };
        let rec = LayerRecord {
            chain_id: chain.to_string(),
            diff_id: job.diff_id.to_string(),
            parent: job.parent.map(|p| p.to_string()),
            snapshot_key: chain.to_string(),
            size: applied.size,
            blob_digest: Some(job.blob.to_string()),
        };
        self.meta().write(|tx| metadata::insert_layer(tx, &rec))?;
        Ok(rec)
    }

    /// Unpacks layer `index` of an image still to be committed, whose config lists the diff IDs
    /// of `layers`, from blob `blob` (the layers below it already unpacked): a registry pull
    /// applies each layer while later ones download, and its commit then finds them done. The
    /// chain IDs come from `layers`, worked out once per image, not per layer. `label` names the
    /// image in errors. The caller pins the blob and the layer's chain ID until its commit, since
    /// GC frees a layer no image uses.
    pub fn unpack_layer(
        &self,
        label: &str,
        index: usize,
        layers: &LayerChain,
        blob: &Digest,
    ) -> Result<(), ImageError> {
        let _op = self.shared_op();
        let Some((diff_id, chain_id, parent)) = layers.layer(index) else {
            return Err(ImageError::invalid(
                label.to_string(),
                format!("no layer {index} among {} diff IDs", layers.len()),
            ));
        };
        self.ensure_layer(&LayerJob {
            image: label,
            index,
            chain_id,
            parent,
            diff_id,
            blob,
        })?;
        Ok(())
    }

    /// Makes sure every layer of a stored image is unpacked (again, if a snapshot went missing);
    /// returns the top chain ID, `None` for an image without layers.
    pub fn unpack(&self, name_or_id: &str) -> Result<Option<String>, ImageError> {
        let _op = self.shared_op();
        self.unpack_image(name_or_id)
    }

    /// [`ImageStore::unpack`] for callers that already hold the shared operation lock.
    pub(crate) fn unpack_image(&self, name_or_id: &str) -> Result<Option<String>, ImageError> {
        let details = self.inspect(name_or_id)?;
        let id = details.image.id.to_string();
        let layers = metadata::image_layers(self.meta().conn(), &id)?;
        let chains = chain_ids(&details.diff_ids);
        let mut pin = self.pins().pin(chains.iter().map(|c| c.to_string()));
        pin.add(layers.iter().map(|l| l.blob_digest.clone()));
        for (i, (chain, layer)) in chains.iter().zip(&layers).enumerate() {
            let blob = Digest::parse(&layer.blob_digest)?;
            self.ensure_layer(&LayerJob {
                image: &id,
                index: i,
                chain_id: chain,
                parent: i.checked_sub(1).map(|p| &chains[p]),
                diff_id: &details.diff_ids[i],
                blob: &blob,
            })?;
        }
        Ok(chains.last().map(|c| c.to_string()))
    }
}
