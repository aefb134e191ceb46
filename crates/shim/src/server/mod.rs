//! The shim's one thread: a `poll` loop over the socket listener, a signalfd for SIGCHLD, the
//! container's (and its execs') stdio and the client connections. It owns the container's life
//! after `create`: start, signals, resize, attach and exec streams, the json-file log, and at the
//! end the drain of the output, the runtime delete, `exit.json` and the answers to waiters.
//!
//! Flow control: a process's output is not read while a client it streams to has unsent bytes,
//! and a client's stdin is not read while bytes for the process's stdin wait; so each connection
//! holds at most one chunk, and the shim's memory stays flat whatever the container writes.

mod conn;
mod finish;
mod requests;

use crate::io::{read_some, stream_of, ProcIo};
use crate::log::JsonLog;
use crate::protocol::{
    self, ErrorKind, ErrorReply, ExitStatus, Request, ShimConfig, IDLE_EXIT_SECS, SOCKET_NAME,
};
use crate::runtime::Runtime;
use conn::{Conn, Kind};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Size of the one read buffer.
const BUF: usize = 16 * 1024;
/// Longest request line.
const MAX_REQUEST: usize = 1 << 20;
/// Finished execs remembered (for `exec-wait`) before their slots are reused.
const KEPT_EXECS: usize = 64;
/// How long the shim waits before giving memory back after a burst of work: the request that
/// usually follows (the daemon's `start` right after `create`) is served first, at full speed.
const SHRINK_DELAY: Duration = Duration::from_millis(20);
/// Most connections served at once.
const MAX_CONNS: usize = 512;

/// The signals the shim takes through its signalfd (SIGCHLD) or as error codes (SIGPIPE).
pub fn blocked_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGPIPE);
    set
}

/// Which process a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Ctr,
    Exec(usize),
}

struct Exec {
    id: String,
    pid: Pid,
    io: ProcIo,
    code: Option<i32>,
    done: bool,
}

enum Token {
    Listener,
    Signal,
    Out(Src, usize),
    In(Src),
    Conn(usize),
}

/// A serving shim.
pub struct Shim {
    cfg: ShimConfig,
    listener: UnixListener,
    sfd: SignalFd,
    /// The container's runtime ([`crate::runtime`]): every runtime operation goes through it.
    runtime: Runtime,
    ctr: ProcIo,
    started: bool,
    reaped: Option<WaitStatus>,
    exit: Option<ExitStatus>,
    log: Option<JsonLog>,
    conns: Vec<Conn>,
    execs: Vec<Exec>,
    shutdown: bool,
    idle_since: Instant,
    buf: Box<[u8]>,
    exec_seq: u32,
    /// A request (or setup) ran since the last [`crate::memory::shrink`]: shrink at this time
    /// ([`SHRINK_DELAY`] after it became due).
    shrink_at: Option<Instant>,
}

/// Removes the socket file on drop (a failed create, or the shim's end).
struct SocketFile;

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SOCKET_NAME);
    }
}

