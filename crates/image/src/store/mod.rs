//! The image store façade: the one type the daemon talks to for images.
//!
//! On-disk layout under the store root:
//! ```text
//! metadata.db        images, references, layers, holds (see [`crate::metadata`])
//! content/           blobs by digest (see [`crate::content`])
//! tmp/               spooled archives of loads in progress (wiped on open)
//! ```
//! Snapshots live wherever the given [`Snapshotter`] keeps them.
//!
//! Invariant: an image (and any name pointing at it) becomes visible in one metadata transaction, after
//! every blob it needs has been written and verified and every layer has been unpacked and its diff
//! ID checked. A crash before that transaction leaves only unreferenced blobs, layers and snapshots,
//! which [`ImageStore::open`] removes. Operations in flight *pin* the blobs and layers they use, so a
//! concurrent GC or a failing neighbour never removes them.

mod archive;
mod commit;
mod container;
mod derive;
mod names;
mod pins;
mod remove;
mod unpack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_oci::Digest;

use crate::content::ContentStore;
use crate::error::{ImageError, IoContext};
use crate::metadata::{self, Metadata};
use crate::model::{ContainerConfig, ImageConfig};
use crate::snapshot::Snapshotter;

pub use archive::SaveFormat;
pub use container::CommitOptions;
pub use pins::PinGuard;
pub use remove::RemoveAction;

/// One image as `docker images` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The config digest.
    pub id: Digest,
    /// The manifest digest and media type stored for it.
    pub manifest_digest: String,
    pub manifest_media_type: String,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@sha256:…` names.
    pub repo_digests: Vec<String>,
    /// The config's creation time (RFC 3339), if it has one.
    pub created: Option<String>,
    /// Sum of the layers' uncompressed sizes.
    pub size: u64,
    pub parent: Option<String>,
    pub top_chain_id: Option<String>,
    /// Holders (containers) using it.
    pub holders: Vec<String>,
}

/// An image with its config, as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDetails {
    pub image: Image,
    pub config: ImageConfig,
    /// The layers' diff IDs, bottom first.
    pub diff_ids: Vec<Digest>,
}

impl ImageDetails {
    /// The run-time defaults (may be empty).
    pub fn container_config(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }

    /// The labels of the config.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.container_config().labels.unwrap_or_default()
    }
}

/// One line of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image ID for the top entry, `<missing>` for the others.
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// Default upper bound of one uncompressed layer and of the apparent size of the files it writes
/// (decompression bombs, sparse files).
pub const MAX_LAYER_BYTES: u64 = 64 << 30;

/// Default upper bound of one `docker load` archive, uncompressed, as spooled under `tmp/`.
pub const MAX_LOAD_BYTES: u64 = 256 << 30;

/// Size limits of a store; see [`ImageStore::with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound of one uncompressed layer and of the apparent size of its files
    /// ([`crate::layer::ApplyOptions::max_bytes`]); also bounds an imported rootfs tar.
    pub layer_bytes: u64,
    /// Upper bound of one loaded archive: its uncompressed tar stream and the files spooled from it.
    pub load_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            layer_bytes: MAX_LAYER_BYTES,
            load_bytes: MAX_LOAD_BYTES,
        }
    }
}

