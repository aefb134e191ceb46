//! Performing [`Mount`] descriptions: the one place that turns them into `mount(2)` calls, for the
//! daemon (container root filesystems, exports) and the root tests. Snapshotters never call it.
//!
//! A description with [`Mount::cwd`] has option paths relative to that directory. The mount is then
//! made from a short-lived thread that first unshares its filesystem context (`CLONE_FS`), so its
//! `chdir` does not move the working directory of the rest of the process.

use std::path::Path;
use std::thread;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::{Mount, SnapshotError};

/// Mounts `mounts` in order onto `target` (an existing directory). On failure, mounts already made
/// are undone.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    for (done, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..done {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `target`; succeeds when nothing is mounted there.
pub fn unmount_all(target: &Path) -> Result<(), SnapshotError> {
    // Bounded: a stack deeper than this is not ours.
    for _ in 0..64 {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(mount_error(target, "unmount", e)),
        }
    }
    Err(SnapshotError::Mount {
        target: target.to_path_buf(),
        reason: "more than 64 mounts stacked; unmount them by hand".to_string(),
    })
}

fn mount_error(target: &Path, what: &str, e: Errno) -> SnapshotError {
    SnapshotError::Mount {
        target: target.to_path_buf(),
        reason: format!("{what} failed: {e}"),
    }
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let read_only = m.read_only();
    if m.kind == "bind" {
        let mut flags = MsFlags::MS_BIND;
        if m.options.iter().any(|o| o == "rbind") {
            flags |= MsFlags::MS_REC;
        }
        mount(
            Some(m.source.as_str()),
            target,
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| mount_error(target, &format!("bind of {}", m.source), e))?;
        if read_only {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            if let Err(e) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
                let _ = umount2(target, MntFlags::MNT_DETACH);
                return Err(mount_error(target, "read-only remount", e));
            }
        }
        return Ok(());
    }
    let data: Vec<&str> = m
        .options
        .iter()
        .map(String::as_str)
        .filter(|o| *o != "ro" && *o != "rw")
        .collect();
    let data = data.join(",");
    let flags = if read_only {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    let call = |target: &Path| {
        mount(
            Some(m.source.as_str()),
            target,
            Some(m.kind.as_str()),
            flags,
            Some(data.as_str()),
        )
        .map_err(|e| mount_error(target, &format!("{} mount", m.kind), e))
    };
    let Some(cwd) = &m.cwd else {
        return call(target);
    };
    let target = std::path::absolute(target).map_err(|source| SnapshotError::Io {
        path: target.to_path_buf(),
        source,
    })?;
    thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_FS)
                .map_err(|e| mount_error(&target, "unshare of the working directory", e))?;
            nix::unistd::chdir(cwd.as_path())
                .map_err(|e| mount_error(&target, &format!("chdir to {}", cwd.display()), e))?;
            call(&target)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(SnapshotError::Mount {
                target: target.clone(),
                reason: "the mount thread panicked".to_string(),
            })
        })
    })
}
