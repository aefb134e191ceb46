//! A process's stdio as the shim holds it: pipes (stdin, stdout, stderr) or a pty master, set
//! non-blocking; how the child ends are handed to the runtime (it passes the caller's fds 0-2 on to
//! the process, so they are put there for the duration of the call); and small non-blocking read and
//! write helpers. The data moves in [`crate::server`].

use crate::log::Stream;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A process's stdio could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("shim: {what}: {source}")]
pub struct IoSetupError {
    pub what: &'static str,
    #[source]
    pub source: nix::Error,
}

/// Keeps the kind of the errno.
impl From<IoSetupError> for crate::protocol::ErrorReply {
    fn from(e: IoSetupError) -> Self {
        crate::protocol::ErrorReply::new(
            crate::protocol::ErrorKind::of_errno(e.source),
            e.to_string(),
        )
    }
}

fn setup(what: &'static str) -> impl FnOnce(nix::Error) -> IoSetupError {
    move |source| IoSetupError { what, source }
}

/// The shim's ends of one process's stdio.
pub struct ProcIo {
    /// Where the process's stdin goes (a pipe, or a duplicate of the pty master).
    pub stdin: Option<OwnedFd>,
    /// Bytes taken from a client, not yet written to `stdin`.
    pub stdin_pending: Vec<u8>,
    /// Close `stdin` once `stdin_pending` is written.
    pub stdin_eof: bool,
    /// stdout (or the pty master) and stderr; None once they reached EOF.
    pub outputs: [Option<OwnedFd>; 2],
    /// The outputs are a terminal: one raw stream, no framing.
    pub tty: bool,
}

/// The process's ends, to become its fds 0-2.
pub struct ChildStdio {
    fds: [OwnedFd; 3],
}

fn nonblocking(fd: &OwnedFd) -> Result<(), IoSetupError> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(setup("get fd flags"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(setup("set O_NONBLOCK"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), IoSetupError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(setup("create pipe"))
}

fn dev_null() -> Result<OwnedFd, IoSetupError> {
    nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(setup("open /dev/null"))
}

impl ProcIo {
    /// Pipes for a process without a terminal; its stdin is /dev/null unless `stdin`.
    pub fn pipes(stdin: bool) -> Result<(ProcIo, ChildStdio), IoSetupError> {
        let (child_in, our_in) = if stdin {
            let (r, w) = pipe()?;
            nonblocking(&w)?;
            (r, Some(w))
        } else {
            (dev_null()?, None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        nonblocking(&out_r)?;
        nonblocking(&err_r)?;
        let io = ProcIo {
            stdin: our_in,
            stdin_pending: Vec::new(),
            stdin_eof: false,
            outputs: [Some(out_r), Some(err_r)],
            tty: false,
        };
        Ok((
            io,
            ChildStdio {
                fds: [child_in, out_w, err_w],
            },
        ))
    }

    /// A process with a terminal: `master` is its output, and (with `stdin`) its input.
    pub fn terminal(master: OwnedFd, stdin: bool) -> Result<ProcIo, IoSetupError> {
        nonblocking(&master)?;
        let input = if stdin {
            Some(master.try_clone().map_err(|e| {
                setup("duplicate the pty master")(nix::Error::from_raw(
                    e.raw_os_error().unwrap_or(libc::EBADF),
                ))
            })?)
        } else {
            None
        };
        Ok(ProcIo {
            stdin: input,
            stdin_pending: Vec::new(),
            stdin_eof: false,
            outputs: [Some(master), None],
            tty: true,
        })
    }

    /// The pty master, while it is open.
    pub fn master(&self) -> Option<BorrowedFd<'_>> {
        if self.tty {
            self.outputs[0].as_ref().map(|f| f.as_fd())
        } else {
            None
        }
    }

    /// True while any output is open.
    pub fn output_open(&self) -> bool {
        self.outputs.iter().any(Option::is_some)
    }

    /// Writes what it can of `stdin_pending`; closes stdin at EOF or when the reader is gone.
    pub fn flush_stdin(&mut self) {
        if let Some(fd) = &self.stdin {
            match write_some(fd.as_fd(), &self.stdin_pending) {
                Ok(n) => {
                    self.stdin_pending.drain(..n);
                }
                Err(_) => {
                    self.stdin_pending.clear();
                    self.stdin = None;
                }
            }
        } else {
            self.stdin_pending.clear();
        }
        if self.stdin_pending.is_empty() {
            if self.stdin_pending.capacity() > 64 * 1024 {
                self.stdin_pending = Vec::new();
            }
            if self.stdin_eof {
                self.stdin = None;
            }
        }
    }
}

/// The stream of output `index` (0 stdout, 1 stderr).
pub fn stream_of(index: usize) -> Stream {
    if index == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    }
}

/// Runs `f` with the child's ends as this process's fds 0-2 (the runtime hands those to the
/// process it creates), then puts the old ones back. The shim is single-threaded, so nothing else
/// sees the swap.
pub fn with_stdio<T>(child: &ChildStdio, f: impl FnOnce() -> T) -> Result<T, IoSetupError> {
    let mut saved = Vec::with_capacity(3);
    for fd in 0..3 {
        // SAFETY: fds 0-2 are open (the shim points them at /dev/null and its log at start-up);
        // borrowing them for the duration of the duplication is sound.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        saved.push(borrowed.try_clone_to_owned().map_err(|e| {
            setup("save stdio")(nix::Error::from_raw(
                e.raw_os_error().unwrap_or(libc::EBADF),
            ))
        })?);
    }
    let put = |fds: &[OwnedFd]| -> Result<(), IoSetupError> {
        for (target, fd) in fds.iter().enumerate() {
            // SAFETY: dup2 onto 0-2 replaces our own stdio; no Rust object owns those numbers.
            if unsafe { libc::dup2(fd.as_raw_fd(), target as i32) } < 0 {
                return Err(setup("dup2 onto stdio")(nix::Error::last()));
            }
        }
        Ok(())
    };
    put(&child.fds)?;
    let out = f();
    put(&saved)?;
    Ok(out)
}

/// Reads what is there: Ok(None) when nothing is (EAGAIN), Ok(Some(0)) at EOF (EIO of a pty
/// whose slave closed counts as EOF).
pub fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Option<usize>, nix::Error> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(Some(n)),
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => return Ok(None),
            Err(nix::Error::EIO) => return Ok(Some(0)),
            Err(e) => return Err(e),
        }
    }
}

/// Writes what fits without blocking; returns how much.
pub fn write_some(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, nix::Error> {
    let mut done = 0;
    while done < data.len() {
        match nix::unistd::write(fd, &data[done..]) {
            Ok(n) => done += n,
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_carry_data_and_eof() {
        let (mut io, child) = ProcIo::pipes(true).unwrap();
        io.stdin_pending.extend_from_slice(b"hi");
        io.flush_stdin();
        assert!(io.stdin_pending.is_empty());
        let mut buf = [0u8; 8];
        assert_eq!(read_some(child.fds[0].as_fd(), &mut buf).unwrap(), Some(2));
        write_some(child.fds[2].as_fd(), b"err").unwrap();
        let err = io.outputs[1].as_ref().unwrap();
        assert_eq!(read_some(err.as_fd(), &mut buf).unwrap(), Some(3));
        assert_eq!(read_some(err.as_fd(), &mut buf).unwrap(), None);
        drop(child);
        assert_eq!(read_some(err.as_fd(), &mut buf).unwrap(), Some(0));
        io.stdin_eof = true;
        io.flush_stdin();
        assert!(io.stdin.is_none());
    }
}
