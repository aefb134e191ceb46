//! [`RecordingSys`]: a [`Sys`] for unit tests that records every call and needs no root.
//!
//! Privileged calls (mount, umount2, pivot_root, chroot, chdir, fchdir, mknod, chown, host and
//! domain names, setns and the mount-tree calls) are recorded and succeed, unless a failure rule installed with
//! [`RecordingSys::fail_when`] answers an errno. Unprivileged file-system calls run for real, so
//! a test builds a rootfs in a temp dir and the rootfs logic walks, creates and resolves in it;
//! `mknodat` creates an empty regular file in place of the device node; `fstatfs` answers the real
//! file system unless the test made a directory pass for another with [`RecordingSys::pretend_fs`].
//!
//! Recorded paths are the real paths the kernel would have seen (`/proc/self/fd/N` and fd-relative
//! names are turned into the path the descriptor points at; a tree's descriptor, once attached,
//! into its target), shown relative to the fake's root (as `/dev/null` for `<root>/dev/null`)
//! when they lie inside it.

use super::{RealSys, Sys};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::statfs::FsType;
use nix::sys::statvfs::FsFlags;
use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One recorded call, with paths as described in the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount2 {
        target: String,
        flags: MntFlags,
    },
    PivotRoot {
        new_root: String,
        put_old: String,
    },
    Chroot(String),
    Chdir(String),
    Fchdir(String),
    Mkdir {
        path: String,
        mode: u32,
    },
    Mknod {
        path: String,
        kind: SFlag,
        mode: u32,
        dev: u64,
    },
    Symlink {
        target: String,
        path: String,
    },
    Unlink(String),
    Chmod {
        path: String,
        mode: u32,
    },
    Chown {
        path: String,
        uid: u32,
        gid: u32,
    },
    Sethostname(String),
    Setdomainname(String),
    /// `setns` into the mount namespace the descriptor names (as `readlink` shows it).
    SetnsMount(String),
    CloneTree {
        path: String,
        recursive: bool,
    },
    AttachTree {
        target: String,
    },
}

impl Call {
    /// The mount target, for mount calls and attached trees.
    pub fn mount_target(&self) -> Option<&str> {
        match self {
            Call::Mount { target, .. } | Call::AttachTree { target } => Some(target),
            _ => None,
        }
    }
}

type FailRule = Box<dyn Fn(&Call) -> Option<Errno>>;

/// Records calls; see the module documentation.
#[derive(Default)]
pub struct RecordingSys {
    root: Option<PathBuf>,
    calls: RefCell<Vec<Call>>,
    rules: RefCell<Vec<FailRule>>,
    pretend: RefCell<Vec<(PathBuf, FsType)>>,
    /// Trees attached so far: the descriptor's number, what it pointed at when attached, and the
    /// target as recorded — so a later call through `/proc/self/fd/N` of that tree is recorded
    /// at the target, where the kernel would have seen the mount.
    attached: RefCell<Vec<(i32, PathBuf, String)>>,
}

impl RecordingSys {
    /// A fake with no root: recorded paths are shown as they are.
    pub fn new() -> RecordingSys {
        RecordingSys::default()
    }

    /// A fake whose recorded paths inside `root` are shown relative to it.
    pub fn with_root(root: &Path) -> RecordingSys {
        RecordingSys {
            root: Some(root.canonicalize().unwrap_or_else(|_| root.to_path_buf())),
            ..RecordingSys::default()
        }
    }

    /// Makes every later call for which `rule` answers `Some(errno)` fail with that errno
    /// (the call is still recorded).
    pub fn fail_when(&self, rule: impl Fn(&Call) -> Option<Errno> + 'static) {
        self.rules.borrow_mut().push(Box::new(rule));
    }

    /// Makes `fstatfs` answer `fs` for everything at or below `dir` (a path as recorded, e.g.
    /// `/proc` for `<root>/proc`), so a test tree can pass for procfs.
    pub fn pretend_fs(&self, dir: &Path, fs: FsType) {
        self.pretend.borrow_mut().push((dir.to_path_buf(), fs));
    }

    /// All calls recorded so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The recorded mount calls and tree attachments (what puts a mount somewhere), in order.
    pub fn mounts(&self) -> Vec<Call> {
        self.calls
            .borrow()
            .iter()
            .filter(|c| matches!(c, Call::Mount { .. } | Call::AttachTree { .. }))
            .cloned()
            .collect()
    }

    fn record(&self, call: Call) -> Result<(), Errno> {
        let failure = self.rules.borrow().iter().find_map(|rule| rule(&call));
        self.calls.borrow_mut().push(call);
        failure.map_or(Ok(()), Err)
    }

    /// `path` as recorded: `/proc/self/fd/N` resolved (to where it was attached, for a tree),
    /// then shown relative to the root.
    fn show(&self, path: &Path) -> String {
        let mut real = path.to_path_buf();
        if let Ok(rest) = path.strip_prefix("/proc/self/fd") {
            if rest.components().count() == 1 {
                if let Ok(target) = std::fs::read_link(path) {
                    let n = rest.to_str().and_then(|n| n.parse::<i32>().ok());
                    let attached = self.attached.borrow();
                    let tree = attached
                        .iter()
                        .rev()
                        .find(|(fd, was, _)| Some(*fd) == n && *was == target);
                    if let Some((_, _, shown)) = tree {
                        return shown.clone();
                    }
                    real = target;
                }
            }
        }
        self.relative(&real)
    }

