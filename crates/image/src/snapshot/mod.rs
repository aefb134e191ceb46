//! Snapshots: the filesystem trees that layers are unpacked into and containers run on.
//!
//! This module owns the [`Snapshotter`] trait (read its docs first: they are the design), the
//! [`Mount`] descriptions snapshotters hand out, and two implementations:
//! [`OverlaySnapshotter`] (overlayfs, the production one) and [`PlainSnapshotter`] (full copies,
//! needs no privileges; for tests and filesystems without overlay support). Shared bookkeeping (the
//! index of keys, parents and kinds, the lifecycle rules) lives in `engine`; tree copying in `copy`; performing a mount
//! description (for the daemon and root tests) in `mount`.

mod copy;
mod engine;
mod mount;
mod overlay;
mod plain;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod conformance;
#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests;

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use engine::{Backend, SnapDir, Snapshots};
pub use mount::{mount_all, unmount_all, volatile};
pub use overlay::{Overlay, MOUNT_OPTIONS_MAX};
pub use plain::Plain;

/// The overlayfs snapshotter (production).
pub type OverlaySnapshotter = Snapshots<Overlay>;
/// The plain-copy snapshotter (no privileges needed).
pub type PlainSnapshotter = Snapshots<Plain>;

/// Errors of snapshotters; each names the key or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {key:?} not found")]
    NotFound { key: String },
    #[error("snapshot {key:?} already exists; pick another key or remove it first")]
    AlreadyExists { key: String },
    #[error("snapshot {key:?} is the parent of {children:?}; remove those first")]
    HasChildren { key: String, children: Vec<String> },
    #[error("snapshot {key:?} is a {kind} snapshot, but {operation} needs an active one")]
    NotActive {
        key: String,
        kind: Kind,
        operation: &'static str,
    },
    #[error("parent {parent:?} is a {kind} snapshot, but only committed snapshots can be parents")]
    ParentNotCommitted { parent: String, kind: Kind },
    #[error("invalid snapshot key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("snapshot index {path} is corrupt: {reason}; restore it or remove the snapshot root")]
    CorruptIndex { path: PathBuf, reason: String },
    #[error("mount of {target}: {reason}")]
    Mount { target: PathBuf, reason: String },
    #[error("snapshot i/o on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Attaches a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, SnapshotError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, SnapshotError> {
        self.map_err(|source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// One mount to perform, in order, to assemble a snapshot's tree at a target directory.
///
/// `kind` is the filesystem type (`"overlay"` or `"bind"`), `source` the device or directory,
/// `options` the comma-joined mount options (`ro`, `rbind`, `lowerdir=…`). When the overlay's
/// absolute layer paths would not fit in one page of mount options, the paths in `options` are
/// relative to `cwd` and the mount must be performed from that directory (see [`mount_all`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
    /// The directory relative option paths are resolved from, when they are relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

impl Mount {
    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// The state of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Read-only tree of a committed parent; cannot be committed.
    View,
    /// Writable tree; can be committed once.
    Active,
    /// Immutable; the only kind that can be a parent.
    Committed,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::View => "view",
            Kind::Active => "active",
            Kind::Committed => "committed",
        })
    }
}

/// What [`Snapshotter::stat`] and [`Snapshotter::list`] report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The snapshot's key (active, view) or name (committed).
    pub name: String,
    pub kind: Kind,
    /// The committed snapshot it is based on.
    pub parent: Option<String>,
}

