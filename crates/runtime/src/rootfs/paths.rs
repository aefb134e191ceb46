//! After `pivot_root`: read-only paths (bound on themselves — a clone of the mount there,
//! attached onto the same descriptor — and remounted read-only through the clone's descriptor,
//! with their nosuid/nodev/noexec kept), masked paths (the null device bound over files, an empty read-only
//! tmpfs over directories; missing paths are skipped), and the read-only root (`root.readonly`).
//! Other mounts (/dev/shm, /proc, ...) are separate mounts and keep their own flags.
//!
//! A path under `/proc` must resolve to procfs (`fstatfs`), so an overmount is never what gets
//! masked or made read-only. The null device is the container's `/dev/null` opened `O_PATH`,
//! checked by `fstat` of that fd to be char 1:3, and bound from `/proc/self/fd/N` of the same fd:
//! a `/dev/null` that is a symlink or any other file (CVE-2025-31133) is refused.

use super::mounts::remount_path;
use super::procfs;
use super::resolve::{resolve, Create};
use super::{open_dir, RootfsError};
use crate::sys::{fd_path, Sys};
use berth_oci::runtime::Spec;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// See the module documentation; `root` is `/` once pivoted (a temp dir in unit tests).
pub(crate) fn finish(spec: &Spec, root: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly(sys, root, Path::new(path))?;
    }
    let mut null = None;
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(sys, root, Path::new(path), &mut null)?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        remount_path(sys, root, MsFlags::MS_RDONLY, true).map_err(|source| RootfsError::Sys {
            what: "remount the root read-only".into(),
            source,
        })?;
    }
    Ok(())
}

/// Resolves `path` under the (new) root; `None` when it does not exist. What is found for a path
/// under `/proc` must be on procfs.
fn find(
    sys: &dyn Sys,
    root: &Path,
    kind: &'static str,
    path: &Path,
) -> Result<Option<OwnedFd>, RootfsError> {
    let root = open_dir(sys, root)?;
    let found = resolve(sys, root.as_fd(), kind, path, Create::Nothing)?;
    if let Some(fd) = &found {
        if procfs::clean(path).starts_with("/proc") {
            procfs::require_procfs(sys, fd.as_fd(), kind, path)?;
        }
    }
    Ok(found)
}

/// Opens the container's `/dev/null` (`root/dev/null`, following symlinks as the container would)
/// and requires the fd to be the null device, char 1:3.
fn open_null(sys: &dyn Sys, root: &Path) -> Result<OwnedFd, RootfsError> {
    let path = root.join("dev/null");
    let fail = |what: &str, source: Errno| RootfsError::Device {
        path: "/dev/null".into(),
        what: format!("{what} (to mask paths with it)"),
        source,
    };
    let fd = sys
        .open(&path, OFlag::O_PATH, Mode::empty())
        .map_err(|e| fail("open", e))?;
    let stat = sys
        .fstatat(fd.as_fd(), Path::new(""))
        .map_err(|e| fail("stat", e))?;
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    let null = makedev(1, 3);
    if kind == SFlag::S_IFCHR && stat.st_rdev == null {
        return Ok(fd);
    }
    let found = match kind {
        SFlag::S_IFCHR | SFlag::S_IFBLK => {
            let dev = nix::sys::stat::major(stat.st_rdev);
            let minor = nix::sys::stat::minor(stat.st_rdev);
            let word = if kind == SFlag::S_IFCHR {
                "char"
            } else {
                "block"
            };
            format!("device {word} {dev}:{minor}")
        }
        SFlag::S_IFREG => "a regular file".into(),
        SFlag::S_IFDIR => "a directory".into(),
        _ => format!("a file of type {:#o}", kind.bits()),
    };
    Err(RootfsError::NotNullDevice { found })
}

fn readonly(sys: &dyn Sys, root: &Path, path: &Path) -> Result<(), RootfsError> {
    const KIND: &str = "readonly path";
    let fail = |what: &str, source: Errno| RootfsError::Resolve {
        kind: KIND,
        path: path.to_path_buf(),
        what: what.into(),
        source,
    };
    let Some(fd) = find(sys, root, KIND, path)? else {
        return Ok(());
    };
    // Bound on itself as a clone of the mount there, attached onto the same fd; the remount goes
    // through the clone's own fd. Finding the path again instead could land on another mount
    // when a shared volume above it has changed meanwhile.
    let tree = sys
        .clone_tree_at(fd.as_fd(), true)
        .map_err(|e| fail("bind on itself", e))?;
    sys.attach_tree(tree.as_fd(), fd.as_fd())
        .map_err(|e| fail("bind on itself", e))?;
    remount_path(sys, &fd_path(&tree), MsFlags::MS_RDONLY, true)
        .map_err(|e| fail("remount read-only", e))
}

/// Masks `path`; `null` holds the verified null device once a file needed it.
fn mask(
    sys: &dyn Sys,
    root: &Path,
    path: &Path,
    null: &mut Option<OwnedFd>,
) -> Result<(), RootfsError> {
    const KIND: &str = "masked path";
    let fail = |what: &str, source: Errno| RootfsError::Resolve {
        kind: KIND,
        path: path.to_path_buf(),
        what: what.into(),
        source,
    };
    let Some(fd) = find(sys, root, KIND, path)? else {
        return Ok(());
    };
    let stat = sys
        .fstatat(fd.as_fd(), Path::new(""))
        .map_err(|e| fail("stat", e))?;
    let target = fd_path(&fd);
    if SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR {
        sys.mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
        .map_err(|e| fail("mount an empty read-only tmpfs over it", e))
    } else {
        let null = match null {
            Some(fd) => fd,
            None => null.insert(open_null(sys, root)?),
        };
        sys.mount(Some(&fd_path(null)), &target, None, MsFlags::MS_BIND, None)
            .map_err(|e| fail("bind /dev/null over it", e))
    }
}
