//! Reading and creating paths inside a container's root filesystem safely: every path is resolved
//! with `openat2(RESOLVE_IN_ROOT)` from a descriptor of the root, so symlinks in an image can never
//! lead outside it (`/etc/passwd -> /../../host/file` resolves inside the rootfs).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

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

/// The contents of `path` inside `root`, `None` if it does not exist.
pub fn read_file(root: &Path, path: &str) -> Result<Option<String>, RootfsError> {
    let dir = open_root(root)?;
    let err = |source| RootfsError::Io {
        what: "reading",
        path: path.to_string(),
        root: root.to_path_buf(),
        source,
    };
    let fd = match open_in(&dir, Path::new(path), OFlag::O_RDONLY) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) | Err(nix::Error::ENOTDIR) => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| err(nix::Error::from_raw(e.raw_os_error().unwrap_or(libc_eio()))))?;
    Ok(Some(text))
}

fn libc_eio() -> i32 {
    nix::Error::EIO as i32
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
