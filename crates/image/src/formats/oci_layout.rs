//! The OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as a directory or a tar,
//! read into pending images and written from stored ones.
//!
//! Reading: every entry of `index.json` is followed to one image manifest — an index on the way is
//! resolved to this host's platform; an index that refers back to itself or to an index above it is an
//! error — and every manifest and config is checked against its descriptor (size, then digest) before
//! it is parsed. Names come from `io.containerd.image.name`, else from
//! `org.opencontainers.image.ref.name` when that is a full reference, else from the caller's default
//! repository with the ref name as tag.

use std::collections::BTreeMap;
use std::io::Read;

use berth_oci::{Digest, Reference};
use serde::Deserialize;

use super::{LayerSource, PendingImage, Source};
use crate::content::ContentStore;
use crate::error::{ImageError, IoContext};
use crate::model::{
    media, select_platform, verify_bytes, Descriptor, Index, ManifestOrIndex, Platform,
};

/// How deep indexes may nest.
const MAX_DEPTH: usize = 8;

/// The path of a blob inside a layout.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

/// Whether `src` looks like an OCI layout.
pub fn is_layout(src: &Source) -> bool {
    src.has("oci-layout") && src.has("index.json")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: String,
}

/// Reads every image an OCI layout names. `default_repo` names images whose ref name is only a tag.
pub fn read(
    src: &Source,
    default_repo: Option<&Reference>,
) -> Result<Vec<PendingImage>, ImageError> {
    let layout: LayoutFile = serde_json::from_slice(&src.read_small("oci-layout")?)
        .map_err(|e| ImageError::archive(format!("oci-layout: {e}")))?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(ImageError::archive(format!(
            "oci-layout: unsupported imageLayoutVersion {:?}, expected 1.x",
            layout.image_layout_version
        )));
    }
    let index: Index = serde_json::from_slice(&src.read_small("index.json")?)
        .map_err(|e| ImageError::archive(format!("index.json: {e}")))?;
    // Manifest digest → (media type, bytes, names), in index order.
    let mut order: Vec<Digest> = Vec::new();
    let mut found: BTreeMap<Digest, (String, Vec<u8>, Vec<Reference>)> = BTreeMap::new();
    for entry in &index.manifests {
        let names = entry_names(entry, default_repo)?;
        let (desc, bytes) = resolve(src, entry, &mut Vec::new())?;
        let slot = found.entry(desc.digest.clone()).or_insert_with(|| {
            order.push(desc.digest.clone());
            (desc.media_type.clone(), bytes, Vec::new())
        });
        for n in names {
            if !slot.2.contains(&n) {
                slot.2.push(n);
            }
        }
    }
    let mut out = Vec::new();
    for digest in order {
        let Some((mt, bytes, names)) = found.remove(&digest) else {
            continue;
        };
        out.push(pending_from_manifest(src, &digest, mt, bytes, names)?);
    }
    Ok(out)
}

fn entry_names(
    entry: &Descriptor,
    default_repo: Option<&Reference>,
) -> Result<Vec<Reference>, ImageError> {
    if let Some(full) = entry.annotation(media::CONTAINERD_IMAGE_NAME) {
        return Ok(vec![Reference::parse(full)?]);
    }
    let Some(name) = entry.annotation(media::REF_NAME) else {
        return Ok(Vec::new());
    };
    if name.contains('/') || name.contains(':') || name.contains('@') {
        return Ok(vec![Reference::parse(name)?]);
    }
    match default_repo {
        Some(repo) => Ok(vec![repo.with_tag(name)?]),
        None => Ok(Vec::new()),
    }
}

