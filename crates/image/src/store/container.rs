//! Containers' side of the store: a writable rootfs snapshot on top of an image (held so that neither
//! GC nor `rmi` takes the image away), its release, and `docker commit` of its changes as a new image.

use std::path::Path;

use berth_oci::Reference;

use super::ImageStore;
use crate::error::{ImageError, IoContext};
use crate::formats::{LayerSource, PendingImage};
use crate::layer::{self, DiffOptions, WhiteoutMode};
use crate::metadata::{self, Hold, HoldKind};
use crate::model::{media, ContainerConfig, Descriptor, History};
use crate::snapshot::{Mount, SnapshotError};

/// Options of [`ImageStore::commit_container`] (`docker commit`).
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Name for the new image.
    pub reference: Option<String>,
    /// The config to record (the container's, after `--change`); the image's when `None`.
    pub config: Option<ContainerConfig>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// The history line (`created_by`), e.g. the container's command.
    pub created_by: Option<String>,
}

impl ImageStore {
    /// Unpacks the image if needed, creates the active snapshot `container_key` on its top layer and
    /// records that the container holds both; returns the mounts to assemble the rootfs.
    pub fn prepare_container_rootfs(
        &self,
        image: &str,
        container_key: &str,
    ) -> Result<Vec<Mount>, ImageError> {
        let _op = self.shared_op();
        let img = self.get(image)?;
        let holds = [
            Hold {
                holder: container_key.to_string(),
                kind: HoldKind::Image,
                target: img.id.to_string(),
            },
            Hold {
                holder: container_key.to_string(),
                kind: HoldKind::Snapshot,
                target: container_key.to_string(),
            },
        ];
        // Hold first, so that GC and rmi see the container from now on.
        self.meta().write(|tx| -> Result<(), ImageError> {
            for h in &holds {
                metadata::add_hold(tx, h)?;
            }
            Ok(())
        })?;
        let result = self
            .unpack_image(img.id.as_str())
            .and_then(|top| Ok(self.snapshotter().prepare(container_key, top.as_deref())?))
            .and_then(|mounts| {
                self.own_writable_root(container_key)?;
                Ok(mounts)
            });
        if result.is_err() {
            let _ = self
                .meta()
                .write(|tx| metadata::release_holder(tx, container_key));
        }
        result
    }

