//! Layer apply and diff: the only code that turns tar streams into files and files into tar streams.
//!
//! Vocabulary:
//! - a *layer* is a tar stream, plain or compressed ([`Compression`]), holding the changes one image
//!   layer makes to the layers below it;
//! - a *whiteout* `.wh.<name>` deletes `<name>` from the layers below; an *opaque* marker
//!   `.wh..wh..opq` hides everything the layers below had in its directory;
//! - the *diff ID* is the sha256 of the uncompressed tar stream ([`Applied::diff_id`]).
//!
//! Contract of [`apply`]: the target is a fresh snapshot directory owned by the caller (an empty
//! overlay upper dir, or a plain copy of the parent layers in [`WhiteoutMode::Delete`]). Every entry is
//! created fd-relative inside it (see `root`), so no entry can write outside, whatever the tar says.
//! On any error the target is left half-written and the caller must discard it (the store removes the
//! snapshot); nothing outside the target has been touched.
//!
//! Safety policy of [`apply`] (each refusal is a [`LayerError`] variant naming the entry; see
//! `tests/vectors/README.md` for the malicious layers that prove it):
//! - names: a leading `/` is stripped (as Docker does), a `..` component anywhere is refused, as are
//!   paths longer than `PATH_MAX`;
//! - symlinks are created verbatim; when an entry's directory is reached through one, it is resolved
//!   with the target as `/` (an absolute `lib -> /usr/lib` works as in the container), and a link
//!   whose `..` would climb above the target is refused; an existing symlink at an entry's own name
//!   is replaced, never written through;
//! - hard links must name a non-directory already in the target, resolved the same way;
//! - whiteouts of `.`, `..` or nothing are refused;
//! - device nodes are created only as root (skipped with a warning otherwise); `trusted.*` xattrs
//!   only as root; owners only with [`ApplyOptions::same_owner`];
//! - xattrs overlayfs interprets (`trusted.overlay.*`, `user.overlay.*`: opaque, redirect,
//!   metacopy, origin) refuse the layer, on any entry: only whiteout entries make whiteouts;
//! - sparse files: GNU sparse entries are written with holes (never zeros for a hole); PAX sparse
//!   files (`GNU.sparse.*` records, which the tar crate does not decode) are refused;
//! - sizes: [`ApplyOptions::max_bytes`] bounds the uncompressed stream, each entry's announced
//!   size and the sum of the files' apparent sizes (sparse files expanded); PAX records and GNU long
//!   names are bounded to 16 MiB per entry whatever the limit; a truncated or corrupt stream (short
//!   tar, bad checksum, gzip CRC, zstd frame) fails.
//!
//! [`diff_upper`], [`tar_dir`] and [`diff_dirs`] write deterministic tars (sorted entries, no user or
//! group names, PAX records only when needed, optionally clamped mtimes) such that applying their
//! output reproduces the input tree.
//!
//! ```no_run
//! use berth_image::layer::{apply, ApplyOptions, WhiteoutMode};
//! let blob = std::fs::File::open("layer.tar.gz")?;
//! let applied = apply(blob, "/var/lib/berth/snapshots/12/fs".as_ref(), &ApplyOptions::new(WhiteoutMode::Overlay))?;
//! println!("{} ({} bytes)", applied.diff_id, applied.size);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod compression;
mod diff;
mod error;
mod hash;
mod idmap;
mod meta;
mod path;
mod pipeline;
mod root;
mod sparse;
mod tarwrite;
mod tree;
mod whiteout;

pub use apply::apply;
pub use compression::{decompress, detect, Compression, Decompressor, Sniffed};
pub use diff::{diff_dirs, diff_upper, tar_dir};
pub use error::LayerError;
pub(crate) use hash::{HeaderWindow, HEADER_BUDGET};
pub use idmap::{IdKind, IdMap, IdRange, OVERFLOW_ID};

use berth_oci::Digest;

/// How whiteouts and opaque markers of a layer are materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// overlayfs form, for an upper dir: `.wh.<name>` becomes a 0:0 character device `<name>`;
    /// `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory. Needs root (CAP_MKNOD and
    /// trusted xattrs).
    Overlay,
    /// plain-copy snapshots: `.wh.<name>` removes `<name>` from the target; `.wh..wh..opq` removes the
    /// directory's content from the layers below but keeps what this same layer puts there.
    Delete,
}

/// Options of [`apply`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How whiteouts are materialised.
    pub whiteouts: WhiteoutMode,
    /// Upper bound of the uncompressed stream, of each entry's announced size and of the sum of
    /// the files' apparent sizes (sparse files expanded), in bytes (decompression bombs, huge
    /// headers, sparse bombs). `None` means unbounded; the store sets one ([`crate::store::Limits`]).
    /// Tar extension headers are bounded separately (16 MiB before any one entry).
    pub max_bytes: Option<u64>,
    /// Apply the owners recorded in the tar (needs root). When false, files belong to the caller.
    pub same_owner: bool,
    /// Take `.wh.` names as ordinary file names instead of whiteouts: for a tar that is not a
    /// layer (`docker cp` uploads), where such a name is just a file.
    pub literal_names: bool,
    /// Refuse to replace an existing directory with a non-directory or the reverse (`docker cp`'s
    /// `noOverwriteDirNonDir`); a layer replaces either way.
    pub no_overwrite_dir_non_dir: bool,
    /// Give every entry this `(uid, gid)` instead of the tar's (`docker cp -a`: the container
    /// user's); needs root.
    pub owner: Option<(u32, u32)>,
    /// Shift the tar's owners into the host range of this user-namespace map (a daemon with
    /// `--userns-remap`); an owner it has no id for refuses the layer. Needs root.
    pub id_map: Option<IdMap>,
}

impl ApplyOptions {
    /// Options with the given whiteout mode, no size bound, and owners kept when running as root.
    pub fn new(whiteouts: WhiteoutMode) -> Self {
        ApplyOptions {
            whiteouts,
            max_bytes: None,
            same_owner: is_root(),
            literal_names: false,
            no_overwrite_dir_non_dir: false,
            owner: None,
            id_map: None,
        }
    }

    /// Sets [`ApplyOptions::literal_names`].
    pub fn with_literal_names(mut self) -> Self {
        self.literal_names = true;
        self
    }

    /// Sets [`ApplyOptions::max_bytes`].
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }
}

/// What [`apply`] read or a diff function wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar stream (the layer's diff ID).
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream in bytes.
    pub size: u64,
    /// Entries skipped, one lower-case line each naming the entry (e.g. device nodes when not root).
    pub warnings: Vec<String>,
}

/// Options of the diff functions.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Write no mtime later than this (seconds since the epoch), for reproducible layers.
    pub clamp_mtime: Option<i64>,
    /// Write owners shifted back from the host range of this user-namespace map to the ids the
    /// container sees (the inverse of [`ApplyOptions::id_map`]; [`OVERFLOW_ID`] for a host id
    /// outside the range, as the container sees it).
    pub id_map: Option<IdMap>,
}

/// Whether this process runs with effective uid 0.
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
