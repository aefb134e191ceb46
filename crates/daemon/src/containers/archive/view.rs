//! The container's file system as the container itself sees it, for the length of one copy
//! ([`View`]): its rootfs with its bind mounts, volumes and tmpfs mounts on top.
//!
//! - A running (or paused) container is looked at through its own mount namespace: its init's
//!   `/proc/<pid>/root`. The pid comes from the runtime's state with the init's start time; a
//!   pidfd taken first, a start time that matches, and the pidfd still alive after the open prove
//!   the root is that init's and not a later process's with a reused pid. Nothing is mounted.
//! - Any other container is assembled ([`super::assemble`]) in a private mount namespace of the
//!   copy's own thread, its volumes given as binds of their host paths (mounted for the copy by
//!   the caller).
//!
//! Every copy runs on a thread of its own ([`run`]) that ends with the copy: the assembly
//! unshares the thread's mount namespace, which must never come back to a pool.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_runtime::container::state::{proc_stat, State};
use nix::fcntl::OFlag;
use nix::mount::MntFlags;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{fstatvfs, FsFlags};
use tokio::sync::oneshot;

use super::super::model::Container;
use super::super::Paths;
use super::sys;
use crate::error::DaemonError;

/// An open view of a container's file system.
pub struct View {
    /// `O_PATH` descriptor of the container's `/`, in the mount namespace the view's mounts live
    /// in; every path of the copy is resolved from it with `RESOLVE_IN_ROOT`.
    pub root: OwnedFd,
    /// The running container's init, held for as long as the view is.
    _pidfd: Option<OwnedFd>,
    /// Where an assembled view mounted the rootfs (in its private namespace), detached on drop.
    mounted_at: Option<PathBuf>,
}

impl View {
    /// A view of an assembled root (see [`super::assemble`]).
    pub(super) fn assembled(root: OwnedFd, mounted_at: PathBuf) -> View {
        View {
            root,
            _pidfd: None,
            mounted_at: Some(mounted_at),
        }
    }

    /// Refuses a write into directory `dir` (resolved in this view) where the container could
    /// not write: a read-only mount, with Docker's words for the rootfs and for a volume.
    pub fn check_writable(&self, dir: &OwnedFd, readonly_rootfs: bool) -> Result<(), DaemonError> {
        let read_only = fstatvfs(dir.as_fd())
            .map(|st| st.flags().contains(FsFlags::ST_RDONLY))
            .map_err(|e| DaemonError::Internal(format!("statvfs of a copy's destination: {e}")))?;
        let on_root = match (mount_id(&self.root), mount_id(dir)) {
            (Some(a), Some(b)) => a == b,
            _ => readonly_rootfs,
        };
        if on_root && (read_only || readonly_rootfs) {
            return Err(DaemonError::InvalidArgument(
                "container rootfs is marked read-only".into(),
            ));
        }
        if read_only {
            return Err(DaemonError::InvalidArgument(
                "mounted volume is marked read-only".into(),
            ));
        }
        Ok(())
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(at) = &self.mounted_at {
            // Detached in this thread's namespace only, so that the rootfs (an overlay whose
            // upper dir a start will mount next) is released before the copy answers, not when
            // the namespace dies with the thread.
            if let Err(e) = nix::mount::umount2(at, MntFlags::MNT_DETACH) {
                tracing::warn!(path = %at.display(), error = %e, "detaching a copy's rootfs");
            }
        }
    }
}

/// The mount a descriptor lies on (`mnt_id` of its fdinfo).
fn mount_id(fd: &OwnedFd) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the process a pidfd stands for has exited (its pidfd is readable then).
fn exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

/// The view of container `id` through its running init, or `None` when it has no live init
/// (stopped, exiting, or a pid that is not its init's any more). The init's pid and start time
/// come from the built-in runtime's state under `runtime_root`, or, for an external runtime
/// (runc, crun), from what its shim recorded in `shim_dir`. Blocking, briefly.
pub fn live(runtime_root: &Path, shim_dir: &Path, id: &str) -> Option<View> {
    let (pid, start_time) = match State::load(runtime_root, id) {
        Ok(state) => (state.pid, state.start_time),
        Err(_) => berth_shim::runtime::external::read_init(shim_dir)
            .map(|init| (init.pid, init.start_time))?,
    };
    if pid <= 0 {
        return None;
    }
    let pidfd = sys::pidfd_open(pid).ok()?;
    match proc_stat(pid) {
        Some((s, start)) if s != 'Z' && s != 'X' && start == start_time => {}
        _ => return None,
    }
    let root = nix::fcntl::open(
        format!("/proc/{pid}/root").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // Alive now, so the pid named this init when its root was opened.
    if exited(&pidfd) {
        return None;
    }
    Some(View {
        root,
        _pidfd: Some(pidfd),
        mounted_at: None,
    })
}

/// Runs `f` on a thread of its own, which ends with it, with `live` (a running container's
/// view, [`live`]) or else a view assembled from `c` (whose volumes must be binds by then); the
/// answer comes on the returned channel (closed without one if the thread could not start or
/// panicked).
pub fn run<T, F>(
    paths: Paths,
    c: Container,
    live: Option<View>,
    f: F,
) -> oneshot::Receiver<Result<T, DaemonError>>
where
    T: Send + 'static,
    F: FnOnce(&View, &Container) -> Result<T, DaemonError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("cp-view".into())
        .spawn(move || {
            let view = match live {
                Some(view) => Ok(view),
                None => super::assemble::assemble(&paths, &c).map_err(DaemonError::from),
            };
            let answer = view.and_then(|view| f(&view, &c));
            let _ = tx.send(answer);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "starting a copy's thread");
    }
    rx
}