/// Follows `desc` to an image manifest; returns its descriptor and verified bytes.
fn resolve(
    src: &Source,
    desc: &Descriptor,
    above: &mut Vec<Digest>,
) -> Result<(Descriptor, Vec<u8>), ImageError> {
    if above.len() >= MAX_DEPTH {
        return Err(ImageError::invalid(
            format!("index {}", desc.digest),
            format!("indexes nest deeper than {MAX_DEPTH} levels"),
        ));
    }
    let bytes = read_blob(src, desc)?;
    let what = format!("manifest {}", desc.digest);
    let hint = (!desc.media_type.is_empty()).then_some(desc.media_type.as_str());
    match ManifestOrIndex::parse(desc.digest.as_str(), hint, &bytes)? {
        ManifestOrIndex::Manifest(_) => {
            verify_bytes(&what, desc, &bytes)?;
            Ok((desc.clone(), bytes))
        }
        ManifestOrIndex::Index(index) => {
            above.push(desc.digest.clone());
            if let Some(child) = index.manifests.iter().find(|c| above.contains(&c.digest)) {
                return Err(ImageError::invalid(
                    format!("index {}", desc.digest),
                    format!(
                        "it refers to itself (through {}); refusing to loop",
                        child.digest
                    ),
                ));
            }
            verify_bytes(&format!("index {}", desc.digest), desc, &bytes)?;
            let child = select_platform(&index, &Platform::host()).ok_or_else(|| {
                ImageError::invalid(
                    format!("index {}", desc.digest),
                    format!(
                        "it has no manifest for {}/{}",
                        Platform::host().os,
                        Platform::host().architecture
                    ),
                )
            })?;
            resolve(src, child, above)
        }
    }
}

/// Reads a small blob named by `desc`, refusing descriptors larger than the JSON limit.
fn read_blob(src: &Source, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
    if desc.size > super::MAX_JSON_BYTES {
        return Err(ImageError::invalid(
            format!("blob {}", desc.digest),
            format!(
                "descriptor size {} is larger than {} bytes",
                desc.size,
                super::MAX_JSON_BYTES
            ),
        ));
    }
    src.read_small(&blob_path(&desc.digest))
}

/// Builds a pending image from a verified manifest of a layout.
pub(crate) fn pending_from_manifest(
    src: &Source,
    digest: &Digest,
    media_type: String,
    bytes: Vec<u8>,
    names: Vec<Reference>,
) -> Result<PendingImage, ImageError> {
    let ManifestOrIndex::Manifest(manifest) =
        ManifestOrIndex::parse(digest.as_str(), Some(&media_type), &bytes)?
    else {
        return Err(ImageError::invalid(
            format!("manifest {digest}"),
            "expected an image manifest, found an index",
        ));
    };
    let config_bytes = read_blob(src, &manifest.config)?;
    verify_bytes(
        &format!("config of manifest {digest}"),
        &manifest.config,
        &config_bytes,
    )?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for l in &manifest.layers {
        layers.push(LayerSource::File {
            path: src.path(&blob_path(&l.digest))?,
            descriptor: Some(l.clone()),
        });
    }
    let media_type = if media_type.is_empty() {
        manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string())
    } else {
        media_type
    };
    PendingImage::new(config_bytes, layers, Some((media_type, bytes)), names)
}

/// One image to write into a layout or archive.
#[derive(Debug, Clone)]
pub struct SaveImage {
    pub manifest: Descriptor,
    pub config: Digest,
    pub layers: Vec<Descriptor>,
    pub names: Vec<Reference>,
}

