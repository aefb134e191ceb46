//! The daemon's side: [`spawn`] a shim and wait until it serves, talk to it through a
//! [`ShimHandle`] (blocking std I/O: call it from `spawn_blocking`), and [`recover`] the shims of a
//! previous daemon. Attach and exec hand back the raw [`UnixStream`] (see the protocol docs for its
//! framing); an async caller can turn it into its own stream type.

use crate::exit;
use crate::protocol::{
    self, ErrorKind, ErrorReply, ExecExit, ExecStarted, ExitStatus, Ready, ReplyError, Request,
    ShimConfig, StateReply, Status, PID_FILE, READY_FD, SOCKET_NAME,
};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Longest reply line accepted.
const MAX_REPLY: usize = 1 << 20;

/// A failure to start or talk to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("shim {path}: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The container could not be created: the runtime's kind and message, verbatim (the daemon
    /// picks Docker's exit code from the kind: 127 command not found, 126 not executable).
    #[error("{message}")]
    Create { kind: ErrorKind, message: String },
    /// The shim refused a request: its kind and message, verbatim.
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("shim {path}: protocol: {message}")]
    Protocol { path: PathBuf, message: String },
}

impl ShimError {
    /// The kind the shim gave the failure; [`ErrorKind::System`] when it could not be asked
    /// (I/O, protocol).
    pub fn kind(&self) -> ErrorKind {
        match self {
            ShimError::Create { kind, .. } | ShimError::Refused { kind, .. } => *kind,
            ShimError::Io { .. } | ShimError::Protocol { .. } => ErrorKind::System,
        }
    }

    /// A failure to create, as the shim reported it.
    pub fn create(e: ErrorReply) -> ShimError {
        ShimError::Create {
            kind: e.kind,
            message: e.error,
        }
    }

    /// A refused request, as the shim answered it.
    pub fn refused(e: ErrorReply) -> ShimError {
        ShimError::Refused {
            kind: e.kind,
            message: e.error,
        }
    }
}

/// A reply that is not the op's: the shim's refusal, or a broken reply from the shim at `path`.
pub fn reply_error(e: ReplyError, path: &Path) -> ShimError {
    match e {
        ReplyError::Refused(e) => ShimError::refused(e),
        ReplyError::Malformed(message) => ShimError::Protocol {
            path: path.to_path_buf(),
            message,
        },
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ShimError {
    let path = path.to_path_buf();
    move |source| ShimError::Io { what, path, source }
}

/// A running shim, known by its state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimHandle {
    pub state_dir: PathBuf,
    /// The shim's pid (0 when unknown).
    pub pid: i32,
}

/// What [`recover`] found in a state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The shim answers: the container is created or running.
    Running(ShimHandle),
    /// The container exited (the shim, if still there, was told to shut down).
    Exited(ExitStatus),
    /// No shim answers and no exit status was recorded.
    Lost,
}

