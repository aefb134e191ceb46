//! fd-relative reading of a directory tree for the diff functions.
//!
//! A tree being archived may belong to a running container (commit of an upper dir), whose process
//! could swap a directory for a symlink mid-walk. So every directory is opened relative to its
//! parent's fd with `O_NOFOLLOW`, every object is inspected with `fstatat(AT_SYMLINK_NOFOLLOW)`,
//! files are opened `O_NOFOLLOW | O_NONBLOCK` and checked to be the inode that was listed, and
//! xattrs are read through `/proc/self/fd/<dir>/<name>` without following the last component.
//! Nothing outside the tree can be read into a layer.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};

use super::meta::xattr_allowed;
use super::root::{is_type, lstat_at};
use super::tarwrite::Xattrs;
use super::LayerError;

/// An open directory of the tree and its path (for errors only).
pub(crate) struct TreeDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> LayerError + 'p {
    move |source| LayerError::Walk {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

impl TreeDir {
    /// Opens the top of a tree (the caller's path).
    pub(crate) fn open(path: &Path) -> Result<TreeDir, LayerError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("open", path)(e.into()))?;
        Ok(TreeDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the top of a tree that may not exist.
    pub(crate) fn open_optional(path: &Path) -> Result<Option<TreeDir>, LayerError> {
        match nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(TreeDir {
                fd,
                path: path.to_path_buf(),
            })),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(err("open", path)(e.into())),
        }
    }

    pub(crate) fn path(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// The subdirectory `name`, if it is (still) a directory.
    pub(crate) fn sub(&self, name: &OsStr) -> Result<Option<TreeDir>, LayerError> {
        match openat(self.fd.as_fd(), name, dir_flags(), Mode::empty()) {
            Ok(fd) => Ok(Some(TreeDir {
                fd,
                path: self.path(name),
            })),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => Ok(None),
            Err(e) => Err(err("open", &self.path(name))(e.into())),
        }
    }

    /// Entry names, sorted by bytes.
    pub(crate) fn list(&self) -> Result<Vec<OsString>, LayerError> {
        let fd = openat(self.fd.as_fd(), ".", dir_flags(), Mode::empty())
            .map_err(|e| err("list", &self.path)(e.into()))?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| err("list", &self.path)(e.into()))?;
        let mut names = Vec::new();
        for ent in dir.iter() {
            let ent = ent.map_err(|e| err("list", &self.path)(e.into()))?;
            let name = ent.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(names)
    }

    /// `lstat` of `name`; `None` if it is gone.
    pub(crate) fn stat(&self, name: &OsStr) -> Result<Option<FileStat>, LayerError> {
        match lstat_at(self.fd.as_fd(), name) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(err("inspect", &self.path(name))(e.into())),
        }
    }

    pub(crate) fn read_link(&self, name: &OsStr) -> Result<OsString, LayerError> {
        readlinkat(self.fd.as_fd(), name)
            .map_err(|e| err("read the symlink", &self.path(name))(e.into()))
    }

    /// Opens regular file `name` for reading, checking it is the inode `st` describes.
    pub(crate) fn open_file(&self, name: &OsStr, st: &FileStat) -> Result<File, LayerError> {
        let path = self.path(name);
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        let fd = openat(self.fd.as_fd(), name, flags, Mode::empty())
            .map_err(|e| err("open", &path)(e.into()))?;
        let now = fstat(&fd).map_err(|e| err("inspect", &path)(e.into()))?;
        if !is_type(&now, SFlag::S_IFREG) || now.st_ino != st.st_ino || now.st_dev != st.st_dev {
            return Err(err("open", &path)(io::Error::other(
                "the file was replaced while being archived",
            )));
        }
        Ok(File::from(fd))
    }

    /// The xattrs of `name` a layer carries (see `meta::xattr_allowed`), sorted.
    pub(crate) fn xattrs(&self, name: &OsStr) -> Result<Xattrs, LayerError> {
        let proc_path = self.proc_path(name);
        let path = self.path(name);
        let names = match xattr::list(&proc_path) {
            Ok(n) => n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::ENOENT)) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(err("list the xattrs of", &path)(e)),
        };
        let mut out = Vec::new();
        for key in names {
            if !xattr_allowed(key.as_bytes(), true) {
                continue;
            }
            if let Some(value) =
                xattr::get(&proc_path, &key).map_err(err("read an xattr of", &path))?
            {
                out.push((key.into_vec(), value));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether directory `name` carries overlayfs' opaque xattr.
    pub(crate) fn is_opaque(&self, name: &OsStr, xattr_name: &str) -> Result<bool, LayerError> {
        match xattr::get(self.proc_path(name), xattr_name) {
            Ok(v) => Ok(v.as_deref() == Some(b"y")),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)) => Ok(false),
            Err(e) => Err(err("read the opaque xattr of", &self.path(name))(e)),
        }
    }

    /// `/proc/self/fd/<dir>/<name>`: `name` in this very directory, whatever its path is now.
    fn proc_path(&self, name: &OsStr) -> PathBuf {
        Path::new("/proc/self/fd")
            .join(self.fd.as_raw_fd().to_string())
            .join(name)
    }
}

/// The file type bits of a stat.
pub(crate) fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_follows_symlinks_and_checks_inodes() {
        let base = tempfile::tempdir().unwrap();
        let top = base.path().join("top");
        std::fs::create_dir(&top).unwrap();
        std::fs::write(top.join("a"), b"a").unwrap();
        std::fs::write(top.join("b"), b"b").unwrap();
        std::os::unix::fs::symlink("/etc", top.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", top.join("host")).unwrap();
        let dir = TreeDir::open(&top).unwrap();
        assert_eq!(dir.list().unwrap(), ["a", "b", "etc", "host"]);
        assert!(dir.sub(OsStr::new("etc")).unwrap().is_none());
        let host = dir.stat(OsStr::new("host")).unwrap().unwrap();
        assert_eq!(kind(&host), SFlag::S_IFLNK);
        assert!(dir.open_file(OsStr::new("host"), &host).is_err());
        // "a" listed, then replaced by another file: refused.
        let a = dir.stat(OsStr::new("a")).unwrap().unwrap();
        std::fs::rename(top.join("b"), top.join("a")).unwrap();
        let e = dir.open_file(OsStr::new("a"), &a).unwrap_err();
        assert!(e.to_string().contains("replaced"), "{e}");
    }
}
