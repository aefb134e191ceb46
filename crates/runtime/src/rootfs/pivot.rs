//! Entering the rootfs: `pivot_root(".", ".")` with the old root made rslave and detached, or, when
//! `pivot_root` cannot work (a ramfs/initramfs rootfs, `--no-pivot`), MS_MOVE + chroot; a plain
//! chroot when the container shares the runtime's mount table (moving or pivoting its root there
//! would change the root of every process of the host).

use super::{open_dir, RootfsError};
use crate::sys::Sys;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::os::fd::AsFd;
use std::path::Path;

/// Makes `rootfs` the process's root and `/` its working directory.
pub fn pivot(rootfs: &Path, no_pivot: bool, sys: &dyn Sys) -> Result<(), RootfsError> {
    let fail = |what: &str, source: Errno| RootfsError::Sys {
        what: format!("enter the rootfs {}: {what}", rootfs.display()),
        source,
    };
    let here = Path::new(".");
    if no_pivot {
        sys.chdir(rootfs).map_err(|e| fail("chdir", e))?;
        sys.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
            .map_err(|e| fail("move the rootfs mount onto /", e))?;
        sys.chroot(here).map_err(|e| fail("chroot", e))?;
    } else {
        let old = open_dir(sys, Path::new("/"))?;
        let new = open_dir(sys, rootfs)?;
        sys.fchdir(new.as_fd()).map_err(|e| fail("chdir", e))?;
        // The old root ends up stacked below the new one, at the same place.
        sys.pivot_root(here, here)
            .map_err(|e| fail("pivot_root", e))?;
        sys.fchdir(old.as_fd())
            .map_err(|e| fail("chdir to the old root", e))?;
        // Never let the detach propagate to the host's mounts.
        sys.mount(None, here, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
            .map_err(|e| fail("make the old root rslave", e))?;
        sys.umount2(here, MntFlags::MNT_DETACH)
            .map_err(|e| fail("detach the old root", e))?;
    }
    sys.chdir(Path::new("/")).map_err(|e| fail("chdir to /", e))
}

/// Makes `rootfs` the process's root with `chroot` alone, for a container without a mount
/// namespace of its own.
pub fn chroot(rootfs: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let fail = |what: &str, source: Errno| RootfsError::Sys {
        what: format!("enter the rootfs {}: {what}", rootfs.display()),
        source,
    };
    sys.chdir(rootfs).map_err(|e| fail("chdir", e))?;
    sys.chroot(Path::new(".")).map_err(|e| fail("chroot", e))?;
    sys.chdir(Path::new("/")).map_err(|e| fail("chdir to /", e))
}
