//! The built-in `local` driver: a volume is the directory `<data-root>/volumes/NAME/_data`;
//! created with `type`/`device` options, a file system is mounted on that directory while the
//! volume is in use ([`LocalDriver::mount`]) and unmounted after its last user.
//!
//! Crash safety: a volume's directories are made under a temporary name (`.tmp-NAME-N`) and
//! renamed into place, so `NAME/` exists whole or not at all; a removal renames `NAME/` to
//! `.trash-NAME-N` before deleting it. [`LocalDriver::sweep`] deletes at start whatever no record
//! claims (leftovers of a create or removal a crash cut short). Nothing is ever deleted while a
//! file system is mounted under it: a bind of a host directory (`o=bind`) would lose the host's
//! files.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::mount::MntFlags;
use nix::sys::stat::{Mode, SFlag};

use super::model::LocalOptions;
use crate::error::DaemonError;

/// The directory of a volume's files inside its own directory, as Docker names it.
pub const DATA_DIR: &str = "_data";

/// How deep a walk of a volume's files goes.
pub(super) const MAX_DEPTH: usize = 256;

/// The local driver over `<data-root>/volumes`.
#[derive(Debug, Clone)]
pub struct LocalDriver {
    root: PathBuf,
    /// The owner of new volumes' `_data` (the remapped root of `--userns-remap`), else root.
    owner: Option<(u32, u32)>,
}