/// Execs `exe shim <args>` (the `berth` binary, or `berth-shim`), lets it daemonize, and waits for
/// its ready line: on success the container is created (parked until `start`) and the socket
/// serves.
pub fn spawn(config: &ShimConfig, exe: &Path) -> Result<ShimHandle, ShimError> {
    std::fs::create_dir_all(&config.state_dir).map_err(io_err("create", &config.state_dir))?;
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ShimError::Io {
            what: "create ready pipe",
            path: config.state_dir.clone(),
            source: e.into(),
        })?;
    let wfd = write_end.as_raw_fd();
    let mut cmd = Command::new(exe);
    // The daemon execs a sealed copy (`/proc/self/fd/N`): name the process as `ps` should show it.
    cmd.arg0("berth-shim")
        .arg("shim")
        .args(config.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs between fork and exec and only calls dup2/fcntl, which are
    // async-signal-safe; it touches no memory shared with other threads.
    unsafe {
        cmd.pre_exec(move || {
            if wfd == READY_FD {
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(wfd, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().map_err(io_err("exec", exe))?;
    drop(write_end);
    // The intermediate process exits as soon as it forked the shim proper.
    let _ = child.wait();
    let mut pipe = std::fs::File::from(read_end);
    let line = read_line(&mut pipe).map_err(io_err("read ready line", &config.state_dir))?;
    match protocol::parse_ready(&String::from_utf8_lossy(&line)) {
        Ready::Ready { pid } => Ok(ShimHandle {
            state_dir: config.state_dir.clone(),
            pid,
        }),
        Ready::Failed(e) => Err(ShimError::create(e)),
        Ready::Silent => Err(ShimError::Create {
            kind: ErrorKind::System,
            message: format!(
                "shim for {} exited without reporting (see {})",
                config.id,
                config.state_dir.join(protocol::SHIM_LOG).display()
            ),
        }),
    }
}

/// Reads up to a newline (excluded) or EOF, one byte at a time (the reader may be shared).
fn read_line(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => return Ok(line),
            Ok(_) if byte[0] == b'\n' => return Ok(line),
            Ok(_) if line.len() < MAX_REPLY => line.push(byte[0]),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "line too long",
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads one reply line from a socket without consuming anything after it: peeks, then reads
/// exactly up to the newline.
fn read_reply_line(sock: &UnixStream) -> std::io::Result<Vec<u8>> {
    use nix::sys::socket::{recv, MsgFlags};
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_PEEK) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Ok(line);
        }
        let take = buf[..n].iter().position(|&b| b == b'\n');
        let want = take.map_or(n, |i| i + 1);
        let mut got = vec![0u8; want];
        (&*sock).read_exact(&mut got)?;
        if take.is_some() {
            got.pop();
            line.extend_from_slice(&got);
            return Ok(line);
        }
        line.extend_from_slice(&got);
        if line.len() > MAX_REPLY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "reply too long",
            ));
        }
    }
}

