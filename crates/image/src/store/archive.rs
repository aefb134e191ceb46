//! Loading and saving archives, importing rootfs tars and exporting snapshots: the store side of
//! [`crate::formats`].

use std::io::{Read, Write};
use std::path::Path;

use berth_oci::{Digest, Reference};

use super::ImageStore;
use crate::error::{ImageError, IoContext};
use crate::formats::import::{import_config, ImportOptions};
use crate::formats::oci_layout::{DirSink, SaveImage, Sink, TarSink};
use crate::formats::{docker_archive, oci_layout, LayerSource, LoadedImage, PendingImage, Source};
use crate::layer::{self, Compression};
use crate::metadata;
use crate::model::{media, Descriptor};

/// The archive form `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// Docker's `save` archive (Docker 25+ form: also an OCI layout).
    DockerArchive,
    /// An OCI image layout tar.
    OciLayout,
}

impl ImageStore {
    /// `docker load`: reads a Docker save archive or an OCI layout tar (plain or compressed) and
    /// stores every image in it with its names, all or nothing. The archive is spooled under
    /// `tmp/` first, at most [`super::Limits::load_bytes`] of it. `default_repo` names OCI layout
    /// entries whose ref name is only a tag.
    pub fn load(
        &self,
        reader: impl Read,
        default_repo: Option<&str>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let _op = self.shared_op();
        let src = Source::from_tar(reader, &self.tmp_dir(), self.limits.load_bytes)?;
        self.load_source(&src, default_repo)
    }

    /// Loads an OCI image layout directory.
    pub fn load_oci_dir(
        &self,
        dir: &Path,
        default_repo: Option<&str>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let _op = self.shared_op();
        self.load_source(&Source::from_dir(dir), default_repo)
    }

    fn load_source(
        &self,
        src: &Source,
        default_repo: Option<&str>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let repo = default_repo.map(Reference::parse_exact).transpose()?;
        let pending = if docker_archive::is_archive(src) {
            docker_archive::read(src)?
        } else if oci_layout::is_layout(src) {
            oci_layout::read(src, repo.as_ref())?
        } else {
            return Err(ImageError::archive(
                "neither manifest.json (docker save) nor oci-layout and index.json (OCI layout) found",
            ));
        };
        if pending.is_empty() {
            return Err(ImageError::archive("the archive holds no image"));
        }
        self.commit_pending_locked(pending)
    }

    fn save_images(&self, names: &[&str]) -> Result<Vec<SaveImage>, ImageError> {
        let mut out: Vec<SaveImage> = Vec::new();
        for name in names {
            let img = self.get(name)?;
            // A name saves that name; an ID saves the image with all its tags.
            let refs: Vec<Reference> = match Reference::parse(name) {
                Ok(r)
                    if img
                        .repo_tags
                        .iter()
                        .any(|t| Reference::parse(t).ok().as_ref() == Some(&r)) =>
                {
                    vec![r]
                }
                _ => img
                    .repo_tags
                    .iter()
                    .filter_map(|t| Reference::parse(t).ok())
                    .collect(),
            };
            if let Some(existing) = out.iter_mut().find(|s| s.config == img.id) {
                for r in refs {
                    if !existing.names.contains(&r) {
                        existing.names.push(r);
                    }
                }
                continue;
            }
            let manifest_digest = Digest::parse(&img.manifest_digest)?;
            let size = self.content().size(&manifest_digest)?;
            let layers = metadata::image_layers(self.meta().conn(), img.id.as_str())?
                .into_iter()
                .map(|l| {
                    Ok(Descriptor::new(
                        &l.media_type,
                        Digest::parse(&l.blob_digest)?,
                        l.blob_size,
                    ))
                })
                .collect::<Result<Vec<_>, ImageError>>()?;
            out.push(SaveImage {
                manifest: Descriptor::new(&img.manifest_media_type, manifest_digest, size),
                config: img.id.clone(),
                layers,
                names: refs,
            });
        }
        Ok(out)
    }

    /// `docker save`: writes the named images (names or IDs) as one archive.
    pub fn save(
        &self,
        names: &[&str],
        format: SaveFormat,
        out: impl Write,
    ) -> Result<(), ImageError> {
        let images = self.save_images(names)?;
        let mut sink = TarSink::new(out);
        self.write_images(&images, format, &mut sink)?;
        sink.finish()?
            .flush()
            .map_err(|e| ImageError::archive(format!("writing the archive: {e}")))
    }

