//! [`RealSys`]: the [`Sys`] seam implemented by calling the kernel through `nix`.

use super::Sys;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag};
use nix::sys::statfs::FsType;
use nix::sys::statvfs::FsFlags;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Calls the kernel. Stateless: `RealSys` is all a production caller ever passes.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSys;

impl Sys for RealSys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno> {
        nix::unistd::fchdir(dir)
    }

    fn open(&self, path: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, mode)
    }

    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlag,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        nix::fcntl::openat(dir, name, flags | OFlag::O_CLOEXEC, mode)
    }

    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        nix::sys::stat::mkdirat(dir, name, mode)
    }

    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        kind: SFlag,
        perm: Mode,
        dev: u64,
    ) -> Result<(), Errno> {
        nix::sys::stat::mknodat(dir, name, kind, perm, dev)
    }

    fn symlinkat(&self, target: &Path, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno> {
        nix::unistd::symlinkat(target, dir, name)
    }

    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path, remove_dir: bool) -> Result<(), Errno> {
        let flag = if remove_dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        nix::unistd::unlinkat(dir, name, flag)
    }

    fn readlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<PathBuf, Errno> {
        nix::fcntl::readlinkat(dir, name).map(PathBuf::from)
    }

    fn fstatat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<FileStat, Errno> {
        let mut flags = AtFlags::AT_SYMLINK_NOFOLLOW;
        if name.as_os_str().is_empty() {
            flags |= AtFlags::AT_EMPTY_PATH;
        }
        nix::sys::stat::fstatat(dir, name, flags)
    }

    fn fchmodat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        nix::sys::stat::fchmodat(dir, name, mode, FchmodatFlags::FollowSymlink)
    }

    fn fchownat(&self, dir: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        nix::unistd::fchownat(
            dir,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }

    fn statvfs_flags(&self, path: &Path) -> Result<FsFlags, Errno> {
        nix::sys::statvfs::statvfs(path).map(|s| s.flags())
    }

    fn fstatfs_type(&self, fd: BorrowedFd<'_>) -> Result<FsType, Errno> {
        nix::sys::statfs::fstatfs(fd).map(|s| s.filesystem_type())
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        nix::unistd::sethostname(name)
    }

    fn setdomainname(&self, name: &str) -> Result<(), Errno> {
        // SAFETY: the pointer and length describe `name`'s live bytes; the kernel only reads them.
        let res = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        Errno::result(res).map(drop)
    }

    fn setns_mount(&self, ns: BorrowedFd<'_>) -> Result<(), Errno> {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNS)
    }

    fn clone_tree(&self, path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
        use rustix::mount::OpenTreeFlags as F;
        let mut flags = F::OPEN_TREE_CLONE | F::OPEN_TREE_CLOEXEC | F::AT_SYMLINK_NOFOLLOW;
        if recursive {
            flags |= F::AT_RECURSIVE;
        }
        rustix::mount::open_tree(rustix::fs::CWD, path, flags).map_err(errno)
    }

    fn clone_tree_at(&self, fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
        use rustix::mount::OpenTreeFlags as F;
        let mut flags = F::OPEN_TREE_CLONE | F::OPEN_TREE_CLOEXEC | F::AT_EMPTY_PATH;
        if recursive {
            flags |= F::AT_RECURSIVE;
        }
        rustix::mount::open_tree(fd, "", flags).map_err(errno)
    }

    fn attach_tree(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
        use rustix::mount::MoveMountFlags as F;
        let flags = F::MOVE_MOUNT_F_EMPTY_PATH | F::MOVE_MOUNT_T_EMPTY_PATH;
        rustix::mount::move_mount(tree, "", target, "", flags).map_err(errno)
    }
}

/// A rustix error as nix's errno.
fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}