impl ShimHandle {
    /// The handle of the shim serving `state_dir` (its pid read from `shim.pid`).
    pub fn new(state_dir: &Path) -> ShimHandle {
        let pid = std::fs::read_to_string(state_dir.join(PID_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        ShimHandle {
            state_dir: state_dir.to_path_buf(),
            pid,
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.state_dir.join(SOCKET_NAME)
    }

    /// Sends `req` on a new connection and reads the reply line; returns the connection too.
    pub fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: &Request,
    ) -> Result<(T, UnixStream), ShimError> {
        let path = self.socket_path();
        let mut sock = UnixStream::connect(&path).map_err(io_err("connect", &path))?;
        sock.write_all(&protocol::encode_request(req))
            .map_err(io_err("send request", &path))?;
        let line = read_reply_line(&sock).map_err(io_err("read reply", &path))?;
        if line.is_empty() {
            return Err(ShimError::Protocol {
                path,
                message: "connection closed without a reply".into(),
            });
        }
        let reply = protocol::decode_reply(&line).map_err(|e| reply_error(e, &path))?;
        Ok((reply, sock))
    }

    fn simple(&self, req: &Request) -> Result<(), ShimError> {
        self.call::<protocol::Ok>(req).map(drop)
    }

    pub fn start(&self) -> Result<(), ShimError> {
        self.simple(&Request::Start)
    }

    pub fn state(&self) -> Result<StateReply, ShimError> {
        self.call(&Request::State).map(|(r, _)| r)
    }

    pub fn kill(&self, signal: i32, all: bool) -> Result<(), ShimError> {
        self.simple(&Request::Kill { signal, all })
    }

    pub fn resize(&self, height: u16, width: u16) -> Result<(), ShimError> {
        self.simple(&Request::Resize { height, width })
    }

    pub fn pause(&self) -> Result<(), ShimError> {
        self.simple(&Request::Pause)
    }

    pub fn resume(&self) -> Result<(), ShimError> {
        self.simple(&Request::Resume)
    }

    /// Writes new limits into the container's cgroup through the runtime (`update`).
    pub fn update(&self, resources: &berth_oci::runtime::LinuxResources) -> Result<(), ShimError> {
        self.simple(&Request::Update {
            resources: Box::new(resources.clone()),
        })
    }

    /// Blocks until the container exited.
    pub fn wait(&self) -> Result<ExitStatus, ShimError> {
        self.call(&Request::Wait).map(|(r, _)| r)
    }

    /// Attaches: the returned stream carries the output (Docker framing) and takes stdin.
    pub fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream, ShimError> {
        self.call::<protocol::Ok>(&Request::Attach {
            stdin,
            stdout,
            stderr,
        })
        .map(|(_, s)| s)
    }

    /// Starts an exec; returns its pid and its stream. `process.terminal` is set from `tty`.
    pub fn exec(
        &self,
        exec_id: &str,
        process: berth_oci::runtime::Process,
        tty: bool,
        stdin: bool,
    ) -> Result<(i32, UnixStream), ShimError> {
        self.call::<ExecStarted>(&Request::Exec {
            exec_id: exec_id.to_string(),
            process: Box::new(process),
            tty,
            stdin,
        })
        .map(|(r, s)| (r.pid, s))
    }

    /// Blocks until the exec exited; returns its exit code.
    pub fn exec_wait(&self, exec_id: &str) -> Result<i32, ShimError> {
        self.call::<ExecExit>(&Request::ExecWait {
            exec_id: exec_id.to_string(),
        })
        .map(|(r, _)| r.exit_code)
    }

    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<(), ShimError> {
        self.simple(&Request::ExecResize {
            exec_id: exec_id.to_string(),
            height,
            width,
        })
    }

    /// Lets the shim quit once the container exited.
    pub fn shutdown(&self) -> Result<(), ShimError> {
        self.simple(&Request::Shutdown)
    }
}

/// Finds what became of the container of `state_dir` after a daemon restart.
pub fn recover(state_dir: &Path) -> Recovered {
    let handle = ShimHandle::new(state_dir);
    if let Ok(state) = handle.state() {
        match (state.status, state.exit) {
            (Status::Exited, Some(exit)) => {
                let _ = handle.shutdown();
                return Recovered::Exited(exit);
            }
            (Status::Exited, None) => {}
            _ => return Recovered::Running(handle),
        }
    }
    match exit::read(state_dir) {
        Ok(Some(exit)) => Recovered::Exited(exit),
        _ => Recovered::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_state_dir_is_lost_and_an_exit_file_is_exited() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recover(dir.path()), Recovered::Lost);
        let status = ExitStatus {
            exit_code: 3,
            signal: None,
            oom_killed: false,
            finished_at: "2026-11-25T00:00:00Z".into(),
        };
        exit::write(dir.path(), &status).unwrap();
        assert_eq!(recover(dir.path()), Recovered::Exited(status));
    }

    /// A shim from before error kinds writes `error <text>` on its ready fd: that is a failure of
    /// the generic kind, with the text as its message.
    #[test]
    fn an_old_shims_ready_error_is_a_system_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("old-shim");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'error exec: \"nope\": executable file not found in $PATH' >&3\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = ShimConfig {
            id: "c1".into(),
            bundle: dir.path().join("bundle"),
            state_dir: dir.path().join("state"),
            runtime_root: dir.path().join("rt"),
            ..ShimConfig::default()
        };
        match spawn(&config, &script) {
            Err(ShimError::Create { kind, message }) => {
                assert_eq!(kind, ErrorKind::System);
                assert_eq!(
                    message,
                    "exec: \"nope\": executable file not found in $PATH"
                );
            }
            other => panic!("expected a create error, got {other:?}"),
        }
    }

    /// An old shim's error reply (no kind) is a refusal of the generic kind; a new one keeps its
    /// kind; a reply that is no reply is a protocol error.
    #[test]
    fn refusals_keep_their_kind() {
        let path = Path::new("/s/shim.sock");
        let refused = |line: &[u8]| {
            reply_error(
                protocol::decode_reply::<protocol::Ok>(line).unwrap_err(),
                path,
            )
        };
        let old = refused(br#"{"error":"container c1 is not running"}"#);
        assert_eq!(old.kind(), ErrorKind::System);
        assert_eq!(old.to_string(), "container c1 is not running");
        let new = refused(br#"{"error":"exec: \"x\": is a directory","kind":"not-executable"}"#);
        assert_eq!(new.kind(), ErrorKind::NotExecutable);
        assert!(matches!(refused(b"[1]"), ShimError::Protocol { .. }));
    }

    #[test]
    fn reply_lines_leave_the_stream_alone() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"{\"pid\":1}\nRAW").unwrap();
        drop(b);
        assert_eq!(read_reply_line(&a).unwrap(), b"{\"pid\":1}");
        let mut rest = String::new();
        (&a).read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "RAW");
    }
}
