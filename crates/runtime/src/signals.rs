//! Signal dispositions a container's process starts with: Docker's (and runc's) are the kernel's
//! defaults. `execve` resets caught signals but keeps ignored ones, and the processes the runtime
//! runs in are Rust programs, whose start-up ignores SIGPIPE; without a reset every container
//! process would ignore SIGPIPE (`yes | head -1` would never end).

/// The highest signal number (`SIGRTMAX` on Linux).
const SIGNAL_MAX: libc::c_int = 64;

/// Puts every signal back to its default disposition. Call in the single-threaded process that is
/// about to exec the container's program, after the last use of a handler of its own.
pub fn reset_dispositions() {
    for sig in 1..=SIGNAL_MAX {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // The kernel's `struct sigaction` all zero is SIG_DFL with no flags and an empty mask.
        // The raw call, because the C library refuses the signals it reserves (32, 33), which a
        // parent may have left ignored too.
        let dfl = [0u64; 4];
        // SAFETY: rt_sigaction reads `dfl` (a valid, large enough zeroed struct) and writes
        // nothing back (null old action); the process is single-threaded and about to exec, so
        // no handler of ours can be needed afterwards. Errors leave the disposition as it was.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispositions_are_reset_in_a_child() {
        // In a forked child, so the test process keeps its own dispositions.
        // SAFETY: the child only calls async-signal-safe functions (signal, sigaction, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: as above, in the child.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                super::reset_dispositions();
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old);
                libc::_exit(if old.sa_sigaction == libc::SIG_DFL {
                    0
                } else {
                    1
                });
            }
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked, into a local.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
