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

/// overlayfs's option that spares a mount every sync of its upper layer.
const VOLATILE: &str = "volatile";

/// `mounts` with overlayfs's `volatile` option (Linux 5.10+) on every overlay: its upper layer is
/// never synced, neither on `syncfs` nor at unmount, where an overlay otherwise syncs the whole
/// filesystem under its upper dir (a journal commit, plus whatever else is dirty there). Meant for
/// a writable layer thrown away with its container (`run --rm`): a crash loses such a layer anyway.
/// Overlay marks a work dir it mounted volatile (`<workdir>/work/incompat/volatile`) and refuses it
/// afterwards, so this removes that marker, left by an earlier mount, first; call it only when
/// nothing is mounted from these directories. Callers fall back to `mounts` unchanged when the
/// kernel refuses the option.
pub fn volatile(mounts: &[Mount]) -> Vec<Mount> {
    let mut out = mounts.to_vec();
    for m in out.iter_mut().filter(|m| m.kind == "overlay") {
        let longer = m.options.join(",").len() + 1 + VOLATILE.len();
        if m.options.iter().any(|o| o == VOLATILE) || longer > super::MOUNT_OPTIONS_MAX {
            continue;
        }
        if let Some(work) = m.options.iter().find_map(|o| o.strip_prefix("workdir=")) {
            let work = match &m.cwd {
                Some(cwd) => cwd.join(work),
                None => Path::new(work).to_path_buf(),
            };
            let _ = std::fs::remove_dir_all(work.join("work").join("incompat"));
        }
        m.options.push(VOLATILE.to_string());
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(options: &[&str], cwd: Option<&Path>) -> Mount {
        Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            cwd: cwd.map(Path::to_path_buf),
        }
    }

    #[test]
    fn volatile_marks_overlays_and_clears_an_old_marker() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("w/work/incompat/volatile");
        std::fs::create_dir_all(&marker).unwrap();
        let bind = Mount {
            kind: "bind".into(),
            source: "/x".into(),
            options: vec!["rbind".into()],
            cwd: None,
        };
        let out = volatile(&[
            overlay(&["lowerdir=l", "upperdir=u", "workdir=w"], Some(dir.path())),
            bind.clone(),
        ]);
        assert_eq!(out[0].options.last().map(String::as_str), Some("volatile"));
        assert_eq!(out[1], bind);
        assert!(!dir.path().join("w/work/incompat").exists());
        assert!(dir.path().join("w/work").exists());
        // Idempotent.
        assert_eq!(volatile(&out), out);
    }

    #[test]
    fn volatile_leaves_options_at_the_page_limit_alone() {
        let long = format!(
            "lowerdir={}",
            "a".repeat(crate::snapshot::MOUNT_OPTIONS_MAX - 9)
        );
        let m = overlay(&[long.as_str()], None);
        assert_eq!(volatile(std::slice::from_ref(&m)), vec![m]);
    }
}
