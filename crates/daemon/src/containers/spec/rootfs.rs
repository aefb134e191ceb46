//! Reading and creating paths inside a container's root filesystem safely: every path is resolved
//! with `openat2(RESOLVE_IN_ROOT)` from a descriptor of the root, so symlinks in an image can never
//! lead outside it (`/etc/passwd -> /../../host/file` resolves inside the rootfs).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};

/// Why a path inside the rootfs could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path} inside the container root {root}: {source}")]
    Io {
        what: &'static str,
        path: String,
        root: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path} inside the container root {root} is not a regular file")]
    NotRegular { path: String, root: PathBuf },
    #[error("{path} inside the container root {root} is larger than {limit} bytes")]
    TooBig {
        path: String,
        root: PathBuf,
        limit: u64,
    },
}

fn open_in(root: &impl AsFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

fn open_root(root: &Path) -> Result<OwnedFd, RootfsError> {
    nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| RootfsError::Io {
        what: "opening",
        path: "/".into(),
        root: root.to_path_buf(),
        source,
    })
}

/// The largest `/etc/passwd` or `/etc/group` read. A hostile image could otherwise make the daemon
/// hold a file of any size in memory (and parse it) on every start and exec. 16 MiB is about
/// 200,000 entries, far more than any real user database in an image, and bounds each lookup's
/// memory to a few tens of MiB even with the parsed entries.
pub const MAX_USER_DB: u64 = 16 << 20;

/// The contents of `path` inside `root` (a final symlink followed inside the root), `None` if it
/// does not exist.
///
/// The file is first opened `O_PATH`, which opens nothing: a FIFO there would otherwise block the
/// open for good (with the container's verb lock held), and opening a device node can have effects
/// of its own. Only once `fstat` of that descriptor shows a regular file of at most
/// [`MAX_USER_DB`] bytes is the same inode opened for reading, through the descriptor's `/proc`
/// link, and the read is bounded as well (the file may grow meanwhile).
pub fn read_file(root: &Path, path: &str) -> Result<Option<String>, RootfsError> {
    let dir = open_root(root)?;
    let io = |what, source| RootfsError::Io {
        what,
        path: path.to_string(),
        root: root.to_path_buf(),
        source,
    };
    let fd = match open_in(&dir, Path::new(path), OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) | Err(nix::Error::ENOTDIR) => return Ok(None),
        Err(e) => return Err(io("opening", e)),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| io("inspecting", e))?;
    if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
        return Err(RootfsError::NotRegular {
            path: path.to_string(),
            root: root.to_path_buf(),
        });
    }
    let too_big = || RootfsError::TooBig {
        path: path.to_string(),
        root: root.to_path_buf(),
        limit: MAX_USER_DB,
    };
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_USER_DB {
        return Err(too_big());
    }
    let file = reopen_for_reading(&fd).map_err(|e| io("opening", e))?;
    let mut bytes = Vec::new();
    file.take(MAX_USER_DB + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io("reading", errno_of(&e)))?;
    if bytes.len() as u64 > MAX_USER_DB {
        return Err(too_big());
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Opens the inode an `O_PATH` descriptor stands for, for reading (never blocking: the caller has
/// checked it is a regular file, and the link cannot be made to name another inode).
fn reopen_for_reading(fd: &OwnedFd) -> nix::Result<std::fs::File> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = nix::fcntl::open(
        link.as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(file))
}

fn errno_of(e: &std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(nix::Error::EIO as i32))
}

/// The mode of `path` inside `root` (symlinks followed inside the root), `None` if it is missing.
pub fn mode_of(root: &Path, path: &str) -> Result<Option<u32>, RootfsError> {
    let dir = open_root(root)?;
    match open_in(&dir, Path::new(path), OFlag::O_PATH) {
        Ok(fd) => {
            let st = nix::sys::stat::fstat(&fd).map_err(|source| RootfsError::Io {
                what: "inspecting",
                path: path.to_string(),
                root: root.to_path_buf(),
                source,
            })?;
            Ok(Some(st.st_mode))
        }
        Err(nix::Error::ENOENT) | Err(nix::Error::ENOTDIR) | Err(nix::Error::ELOOP) => Ok(None),
        Err(source) => Err(RootfsError::Io {
            what: "opening",
            path: path.to_string(),
            root: root.to_path_buf(),
            source,
        }),
    }
}

