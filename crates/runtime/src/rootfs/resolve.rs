//! Safe resolution of a container path inside the rootfs, by walking directory fds.
//!
//! Every component is opened with `openat(O_PATH | O_NOFOLLOW)` relative to the directory fd of
//! the previous one, so the walk can never be redirected by a string join. Symlinks are read and
//! followed *as the container will see them*: an absolute target restarts at the rootfs, never at
//! the host's `/` (the semantics of `openat2(RESOLVE_IN_ROOT)`, which Docker, runc and crun share,
//! so `/var/run -> /run` works). Two kinds of symlink are refused as escapes, because a naive
//! runtime following them on the host would leave the rootfs:
//! - a symlink whose `..` components climb above the rootfs;
//! - a symlink whose target does not exist inside the rootfs (the runtime never creates a mount
//!   point through a dangling symlink: `rootfs/evil -> /tmp/host-dir` is refused, not turned into
//!   `rootfs/tmp/host-dir`).
//!
//! Missing components of the path itself are created (directories, and a file or directory for the
//! last one) when the caller asks; the result is an `O_PATH` fd whose `/proc/self/fd/N` is the
//! mount target.

use super::RootfsError;
use crate::sys::Sys;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// The most symlinks one resolution follows (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

/// What to do when the path (not a symlink target) does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Nothing: the resolution answers `None`.
    Nothing,
    /// Create missing directories, the last one included.
    Dir,
    /// Create missing parent directories and an empty regular file as the last component.
    File,
}

/// A component still to walk, and the symlink it came from (for the escape rules and messages).
struct Step {
    name: OsString,
    via: Option<(PathBuf, PathBuf)>,
}

/// Resolves `path` (taken as absolute inside the root) under the directory `root`.
/// Answers an `O_PATH` fd of the result, or `None` when it is missing and `create` is `Nothing`.
/// `kind` names the path in errors (`"mount destination"`, `"device"`, ...).
pub(crate) fn resolve(
    sys: &dyn Sys,
    root: BorrowedFd<'_>,
    kind: &'static str,
    path: &Path,
    create: Create,
) -> Result<Option<OwnedFd>, RootfsError> {
    let mut todo: VecDeque<Step> = steps(path, None).collect();
    // The directories walked so far below the root, and their in-container path.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut walked = PathBuf::from("/");
    let mut links = 0;
    let err = |what: String, source: Errno| RootfsError::Resolve {
        kind,
        path: path.to_path_buf(),
        what,
        source,
    };

    while let Some(step) = todo.pop_front() {
        if step.name == ".." {
            if stack.pop().is_none() {
                if let Some((link, target)) = step.via {
                    return Err(RootfsError::Escape {
                        kind,
                        path: path.to_path_buf(),
                        link,
                        target,
                    });
                }
            }
            walked.pop();
            continue;
        }
        let dir = stack.last().map_or(root, |fd| fd.as_fd());
        let name = Path::new(&step.name);
        let here = walked.join(name);
        let last = todo.is_empty();
        let fd = match sys.openat(dir, name, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create == Create::Nothing => return Ok(None),
            Err(Errno::ENOENT) => {
                if let Some((link, target)) = step.via {
                    return Err(RootfsError::Escape {
                        kind,
                        path: path.to_path_buf(),
                        link,
                        target,
                    });
                }
                let made = if last && create == Create::File {
                    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY;
                    sys.openat(dir, name, flags, Mode::from_bits_truncate(0o644))
                        .map(drop)
                } else {
                    sys.mkdirat(dir, name, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(err(format!("create {}", here.display()), e)),
                }
                todo.push_front(Step {
                    name: step.name,
                    via: None,
                });
                continue;
            }
            Err(e) => return Err(err(format!("open {}", here.display()), e)),
        };
        let stat = sys
            .fstatat(fd.as_fd(), Path::new(""))
            .map_err(|e| err(format!("stat {}", here.display()), e))?;
        let ftype = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        if ftype == SFlag::S_IFLNK {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(err("follow symlinks".into(), Errno::ELOOP));
            }
            let target = sys
                .readlinkat(fd.as_fd(), Path::new(""))
                .map_err(|e| err(format!("read symlink {}", here.display()), e))?;
            if target.is_absolute() {
                stack.clear();
                walked = PathBuf::from("/");
            }
            let via = Some((here, target.clone()));
            for s in steps(&target, via).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(s);
            }
            continue;
        }
        if !last && ftype != SFlag::S_IFDIR {
            return Err(err(
                format!("walk through {}", here.display()),
                Errno::ENOTDIR,
            ));
        }
        stack.push(fd);
        walked = here;
    }
    match stack.pop() {
        Some(fd) => Ok(Some(fd)),
        None => sys
            .openat(
                root,
                Path::new("."),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                Mode::empty(),
            )
            .map(Some)
            .map_err(|e| err("open the root".into(), e)),
    }
}

/// The walkable components of `path`: names and `..`; `/` and `.` are dropped.
fn steps(path: &Path, via: Option<(PathBuf, PathBuf)>) -> impl Iterator<Item = Step> + '_ {
    path.components().filter_map(move |c| match c {
        Component::Normal(name) => Some(Step {
            name: name.to_os_string(),
            via: via.clone(),
        }),
        Component::ParentDir => Some(Step {
            name: "..".into(),
            via: via.clone(),
        }),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}
