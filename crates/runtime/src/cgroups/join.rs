//! Moving a new init into its cgroup without waiting for the kernel's global lock.
//!
//! Writing a pid to `cgroup.procs` takes `cgroup_threadgroup_rwsem` for writing, and the first
//! such write after a quiet spell waits for an RCU grace period: 5–20 ms, most of a container
//! start. Two ways around it, one per hierarchy:
//! - cgroup v1: a single-threaded process writes `0` (itself) to each hierarchy's `tasks` file.
//!   Moving one thread of the caller needs no threadgroup lock (the kernel skips it for exactly
//!   this case), so the move costs tens of µs. The runtime opens the `tasks` files
//!   ([`SelfJoin::open`]) before it clones the init, with its own credentials (the kernel checks
//!   the opener's), and the init writes through the inherited descriptors ([`SelfJoin::join`])
//!   first thing, before it does anything that must be accounted or limited.
//! - cgroup v2: `clone3(CLONE_INTO_CGROUP)` with a descriptor of the cgroup's directory
//!   ([`clone_target`]) puts the child there at fork, under the lock's read side only.
//!
//! Where neither applies (an old kernel, a seccomp filter refusing `clone3`), the parent falls back
//! to [`super::Cgroup::add_process`].

use super::{CgroupError, Hierarchy};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Open `tasks` files of a v1 cgroup, one per hierarchy, for the process that will join.
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<(PathBuf, OwnedFd)>,
}

fn open_err(path: &Path, value: &str) -> impl FnOnce(nix::Error) -> CgroupError {
    let path = path.to_path_buf();
    let value = value.to_string();
    move |e| CgroupError::Write {
        path,
        value,
        source: std::io::Error::from(e),
    }
}

impl SelfJoin {
    /// Opens `<dir>/tasks` for writing in every v1 hierarchy of `cgroup`; `None` on v2.
    pub fn open(cgroup: &super::Cgroup) -> Result<Option<SelfJoin>, CgroupError> {
        if matches!(cgroup.hierarchy(), Hierarchy::V2(_)) {
            return Ok(None);
        }
        let mut files = Vec::new();
        for dir in cgroup.dirs() {
            let path = dir.join("tasks");
            let fd = open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(open_err(&path, "0"))?;
            files.push((path, fd));
        }
        Ok(Some(SelfJoin { files }))
    }

    /// Moves the calling thread into the cgroup and closes the files. Only sound for a
    /// single-threaded caller: its one thread is then the whole process.
    pub fn join(self) -> Result<(), CgroupError> {
        for (path, fd) in self.files {
            nix::unistd::write(&fd, b"0").map_err(open_err(&path, "0"))?;
        }
        Ok(())
    }
}

/// A descriptor of the v2 cgroup's directory for `clone3(CLONE_INTO_CGROUP)`; `None` on v1.
pub fn clone_target(cgroup: &super::Cgroup) -> Result<Option<OwnedFd>, CgroupError> {
    let Hierarchy::V2(root) = cgroup.hierarchy() else {
        return Ok(None);
    };
    let dir = root.join(&cgroup.rel);
    // CLONE_INTO_CGROUP refuses O_PATH descriptors.
    let fd = open(
        &dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CgroupError::Read {
        path: dir.clone(),
        source: std::io::Error::from(e),
    })?;
    Ok(Some(fd))
}
