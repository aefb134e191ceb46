//! The exec root on a tmpfs. Everything in it — bundles, shim sockets and state, the runtime's
//! state, the pid file — describes processes and means nothing after a reboot, and a start
//! creates a dozen files and directories there. Distributions keep `/run` on a tmpfs; where the
//! exec root sits on a disk file system instead (the test machines' `/run` is ext4, where one
//! `mkdir` costs ~0.6 ms against ~5 µs on tmpfs), the daemon mounts a tmpfs of its own on it,
//! which cut a `run --rm` by ~4 ms there.
//!
//! The mount lives in the host's mount namespace, so it outlives a daemon restart (live restore
//! finds the shims' sockets again). It is only made on an empty exec root — never over the state
//! of containers that a previous daemon left running on the disk — and a clean stop with no
//! container left running unmounts it again ([`ExecRoot::release`]). Without the privilege to
//! mount (or on a kernel without tmpfs) the daemon warns and carries on on the disk.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};

/// ramfs (linux/magic.h), a memory file system too.
const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);

/// What the daemon did to its exec root.
#[derive(Debug)]
pub struct ExecRoot {
    path: PathBuf,
    /// The daemon mounted the tmpfs (and may unmount it).
    mounted: bool,
}

impl ExecRoot {
    /// Makes sure `path` (an existing directory) is on a memory file system, mounting a tmpfs
    /// when it is not and holds nothing yet.
    pub fn prepare(path: &Path) -> ExecRoot {
        let mut root = ExecRoot::unmanaged(path);
        match statfs(path) {
            Ok(fs)
                if fs.filesystem_type() == TMPFS_MAGIC || fs.filesystem_type() == RAMFS_MAGIC =>
            {
                return root
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(exec_root = %path.display(), error = %e, "cannot tell the exec root's file system");
                return root;
            }
        }
        let empty = std::fs::read_dir(path).map(|mut d| d.next().is_none());
        if !matches!(empty, Ok(true)) {
            tracing::warn!(
                exec_root = %path.display(),
                "the exec root is on a disk and holds state of a previous daemon: keeping it there \
                 (starts are slower; it moves to a tmpfs once empty)"
            );
            return root;
        }
        match mount(
            Some("berth-exec"),
            path,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0711"),
        ) {
            Ok(()) => {
                tracing::info!(exec_root = %path.display(), "exec root mounted as a tmpfs");
                root.mounted = true;
            }
            Err(e) => tracing::warn!(
                exec_root = %path.display(),
                error = %e,
                "cannot mount a tmpfs on the exec root: keeping it on the disk (starts are slower)"
            ),
        }
        root
    }

    /// An exec root the daemon leaves as it is.
    pub fn unmanaged(path: &Path) -> ExecRoot {
        ExecRoot {
            path: path.to_path_buf(),
            mounted: false,
        }
    }

    /// At a clean stop: unmounts the tmpfs this daemon mounted, when no container needs what is
    /// in it (`running` is false).
    pub fn release(&self, running: bool) {
        if !self.mounted || running {
            return;
        }
        if let Err(e) = umount2(&self.path, MntFlags::MNT_DETACH) {
            tracing::warn!(exec_root = %self.path.display(), error = %e, "unmounting the exec root");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_state_is_left_on_its_file_system() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("berth.pid"), "1").unwrap();
        let root = ExecRoot::prepare(dir.path());
        assert!(!root.mounted);
        assert!(dir.path().join("berth.pid").exists());
    }
}