/// The image store.
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    snapshots: Box<dyn Snapshotter>,
    limits: Limits,
    meta: Mutex<Metadata>,
    pins: pins::Pins,
    unpack_locks: pins::KeyLocks,
    /// Operations that write blobs, snapshots or spooled files hold this shared; `check` and
    /// `repair` hold it exclusively, so they never mistake work in flight for leftovers.
    busy: RwLock<()>,
    /// The user-namespace map of a daemon remapping root: layers are unpacked shifted into it and
    /// diffed back from it ([`crate::layer::IdMap`]).
    id_map: Option<crate::layer::IdMap>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.root)
            .finish()
    }
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root` over `snapshots`, and removes what a crash left:
    /// spooled archives, stale ingests (a resumable one is kept for [`crate::content::RESUMABLE_FOR`]),
    /// active snapshots nobody holds, and blobs and layers no image uses.
    pub fn open(root: &Path, snapshots: Box<dyn Snapshotter>) -> Result<Self, ImageError> {
        std::fs::create_dir_all(root).at(root)?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).at(&tmp)?;
        let content = ContentStore::open(&root.join("content"))?;
        let meta = Metadata::open(&root.join("metadata.db"))?;
        let store = ImageStore {
            root: root.to_path_buf(),
            content,
            snapshots,
            limits: Limits::default(),
            meta: Mutex::new(meta),
            pins: pins::Pins::default(),
            unpack_locks: pins::KeyLocks::default(),
            busy: RwLock::new(()),
            id_map: None,
        };
        store.sweep()?;
        Ok(store)
    }

    /// The store with these size limits instead of the defaults ([`MAX_LAYER_BYTES`],
    /// [`MAX_LOAD_BYTES`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The store of a daemon remapping root (`--userns-remap`): layers are unpacked with their
    /// owners shifted into `map`'s host range, containers' writable layers are owned by its root,
    /// and commits write the owners the container saw. The store's root must be that daemon's
    /// own (dockerd keeps one per remapped root: `<data-root>/<uid>.<gid>`).
    pub fn with_id_map(mut self, map: Option<crate::layer::IdMap>) -> Self {
        self.id_map = map;
        self
    }

    /// The user-namespace map layers are shifted into, if any ([`Self::with_id_map`]).
    pub fn id_map(&self) -> Option<&crate::layer::IdMap> {
        self.id_map.as_ref()
    }

    /// The size limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store (blobs).
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshotter.
    pub fn snapshotter(&self) -> &dyn Snapshotter {
        self.snapshots.as_ref()
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn meta(&self) -> MutexGuard<'_, Metadata> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back).
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by an operation that writes blobs, snapshots or spooled files.
    pub(crate) fn shared_op(&self) -> RwLockReadGuard<'_, ()> {
        self.busy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by `check` and `repair`: no operation is in flight meanwhile.
    pub(crate) fn exclusive_op(&self) -> RwLockWriteGuard<'_, ()> {
        self.busy.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn pins(&self) -> &pins::Pins {
        &self.pins
    }

    /// Pins `names` (blob digests, chain IDs) against GC until the guard drops: for work on the
    /// store's objects outside its own operations, such as a registry pull between its first
    /// download and its commit.
    pub fn pin(&self, names: impl IntoIterator<Item = String>) -> PinGuard<'_> {
        self.pins.pin(names)
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let meta = self.meta();
        let records = metadata::images(meta.conn())?;
        records
            .into_iter()
            .map(|r| image_from(meta.conn(), r))
            .collect()
    }

    /// Resolves a name (`busybox`, `busybox:1.36`, `name@sha256:…`), a full image ID or a unique
    /// prefix of one (at least one hex digit) to an image.
    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let meta = self.meta();
        let id = names::resolve(meta.conn(), name_or_id)?;
        let rec = metadata::image(meta.conn(), &id)?
            .ok_or_else(|| ImageError::NotFound(name_or_id.to_string()))?;
        image_from(meta.conn(), rec)
    }

    /// The image with its parsed config.
    pub fn inspect(&self, name_or_id: &str) -> Result<ImageDetails, ImageError> {
        let image = self.get(name_or_id)?;
        let bytes = self.content.read_blob(&image.id)?;
        let config = ImageConfig::parse(&bytes).map_err(|source| ImageError::Config {
            digest: image.id.to_string(),
            source,
        })?;
        let diff_ids = config.rootfs.diff_ids.clone();
        Ok(ImageDetails {
            image,
            config,
            diff_ids,
        })
    }

    /// `docker history`: one entry per config history line, newest first; the top one carries the
    /// image ID and its names, the others `<missing>`.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let details = self.inspect(name_or_id)?;
        let sizes: Vec<u64> = {
            let meta = self.meta();
            let layers = metadata::image_layers(meta.conn(), details.image.id.as_str())?;
            let mut sizes = Vec::new();
            for l in layers {
                sizes.push(metadata::layer(meta.conn(), &l.chain_id)?.map_or(0, |r| r.size));
            }
            sizes
        };
        let mut layer = 0;
        let mut out = Vec::new();
        let history = if details.config.history.is_empty() {
            // No history: one synthetic line per layer.
            sizes
                .iter()
                .map(|_| crate::model::History::default())
                .collect()
        } else {
            details.config.history.clone()
        };
        for h in &history {
            let size = if h.empty_layer {
                0
            } else {
                layer += 1;
                sizes.get(layer - 1).copied().unwrap_or(0)
            };
            out.push(HistoryEntry {
                id: "<missing>".to_string(),
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                tags: Vec::new(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = details.image.id.to_string();
            top.tags = details.image.repo_tags.clone();
        }
        Ok(out)
    }
}

/// Builds an [`Image`] from its record and its references.
fn image_from(conn: &rusqlite::Connection, r: metadata::ImageRecord) -> Result<Image, ImageError> {
    let refs = metadata::refs_of(conn, &r.id)?;
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for rf in refs {
        let familiar = berth_oci::Reference::parse(&rf.name)
            .map(|p| p.familiar())
            .unwrap_or(rf.name);
        if rf.digest.is_some() {
            repo_digests.push(familiar);
        } else {
            repo_tags.push(familiar);
        }
    }
    let holders = metadata::holders_of(conn, metadata::HoldKind::Image, &r.id)?;
    Ok(Image {
        id: Digest::parse(&r.id)?,
        manifest_digest: r.manifest_digest,
        manifest_media_type: r.manifest_media_type,
        repo_tags,
        repo_digests,
        created: r.created,
        size: r.size,
        parent: r.parent,
        top_chain_id: r.top_chain_id,
        holders,
    })
}