    fn relative(&self, real: &Path) -> String {
        if let Some(root) = &self.root {
            if let Ok(rest) = real.strip_prefix(root) {
                return Path::new("/").join(rest).display().to_string();
            }
        }
        real.display().to_string()
    }

    /// What the descriptor `fd` points at, as recorded.
    fn show_fd(&self, fd: BorrowedFd<'_>) -> String {
        match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
            Ok(real) => self.relative(&real),
            Err(_) => format!("<fd {}>", fd.as_raw_fd()),
        }
    }

    /// `name` in `dir`, as recorded.
    fn show_at(&self, dir: BorrowedFd<'_>, name: &Path) -> String {
        let dir_path = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .unwrap_or_else(|_| PathBuf::from(format!("<fd {}>", dir.as_raw_fd())));
        self.relative(&dir_path.join(name))
    }
}

impl Sys for RecordingSys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        self.record(Call::Mount {
            source: source.map(|s| self.show(s)),
            target: self.show(target),
            fstype: fstype.map(str::to_owned),
            flags,
            data: data.map(str::to_owned),
        })
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        self.record(Call::Umount2 {
            target: self.show(target),
            flags,
        })
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        self.record(Call::PivotRoot {
            new_root: self.show(new_root),
            put_old: self.show(put_old),
        })
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        self.record(Call::Chroot(self.show(path)))
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        self.record(Call::Chdir(self.show(path)))
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno> {
        self.record(Call::Fchdir(self.show_at(dir, Path::new(""))))
    }

    fn open(&self, path: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        RealSys.open(path, flags, mode)
    }

    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlag,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        RealSys.openat(dir, name, flags, mode)
    }

    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        self.record(Call::Mkdir {
            path: self.show_at(dir, name),
            mode: mode.bits(),
        })?;
        RealSys.mkdirat(dir, name, mode)
    }

    fn mknodat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        kind: SFlag,
        perm: Mode,
        dev: u64,
    ) -> Result<(), Errno> {
        self.record(Call::Mknod {
            path: self.show_at(dir, name),
            kind,
            mode: perm.bits(),
            dev,
        })?;
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY;
        RealSys.openat(dir, name, flags, perm).map(drop)
    }

    fn symlinkat(&self, target: &Path, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno> {
        self.record(Call::Symlink {
            target: target.display().to_string(),
            path: self.show_at(dir, name),
        })?;
        RealSys.symlinkat(target, dir, name)
    }

    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path, remove_dir: bool) -> Result<(), Errno> {
        self.record(Call::Unlink(self.show_at(dir, name)))?;
        RealSys.unlinkat(dir, name, remove_dir)
    }

    fn readlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<PathBuf, Errno> {
        RealSys.readlinkat(dir, name)
    }

    fn fstatat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<FileStat, Errno> {
        RealSys.fstatat(dir, name)
    }

    fn fchmodat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        self.record(Call::Chmod {
            path: self.show_at(dir, name),
            mode: mode.bits(),
        })?;
        RealSys.fchmodat(dir, name, mode)
    }

    fn fchownat(&self, dir: BorrowedFd<'_>, name: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        self.record(Call::Chown {
            path: self.show_at(dir, name),
            uid,
            gid,
        })
    }

    fn statvfs_flags(&self, path: &Path) -> Result<FsFlags, Errno> {
        RealSys.statvfs_flags(path)
    }

    fn fstatfs_type(&self, fd: BorrowedFd<'_>) -> Result<FsType, Errno> {
        let shown = self.show_at(fd, Path::new(""));
        let pretend = self.pretend.borrow();
        match pretend
            .iter()
            .find(|(dir, _)| Path::new(&shown).starts_with(dir))
        {
            Some((_, fs)) => Ok(*fs),
            None => RealSys.fstatfs_type(fd),
        }
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        self.record(Call::Sethostname(name.to_owned()))
    }

    fn setdomainname(&self, name: &str) -> Result<(), Errno> {
        self.record(Call::Setdomainname(name.to_owned()))
    }

    fn setns_mount(&self, ns: BorrowedFd<'_>) -> Result<(), Errno> {
        self.record(Call::SetnsMount(self.show_at(ns, Path::new(""))))
    }

    /// Records; the "tree" is an `O_PATH` descriptor of `/`, which only [`Self::attach_tree`] uses.
    fn clone_tree(&self, path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
        self.record(Call::CloneTree {
            path: path.display().to_string(),
            recursive,
        })?;
        RealSys.open(Path::new("/"), OFlag::O_PATH, Mode::empty())
    }

    /// Records; the "tree" is a duplicate of `fd`.
    fn clone_tree_at(&self, fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
        self.record(Call::CloneTree {
            path: self.show_fd(fd),
            recursive,
        })?;
        fd.try_clone_to_owned()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))
    }

    fn attach_tree(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
        let shown = self.show_fd(target);
        self.record(Call::AttachTree {
            target: shown.clone(),
        })?;
        let fd = tree.as_raw_fd();
        if let Ok(was) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            self.attached.borrow_mut().push((fd, was, shown));
        }
        Ok(())
    }
}
