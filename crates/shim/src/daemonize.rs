//! Leaving the daemon: a new session, one more fork (the spawner reaps the intermediate process,
//! so the shim is nobody's child but init's and can never regain a controlling terminal), child
//! subreaper, stdio on /dev/null and `shim.log`, the state dir as working directory (short relative
//! socket paths), and the one-line ready report on fd 3.

use crate::protocol::{self, ErrorReply, PID_FILE, READY_FD, SHIM_LOG};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::unistd::ForkResult;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Setting up the shim's own process failed.
#[derive(Debug, thiserror::Error)]
#[error("shim: {what}: {source}")]
pub struct DaemonizeError {
    pub what: &'static str,
    #[source]
    pub source: nix::Error,
}

fn err(what: &'static str) -> impl FnOnce(nix::Error) -> DaemonizeError {
    move |source| DaemonizeError { what, source }
}

/// The ready pipe, when the spawner gave one.
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// Takes fd 3 if it is open (and marks it close-on-exec).
    pub fn take() -> Ready {
        // SAFETY: F_GETFD only asks whether fd 3 is open.
        if unsafe { libc::fcntl(READY_FD, libc::F_GETFD) } < 0 {
            return Ready(None);
        }
        // SAFETY: fd 3 is open and nothing in this process owns it: the spawner put it there
        // for us (see `client::spawn`).
        let fd = unsafe { OwnedFd::from_raw_fd(READY_FD) };
        let _ = fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
        Ready(Some(fd.into()))
    }

    /// Reports success.
    pub fn ok(mut self, pid: u32) {
        self.send(&protocol::ready_line(Ok(pid)));
    }

    /// Reports a failure with its kind (one line).
    pub fn fail(mut self, error: &ErrorReply) {
        self.send(&protocol::ready_line(Err(error)));
    }

    fn send(&mut self, line: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// New session, fork; the parent exits at once. Returns in the grandchild of the spawner.
pub fn detach() -> Result<(), DaemonizeError> {
    // Fails only when we already lead a process group (run by hand from a shell is fine).
    let _ = nix::unistd::setsid();
    // SAFETY: the shim is single-threaded here (nothing has spawned a thread yet), so the child
    // is a consistent copy; the parent only exits.
    match unsafe { nix::unistd::fork() }.map_err(err("fork"))? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {}
    }
    nix::sys::prctl::set_child_subreaper(true).map_err(err("become child subreaper"))
}

/// Working directory, stdio and pid file in `state_dir`.
pub fn settle(state_dir: &Path) -> Result<(), DaemonizeError> {
    nix::unistd::chdir(state_dir).map_err(err("chdir to the state dir"))?;
    let null = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err("open /dev/null"))?;
    let log = nix::fcntl::open(
        SHIM_LOG,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .map_err(err("open shim.log"))?;
    for (target, fd) in [(0, &null), (1, &null), (2, &log)] {
        // SAFETY: dup2 onto 0-2 replaces our own stdio; no Rust object owns those numbers.
        if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
            return Err(err("dup2 onto stdio")(nix::Error::last()));
        }
    }
    std::fs::write(PID_FILE, std::process::id().to_string())
        .map_err(|e| err("write shim.pid")(nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))
}
