//! `run`: create + start, and in the foreground supervise the init until it exits: forward the
//! signals we receive (through a signalfd; no threads, no handlers), relay the terminal when we
//! hold the pty master (raw mode on our own tty, window size kept in sync), reap it and delete the
//! container. Its exit status is the container's (128 + signal when killed).

use super::create::{create, CreateOptions};
use super::{delete, start};
use crate::console;
use crate::{Result, RuntimeError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// The signals `run` and `exec` forward: all but the synchronous ones (and KILL/STOP, which cannot
/// be caught anyway).
pub fn forwarded_signals() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGSYS,
    ] {
        set.remove(s);
    }
    set
}

/// Runs a container; returns its exit code (0 at once when `detach`).
pub fn run(opts: &CreateOptions, detach: bool) -> Result<i32> {
    let mask = forwarded_signals();
    if !detach {
        // Blocked before the init exists so that no signal is lost; the init unblocks them.
        mask.thread_block().map_err(|source| RuntimeError::Sys {
            what: "block signals".into(),
            source,
        })?;
    }
    let mut opts = opts.clone();
    opts.relay_terminal = !detach && opts.console_socket.is_none();
    let created = create(&opts)?;
    if let Err(e) = start(&opts.root, &opts.id) {
        let _ = delete(&opts.root, &opts.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = supervise(created.state.init_pid(), created.terminal, &mask);
    delete(&opts.root, &opts.id, true)?;
    code
}

/// Puts our terminal in raw mode while alive.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> RawMode {
        let Ok(saved) = tcgetattr(fd) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(fd, SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(_) => return,
        }
    }
}

/// Waits for our child `pid`, forwarding signals and relaying `terminal`; returns its exit code.
/// The signals of `mask` must be blocked.
pub fn supervise(pid: Pid, terminal: Option<OwnedFd>, mask: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(
        |source| RuntimeError::Sys {
            what: "signalfd".into(),
            source,
        },
    )?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let _raw = terminal.as_ref().map(|_| RawMode::enter(stdin.as_fd()));
    if let Some(m) = &terminal {
        console::copy_size(stdin.as_raw_fd(), m.as_raw_fd());
        let flags = nix::fcntl::fcntl(m, nix::fcntl::FcntlArg::F_GETFL).unwrap_or(0);
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(m, nix::fcntl::FcntlArg::F_SETFL(flags));
    }
    let mut stdin_open = terminal.is_some();
    let mut master_open = terminal.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    let mut code = None;
    while code.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let (Some(m), true) = (&terminal, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(source) => {
                return Err(RuntimeError::Sys {
                    what: "poll".into(),
                    source,
                })
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        let mut i = 1;
        if let (Some(m), true) = (&terminal, master_open) {
            if ready[i] {
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(nix::Error::EIO) => master_open = false,
                    Ok(n) => write_all(stdout.as_fd(), &buf[..n]),
                    Err(_) => {}
                }
            }
            i += 1;
        }
        if stdin_open && ready[i] {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = &terminal {
                        write_all(m.as_fd(), &buf[..n]);
                    }
                }
                Err(_) => {}
            }
        }
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => loop {
                        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                            Ok(WaitStatus::StillAlive) | Err(_) => break,
                            Ok(st) if st.pid() == Some(pid) => {
                                code = exit_code(st).or(code);
                            }
                            Ok(_) => {}
                        }
                    },
                    Signal::SIGWINCH => {
                        if let Some(m) = &terminal {
                            console::copy_size(stdin.as_raw_fd(), m.as_raw_fd());
                        }
                    }
                    sig => {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
            }
        }
    }
    // Drain what the container wrote before it exited.
    if let (Some(m), true) = (&terminal, master_open) {
        while let Ok(n) = nix::unistd::read(m, &mut buf) {
            if n == 0 {
                break;
            }
            write_all(stdout.as_fd(), &buf[..n]);
        }
    }
    Ok(code.unwrap_or(255))
}