/// Creates directory `path` (and missing parents) inside `root`, owned by `uid:gid`, mode 0755.
pub fn mkdir_all(root: &Path, path: &str, uid: u32, gid: u32) -> Result<(), RootfsError> {
    let dir = open_root(root)?;
    let mut sofar = PathBuf::from("/");
    for comp in Path::new(path).components() {
        let Component::Normal(name) = comp else {
            continue;
        };
        let parent = sofar.clone();
        sofar.push(name);
        let err = |what, source| RootfsError::Io {
            what,
            path: sofar.display().to_string(),
            root: root.to_path_buf(),
            source,
        };
        match open_in(&dir, &sofar, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(_) => continue,
            Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(err("opening", e)),
        }
        let pfd = open_in(&dir, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| err("opening the parent of", e))?;
        match nix::sys::stat::mkdirat(&pfd, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(err("creating", e)),
        }
        let fd = open_in(&dir, &sofar, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| err("opening", e))?;
        nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|e| err("changing the owner of", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            root.path().join("etc/passwd"),
        )
        .unwrap();
        assert_eq!(read_file(root.path(), "/etc/passwd").unwrap(), None);
        std::fs::write(root.path().join("etc/group"), "g").unwrap();
        assert_eq!(
            read_file(root.path(), "/etc/group").unwrap().as_deref(),
            Some("g")
        );
    }

    /// Runs `f` on a thread; fails the test if it has not returned within a deadline (a read that
    /// blocks on a FIFO), after opening `fifo` for writing to let the stuck reader go.
    fn within_deadline<T: Send + 'static>(
        fifo: &Path,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(v) => v,
            Err(_) => {
                let _ = std::fs::OpenOptions::new().write(true).open(fifo);
                panic!("reading {} blocked", fifo.display());
            }
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let fifo = root.path().join("etc/passwd");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        let dir = root.path().to_path_buf();
        let r = within_deadline(&fifo, move || read_file(&dir, "/etc/passwd"));
        let e = r.unwrap_err();
        assert!(matches!(e, RootfsError::NotRegular { .. }), "{e}");
        assert!(e.to_string().contains("/etc/passwd"), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // A directory is no user database either.
        std::fs::create_dir(root.path().join("etc/group")).unwrap();
        let e = read_file(root.path(), "/etc/group").unwrap_err();
        assert!(matches!(e, RootfsError::NotRegular { .. }), "{e}");
    }

    #[test]
    fn a_huge_file_is_refused_unread() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        // Sparse: no disk used, and no memory unless someone reads it.
        let f = std::fs::File::create(root.path().join("etc/group")).unwrap();
        f.set_len(4 << 30).unwrap();
        let e = read_file(root.path(), "/etc/group").unwrap_err();
        assert!(matches!(e, RootfsError::TooBig { .. }), "{e}");
        assert!(e.to_string().contains("larger than 16777216 bytes"), "{e}");
        f.set_len(MAX_USER_DB + 1).unwrap();
        assert!(read_file(root.path(), "/etc/group").is_err());
        f.set_len(MAX_USER_DB).unwrap();
        let text = read_file(root.path(), "/etc/group").unwrap().unwrap();
        assert_eq!(text.len() as u64, MAX_USER_DB);
    }

    #[test]
    fn mkdir_all_creates_nested_dirs() {
        let root = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        mkdir_all(root.path(), "/a/b/c", uid, gid).unwrap();
        assert!(root.path().join("a/b/c").is_dir());
        mkdir_all(root.path(), "/a/b/c", uid, gid).unwrap();
    }
}
