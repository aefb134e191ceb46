//! Garbage collection: frees the layers (snapshots) and blobs that no image, name, holder or operation
//! in flight uses. Layers go top-down (a layer is freed only once nothing stands on it).

use berth_oci::Digest;

use crate::error::ImageError;
use crate::metadata;
use crate::snapshot::SnapshotError;
use crate::store::ImageStore;

/// What a GC pass freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Chain IDs of the layers removed.
    pub layers: Vec<String>,
    /// Blobs removed.
    pub blobs: Vec<Digest>,
    /// Bytes of blobs removed.
    pub bytes: u64,
}

impl ImageStore {
    /// Frees unreferenced layers and blobs; safe while other operations run (they pin what they use).
    pub fn gc(&self) -> Result<GcReport, ImageError> {
        let mut report = GcReport::default();
        let mut meta = self.meta();
        let mut skipped = std::collections::BTreeSet::new();
        loop {
            let leaves: Vec<_> = metadata::unreferenced_leaves(meta.conn())?
                .into_iter()
                .filter(|l| !self.pins().is_pinned(&l.chain_id) && !skipped.contains(&l.chain_id))
                .collect();
            if leaves.is_empty() {
                break;
            }
            for l in leaves {
                match self.snapshotter().remove(&l.snapshot_key) {
                    Ok(()) | Err(SnapshotError::NotFound { .. }) => {}
                    // A container snapshot still stands on it: keep it.
                    Err(SnapshotError::HasChildren { .. }) => {
                        skipped.insert(l.chain_id);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                meta.write(|tx| metadata::delete_layer(tx, &l.chain_id))?;
                report.layers.push(l.chain_id);
            }
        }
        let referenced = metadata::referenced_blobs(meta.conn())?;
        for (digest, size) in self.content().list()? {
            if referenced.contains(digest.as_str()) || self.pins().is_pinned(digest.as_str()) {
                continue;
            }
            self.content().delete(&digest)?;
            report.bytes += size;
            report.blobs.push(digest);
        }
        Ok(report)
    }
}
