//! The rootfs of a container without a mount namespace of its own (no `mount` entry in
//! `linux.namespaces`): the container inherits the runtime's mount table, as the spec says, so
//! whatever is mounted for it is visible on the host and outlives its processes.
//!
//! To keep that bounded and undoable, the runtime (not the init) binds the rootfs on itself and
//! makes that bind rprivate before cloning the init: every mount the init then makes for the
//! container lands below the bind and propagates nowhere, the host's `/` is never touched, and the
//! init enters with `chroot` (see [`super::chroot`]). The bind's mount id is kept in the state
//! directory ([`save`]); rollback and `delete` detach it with everything below ([`release`]),
//! but only while the topmost mount on the rootfs is still that one, so a mount that was there
//! before (an overlay the engine made) is never taken away.

use super::RootfsError;
use crate::sys::Sys;
use berth_oci::runtime::Spec;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The file in the state directory that holds the bind's mount id.
pub const MOUNT_ID_FILE: &str = "rootfs.mnt";

/// True when the container of `spec` has no mount namespace of its own and shares the runtime's
/// mount table.
pub fn applies(spec: &Spec) -> bool {
    !super::Namespaces::of(spec).mount
}

/// Binds `rootfs` (absolute, canonical) on itself, recursively and rprivate, in the caller's mount
/// namespace; returns the bind's mount id.
pub fn bind(rootfs: &Path, sys: &dyn Sys) -> Result<u64, RootfsError> {
    let fail = |what: &str, source: Errno| RootfsError::Sys {
        what: format!(
            "{what} the rootfs {} (shared mount table)",
            rootfs.display()
        ),
        source,
    };
    sys.mount(
        Some(rootfs),
        rootfs,
        Some("bind"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| fail("bind on itself", e))?;
    let private = sys
        .mount(
            None,
            rootfs,
            None,
            MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            None,
        )
        .map_err(|e| fail("make rprivate", e))
        .and_then(|()| mount_id(rootfs));
    if private.is_err() {
        let _ = sys.umount2(rootfs, MntFlags::MNT_DETACH);
    }
    private
}

/// Detaches the bind made by [`bind`] (and every mount below it) if the topmost mount on
/// `rootfs` is still mount `id`; nothing when it is gone already.
pub fn release(rootfs: &Path, id: u64, sys: &dyn Sys) -> Result<(), RootfsError> {
    match mount_id(rootfs) {
        Ok(top) if top == id => {}
        // Unmounted meanwhile, or the rootfs is gone: nothing of ours is left.
        _ => return Ok(()),
    }
    sys.umount2(rootfs, MntFlags::MNT_DETACH)
        .map_err(|source| RootfsError::Sys {
            what: format!(
                "detach the container's bind of the rootfs {}",
                rootfs.display()
            ),
            source,
        })
}

/// The id of the topmost mount at `path` (the `mnt_id` of an `O_PATH` descriptor).
pub fn mount_id(path: &Path) -> Result<u64, RootfsError> {
    let fail = |source: Errno| RootfsError::Sys {
        what: format!("find the mount id of {}", path.display()),
        source,
    };
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .map_err(|e| fail(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    parse_mnt_id(&info).ok_or_else(|| fail(Errno::ENOTSUP))
}

fn parse_mnt_id(fdinfo: &str) -> Option<u64> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Records `id` in the state directory `dir`.
pub fn save(dir: &Path, id: u64) -> std::io::Result<()> {
    std::fs::write(dir.join(MOUNT_ID_FILE), id.to_string())
}

/// The id recorded in the state directory `dir`, if the container shares the mount table.
pub fn load(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(MOUNT_ID_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, RecordingSys};

    #[test]
    fn fdinfo_mount_id_is_parsed() {
        let text = "pos:\t0\nflags:\t012100000\nmnt_id:\t42\nino:\t2\n";
        assert_eq!(parse_mnt_id(text), Some(42));
        assert_eq!(parse_mnt_id("pos:\t0\n"), None);
    }

    #[test]
    fn bind_is_recursive_and_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sys = RecordingSys::with_root(dir.path());
        // The fake mounts nothing, so the id is the temp dir's own mount's.
        bind(dir.path(), &sys).expect("bind");
        let calls = sys.mounts();
        assert_eq!(calls.len(), 2, "{calls:#?}");
        let Call::Mount { flags, .. } = &calls[0] else {
            panic!("{calls:#?}")
        };
        assert_eq!(*flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        let Call::Mount { flags, .. } = &calls[1] else {
            panic!("{calls:#?}")
        };
        assert_eq!(*flags, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    }

    #[test]
    fn release_leaves_a_mount_that_is_not_ours() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sys = RecordingSys::with_root(dir.path());
        let top = mount_id(dir.path()).expect("mount id");
        release(dir.path(), top.wrapping_add(1), &sys).expect("release");
        assert!(sys.calls().is_empty(), "{:#?}", sys.calls());
        release(dir.path(), top, &sys).expect("release");
        assert_eq!(sys.calls().len(), 1);
    }

    #[test]
    fn mount_id_round_trips_through_the_state_dir() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(load(dir.path()), None);
        save(dir.path(), 7).expect("save");
        assert_eq!(load(dir.path()), Some(7));
    }
}
