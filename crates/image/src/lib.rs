//! Berth's image store: read-only images made of layers, stored once and shared.
//!
//! Module map:
//! - [`content`]: blobs by digest; verified ingests (temp file, digest check, fsync, rename).
//! - [`layer`]: applying layer tars safely (fd-relative, no escapes) and diffing a snapshot into a tar.
//! - [`snapshot`]: the [`snapshot::Snapshotter`] trait, its overlayfs and plain-copy implementations.
//! - [`metadata`]: images, tags and layer records in SQLite.
//! - [`model`]: manifests, indexes, image configs, diff IDs and chain IDs.
//! - [`store`]: the image store façade the daemon uses: import, load, save, tag, remove, GC, check.
//! - [`formats`]: Docker `save` archives, OCI image layouts, rootfs import and flat export.

pub mod content;
pub mod formats;
pub mod layer;
pub mod metadata;
pub mod model;
pub mod snapshot;
pub mod store;