/// Where layout files go: a tar stream or a directory.
pub trait Sink {
    /// Adds file `name` with `size` bytes from `data`.
    fn file(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<(), ImageError>;
    /// Whether `name` was already added.
    fn has(&self, name: &str) -> bool;
}

/// A tar sink with deterministic headers.
pub struct TarSink<W: std::io::Write> {
    builder: tar::Builder<W>,
    written: std::collections::BTreeSet<String>,
}

impl<W: std::io::Write> TarSink<W> {
    pub fn new(w: W) -> Self {
        let mut builder = tar::Builder::new(w);
        builder.mode(tar::HeaderMode::Deterministic);
        TarSink {
            builder,
            written: Default::default(),
        }
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(self) -> Result<W, ImageError> {
        self.builder
            .into_inner()
            .map_err(|e| ImageError::archive(format!("writing the archive: {e}")))
    }

    fn dir(&mut self, name: &str) -> Result<(), ImageError> {
        if !self.written.insert(name.to_string()) {
            return Ok(());
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        self.builder
            .append_data(&mut h, name, std::io::empty())
            .map_err(|e| ImageError::archive(format!("writing {name}: {e}")))
    }
}

impl<W: std::io::Write> Sink for TarSink<W> {
    fn file(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<(), ImageError> {
        let mut parent = String::new();
        for part in name
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            parent.push_str(part);
            parent.push('/');
            self.dir(&parent)?;
        }
        self.written.insert(name.to_string());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_mtime(0);
        self.builder
            .append_data(&mut h, name, data.take(size))
            .map_err(|e| ImageError::archive(format!("writing {name}: {e}")))
    }

    fn has(&self, name: &str) -> bool {
        self.written.contains(name)
    }
}

/// A directory sink.
pub struct DirSink {
    pub root: std::path::PathBuf,
}

impl Sink for DirSink {
    fn file(&mut self, name: &str, _size: u64, data: &mut dyn Read) -> Result<(), ImageError> {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        let mut f = std::fs::File::create(&path).at(&path)?;
        std::io::copy(data, &mut f).at(&path)?;
        Ok(())
    }

    fn has(&self, name: &str) -> bool {
        self.root.join(name).exists()
    }
}

/// Writes the blobs of `images`, `oci-layout` and `index.json` (one entry per name, or one unnamed
/// entry for an image without names).
pub fn write(
    images: &[SaveImage],
    content: &ContentStore,
    sink: &mut dyn Sink,
) -> Result<(), ImageError> {
    write_layout_file(sink, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut entries = Vec::new();
    for img in images {
        let blobs = std::iter::once(&img.manifest.digest)
            .chain(std::iter::once(&img.config))
            .chain(img.layers.iter().map(|l| &l.digest));
        for d in blobs {
            let name = blob_path(d);
            if sink.has(&name) {
                continue;
            }
            let size = content.size(d)?;
            let mut f = content.open_blob(d)?;
            sink.file(&name, size, &mut f)?;
        }
        if img.names.is_empty() {
            entries.push(img.manifest.clone());
        }
        for n in &img.names {
            let mut d = img.manifest.clone();
            let mut ann = BTreeMap::new();
            ann.insert(media::CONTAINERD_IMAGE_NAME.to_string(), n.full());
            if let Some(tag) = n.tag() {
                ann.insert(media::REF_NAME.to_string(), tag.to_string());
            }
            d.annotations = Some(ann);
            entries.push(d);
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        manifests: entries,
        annotations: None,
    };
    let bytes =
        serde_json::to_vec(&index).map_err(|e| ImageError::archive(format!("index.json: {e}")))?;
    write_layout_file(sink, "index.json", &bytes)
}

/// Writes one small file.
pub(crate) fn write_layout_file(
    sink: &mut dyn Sink,
    name: &str,
    bytes: &[u8],
) -> Result<(), ImageError> {
    sink.file(name, bytes.len() as u64, &mut &bytes[..])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_index_that_refers_to_itself_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        // The index names a digest we pick; the blob stored under that digest lists the same digest.
        let fake = Digest::sha256_of(b"fake");
        let inner = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{fake}","size":1}}]}}"#,
            media::OCI_INDEX,
            media::OCI_INDEX
        );
        std::fs::write(root.join(blob_path(&fake)), &inner).unwrap();
        let top = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{fake}","size":{}}}]}}"#,
            media::OCI_INDEX,
            inner.len()
        );
        std::fs::write(root.join("index.json"), top).unwrap();
        let err = read(&Source::from_dir(root), None).unwrap_err();
        assert!(err.to_string().contains("refers to itself"), "{err}");
    }
}