    /// Writes the named images as an OCI layout directory (created if missing).
    pub fn save_oci_dir(&self, names: &[&str], dir: &Path) -> Result<(), ImageError> {
        let images = self.save_images(names)?;
        std::fs::create_dir_all(dir).at(dir)?;
        self.write_images(
            &images,
            SaveFormat::OciLayout,
            &mut DirSink {
                root: dir.to_path_buf(),
            },
        )
    }

    fn write_images(
        &self,
        images: &[SaveImage],
        format: SaveFormat,
        sink: &mut dyn Sink,
    ) -> Result<(), ImageError> {
        match format {
            SaveFormat::DockerArchive => docker_archive::write(images, self.content(), sink),
            SaveFormat::OciLayout => oci_layout::write(images, self.content(), sink),
        }
    }

    /// `docker import`: stores a rootfs tar (plain, gzip or zstd) as a one-layer image. The blob is
    /// kept as given; the diff ID is computed while the layer is unpacked.
    pub fn import(&self, reader: impl Read, opts: &ImportOptions) -> Result<Digest, ImageError> {
        let _op = self.shared_op();
        let name = opts
            .reference
            .as_deref()
            .map(Reference::parse)
            .transpose()?;
        // Validate the changes before any byte is stored.
        crate::formats::import::apply_changes(&mut Default::default(), &opts.changes)?;
        let (blob, size) = self.content().write_blob(None, None, reader)?;
        let _pin = self.pins().pin([blob.to_string()]);
        let result = self.import_blob(&blob, size, opts, name);
        if result.is_err() {
            drop(_pin);
            let _ = self.gc();
        }
        result
    }

    fn import_blob(
        &self,
        blob: &Digest,
        size: u64,
        opts: &ImportOptions,
        name: Option<Reference>,
    ) -> Result<Digest, ImageError> {
        let f = self.content().open_blob(blob)?;
        let (compression, plain) = layer::decompress(f).map_err(|source| ImageError::Io {
            path: self.content().path(blob),
            source,
        })?;
        let mut hasher = berth_oci::digest::Sha256Writer::new(std::io::sink());
        let mut limited = plain.take(self.limits.layer_bytes);
        std::io::copy(&mut limited, &mut hasher).map_err(|e| {
            ImageError::archive(format!("the rootfs tar is truncated or corrupt: {e}"))
        })?;
        let (_, diff_id, _) = hasher.finish();
        let mt = match compression {
            Compression::None => media::OCI_LAYER,
            Compression::Gzip => media::OCI_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
        };
        let created = opts.created.clone().unwrap_or_else(now_rfc3339);
        let config = import_config(diff_id, opts, created)?;
        let bytes = config
            .to_bytes()
            .map_err(|e| ImageError::invalid("config", e.to_string()))?;
        let layers = vec![LayerSource::Blob(Descriptor::new(mt, blob.clone(), size))];
        let pending = PendingImage::new(bytes, layers, None, name.into_iter().collect())?;
        let id = pending.config_digest.clone();
        self.commit_pending_locked(vec![pending])?;
        Ok(id)
    }

    /// `docker export`-style flat tar of snapshot `key` (a container's rootfs or a layer's chain ID).
    /// Snapshots made of several mounts (overlay) are mounted on a temp dir first, which needs root.
    pub fn export_snapshot(&self, key: &str, out: impl Write) -> Result<u64, ImageError> {
        let _op = self.shared_op();
        let mounts = self.snapshotter().mounts(key)?;
        crate::formats::export::export_mounts(&mounts, &self.tmp_dir(), out)
    }
}

/// The current time as RFC 3339 UTC (`2026-11-25T19:31:04Z`).
pub(crate) fn now_rfc3339() -> String {
    berth_oci::time::rfc3339(metadata::now())
}

#[cfg(test)]
mod tests {
    use crate::metadata;

    #[test]
    fn now_is_rfc3339_to_the_second() {
        let before = metadata::now();
        let now = super::now_rfc3339();
        let after = metadata::now();
        assert_eq!(now.len(), "2026-11-25T19:31:04Z".len(), "{now}");
        let parsed = berth_oci::time::parse_rfc3339(&now).unwrap_or(0);
        assert!((before..=after).contains(&parsed), "{now}");
    }
}
