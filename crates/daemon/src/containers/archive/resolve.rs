//! Resolving a `docker cp` path inside a container's root, fd-relative, and describing what it
//! names ([`PathStat`]).
//!
//! Every lookup is one `openat2` with `RESOLVE_IN_ROOT` on a descriptor of the root: `..` stops at
//! the root and absolute symlinks are taken relative to it, so no path a container (or a client)
//! can write leads outside. Docker's rules for the last component: a path ending in `/` or `/.`
//! (or the root itself) follows a final symlink; any other path names the symlink itself.
//!
//! A running container's view has kernel file systems mounted (`/proc`, `/sys`, cgroups,
//! `devpts`, `mqueue`...), which Docker's copy view does not: [`on_kernel_fs`] tells them, and
//! nothing on them but a directory is found (a directory is copied without its content, see
//! [`super::tarball`]), so a copy never reads a kernel file as the daemon.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, readlink, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, SFlag};
use nix::sys::statfs::{self, fstatfs, FsType};

/// What `HEAD /containers/{id}/archive` reports about a path (Docker's `ContainerPathStat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// Base name of the path as asked (`/` for the root, `.` for `dir/.`).
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode` bits (directory `1<<31`, symlink `1<<27`, ...) plus the permission bits.
    pub mode: u32,
    /// Nanoseconds since the epoch.
    pub mtime_nanos: i64,
    /// For a symlink, its target resolved inside the container (absolute); else empty.
    pub link_target: String,
}

/// Failures of a lookup; the engine turns them into Docker's errors.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("path {0} does not exist")]
    NotFound(String),
    #[error("path {0}: a component is not a directory")]
    NotADirectory(String),
    #[error("resolving {path}: {source}")]
    Io { path: String, source: Errno },
}

/// A path looked up inside a root.
pub struct Resolved {
    /// `O_PATH` descriptor of the object (of the symlink itself when the last component is one and
    /// was not followed).
    pub fd: OwnedFd,
    pub stat: FileStat,
    /// The path as Docker keeps it: absolute, with a trailing `/` or `/.` preserved.
    pub abs: String,
}

/// `path` made absolute, cleaned, keeping a trailing `/` or `/.` as Docker's
/// `PreserveTrailingDotOrSeparator` does.
pub fn absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut abs = format!("/{}", parts.join("/"));
    if abs != "/" {
        if path.ends_with("/.") || path == "." {
            abs.push_str("/.");
        } else if path.ends_with('/') {
            abs.push('/');
        }
    }
    abs
}

/// Go's `filepath.Base` of an absolute path.
pub fn base_name(abs: &str) -> String {
    let trimmed = abs.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Whether a final symlink is followed (Docker: a trailing `/` or `/.`, or the root).
fn follows_last(abs: &str) -> bool {
    abs == "/" || abs.ends_with('/') || abs.ends_with("/.")
}

/// Opens `rel` under `root` with `RESOLVE_IN_ROOT`.
pub fn open_in_root(root: &OwnedFd, rel: &str, flags: OFlag) -> Result<OwnedFd, ResolveError> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let target = if rel.trim_matches('/').is_empty() {
        "."
    } else {
        rel
    };
    openat2(root.as_fd(), target, how).map_err(|e| match e {
        Errno::ENOENT => ResolveError::NotFound(rel.to_string()),
        Errno::ENOTDIR => ResolveError::NotADirectory(rel.to_string()),
        source => ResolveError::Io {
            path: rel.to_string(),
            source,
        },
    })
}

/// Opens the root directory itself.
pub fn open_root(path: &Path) -> Result<OwnedFd, ResolveError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| ResolveError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The host path a descriptor stands for (its `/proc/self/fd` link).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Kernel file systems a container may have mounted that `cp` never reads nor writes: proc,
/// sysfs, cgroup v1 and v2, devpts, mqueue, debugfs, tracefs, securityfs, bpf, nsfs, configfs,
/// pstore, efivarfs, fusectl, binfmt_misc.
const KERNEL_FS: &[FsType] = &[
    statfs::PROC_SUPER_MAGIC,
    statfs::SYSFS_MAGIC,
    statfs::CGROUP_SUPER_MAGIC,
    statfs::CGROUP2_SUPER_MAGIC,
    statfs::DEVPTS_SUPER_MAGIC,
    statfs::DEBUGFS_MAGIC,
    statfs::TRACEFS_MAGIC,
    statfs::SECURITYFS_MAGIC,
    statfs::BPF_FS_MAGIC,
    statfs::NSFS_MAGIC,
    FsType(0x1980_0202), // mqueue
    FsType(0x6265_6570), // configfs
    FsType(0x6165_676c), // pstore
    FsType(0xde5e_81e4), // efivarfs
    FsType(0x6573_5543), // fusectl
    FsType(0x4249_4e4d), // binfmt_misc
];

/// Whether `fd` lies on a kernel file system ([`KERNEL_FS`]); one that cannot be told is taken
/// for one (it is then neither read nor written).
pub fn on_kernel_fs(fd: &OwnedFd) -> bool {
    match fstatfs(fd.as_fd()) {
        Ok(st) => KERNEL_FS.contains(&st.filesystem_type()),
        Err(_) => true,
    }
}

/// Looks `path` up inside `root` by Docker's rules and stats it.
pub fn resolve(root: &OwnedFd, path: &str) -> Result<Resolved, ResolveError> {
    let abs = absolute(path);
    let mut flags = OFlag::O_PATH;
    if !follows_last(&abs) {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = open_in_root(root, &abs, flags)?;
    let stat = fstat(fd.as_fd()).map_err(|source| ResolveError::Io {
        path: abs.clone(),
        source,
    })?;
    if !is_type(&stat, SFlag::S_IFDIR) && on_kernel_fs(&fd) {
        return Err(ResolveError::NotFound(abs));
    }
    Ok(Resolved { fd, stat, abs })
}

/// Whether a stat result is of the given file type.
pub fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// Go's `os.FileMode` of a `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & SFlag::S_IFMT.bits() {
        x if x == SFlag::S_IFDIR.bits() => DIR,
        x if x == SFlag::S_IFLNK.bits() => SYMLINK,
        x if x == SFlag::S_IFBLK.bits() => DEVICE,
        x if x == SFlag::S_IFCHR.bits() => DEVICE | CHAR_DEVICE,
        x if x == SFlag::S_IFIFO.bits() => NAMED_PIPE,
        x if x == SFlag::S_IFSOCK.bits() => SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        mode |= SETUID;
    }
    if st_mode & 0o2000 != 0 {
        mode |= SETGID;
    }
    if st_mode & 0o1000 != 0 {
        mode |= STICKY;
    }
    mode
}

