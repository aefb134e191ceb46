//! Copying a snapshot tree for the plain snapshotter, preserving what a layer can carry: file types
//! (regular, directory, symlink, fifo, socket, devices), hard links, owners, modes (incl. setuid),
//! extended attributes and timestamps. Symlinks are copied as links and never followed.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use nix::sys::stat::{mknod, Mode, SFlag};

use super::{IoContext, SnapshotError};

/// Copies the contents and metadata of directory `src` into the existing, empty directory `dst`.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let privileged = nix::unistd::geteuid().is_root();
    let mut hard_links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut pending = vec![(src.to_path_buf(), dst.to_path_buf())];
    // Directory metadata is applied last, deepest first, so read-only modes and mtimes stick.
    let mut dirs: Vec<(PathBuf, PathBuf, Metadata)> = Vec::new();
    while let Some((from_dir, to_dir)) = pending.pop() {
        for entry in fs::read_dir(&from_dir).at(&from_dir)? {
            let entry = entry.at(&from_dir)?;
            let from = entry.path();
            let to = to_dir.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).at(&from)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                fs::create_dir(&to).at(&to)?;
                pending.push((from.clone(), to.clone()));
                dirs.push((from, to, meta));
                continue;
            }
            if meta.nlink() > 1 {
                let id = (meta.dev(), meta.ino());
                if let Some(first) = hard_links.get(&id) {
                    fs::hard_link(first, &to).at(&to)?;
                    continue;
                }
                hard_links.insert(id, to.clone());
            }
            if kind.is_file() {
                fs::copy(&from, &to).at(&from)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&from).at(&from)?;
                symlink(&target, &to).at(&to)?;
            } else {
                let sflag = SFlag::from_bits_truncate(meta.mode() & SFlag::S_IFMT.bits());
                let perm = Mode::from_bits_truncate(meta.mode() & 0o7777);
                mknod(&to, sflag, perm, meta.rdev())
                    .map_err(io::Error::from)
                    .at(&to)?;
            }
            apply_metadata(&from, &to, &meta, privileged)?;
        }
    }
    for (from, to, meta) in dirs.iter().rev() {
        apply_metadata(from, to, meta, privileged)?;
    }
    let meta = fs::symlink_metadata(src).at(src)?;
    apply_metadata(src, dst, &meta, privileged)
}

/// Gives `to` the owner, xattrs, mode and times of `from` (described by `meta`).
/// Without privileges, foreign owners and privileged xattrs cannot be set and are skipped.
fn apply_metadata(
    from: &Path,
    to: &Path,
    meta: &Metadata,
    privileged: bool,
) -> Result<(), SnapshotError> {
    let tolerate = |r: io::Result<()>| match r {
        Err(e) if !privileged && e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        other => other,
    };
    tolerate(lchown(to, Some(meta.uid()), Some(meta.gid()))).at(to)?;
    for name in xattr::list(from).at(from)? {
        if let Some(value) = xattr::get(from, &name).at(from)? {
            tolerate(xattr::set(to, &name, &value)).at(to)?;
        }
    }
    let is_symlink = meta.file_type().is_symlink();
    if !is_symlink {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777)).at(to)?;
    }
    let atime = FileTime::from_last_access_time(meta);
    let mtime = FileTime::from_last_modification_time(meta);
    filetime::set_symlink_file_times(to, atime, mtime).at(to)
}