impl LocalDriver {
    /// Opens (creating, mode 0701 as Docker's) the volumes root.
    pub fn open(root: &Path) -> Result<LocalDriver, DaemonError> {
        std::fs::create_dir_all(root)
            .map_err(|e| DaemonError::io("creating directory", root, e))?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o701))
            .map_err(|e| DaemonError::io("setting the mode of", root, e))?;
        Ok(LocalDriver {
            root: root.to_path_buf(),
            owner: None,
        })
    }

    /// New volumes' `_data` belong to `owner` ([`LocalDriver::owner`]).
    pub fn owned_by(mut self, owner: Option<(u32, u32)>) -> Self {
        self.owner = owner;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/NAME`: the volume's own directory.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `<root>/NAME/_data`: the files, and the mount point of its file system.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA_DIR)
    }

    /// Makes the volume's directories (`NAME/` 0701, `NAME/_data` 0755) under a temporary name
    /// and renames them into place; returns the data path.
    pub fn create(&self, name: &str) -> Result<PathBuf, DaemonError> {
        let dir = self.dir(name);
        if dir.symlink_metadata().is_ok() {
            return Err(DaemonError::Conflict(format!(
                "volume already exists under {}",
                dir.display()
            )));
        }
        let tmp = self.root.join(format!(".tmp-{name}-{}", unique()));
        let made = (|| {
            std::fs::create_dir(&tmp).map_err(|e| DaemonError::io("creating", &tmp, e))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o701))
                .map_err(|e| DaemonError::io("setting the mode of", &tmp, e))?;
            let data = tmp.join(DATA_DIR);
            std::fs::create_dir(&data).map_err(|e| DaemonError::io("creating", &data, e))?;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| DaemonError::io("setting the mode of", &data, e))?;
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                    .map_err(|e| DaemonError::io("changing the owner of", &data, e))?;
            }
            // rename(2) refuses a target that exists and is not empty: never two volumes in one.
            std::fs::rename(&tmp, &dir).map_err(|e| DaemonError::io("renaming into", &dir, e))
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Ok(self.data_path(name))
    }

    /// Deletes the volume's directory (unmounting what is mounted under it first); a missing one
    /// is fine. Refuses when a mount under it cannot be taken away.
    pub fn remove(&self, name: &str) -> Result<(), DaemonError> {
        let dir = self.dir(name);
        unmount_under(&dir)?;
        let trash = self.root.join(format!(".trash-{name}-{}", unique()));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(DaemonError::io("removing", &dir, e)),
        }
        std::fs::remove_dir_all(&trash).map_err(|e| DaemonError::io("removing", &trash, e))
    }

    /// Deletes every entry of the root that `known` does not claim (temporary and trash
    /// directories included); returns the names it deleted.
    pub fn sweep(&self, known: impl Fn(&str) -> bool) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut swept = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if known(&name) {
                continue;
            }
            let path = e.path();
            if let Err(err) = unmount_under(&path) {
                tracing::warn!(path = %path.display(), error = %err, "not sweeping a leftover volume directory: a mount under it stays");
                continue;
            }
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => swept.push(name),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "sweeping a leftover volume directory")
                }
            }
        }
        swept
    }

    /// Mounts the file system `opts` describe on the volume's data directory, unless something
    /// is mounted there already (a daemon restarted with the volume in use).
    pub fn mount(&self, name: &str, opts: &LocalOptions) -> Result<(), DaemonError> {
        let target = self.data_path(name);
        if is_mount_point(&target) {
            return Ok(());
        }
        let words: Vec<&str> = opts.options.split(',').filter(|w| !w.is_empty()).collect();
        let parsed = berth_runtime::rootfs::options::parse(&words);
        let fstype = (!parsed.is_bind()).then_some(opts.fstype.as_str());
        let data = parsed.data();
        nix::mount::mount(
            Some(opts.device.as_str()),
            &target,
            fstype,
            parsed.flags,
            data.as_deref(),
        )
        .map_err(|e| {
            DaemonError::Internal(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {:#x}, data: {}: {e}",
                target.display(),
                opts.device,
                target.display(),
                parsed.flags.bits(),
                data.as_deref().unwrap_or("")
            ))
        })?;
        for flag in &parsed.propagation {
            let _ = nix::mount::mount(None::<&str>, &target, None::<&str>, *flag, None::<&str>);
        }
        Ok(())
    }

    /// Unmounts the volume's file system (nothing mounted: nothing to do).
    pub fn unmount(&self, name: &str) -> Result<(), DaemonError> {
        let target = self.data_path(name);
        match nix::mount::umount2(&target, MntFlags::MNT_DETACH) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(DaemonError::Internal(format!(
                "unmounting volume '{}': {e}",
                target.display()
            ))),
        }
    }

    /// Whether a file system is mounted on the volume's data directory.
    pub fn is_mounted(&self, name: &str) -> bool {
        is_mount_point(&self.data_path(name))
    }

    /// Bytes of the files in the volume (hard links once).
    pub fn size(&self, name: &str) -> u64 {
        tree_size(&self.data_path(name))
    }

    /// Whether the volume's data directory holds nothing (a missing one counts as empty).
    pub fn is_empty(&self, name: &str) -> bool {
        std::fs::read_dir(self.data_path(name)).map_or(true, |mut rd| rd.next().is_none())
    }
}

/// A suffix no other temporary name of this process has.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Mount points at or under `dir` (deepest first).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = berth_runtime::rootfs::mountinfo::read()
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|m| m.starts_with(dir))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    found
}

/// Whether `path` is a mount point.
pub fn is_mount_point(path: &Path) -> bool {
    berth_runtime::rootfs::mountinfo::read()
        .unwrap_or_default()
        .iter()
        .any(|m| m.mount_point == path)
}

/// Detaches every mount at or under `dir`; an error when one is still there afterwards.
fn unmount_under(dir: &Path) -> Result<(), DaemonError> {
    for m in mounts_under(dir) {
        let _ = nix::mount::umount2(&m, MntFlags::MNT_DETACH);
    }
    match mounts_under(dir).first() {
        None => Ok(()),
        Some(m) => Err(DaemonError::Internal(format!(
            "{} is still mounted; not deleting the volume's files",
            m.display()
        ))),
    }
}

/// Opens a directory by path without following a final symlink.
pub(super) fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens the directory `name` inside `dir`, never through a symlink.
pub(super) fn open_subdir(dir: &impl AsFd, name: &OsString) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name.as_os_str(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Whether directory `dir` holds anything (reads no further than its first entry). Lists
/// through `dir`'s own offset: a later listing of `dir` needs a fresh descriptor.
pub(super) fn has_entries(dir: &OwnedFd) -> nix::Result<bool> {
    let mut listing =
        nix::dir::Dir::from_fd(dir.try_clone().map_err(|_| nix::errno::Errno::EBADF)?)?;
    for e in listing.iter() {
        let name = e?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The names in directory `dir` (without `.` and `..`).
pub(super) fn entries(dir: &OwnedFd) -> nix::Result<Vec<OsString>> {
    let mut listing =
        nix::dir::Dir::from_fd(dir.try_clone().map_err(|_| nix::errno::Errno::EBADF)?)?;
    let mut names = Vec::new();
    for e in listing.iter() {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}

/// Bytes of the files under `dir`, hard links counted once, walked by descriptor (a directory
/// swapped for a symlink meanwhile is not followed) and at most [`MAX_DEPTH`] deep.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(fd) = open_dir(dir) else {
        return 0;
    };
    let mut seen = HashSet::new();
    size_at(&fd, &mut seen, 0)
}

fn size_at(dir: &OwnedFd, seen: &mut HashSet<(u64, u64)>, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        return 0;
    }
    let mut total = 0u64;
    for name in entries(dir).unwrap_or_default() {
        let Ok(st) = nix::sys::stat::fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        else {
            continue;
        };
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFDIR {
            if let Ok(sub) = open_subdir(dir, &name) {
                total = total.saturating_add(size_at(&sub, seen, depth + 1));
            }
            continue;
        }
        if st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        total = total.saturating_add(u64::try_from(st.st_size).unwrap_or(0));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_whole_and_sweep_takes_what_no_record_claims() {
        let root = tempfile::tempdir().unwrap();
        let d = LocalDriver::open(&root.path().join("volumes")).unwrap();
        let data = d.create("keep").unwrap();
        assert!(data.is_dir());
        assert_eq!(data, d.data_path("keep"));
        let mode = std::fs::metadata(d.dir("keep"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o701);
        assert_eq!(
            d.create("keep").unwrap_err().kind(),
            crate::error::ErrorKind::Conflict
        );
        d.create("orphan").unwrap();
        std::fs::create_dir(d.root().join(".tmp-x-1-0")).unwrap();
        let mut swept = d.sweep(|n| n == "keep");
        swept.sort();
        assert_eq!(swept, [".tmp-x-1-0", "orphan"]);
        assert!(d.data_path("keep").is_dir());
        std::fs::write(d.data_path("keep").join("f"), b"12345").unwrap();
        assert_eq!(d.size("keep"), 5);
        assert!(!d.is_empty("keep"));
        d.remove("keep").unwrap();
        assert!(!d.dir("keep").exists());
        d.remove("keep").unwrap();
        assert_eq!(std::fs::read_dir(d.root()).unwrap().count(), 0);
    }

    #[test]
    fn sizes_count_hard_links_once_and_do_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("sub")).unwrap();
        std::fs::write(p.join("sub/a"), vec![0u8; 100]).unwrap();
        std::fs::hard_link(p.join("sub/a"), p.join("b")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0u8; 10_000]).unwrap();
        std::os::unix::fs::symlink(outside.path(), p.join("link")).unwrap();
        let link_len = std::fs::symlink_metadata(p.join("link")).unwrap().len();
        assert_eq!(tree_size(p), 100 + link_len);
    }
}
