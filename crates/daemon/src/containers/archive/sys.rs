//! The few system calls of `docker cp` that neither std nor nix wraps: `pidfd_open` (holding a
//! container's init so a dead or reused pid is noticed) and the new mount API (`open_tree`,
//! `mount_setattr`, `move_mount`), with which a stopped container's mounts are cloned, made
//! private and read-only while still detached, and attached onto a descriptor of their target —
//! never onto a path that could be swapped meanwhile.
//!
//! Each wrapper is one syscall taking and returning descriptors as `OwnedFd`/`BorrowedFd`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

/// A syscall's `long` result as a new descriptor (`-1`: the errno).
fn new_fd(r: libc::c_long) -> Result<OwnedFd, Errno> {
    if r < 0 {
        return Err(Errno::last());
    }
    let raw = RawFd::try_from(r).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this descriptor to this thread; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A syscall's `long` result as success or the errno.
fn done(r: libc::c_long) -> Result<(), Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `pidfd_open(pid, 0)`: a descriptor that stands for this process and no later one with its pid.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and returns a descriptor or -1; no memory is passed.
    new_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// `open_tree(path, OPEN_TREE_CLONE | AT_RECURSIVE)`: a detached copy of the mount tree at the
/// host path `path` (a recursive bind not attached anywhere yet).
pub fn clone_tree(path: &Path) -> Result<OwnedFd, Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call; the other arguments are
    // integers. The result is a new descriptor or -1.
    new_fd(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) })
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE)`: every mount of the (detached) tree
/// private, and read-only when asked.
pub fn make_private(tree: BorrowedFd<'_>, read_only: bool) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: if read_only {
            libc::MOUNT_ATTR_RDONLY
        } else {
            0
        },
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | libc::AT_RECURSIVE;
    // SAFETY: the path is a static empty C string, `attr` is a live `mount_attr` whose size is
    // passed with it; the kernel only reads both.
    done(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches the detached tree
/// onto the object `target` stands for (an `O_PATH` descriptor), whatever its path names by now.
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are static empty C strings; the descriptors are borrowed for the call.
    done(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pidfd_of_this_process() {
        let fd = pidfd_open(std::process::id() as i32).unwrap();
        let mut polls = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        // Not readable: the process lives.
        assert_eq!(
            nix::poll::poll(&mut polls, nix::poll::PollTimeout::ZERO).unwrap(),
            0
        );
        assert_eq!(pidfd_open(-1).unwrap_err(), Errno::EINVAL);
    }
}