/// A store of filesystem snapshots, each a tree built from a chain of committed parents.
///
/// # Vocabulary
/// - A **snapshot** is a filesystem tree known by a string. Active snapshots and views are known by
///   their **key**; committed ones by their **name**; keys and names share one namespace.
/// - A **parent** is a committed snapshot a new snapshot starts from; a chain of parents is an
///   image's layers, the bottom one having no parent.
/// - A **mount description** ([`Mount`]) says how to assemble the tree. Snapshotters never mount
///   anything themselves: the caller mounts (see [`mount_all`]), in its own mount namespace.
///
/// # Lifecycle
/// ```text
///             prepare(key, parent)         commit(name, key)
///   (nothing) ───────────────────▶ Active ──────────────────▶ Committed ──▶ parent of others
///             view(key, parent)
///   (nothing) ───────────────────▶ View    (read-only; cannot be committed)
///   any kind ── remove(key) ──▶ (nothing)      only when it has no children
/// ```
/// Unpacking a layer: `prepare(tmp, parent)`, apply the tar into [`Snapshotter::writable_dir`],
/// `commit(chain_id, tmp)`. Running a container: `prepare(container_id, top_layer)`, mount
/// [`Snapshotter::mounts`], and `remove` the key when the container goes.
///
/// # Failure and idempotency rules
/// - Creating a key that exists fails with [`SnapshotError::AlreadyExists`]; callers that want
///   "create once" check [`Snapshotter::stat`] first (the unpacker does, to share layers).
/// - Naming an unknown key fails with [`SnapshotError::NotFound`], also for `remove`: a caller that
///   wants idempotent removal treats `NotFound` as success.
/// - Only committed snapshots can be parents; only active ones can be committed or written.
/// - `remove` refuses while other snapshots name it as parent ([`SnapshotError::HasChildren`]).
/// - Unmount a snapshot before committing or removing it: snapshotters do not track mounts, and
///   commit may drop state only an active mount needs (overlay's work dir).
/// - Every operation either happens entirely or not at all in the index. Directories are created
///   before and deleted after the index changes, so a crash leaves at worst unreferenced directories,
///   which [`Snapshotter::cleanup`] removes. Operations are serialised by a lock file, so several
///   processes and threads may share one root.
///
/// # Example
/// ```no_run
/// use berth_image::snapshot::{PlainSnapshotter, Snapshotter};
/// # fn main() -> Result<(), berth_image::snapshot::SnapshotError> {
/// let snaps = PlainSnapshotter::open(std::path::Path::new("/var/lib/berth/snapshots"))?;
/// snaps.prepare("extract-1", None)?;
/// std::fs::write(snaps.writable_dir("extract-1")?.join("hello"), "hi").ok();
/// snaps.commit("sha256:layer1", "extract-1")?;
/// let mounts = snaps.prepare("container-a", Some("sha256:layer1"))?; // writable, sees "hello"
/// # let _ = mounts;
/// snaps.remove("container-a")?;
/// # Ok(()) }
/// ```
pub trait Snapshotter: Send + Sync {
    /// Creates an active (writable) snapshot `key` on top of committed `parent`.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates a read-only view `key` of committed `parent`.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;

    /// The mounts of an existing snapshot (a committed one is returned read-only).
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;

    /// Turns active `key` into committed `name`; `key` is gone afterwards.
    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError>;

    /// Removes a snapshot of any kind, refusing while it has children.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;

    /// Like [`Snapshotter::remove`], but the snapshot's directory may be deleted after this returns
    /// (on a background thread): the index forgets it at once, and [`Snapshotter::cleanup`] sweeps
    /// what a crash leaves. For removals on a latency-sensitive path (`run --rm`).
    fn remove_detached(&self, key: &str) -> Result<(), SnapshotError> {
        self.remove(key)
    }

    /// Kind and parent of one snapshot.
    fn stat(&self, key: &str) -> Result<Info, SnapshotError>;

    /// All snapshots, sorted by name.
    fn list(&self) -> Result<Vec<Info>, SnapshotError>;

    /// The directory where a layer is applied or a container writes (overlay: the upper dir).
    /// Only active snapshots have one.
    fn writable_dir(&self, key: &str) -> Result<PathBuf, SnapshotError>;

    /// How deletions must be recorded in [`Snapshotter::writable_dir`] when applying a layer.
    fn whiteout_mode(&self) -> crate::layer::WhiteoutMode;

    /// Removes directories left by crashes (not referenced by the index); returns how many.
    fn cleanup(&self) -> Result<usize, SnapshotError>;
}

/// Checks a key or name: non-empty, no NUL, at most 512 bytes. Keys never become paths.
pub(crate) fn check_key(key: &str) -> Result<(), SnapshotError> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.len() > 512 {
        "it is longer than 512 bytes"
    } else if key.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(SnapshotError::InvalidKey {
        key: key.to_string(),
        reason,
    })
}
