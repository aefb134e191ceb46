//! The plain-copy snapshotter: every active snapshot is a full copy of its parent's tree, so it
//! needs no overlayfs and no privileges (tests, filesystems that cannot be overlay uppers).
//!
//! `prepare` copies the parent's `fs/` (owners, modes, xattrs, links, times preserved) into the new
//! snapshot's `fs/`; layers are applied by deleting ([`WhiteoutMode::Delete`]). A view is not a copy:
//! it is a read-only bind of its parent's tree, which cannot be removed while the view exists.
//! Committed snapshots are read-only binds of their own tree. Simple and slow by design.

use std::fs;
use std::path::Path;

use super::copy::copy_tree;
use super::engine::{Backend, SnapDir};
use super::overlay::bind;
use super::{IoContext, Kind, Mount, SnapshotError};
use crate::layer::WhiteoutMode;

/// The plain-copy storage backend; use it as [`super::PlainSnapshotter`].
#[derive(Debug)]
pub struct Plain;

impl Backend for Plain {
    fn new(_root: &Path) -> Result<Self, SnapshotError> {
        Ok(Plain)
    }

    fn create(&self, snap: &SnapDir, kind: Kind, chain: &[SnapDir]) -> Result<(), SnapshotError> {
        let fs_dir = snap.fs();
        fs::create_dir(&fs_dir).at(&fs_dir)?;
        match (kind, chain.first()) {
            (Kind::Active, Some(parent)) => copy_tree(&parent.fs(), &fs_dir),
            _ => Ok(()),
        }
    }

    fn mounts(
        &self,
        snap: &SnapDir,
        kind: Kind,
        chain: &[SnapDir],
    ) -> Result<Vec<Mount>, SnapshotError> {
        let mount = match (kind, chain.first()) {
            (Kind::Active, _) => bind(&snap.fs(), false),
            (Kind::View, Some(parent)) => bind(&parent.fs(), true),
            (Kind::View | Kind::Committed, _) => bind(&snap.fs(), true),
        };
        Ok(vec![mount])
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Delete
    }
}
