//! The error type of layer apply and diff: one variant per refusal, each naming the entry or path.

use std::io;
use std::path::PathBuf;

/// Why a layer could not be applied or diffed.
///
/// Refusals of malicious input (`ParentComponent`, `SymlinkEscape`, `HardlinkEscape`,
/// `InvalidWhiteout`, `TooLarge`, `EntryTooLarge`, `ExpandedTooLarge`, `PaxSparse`, `OverlayXattr`,
/// `PathTooLong`) are distinct variants so callers and
/// tests can tell an attack from an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The target directory of an apply could not be opened.
    #[error("cannot open layer target {path}: {source}")]
    Target {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The stream is not a valid (compressed) tar: truncated, bad checksum, bad gzip CRC, ...
    #[error("layer stream is truncated or corrupt: {0}; re-download the layer")]
    Corrupt(#[source] io::Error),
    /// The uncompressed stream exceeded [`super::ApplyOptions::max_bytes`].
    #[error("layer is larger than the limit of {limit} bytes uncompressed; refusing (decompression bomb?)")]
    TooLarge { limit: u64 },
    /// PAX records or GNU long names between two entries exceed what the parser may hold.
    #[error("layer has more than {limit} bytes of tar headers before one entry (PAX or long-name bomb); refusing")]
    HeadersTooLarge { limit: u64 },
    /// A header announces more data than the size limit allows.
    #[error(
        "layer entry {entry:?} announces {size} bytes, more than the limit of {limit}; refusing"
    )]
    EntryTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    /// The files of the layer, sparse ones at their apparent size, exceed
    /// [`super::ApplyOptions::max_bytes`] once this entry is added.
    #[error("layer entry {entry:?} takes the layer's files past the limit of {limit} bytes (sparse files count at their apparent size); refusing")]
    ExpandedTooLarge { entry: String, limit: u64 },
    /// A PAX sparse file (`GNU.sparse.*` records), which Berth does not decode.
    #[error("layer entry {entry:?} is a PAX sparse file (GNU.sparse.* records), which is not supported; refusing")]
    PaxSparse { entry: String },
    /// An xattr overlayfs reads (`trusted.overlay.*`, `user.overlay.*`): a layer must not steer
    /// overlayfs (opaque, redirect, metacopy, origin).
    #[error("layer entry {entry:?} sets xattr {xattr:?}, which overlayfs interprets; refusing")]
    OverlayXattr { entry: String, xattr: String },
    /// An entry name (or hard link target) has a `..` component.
    #[error("layer entry {entry:?} has a \"..\" component in {path:?}; refusing to write outside the target")]
    ParentComponent { entry: String, path: String },
    /// An entry name is longer than a path may be.
    #[error("layer entry {entry:?} has a path longer than {max} bytes; refusing")]
    PathTooLong { entry: String, max: usize },
    /// Resolving the entry's directory followed a symlink that climbs above the target's root.
    #[error("layer entry {entry:?} resolves through symlink {symlink:?} -> {link_target:?} to outside the target; refusing")]
    SymlinkEscape {
        entry: String,
        symlink: String,
        link_target: String,
    },
    /// Resolving the entry's directory followed too many symlinks.
    #[error("layer entry {entry:?} resolves through more than 40 symlinks; refusing")]
    SymlinkLoop { entry: String },
    /// A directory component of the entry exists and is not a directory.
    #[error("layer entry {entry:?}: component {component:?} is not a directory")]
    NotADirectory { entry: String, component: String },
    /// A hard link whose target is not a file of the target tree.
    #[error("layer entry {entry:?} is a hard link to {link:?}, which {reason}; refusing")]
    HardlinkEscape {
        entry: String,
        link: String,
        reason: &'static str,
    },
    /// A whiteout that names `.`, `..` or nothing.
    #[error("layer entry {entry:?} is a whiteout of {name:?}, which names no file of its directory; refusing")]
    InvalidWhiteout { entry: String, name: String },
    /// With [`super::ApplyOptions::no_overwrite_dir_non_dir`]: an entry would replace a directory
    /// with a non-directory or the reverse (Docker's words).
    #[error("cannot overwrite {existing} {entry:?} with {new} {entry:?}")]
    Overwrite {
        entry: String,
        existing: &'static str,
        new: &'static str,
    },
    /// A tar entry type Berth does not extract.
    #[error("layer entry {entry:?} has unsupported tar type {kind:?}")]
    Unsupported { entry: String, kind: char },
    /// A file system operation on an entry failed.
    #[error("cannot {op} layer entry {entry:?}: {source}")]
    Entry {
        op: &'static str,
        entry: String,
        #[source]
        source: io::Error,
    },
    /// Reading a tree to diff failed.
    #[error("cannot {op} {path} while writing a layer: {source}")]
    Walk {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An owner the user namespace remap ([`super::IdMap`]) has no id for.
    #[error("layer entry {entry:?} is owned by {kind} {id}, which the user namespace remap cannot map to a host id; refusing")]
    Unmapped {
        entry: String,
        kind: super::IdKind,
        id: u32,
    },
    /// The helper thread of an apply could not run.
    #[error("cannot run the layer reader thread: {0}")]
    Thread(#[source] io::Error),
    /// Writing the output tar failed.
    #[error("cannot write layer tar: {0}")]
    Write(#[source] io::Error),
}

impl LayerError {
    /// An `Entry` error from a nix errno.
    pub(crate) fn entry(op: &'static str, entry: &str, errno: nix::errno::Errno) -> Self {
        LayerError::Entry {
            op,
            entry: entry.to_string(),
            source: io::Error::from(errno),
        }
    }

    /// Whether this error refuses malicious or impossible input (as opposed to an I/O failure).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            LayerError::TooLarge { .. }
                | LayerError::HeadersTooLarge { .. }
                | LayerError::EntryTooLarge { .. }
                | LayerError::ExpandedTooLarge { .. }
                | LayerError::PaxSparse { .. }
                | LayerError::OverlayXattr { .. }
                | LayerError::ParentComponent { .. }
                | LayerError::PathTooLong { .. }
                | LayerError::SymlinkEscape { .. }
                | LayerError::SymlinkLoop { .. }
                | LayerError::HardlinkEscape { .. }
                | LayerError::InvalidWhiteout { .. }
                | LayerError::Overwrite { .. }
                | LayerError::Unmapped { .. }
        )
    }
}
