//! After `pivot_root`: read-only paths (bind on themselves, remounted read-only with their
//! nosuid/nodev/noexec kept), masked paths (/dev/null bound over files, an empty read-only tmpfs
//! over directories; missing paths are skipped), and the read-only root (`root.readonly`).
//! Other mounts (/dev/shm, /proc, ...) are separate mounts and keep their own flags.

use super::mounts::remount_path;
use super::resolve::{resolve, Create};
use super::{open_dir, RootfsError};
use crate::sys::{fd_path, Sys};
use berth_oci::runtime::Spec;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::SFlag;
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
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(sys, root, Path::new(path))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        remount_path(sys, root, MsFlags::MS_RDONLY, true).map_err(|source| RootfsError::Sys {
            what: "remount the root read-only".into(),
            source,
        })?;
    }
    Ok(())
}

/// Resolves `path` under the (new) root; `None` when it does not exist.
fn find(
    sys: &dyn Sys,
    root: &Path,
    kind: &'static str,
    path: &Path,
) -> Result<Option<OwnedFd>, RootfsError> {
    let root = open_dir(sys, root)?;
    resolve(sys, root.as_fd(), kind, path, Create::Nothing)
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
    let target = fd_path(&fd);
    sys.mount(
        Some(&target),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| fail("bind on itself", e))?;
    // A fresh fd: the first one still points below the new bind.
    let fd = find(sys, root, KIND, path)?.ok_or_else(|| fail("find again", Errno::ENOENT))?;
    remount_path(sys, &fd_path(&fd), MsFlags::MS_RDONLY, true)
        .map_err(|e| fail("remount read-only", e))
}

fn mask(sys: &dyn Sys, root: &Path, path: &Path) -> Result<(), RootfsError> {
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
        sys.mount(
            Some(Path::new("/dev/null")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(|e| fail("bind /dev/null over it", e))
    }
}
