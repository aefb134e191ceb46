//! Keeping `/proc` the container's procfs, as runc does (`checkProcMount`):
//! - `proc` and `sysfs` mounts, and any mount on `/dev` or `/dev/pts`, go on an ordinary
//!   directory: a symlink (or file) there in the image is refused, never followed ([`ordinary_dir`]);
//! - nothing is mounted *on* `/proc` but a proc mount or a bind of a procfs, and nothing *inside*
//!   it but the few files that lxcfs-style tools emulate ([`check_dest`], on the destination as
//!   written and again on where it resolved inside the rootfs);
//! - before the runtime writes to, masks or makes read-only a file under `/proc`, `fstatfs` on the
//!   fd it will use says procfs ([`require_procfs`], [`write`]): an overmount (a tmpfs or a bind
//!   over `/proc/sys`, say) is refused instead of being written to or masked in place of procfs.

use super::resolve::{resolve, Create};
use super::RootfsError;
use crate::sys::Sys;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::statfs::PROC_SUPER_MAGIC;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};

/// The files under `/proc` a mount may cover (runc's list): the ones lxcfs emulates, and two
/// sysctls tools bind a value over.
pub(crate) const PROC_OVERMOUNTS: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// What a mount puts on `/proc` itself: only procfs may go there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnProc {
    /// A fresh proc mount, a bind whose source is procfs, or a later remount or propagation
    /// change of a mount already checked: allowed.
    Procfs,
    /// Anything else: refused.
    Other,
}

/// `path` (absolute inside the container) with `.` and `..` worked out by hand, as the kernel
/// would inside the root (`..` at the root stays there).
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Refuses a mount at `dest` whose target, `at` (a clean path inside the container: `dest` as
/// written, or where it resolved), is `/proc` and not procfs, or is inside `/proc` and not one of
/// [`PROC_OVERMOUNTS`].
pub(crate) fn check_dest(dest: &Path, at: &Path, on_proc: OnProc) -> Result<(), RootfsError> {
    let Ok(rest) = at.strip_prefix("/proc") else {
        return Ok(());
    };
    let via = if at == clean(dest) {
        String::new()
    } else {
        format!("resolves to {}, which ", at.display())
    };
    if rest.as_os_str().is_empty() {
        if on_proc == OnProc::Procfs {
            return Ok(());
        }
        return Err(RootfsError::Invalid {
            dest: dest.to_path_buf(),
            message: format!(
                "{via}cannot be mounted because it is not of type proc: only procfs may cover /proc"
            ),
        });
    }
    if PROC_OVERMOUNTS.iter().any(|p| Path::new(p) == at) {
        return Ok(());
    }
    Err(RootfsError::Invalid {
        dest: dest.to_path_buf(),
        message: format!(
            "{via}cannot be mounted because it is inside /proc (only {} may be covered)",
            PROC_OVERMOUNTS.join(", ")
        ),
    })
}

/// Requires `path` (inside the root `root`) to be an ordinary directory or missing, without
/// following a symlink in its last component. `rule` starts the message: what must go on an
/// ordinary directory (`filesystem "proc" must be mounted on`).
pub(crate) fn ordinary_dir(
    sys: &dyn Sys,
    root: BorrowedFd<'_>,
    path: &Path,
    rule: &str,
) -> Result<(), RootfsError> {
    let path = clean(path);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let fail = |what: String, source: Errno| RootfsError::Resolve {
        kind: super::mounts::KIND,
        path: path.clone(),
        what,
        source,
    };
    let Some(dir) = resolve(sys, root, super::mounts::KIND, parent, Create::Nothing)? else {
        return Ok(());
    };
    let fd = match sys.openat(
        dir.as_fd(),
        Path::new(name),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(fail("open".into(), e)),
    };
    let stat = sys
        .fstatat(fd.as_fd(), Path::new(""))
        .map_err(|e| fail("stat".into(), e))?;
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFDIR {
        return Ok(());
    }
    let what = if kind == SFlag::S_IFLNK {
        "a symlink"
    } else {
        "not a directory"
    };
    Err(RootfsError::Invalid {
        dest: path.clone(),
        message: format!(
            "{rule} an ordinary directory, but {} in the rootfs is {what}",
            path.display()
        ),
    })
}

/// Refuses `fd` (the resolved `path`, named `kind` in errors) unless it lies on procfs.
pub(crate) fn require_procfs(
    sys: &dyn Sys,
    fd: BorrowedFd<'_>,
    kind: &'static str,
    path: &Path,
) -> Result<(), RootfsError> {
    let fs = sys
        .fstatfs_type(fd)
        .map_err(|source| RootfsError::Resolve {
            kind,
            path: path.to_path_buf(),
            what: "fstatfs".into(),
            source,
        })?;
    if fs == PROC_SUPER_MAGIC {
        return Ok(());
    }
    Err(RootfsError::NotProcfs {
        kind,
        path: path.to_path_buf(),
        magic: format!("{:#x}", fs.0),
    })
}

/// Writes `value` to the procfs file `path` (a sysctl under `/proc/sys`, say): opened without
/// following a symlink in its last component, checked with `fstatfs` to be on procfs, then written
/// in one call. A file some mount put over procfs is refused, not written.
pub fn write(sys: &dyn Sys, path: &Path, value: &[u8]) -> Result<(), RootfsError> {
    const KIND: &str = "procfs file";
    let fd = sys
        .open(path, OFlag::O_WRONLY | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(|source| RootfsError::Resolve {
            kind: KIND,
            path: path.to_path_buf(),
            what: "open for writing".into(),
            source,
        })?;
    require_procfs(sys, fd.as_fd(), KIND, path)?;
    std::fs::File::from(fd)
        .write_all(value)
        .map_err(|e| RootfsError::Resolve {
            kind: KIND,
            path: path.to_path_buf(),
            what: format!("write {:?}", String::from_utf8_lossy(value)),
            source: super::mounts::io_errno(&e),
        })
}
