//! What a container process keeps of the runtime's: no descriptor but stdio, the preserved ones and
//! the setup's own, and a working directory inside its root (the CVE-2024-21626 class).

use super::sys_err;
use crate::{Result, RuntimeError};
use std::os::fd::RawFd;
use std::path::Path;

/// Closes every descriptor above stdio except the preserved ones (`3..3+preserve_fds`) and `keep`.
/// Runs in the process that will become the container's, before anything the container controls
/// (its cwd, its mounts, its program) is used: an inherited descriptor of a host directory (the
/// cgroup directory opened for `clone3`, anything of the shim's) would let `cwd` or the program
/// reach the host through `/proc/self/fd/N` (CVE-2024-21626).
pub fn close_other_fds(preserve_fds: i32, keep: &[RawFd]) -> Result<()> {
    let first = 3 + preserve_fds.max(0);
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first as libc::c_uint;
    for fd in keep {
        let fd = fd as libc::c_uint;
        if fd > from {
            close_range(from, fd - 1)?;
        }
        from = fd + 1;
    }
    close_range(from, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> Result<()> {
    // SAFETY: close_range closes descriptors of this process only; the caller keeps every
    // descriptor an owned object still refers to out of the range (or never uses it again: the
    // process is the container's from here on, and std objects of the parent are not used).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    if rc < 0 {
        return Err(sys_err("close the runtime's descriptors")(
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// Changes to the process's working directory and makes sure it lies inside the container's root:
/// a cwd reached through a magic link (`/proc/self/fd/N`, `/proc/<pid>/cwd`) can be a directory
/// outside it, from which `..` walks the host (CVE-2024-21626). The kernel reports such a cwd as
/// unreachable: `getcwd` fails (ENOENT) or answers a path that does not start with `/`.
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).map_err(sys_err(format!("chdir to process.cwd {}", cwd.display())))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: getcwd writes at most `buf.len()` bytes into our buffer. The raw syscall (not libc's
    // wrapper) so the kernel's "(unreachable)" answer is seen as it is.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let inside = rc > 0 && buf.first() == Some(&b'/');
    if !inside {
        return Err(RuntimeError::Other(format!(
            "process.cwd {}: the working directory is outside the container's root; refusing to \
             start (possible container breakout)",
            cwd.display()
        )));
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec, so nothing of the runtime leaks.
pub fn mark_cloexec(first: i32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on our own descriptors.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(sys_err("mark descriptors close-on-exec")(nix::Error::last()));
    }
    Ok(())
}
