//! The seam through which rootfs setup reaches the kernel.
//!
//! # Vocabulary
//! [`Sys`] has one method per system call that the rootfs setup (and the init's host and domain
//! name) needs. Each method is a thin, policy-free wrapper: it does exactly one call, takes paths
//! and directory fds as given, and returns the kernel's [`Errno`] unchanged. All policy (which
//! flags, in which order, how a path is resolved inside the rootfs) lives in [`crate::rootfs`].
//!
//! # Implementations
//! - [`RealSys`] calls the kernel (through `nix`, or `libc` where `nix` has no wrapper).
//! - [`fake::RecordingSys`] records every call in order. Privileged calls (mount, pivot_root,
//!   chroot, chdir, mknod of devices, host/domain names) only record and succeed, or fail with an
//!   errno a test asked for; unprivileged file-system calls (open, mkdir, symlink, stat, readlink)
//!   really run, on a temporary directory tree the test built, so the resolution logic is
//!   exercised for real without root. `fstatfs` runs too, unless a test said which file system a
//!   directory of its tree should pass for ([`fake::RecordingSys::pretend_fs`]: procfs, say).
//!
//! # Rules
//! - The caller is a single-threaded setup process; implementations keep no global state.
//! - Paths of the form `/proc/self/fd/N` are mount targets opened by the caller: the fake records
//!   the path the descriptor points at instead, so tests can assert where a mount landed.
//!
//! ```
//! use berth_runtime::sys::{fake::RecordingSys, Sys};
//! use nix::mount::MsFlags;
//! use std::path::Path;
//!
//! let sys = RecordingSys::new();
//! sys.mount(None, Path::new("/"), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None).unwrap();
//! assert_eq!(sys.calls().len(), 1);
//! ```

pub mod fake;
mod real;

pub use real::RealSys;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::statfs::FsType;
use nix::sys::statvfs::FsFlags;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One method per privileged (or fd-relative) system call that rootfs setup needs.
/// See the module documentation for the contract.
pub trait Sys {
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// `umount2(2)`.
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    /// `pivot_root(2)`.
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    /// `chroot(2)`.
    fn chroot(&self, path: &Path) -> Result<(), Errno>;
    /// `chdir(2)`.
    fn chdir(&self, path: &Path) -> Result<(), Errno>;
    /// `fchdir(2)`.
    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno>;
    /// `open(2)` of an absolute or cwd-relative path; `O_CLOEXEC` is always added.
    fn open(&self, path: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno>;
    /// `openat(2)`; `O_CLOEXEC` is always added.
    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlag,
        mode: Mode,
    ) -> Result<OwnedFd, Errno>;
    /// `mkdirat(2)`.
    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno>;
    /// `mknodat(2)`.
    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        kind: SFlag,
        perm: Mode,
        dev: u64,
    ) -> Result<(), Errno>;
    /// `symlinkat(2)`: creates `name` in `dir` pointing at `target`.
    fn symlinkat(&self, target: &Path, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno>;
    /// `unlinkat(2)`; `remove_dir` sets `AT_REMOVEDIR`.
    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path, remove_dir: bool) -> Result<(), Errno>;
    /// `readlinkat(2)`; an empty `name` reads the link `dir` itself (an `O_PATH` fd) is.
    fn readlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<PathBuf, Errno>;
    /// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`; an empty `name` stats `dir` itself.
    fn fstatat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<FileStat, Errno>;
    /// `fchmodat(2)` (follows nothing: call it on names you just created).
    fn fchmodat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno>;
    /// `fchownat(2)` with `AT_SYMLINK_NOFOLLOW`.
    fn fchownat(&self, dir: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32) -> Result<(), Errno>;
    /// `statvfs(3)`: the flags (`ST_RDONLY`, `ST_NOSUID`, ...) of the mount holding `path`.
    fn statvfs_flags(&self, path: &Path) -> Result<FsFlags, Errno>;
    /// `fstatfs(2)`: the file system type (magic) of what `fd` (an `O_PATH` fd will do) is on.
    fn fstatfs_type(&self, fd: BorrowedFd<'_>) -> Result<FsType, Errno>;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &str) -> Result<(), Errno>;
    /// `setdomainname(2)`.
    fn setdomainname(&self, name: &str) -> Result<(), Errno>;
    /// `setns(2)` into the mount namespace `ns` (an open `/proc/<pid>/ns/mnt`).
    fn setns_mount(&self, ns: BorrowedFd<'_>) -> Result<(), Errno>;
    /// `open_tree(2)` with `OPEN_TREE_CLONE` (and `AT_RECURSIVE` when `recursive`): a detached copy
    /// of the mount at `path`, which must not be a symlink.
    fn clone_tree(&self, path: &Path, recursive: bool) -> Result<OwnedFd, Errno>;
    /// `open_tree(2)` with `OPEN_TREE_CLONE | AT_EMPTY_PATH` (and `AT_RECURSIVE` when
    /// `recursive`): a detached copy of the mount at the open descriptor `fd` (an `O_PATH` fd of a
    /// directory or file, found once), rooted where `fd` points. Attached with
    /// [`Sys::attach_tree`], the descriptor it answers *is* the new mount: a remount or propagation
    /// change through its `/proc/self/fd/N` reaches that mount, whatever the path names by then.
    fn clone_tree_at(&self, fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno>;
    /// `move_mount(2)` of the detached tree `tree` onto the directory or file `target` (an `O_PATH`
    /// fd), both named by their descriptors.
    fn attach_tree(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno>;
}

/// The `/proc/self/fd/N` path of `fd`: the mount target for a resolved destination.
pub fn fd_path(fd: &impl std::os::fd::AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
