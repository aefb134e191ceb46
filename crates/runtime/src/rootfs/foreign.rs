//! Bind mounts whose source lies in another process's mount namespace, named
//! `/proc/<pid>/root/<path>` (Docker's `--ipc container:<x>`: the joiner's `/dev/shm` is the
//! donor's). The kernel refuses to bind a mount of another namespace (`EINVAL`), and `open_tree`
//! refuses to clone one; so the setup process enters that namespace just long enough to clone
//! the mount there (`open_tree(OPEN_TREE_CLONE)`: a detached copy that belongs to no namespace),
//! comes back to its own namespace and working directory, and attaches the copy at the
//! destination (`move_mount`). Inside the other namespace the path is resolved under that
//! namespace's root, so it reaches nothing the other process could not see.
//!
//! Only the single-threaded setup process does this (`setns` into a mount namespace needs that),
//! before `pivot_root`: its root is its namespace's root, which the way back restores.

use super::RootfsError;
use crate::sys::Sys;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// A path inside another process's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Foreign {
    pub pid: u32,
    /// Absolute, as that process names it.
    pub path: PathBuf,
}

impl Foreign {
    /// `Some` when `source` is `/proc/<pid>/root/<path>` (without `.` or `..` parts).
    pub fn parse(source: &Path) -> Option<Foreign> {
        let mut parts = source.components();
        let head = [parts.next()?, parts.next()?, parts.next()?, parts.next()?];
        let [Component::RootDir, Component::Normal(proc), Component::Normal(pid), Component::Normal(root)] =
            head
        else {
            return None;
        };
        if proc != "proc" || root != "root" {
            return None;
        }
        let pid = pid.to_str()?.parse::<u32>().ok().filter(|p| *p > 0)?;
        let mut path = PathBuf::from("/");
        for part in parts {
            match part {
                Component::Normal(p) => path.push(p),
                _ => return None,
            }
        }
        Some(Foreign { pid, path })
    }

    /// The process's mount namespace file.
    fn namespace(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/mnt", self.pid))
    }

    /// Whether the process's mount namespace is another than the caller's (a plain bind works
    /// within one namespace).
    pub fn elsewhere(&self) -> bool {
        match (
            std::fs::read_link(self.namespace()),
            std::fs::read_link("/proc/self/ns/mnt"),
        ) {
            (Ok(theirs), Ok(ours)) => theirs != ours,
            _ => false,
        }
    }
}

/// Clones the mount at `f` out of its namespace and attaches it onto `target` (the resolved
/// destination, an `O_PATH` fd); `recursive` takes the mounts below it along (`rbind`). Answers
/// the descriptor of the new mount.
pub(crate) fn bind(
    sys: &dyn Sys,
    dest: &Path,
    f: &Foreign,
    target: BorrowedFd<'_>,
    recursive: bool,
) -> Result<OwnedFd, RootfsError> {
    let err = |what: String| {
        let dest = dest.to_path_buf();
        move |source: Errno| RootfsError::Mount { dest, what, source }
    };
    let open = |path: &Path, flags: OFlag| {
        sys.open(path, flags, Mode::empty())
            .map_err(err(format!("open {}", path.display())))
    };
    let theirs = open(&f.namespace(), OFlag::O_RDONLY)?;
    let ours = open(Path::new("/proc/self/ns/mnt"), OFlag::O_RDONLY)?;
    let cwd = open(Path::new("."), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    sys.setns_mount(theirs.as_fd()).map_err(err(format!(
        "enter the mount namespace of process {}",
        f.pid
    )))?;
    let tree = sys.clone_tree(&f.path, recursive);
    // Home again before anything else, whatever the clone did: the rest of the setup (and any
    // error path) must run in the container's own namespace.
    sys.setns_mount(ours.as_fd())
        .map_err(err("return to the container's mount namespace".into()))?;
    sys.fchdir(cwd.as_fd())
        .map_err(err("return to the working directory".into()))?;
    let tree = tree.map_err(err(format!(
        "clone the mount at {} of process {}",
        f.path.display(),
        f.pid
    )))?;
    sys.attach_tree(tree.as_fd(), target)
        .map_err(err(format!("attach the mount of {}", f.path.display())))?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, RecordingSys};

    #[test]
    fn only_proc_pid_root_paths_are_foreign() {
        assert_eq!(
            Foreign::parse(Path::new("/proc/42/root/dev/shm")),
            Some(Foreign {
                pid: 42,
                path: PathBuf::from("/dev/shm")
            })
        );
        assert_eq!(
            Foreign::parse(Path::new("/proc/42/root")).map(|f| f.path),
            Some(PathBuf::from("/"))
        );
        for not in [
            "/proc/self/root/dev/shm",
            "/proc/0/root/x",
            "/proc/42/cwd/x",
            "/proc/42/root/../etc",
            "/dev/shm",
            "proc/42/root/x",
        ] {
            assert_eq!(Foreign::parse(Path::new(not)), None, "{not}");
        }
    }

    #[test]
    fn our_own_namespace_is_not_elsewhere() {
        let me = Foreign {
            pid: std::process::id(),
            path: "/".into(),
        };
        assert!(!me.elsewhere());
    }

    #[test]
    fn the_clone_happens_over_there_and_the_attach_back_here() {
        let sys = RecordingSys::new();
        let dir = tempfile::tempdir().unwrap();
        let target = std::fs::File::open(dir.path()).unwrap();
        let me = Foreign {
            pid: std::process::id(),
            path: "/dev/shm".into(),
        };
        bind(&sys, Path::new("/dev/shm"), &me, target.as_fd(), false).unwrap();
        let calls = sys.calls();
        assert!(
            matches!(
                calls.as_slice(),
                [
                    Call::SetnsMount(_),
                    Call::CloneTree { path, recursive: false },
                    Call::SetnsMount(_),
                    Call::Fchdir(_),
                    Call::AttachTree { .. },
                ] if path == "/dev/shm"
            ),
            "{calls:?}"
        );
        // A failed clone still goes home before it reports.
        let sys = RecordingSys::new();
        sys.fail_when(|c| matches!(c, Call::CloneTree { .. }).then_some(Errno::EINVAL));
        let e = bind(&sys, Path::new("/dev/shm"), &me, target.as_fd(), true).unwrap_err();
        assert!(e.to_string().contains("clone the mount"), "{e}");
        let calls = sys.calls();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert!(matches!(calls[2], Call::SetnsMount(_)));
    }
}