    /// With a remapped root ([`Self::with_id_map`]): the writable layer's top directory, which
    /// overlayfs shows as the container's `/`, belongs to the remapped root, as dockerd makes it.
    fn own_writable_root(&self, container_key: &str) -> Result<(), ImageError> {
        let Some((uid, gid)) = self.id_map().and_then(|m| m.root()) else {
            return Ok(());
        };
        let dir = self.snapshotter().writable_dir(container_key)?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).at(&dir)
    }

    /// The holders of containers' rootfs snapshots (a container holds the snapshot named after
    /// itself): the engine compares them with the containers it knows to release what a crash
    /// between this store's write and the engine's left behind.
    pub fn container_holders(&self) -> Result<Vec<String>, ImageError> {
        let holds = metadata::holds_of_kind(self.meta().conn(), HoldKind::Snapshot)?;
        let mut holders: Vec<String> = holds
            .into_iter()
            .filter(|h| h.holder == h.target)
            .map(|h| h.holder)
            .collect();
        holders.sort();
        holders.dedup();
        Ok(holders)
    }

    /// Removes the container's snapshot and its holds (idempotent).
    pub fn release_container(&self, container_key: &str) -> Result<(), ImageError> {
        match self.snapshotter().remove_detached(container_key) {
            Ok(()) | Err(SnapshotError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.meta()
            .write(|tx| metadata::release_holder(tx, container_key))?;
        Ok(())
    }

    /// `docker commit`: the changes in the container's writable dir become one new layer on top of
    /// `image`, with a config derived from it. Returns the new image ID.
    pub fn commit_container(
        &self,
        image: &str,
        container_key: &str,
        opts: &CommitOptions,
    ) -> Result<berth_oci::Digest, ImageError> {
        self.commit_container_at(image, container_key, opts, None)
    }

    /// [`commit_container`](Self::commit_container) made reproducible by an `epoch` (seconds,
    /// as `SOURCE_DATE_EPOCH` gives it): the config's and the history entry's creation time is
    /// the epoch instead of now, and no mtime in the layer is later than it. The layer's entries
    /// are sorted either way, so the same changes on the same image give the same image ID.
    pub fn commit_container_at(
        &self,
        image: &str,
        container_key: &str,
        opts: &CommitOptions,
        epoch: Option<i64>,
    ) -> Result<berth_oci::Digest, ImageError> {
        let _op = self.shared_op();
        let base = self.inspect(image)?;
        let upper = self.snapshotter().writable_dir(container_key)?;
        let spool = tempfile::Builder::new()
            .prefix("commit-")
            .tempfile_in(self.tmp_dir())
            .at(&self.tmp_dir())?;
        let diff_opts = DiffOptions {
            clamp_mtime: epoch,
            id_map: self.id_map().cloned(),
        };
        let diff = match self.snapshotter().whiteout_mode() {
            WhiteoutMode::Overlay => layer::diff_upper(&upper, spool.as_file(), &diff_opts)?,
            WhiteoutMode::Delete => {
                let lower = match &base.image.top_chain_id {
                    Some(top) => Some(self.plain_dir(top)?),
                    None => None,
                };
                match lower {
                    Some(lower) => layer::diff_dirs(&lower, &upper, spool.as_file(), &diff_opts)?,
                    None => layer::tar_dir(&upper, spool.as_file(), &diff_opts)?,
                }
            }
        };
        let f = std::fs::File::open(spool.path()).at(spool.path())?;
        let (blob, size) = self
            .content()
            .write_blob(Some(&diff.diff_id), Some(diff.size), f)?;
        let _pin = self.pins().pin([blob.to_string()]);
        crate::fault::crash_point!("image.commit.after-diff");
        let created = match epoch {
            Some(secs) => berth_oci::time::rfc3339(secs),
            None => super::archive::now_rfc3339(),
        };
        let mut config = base.config.clone();
        config.created = Some(created.clone());
        config.author = opts.author.clone().or(config.author);
        if let Some(c) = &opts.config {
            config.config = Some(c.clone());
        }
        config.rootfs.diff_ids.push(diff.diff_id.clone());
        config.history.push(History {
            created: Some(created),
            created_by: opts.created_by.clone(),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            empty_layer: false,
        });
        let bytes = config
            .to_bytes()
            .map_err(|e| ImageError::invalid("config", e.to_string()))?;
        let mut layers: Vec<LayerSource> =
            metadata::image_layers(self.meta().conn(), base.image.id.as_str())?
                .into_iter()
                .map(|l| {
                    Ok(LayerSource::Blob(Descriptor::new(
                        &l.media_type,
                        berth_oci::Digest::parse(&l.blob_digest)?,
                        l.blob_size,
                    )))
                })
                .collect::<Result<_, ImageError>>()?;
        layers.push(LayerSource::Blob(Descriptor::new(
            media::OCI_LAYER,
            blob,
            size,
        )));
        let names = opts
            .reference
            .as_deref()
            .map(Reference::parse)
            .transpose()?;
        let mut pending = PendingImage::new(bytes, layers, None, names.into_iter().collect())?;
        pending.parent = Some(base.image.id.to_string());
        let id = pending.config_digest.clone();
        self.commit_pending_locked(vec![pending])?;
        crate::fault::crash_point!("image.commit.after-record");
        Ok(id)
    }

    /// The directory of a committed plain-copy snapshot (one bind mount).
    fn plain_dir(&self, key: &str) -> Result<std::path::PathBuf, ImageError> {
        let mounts = self.snapshotter().mounts(key)?;
        match mounts.as_slice() {
            [m] if m.kind == "bind" => Ok(Path::new(&m.source).to_path_buf()),
            _ => Err(ImageError::invalid(
                format!("snapshot {key}"),
                "expected one bind mount from a plain-copy snapshotter",
            )),
        }
    }
}
