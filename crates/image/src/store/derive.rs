//! Images made without copying or unpacking anything: a step of another image's history (what
//! the classic builder's `--cache-from` does when a cached step matches, moby's
//! `restoreCachedImage`), and a step that changes only the run-time config (`ENV`, `CMD`, …: an
//! `empty_layer` history entry, as Docker's builders record it).

use berth_oci::Digest;

use super::ImageStore;
use crate::error::ImageError;
use crate::formats::{LayerSource, PendingImage};
use crate::metadata;
use crate::model::{ContainerConfig, Descriptor, History, ImageConfig};

impl ImageStore {
    /// A new image on `parent` (`None`: on nothing) made of step `index` of `source`'s history:
    /// the parent's layers and history, then `source`'s history entry `index` and, unless that
    /// entry is an empty layer, the layer it made (the same blob), with `config` as the run-time
    /// config and the entry's creation time as the image's. Returns the new image's ID.
    ///
    /// The caller checks that the step fits (the parent's history and layers are the source's
    /// first ones, the entry is the step); this only refuses an index the source does not have.
    pub fn derive_image(
        &self,
        parent: Option<&str>,
        source: &str,
        index: usize,
        config: &ContainerConfig,
    ) -> Result<Digest, ImageError> {
        let _op = self.shared_op();
        let src = self.inspect(source)?;
        let bad = |why: &str| ImageError::invalid(format!("image {source}"), why.to_string());
        let entry = src
            .config
            .history
            .get(index)
            .ok_or_else(|| bad("has no such history entry"))?
            .clone();
        let (mut out, mut layers, parent_id) = match parent {
            Some(p) => {
                let base = self.inspect(p)?;
                let layers = self.layer_sources(base.image.id.as_str())?;
                (base.config, layers, Some(base.image.id.to_string()))
            }
            None => {
                let out = ImageConfig {
                    architecture: src.config.architecture.clone(),
                    os: src.config.os.clone(),
                    variant: src.config.variant.clone(),
                    os_version: src.config.os_version.clone(),
                    ..Default::default()
                };
                (out, Vec::new(), None)
            }
        };
        if !entry.empty_layer {
            // The entry's layer: one per non-empty entry before it.
            let n = src.config.history[..index]
                .iter()
                .filter(|h| !h.empty_layer)
                .count();
            let all = self.layer_sources(src.image.id.as_str())?;
            let (Some(layer), Some(diff_id)) = (all.into_iter().nth(n), src.diff_ids.get(n)) else {
                return Err(bad("has fewer layers than its history says"));
            };
            layers.push(layer);
            out.rootfs.diff_ids.push(diff_id.clone());
        }
        out.created = entry.created.clone();
        out.config = Some(config.clone());
        out.history.push(entry);
        let bytes = out
            .to_bytes()
            .map_err(|e| ImageError::invalid("config", e.to_string()))?;
        let mut pending = PendingImage::new(bytes, layers, None, Vec::new())?;
        pending.parent = parent_id;
        let id = pending.config_digest.clone();
        self.commit_pending_locked(vec![pending])?;
        Ok(id)
    }

    /// A new image on `parent` with the same layers and run-time `config`, its history the
    /// parent's plus one `empty_layer` entry `created_by`: a build step that changes only the
    /// config. Created at `epoch` (seconds; `SOURCE_DATE_EPOCH`) when given, else now; the same
    /// step on the same parent at the same time gives the same image ID.
    pub fn config_image(
        &self,
        parent: &str,
        config: &ContainerConfig,
        created_by: &str,
        epoch: Option<i64>,
    ) -> Result<Digest, ImageError> {
        let _op = self.shared_op();
        let base = self.inspect(parent)?;
        let layers = self.layer_sources(base.image.id.as_str())?;
        let created = match epoch {
            Some(secs) => berth_oci::time::rfc3339(secs),
            None => super::archive::now_rfc3339(),
        };
        let mut out = base.config;
        out.created = Some(created.clone());
        out.config = Some(config.clone());
        out.history.push(History {
            created: Some(created),
            created_by: Some(created_by.to_string()),
            empty_layer: true,
            ..Default::default()
        });
        let bytes = out
            .to_bytes()
            .map_err(|e| ImageError::invalid("config", e.to_string()))?;
        let mut pending = PendingImage::new(bytes, layers, None, Vec::new())?;
        pending.parent = Some(base.image.id.to_string());
        let id = pending.config_digest.clone();
        self.commit_pending_locked(vec![pending])?;
        Ok(id)
    }

    /// The layer blobs of image `id`, bottom first.
    fn layer_sources(&self, id: &str) -> Result<Vec<LayerSource>, ImageError> {
        metadata::image_layers(self.meta().conn(), id)?
            .into_iter()
            .map(|l| {
                Ok(LayerSource::Blob(Descriptor::new(
                    &l.media_type,
                    Digest::parse(&l.blob_digest)?,
                    l.blob_size,
                )))
            })
            .collect()
    }
}