impl Shim {
    /// Binds the socket and creates the container with its runtime (its init parked until
    /// `start`). The working directory is the state dir and [`blocked_signals`] are blocked.
    /// Errors have their kind (the runtime's, for a failed create) and a one-line message.
    pub fn create(cfg: ShimConfig) -> Result<Shim, ErrorReply> {
        let io = |what: &'static str| {
            move |e: std::io::Error| {
                ErrorReply::new(
                    ErrorKind::of_io(&e),
                    format!("shim: {what} {SOCKET_NAME}: {e}"),
                )
            }
        };
        let mut chld = SigSet::empty();
        chld.add(Signal::SIGCHLD);
        let sfd = SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| ErrorReply::new(ErrorKind::of_errno(e), format!("shim: signalfd: {e}")))?;
        let _ = std::fs::remove_file(SOCKET_NAME);
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(SOCKET_NAME);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(io("bind"))?;
        let socket = SocketFile;
        listener
            .set_nonblocking(true)
            .map_err(io("set non-blocking"))?;
        let (runtime, ctr) = Runtime::create(&cfg)?;
        let log = match &cfg.log_path {
            Some(p) => match JsonLog::open(p, cfg.log_max_size, cfg.log_max_file) {
                Ok(l) => Some(l),
                Err(e) => {
                    let _ = runtime.delete();
                    return Err(ErrorReply::new(ErrorKind::of_io(&e.source), e.to_string()));
                }
            },
            None => None,
        };
        std::mem::forget(socket);
        Ok(Shim {
            cfg,
            listener,
            sfd,
            runtime,
            ctr,
            started: false,
            reaped: None,
            exit: None,
            log,
            conns: Vec::new(),
            execs: Vec::new(),
            shutdown: false,
            idle_since: Instant::now(),
            buf: vec![0u8; BUF].into_boxed_slice(),
            exec_seq: 0,
            shrink_at: Some(Instant::now() + SHRINK_DELAY),
        })
    }

    /// Serves until the container exited and the shim may quit; returns the process exit code.
    pub fn run(mut self) -> i32 {
        let _socket = SocketFile;
        loop {
            self.finish_execs();
            if self.reaped.is_some() && self.exit.is_none() {
                self.finish_container();
            }
            self.conns.retain(|c| !c.dead);
            if !self.conns.is_empty() {
                self.idle_since = Instant::now();
            }
            if self.exit.is_some() {
                let flushed = self.conns.iter().all(|c| c.out.is_empty());
                if (self.shutdown && flushed)
                    || (self.conns.is_empty()
                        && self.idle_since.elapsed() >= Duration::from_secs(IDLE_EXIT_SECS))
                {
                    return 0;
                }
            }
            let ready = match self.wait_ready() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("shim {}: poll: {e}", self.cfg.id);
                    return 1;
                }
            };
            for (token, flags) in ready {
                self.handle(token, flags);
            }
            if self.shrink_at.is_some_and(|at| Instant::now() >= at) {
                self.shrink_at = None;
                crate::memory::shrink();
            }
        }
    }

    /// A burst of work ran: give its pages back soon (see [`SHRINK_DELAY`]).
    pub(super) fn shrink_soon(&mut self) {
        self.shrink_at
            .get_or_insert_with(|| Instant::now() + SHRINK_DELAY);
    }

    fn blocked(&self, src: Src) -> bool {
        self.conns
            .iter()
            .any(|c| !c.dead && !c.out.is_empty() && c.streams(src).is_some())
    }

    fn proc_io(&mut self, src: Src) -> &mut ProcIo {
        match src {
            Src::Ctr => &mut self.ctr,
            Src::Exec(i) => &mut self.execs[i].io,
        }
    }

    /// Polls once; returns the ready tokens.
    fn wait_ready(&mut self) -> nix::Result<Vec<(Token, PollFlags)>> {
        let mut fds = Vec::with_capacity(8 + self.conns.len());
        let mut tokens = Vec::with_capacity(8 + self.conns.len());
        fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        tokens.push(Token::Listener);
        fds.push(PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN));
        tokens.push(Token::Signal);
        let mut srcs = vec![Src::Ctr];
        srcs.extend(
            (0..self.execs.len())
                .filter(|&i| !self.execs[i].done)
                .map(Src::Exec),
        );
        for src in srcs {
            let blocked = self.blocked(src);
            let io = match src {
                Src::Ctr => &self.ctr,
                Src::Exec(i) => &self.execs[i].io,
            };
            for (i, out) in io.outputs.iter().enumerate() {
                if let (Some(fd), false) = (out, blocked) {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    tokens.push(Token::Out(src, i));
                }
            }
            if let (Some(fd), false) = (&io.stdin, io.stdin_pending.is_empty()) {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
                tokens.push(Token::In(src));
            }
        }
        for (i, c) in self.conns.iter().enumerate() {
            let mut events = PollFlags::empty();
            let stdin_full = c.stdin_target().is_some_and(|src| match src {
                Src::Ctr => !self.ctr.stdin_pending.is_empty(),
                Src::Exec(e) => !self.execs[e].io.stdin_pending.is_empty(),
            });
            if c.input_open && !stdin_full {
                events |= PollFlags::POLLIN;
            }
            if !c.out.is_empty() {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.sock.as_fd(), events));
            tokens.push(Token::Conn(i));
        }
        let mut timeout = if self.exit.is_some() {
            PollTimeout::from(1000u16)
        } else {
            PollTimeout::NONE
        };
        if let Some(at) = self.shrink_at {
            let ms = at.saturating_duration_since(Instant::now()).as_millis();
            timeout = PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX).min(1000));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e),
        }
        Ok(fds
            .iter()
            .zip(tokens)
            .filter_map(|(fd, t)| fd.revents().filter(|r| !r.is_empty()).map(|r| (t, r)))
            .collect())
    }

    fn handle(&mut self, token: Token, flags: PollFlags) {
        match token {
            Token::Listener => self.accept(),
            Token::Signal => self.reap(),
            Token::Out(src, i) => {
                self.pump(src, i);
            }
            Token::In(src) => self.proc_io(src).flush_stdin(),
            Token::Conn(i) => {
                if self.conns[i].dead {
                    return;
                }
                if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    && self.conns[i].input_open
                {
                    self.conn_input(i);
                }
                if flags.contains(PollFlags::POLLOUT) {
                    self.conns[i].flush();
                }
                if flags.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)
                    && !self.conns[i].input_open
                {
                    self.conns[i].dead = true;
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if self.conns.len() >= MAX_CONNS || sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.conns.push(Conn {
                        sock,
                        kind: Kind::Request,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        input_open: true,
                        closing: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Reaps every exited child: the init, execs, and orphans we adopted as subreaper.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.sfd.read_signal() {}
        loop {
            let st = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => st,
            };
            let Some(pid) = st.pid() else { continue };
            let code = match st {
                WaitStatus::Exited(_, c) => c,
                WaitStatus::Signaled(_, s, _) => 128 + s as i32,
                _ => continue,
            };
            if pid == self.runtime.init_pid() {
                self.reaped = Some(st);
            } else if let Some(e) = self.execs.iter_mut().find(|e| e.pid == pid) {
                e.code = Some(code);
            }
        }
    }

    /// Reads one chunk of output `i` of `src` and hands it on; false when nothing more is there.
    fn pump(&mut self, src: Src, i: usize) -> bool {
        let io = match src {
            Src::Ctr => &mut self.ctr,
            Src::Exec(e) => &mut self.execs[e].io,
        };
        let Some(fd) = &io.outputs[i] else {
            return false;
        };
        let n = match read_some(fd.as_fd(), &mut self.buf) {
            Ok(None) => return false,
            Ok(Some(n)) if n > 0 => n,
            _ => {
                io.outputs[i] = None;
                return false;
            }
        };
        let tty = io.tty;
        let data = &self.buf[..n];
        let stream = stream_of(i);
        if let (Src::Ctr, Some(log)) = (src, &mut self.log) {
            if let Err(e) = log.write(stream, data) {
                eprintln!("shim {}: {e}", self.cfg.id);
            }
        }
        for c in self.conns.iter_mut().filter(|c| !c.dead) {
            match c.streams(src) {
                Some(wanted) if wanted[i] => {
                    if !tty {
                        c.out
                            .extend_from_slice(&protocol::frame_header(stream.tag(), n));
                    }
                    c.out.extend_from_slice(data);
                    c.flush();
                }
                _ => {}
            }
        }
        true
    }

    fn conn_input(&mut self, i: usize) {
        let n = match read_some(self.conns[i].sock.as_fd(), &mut self.buf) {
            Ok(None) => return,
            Ok(Some(n)) => n,
            Err(_) => 0,
        };
        if n == 0 {
            self.input_eof(i);
            return;
        }
        if matches!(self.conns[i].kind, Kind::Request) {
            let c = &mut self.conns[i];
            c.inbuf.extend_from_slice(&self.buf[..n]);
            let Some(nl) = c.inbuf.iter().position(|&b| b == b'\n') else {
                if c.inbuf.len() > MAX_REQUEST {
                    c.inbuf = Vec::new();
                    c.input_open = false;
                    c.fail(ErrorReply::new(
                        ErrorKind::InvalidArgument,
                        format!("request line too long (more than {MAX_REQUEST} bytes)"),
                    ));
                }
                return;
            };
            let mut line = std::mem::take(&mut c.inbuf);
            let rest = line.split_off(nl + 1);
            match serde_json::from_slice::<Request>(&line) {
                Ok(req) => self.dispatch(i, req),
                Err(e) => {
                    c.input_open = false;
                    c.fail(ErrorReply::new(
                        ErrorKind::InvalidArgument,
                        format!("bad request: {e}"),
                    ));
                }
            }
            if !rest.is_empty() {
                self.stdin_data(i, &rest);
            }
            self.conns[i].flush();
            return;
        }
        let data = self.buf[..n].to_vec();
        self.stdin_data(i, &data);
    }

    /// Bytes a client sent after its request: the stdin of its process, or ignored.
    fn stdin_data(&mut self, i: usize, data: &[u8]) {
        let Some(src) = self.conns[i].stdin_target() else {
            return;
        };
        let io = self.proc_io(src);
        if io.stdin.is_some() {
            io.stdin_pending.extend_from_slice(data);
            io.flush_stdin();
        }
    }

    fn input_eof(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.input_open = false;
        if matches!(c.kind, Kind::Request) {
            c.dead = true;
            return;
        }
        // As Docker: StdinOnce never closes a terminal's input (a detached `-it` client must be
        // able to attach and type again).
        let once = self.cfg.stdin_once && !self.cfg.terminal;
        match c.stdin_target() {
            Some(Src::Ctr) if once => {
                self.ctr.stdin_eof = true;
                self.ctr.flush_stdin();
            }
            Some(Src::Exec(e)) => {
                self.execs[e].io.stdin_eof = true;
                self.execs[e].io.flush_stdin();
            }
            _ => {}
        }
    }
}
