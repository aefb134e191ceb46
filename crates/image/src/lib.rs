//! Berth's image store: read-only images made of layers, stored once and shared.
//!
//! Module map:
//! - [`content`]: blobs by digest; verified ingests (temp file, digest check, fsync, rename).
//! - [`layer`]: applying layer tars safely (fd-relative, no escapes) and diffing a snapshot into a tar.
//! - [`snapshot`]: the [`snapshot::Snapshotter`] trait, its overlayfs and plain-copy implementations.
//! - [`metadata`]: images, tags, layer records and holds in SQLite.
//! - [`model`]: manifests, indexes, image configs, diff IDs and chain IDs.
//! - [`store`]: the image store façade the daemon uses: list, get, tag, remove, load, save, import,
//!   unpack, container rootfs and commit; [`gc`] and [`check`] extend it.
//! - [`formats`]: Docker `save` archives, OCI image layouts, rootfs import and flat export.
//! - [`error`]: the façade's error type and its kinds.

pub mod check;
pub mod content;
pub mod error;
mod fault;
pub mod formats;
pub mod gc;
pub mod layer;
pub mod metadata;
pub mod model;
pub mod snapshot;
pub mod store;

pub use error::{ErrorKind, ImageError};
pub use store::ImageStore;