/// Stats `path` inside `root` for `HEAD /archive`; `root_path` is the root's host path, stripped
/// from a resolved link target.
pub fn stat_path(root: &OwnedFd, path: &str) -> Result<(Resolved, PathStat), ResolveError> {
    let r = resolve(root, path)?;
    let link_target = if is_type(&r.stat, SFlag::S_IFLNK) {
        link_target(root, &r)
    } else {
        String::new()
    };
    let st = PathStat {
        name: base_name(&r.abs),
        size: r.stat.st_size,
        mode: go_file_mode(r.stat.st_mode),
        mtime_nanos: r.stat.st_mtime * 1_000_000_000 + r.stat.st_mtime_nsec,
        link_target,
    };
    Ok((r, st))
}

/// A symlink's target, resolved inside the root when it exists (as Docker reports it), else the
/// link's text.
fn link_target(root: &OwnedFd, r: &Resolved) -> String {
    let raw = || {
        readlinkat(r.fd.as_fd(), "")
            .map(|t| String::from_utf8_lossy(&t.into_vec()).into_owned())
            .unwrap_or_default()
    };
    let Ok(target) = open_in_root(root, &r.abs, OFlag::O_PATH) else {
        return raw();
    };
    let (Ok(root_host), Ok(target_host)) = (readlink(&fd_path(root)), readlink(&fd_path(&target)))
    else {
        return raw();
    };
    match Path::new(&target_host).strip_prefix(Path::new(&root_host)) {
        Ok(rel) => format!("/{}", OsString::from(rel).to_string_lossy()),
        Err(_) => raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_keeps_docker_trailers() {
        assert_eq!(absolute("etc/hosts"), "/etc/hosts");
        assert_eq!(absolute("/tmp/"), "/tmp/");
        assert_eq!(absolute("/tmp/."), "/tmp/.");
        assert_eq!(absolute("/a/../../b"), "/b");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute(""), "/");
        assert_eq!(base_name("/tmp/"), "tmp");
        assert_eq!(base_name("/tmp/."), ".");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
    }

    #[test]
    fn lookups_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path().join("root");
        std::fs::create_dir_all(root_dir.join("etc")).unwrap();
        std::fs::write(root_dir.join("etc/hosts"), b"inside").unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink("../../secret", root_dir.join("etc/up")).unwrap();
        std::os::unix::fs::symlink("/etc", root_dir.join("abs")).unwrap();
        let root = open_root(&root_dir).unwrap();

        let (_, st) = stat_path(&root, "/etc/hosts").unwrap();
        assert_eq!((st.name.as_str(), st.size), ("hosts", 6));
        // `..` stops at the root: the link names /secret inside, which does not exist.
        assert!(matches!(
            resolve(&root, "/etc/up/"),
            Err(ResolveError::NotFound(_))
        ));
        let (_, st) = stat_path(&root, "/abs").unwrap();
        assert_eq!(st.mode & (1 << 27), 1 << 27);
        assert_eq!(st.link_target, "/etc");
        let (_, st) = stat_path(&root, "/abs/").unwrap();
        assert_eq!(st.mode & (1 << 31), 1 << 31);
        assert!(matches!(
            resolve(&root, "/nope"),
            Err(ResolveError::NotFound(_))
        ));
    }
}
