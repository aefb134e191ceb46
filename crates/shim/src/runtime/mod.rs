//! The OCI runtime under the shim: the built-in one, called in-process ([`builtin`]), or an
//! external runc-compatible executable such as runc or crun, driven through its command line
//! ([`external`]). [`Runtime`] is the one owner of every runtime operation; the shim's lifecycle,
//! exit, io, exec and stats code calls it and does not care which runtime is underneath.
//!
//! ## Vocabulary and lifecycle
//! - *create* ([`Runtime::create`]): the container exists, its init is parked before the user's
//!   program, and the init is the shim's child (built-in) or adopted by it (external: the shim is
//!   a child subreaper, so the init the runtime's `create` leaves behind becomes its child). The
//!   process's stdio is the shim's: pipes handed over as the caller's fds 0-2, or the pty master,
//!   which the external runtime sends over a console socket.
//! - *start*, *kill*, *pause*/*resume*, *update* (new `linux.resources`): on the created or running
//!   container. The shim learns of the init's exit from `waitpid`, never from the runtime.
//! - *exec*: a detached process in the running container, with a pid file and, for a tty, a
//!   console socket; like the init it becomes the shim's child.
//! - *delete* (forced): after the init was reaped; frees the cgroup and the runtime's state.
//!
//! ## Errors
//! Every failure is an [`ErrorReply`] with the kinds of the shim protocol. The built-in runtime
//! gives its own kinds. An external runtime reports only text (its `--log`, JSON lines, else its
//! stderr): its message is kept as the reply's message and its kind is read from it once, in
//! [`reason::kind_of`], as dockerd reads containerd's errors (a command not found is 127, one
//! that cannot be run 126).
//!
//! ## Example
//! ```no_run
//! # fn f(cfg: &berth_shim::ShimConfig) -> Result<(), berth_shim::ErrorReply> {
//! let (rt, _io) = berth_shim::runtime::Runtime::create(cfg)?;
//! rt.start()?;
//! rt.kill(nix::sys::signal::Signal::SIGTERM, false)?;
//! // ... once the init was reaped:
//! rt.delete()?;
//! # Ok(()) }
//! ```

pub mod builtin;
pub mod external;
pub mod reason;

use crate::io::ProcIo;
use crate::protocol::{ErrorKind, ErrorReply, ShimConfig};
use berth_oci::runtime::{LinuxResources, Process};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The runtime of one container.
pub enum Runtime {
    Builtin(builtin::Builtin),
    External(external::External),
}

/// What an exec needs from the runtime (the caller has put the process's pipes on fds 0-2).
pub struct ExecRequest<'a> {
    pub process: &'a Process,
    /// Where the runtime writes the process's pid.
    pub pid_file: &'a Path,
    /// The console socket for a tty (a path relative to the shim's working directory).
    pub console_socket: Option<&'a Path>,
}

impl Runtime {
    /// Creates the container of `cfg` with the runtime it names (the init parked until
    /// [`Runtime::start`]); returns the runtime and the shim's ends of the init's stdio.
    pub fn create(cfg: &ShimConfig) -> Result<(Runtime, ProcIo), ErrorReply> {
        match &cfg.runtime {
            None => builtin::Builtin::create(cfg).map(|(b, io)| (Runtime::Builtin(b), io)),
            Some(rt) => {
                external::External::create(cfg, rt).map(|(e, io)| (Runtime::External(e), io))
            }
        }
    }

    /// The container's init.
    pub fn init_pid(&self) -> Pid {
        match self {
            Runtime::Builtin(b) => b.init_pid(),
            Runtime::External(e) => e.init_pid(),
        }
    }

    /// Releases the parked init.
    pub fn start(&self) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.start(),
            Runtime::External(e) => e.start(),
        }
    }

    /// Whether the running container is frozen.
    pub fn paused(&self) -> bool {
        match self {
            Runtime::Builtin(b) => b.paused(),
            Runtime::External(e) => e.paused(),
        }
    }

    /// Signals the init, or with `all` every process of the container.
    pub fn kill(&self, signal: Signal, all: bool) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.kill(signal, all),
            Runtime::External(e) => e.kill(signal, all),
        }
    }

    /// Freezes (`true`) or thaws the container.
    pub fn pause(&self, freeze: bool) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.pause(freeze),
            Runtime::External(e) => e.pause(freeze),
        }
    }

    /// Applies new resource limits to the running container.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.update(resources),
            Runtime::External(e) => e.update(resources),
        }
    }

    /// Starts a detached process in the container (see [`ExecRequest`]).
    pub fn exec(&self, req: &ExecRequest<'_>) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.exec(req),
            Runtime::External(e) => e.exec(req),
        }
    }

    /// Whether the container's cgroup saw an OOM kill (read before [`Runtime::delete`]).
    pub fn oom_killed(&self) -> bool {
        let cgroup = match self {
            Runtime::Builtin(b) => b.cgroup(),
            Runtime::External(e) => e.cgroup(),
        };
        cgroup
            .and_then(|c| c.oom_kills().ok())
            .is_some_and(|n| n > 0)
    }

    /// Deletes the container (forced) once its init was reaped.
    pub fn delete(&self) -> Result<(), ErrorReply> {
        match self {
            Runtime::Builtin(b) => b.delete(),
            Runtime::External(e) => e.delete(),
        }
    }
}

/// A console socket the runtime sends a pty master to: bound in the shim's working directory
/// (the state dir, so the path stays short), removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    name: PathBuf,
}

impl ConsoleSocket {
    /// Binds `name` (relative to the working directory).
    pub fn bind(name: &Path) -> Result<ConsoleSocket, ErrorReply> {
        let _ = std::fs::remove_file(name);
        let listener = UnixListener::bind(name).map_err(|e| {
            ErrorReply::new(
                ErrorKind::of_io(&e),
                format!("bind console socket {}: {e}", name.display()),
            )
        })?;
        Ok(ConsoleSocket {
            listener,
            name: name.to_path_buf(),
        })
    }

    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Takes the pty master the runtime sent. The runtime connected and sent it before it
    /// returned, so the connection is queued already: nothing here waits.
    pub fn receive(&self) -> Result<OwnedFd, ErrorReply> {
        let failed = |e: std::io::Error| {
            ErrorReply::new(
                ErrorKind::of_io(&e),
                format!("console socket: no terminal received: {e}"),
            )
        };
        self.listener.set_nonblocking(true).map_err(failed)?;
        let (conn, _) = self.listener.accept().map_err(failed)?;
        let (master, _) = berth_runtime::console::recv_fd(conn.as_fd())
            .map_err(|e| ErrorReply::new(e.kind(), format!("receive terminal: {e}")))?;
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.name);
    }
}
