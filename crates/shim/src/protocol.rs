//! The shim's contract with the daemon: how it is invoked, the files it leaves in its state dir,
//! and the line protocol on its socket. Plain serde types; no I/O.
//!
//! ## Invocation
//! `berth shim --id ID --bundle DIR --state-dir DIR --runtime-root DIR [--log-path FILE]
//! [--log-max-size BYTES] [--log-max-file N] [--stdin] [--stdin-once] [--terminal]
//! [--runtime PATH [--runtime-arg ARG]...]` (the `berth-shim` binary takes the same arguments,
//! with or without the leading `shim`). Without `--runtime` the shim drives the built-in runtime
//! in-process; with it, the runc-compatible executable at PATH (runc, crun), each `--runtime-arg`
//! given before its command, with `--runtime-root` as its `--root` ([`crate::runtime`]).
//! [`ShimConfig::to_args`] and [`ShimConfig::from_args`] are the two directions. The spawner passes
//! the write end of a pipe as fd 3 (the *ready fd*): the shim writes exactly one line on it,
//! `ready <pid>` once the container is created and the socket serves, or `error ` and an
//! [`ErrorReply`] as JSON (the runtime's kind and message, e.g.
//! `error {"error":"exec: \"nope\": executable file not found in $PATH","kind":"command-not-found"}`),
//! and closes it. [`parse_ready`] reads the line; [`crate::client::spawn`] does all of this.
//! A shim before error kinds wrote `error <message>` (plain text): that reads as kind `system`.
//!
//! ## State dir
//! - `shim.sock` (0600): the socket, present while the shim serves.
//! - `shim.pid`: the shim's pid.
//! - `exit.json`: the container's [`ExitStatus`], written atomically (temp, rename) after
//!   the runtime container (cgroup and runtime state) was deleted. Its presence means the
//!   container is gone for good.
//! - `shim.log`: the shim's own diagnostics (its stderr).
//! - `runtime.json`: with an external runtime, which one the shim drives ([`ExternalRuntime`]:
//!   its path, arguments and root), written before the container is created; `runtime.log`
//!   is that runtime's own log (`--log`, JSON lines), whose errors become the shim's messages.
//!
//! ## Socket protocol
//! One connection per request. The client writes one JSON [`Request`] line; the shim answers one
//! JSON line: either `{"error": "...", "kind": "..."}` ([`ErrorReply`]) or the op's reply:
//!
//! | op | reply |
//! |---|---|
//! | `start` | `{}` |
//! | `state` | [`StateReply`] |
//! | `kill` | `{}` |
//! | `resize` | `{}` |
//! | `pause` / `resume` | `{}` (extension: freezer) |
//! | `update` | `{}`: the container's cgroup has the new limits (below) |
//! | `wait` | [`ExitStatus`], once the container exited (blocks until then) |
//! | `attach` | `{}`, then the connection is the raw stream (below) |
//! | `exec` | [`ExecStarted`], then the connection is the exec's raw stream |
//! | `exec-wait` | [`ExecExit`], once that exec exited (blocks until then) |
//! | `exec-resize` | `{}` |
//! | `shutdown` | `{}`; the shim quits once the container exited and the reply is sent |
//!
//! `update` (`{"op":"update","resources":{...}}`, an OCI `linux.resources` object) goes to the
//! runtime's `update`: the fields it sets reach the cgroup (others keep their values, device rules
//! stay as created) and the runtime's state, so the daemon never writes cgroup files itself. Once
//! the container exited: `conflict`; a value refused: `invalid-argument`, naming the field (a
//! shim from before `update` refuses the op itself as a bad request, `invalid-argument` too).
//!
//! ## Errors
//! Every failure, on the socket and on the ready line, is an [`ErrorReply`]: `error`, a one-line
//! message for people (the runtime's own words for a container that cannot be created or an exec
//! that cannot start), and `kind`, what the daemon decides on (its status code; for a command that
//! cannot run, Docker's exit code). The kinds are the runtime's
//! ([`berth_runtime::error::ErrorKind`]), by name:
//!
//! | kind | meaning | the daemon answers |
//! |---|---|---|
//! | `not-found` | a path, process or exec that is not there | 404 |
//! | `permission-denied` | the kernel refused (EACCES, EPERM) | 400; exit code 126 at create |
//! | `not-executable` | `args[0]` is a directory, not executable, not a binary | 400; exit code 126 |
//! | `command-not-found` | `args[0]` is not in `$PATH` / does not exist | 400; exit code 127 |
//! | `invalid-argument` | a bad spec, request or signal | 400 |
//! | `conflict` | the container or exec is not in a state for the op | 409 |
//! | `resource-exhausted` | memory, disk, descriptors or pids ran out | 503 |
//! | `system` | anything else | 500 |
//!
//! Compatibility both ways: a reply without `kind` (a shim from before kinds, still serving a
//! container after a daemon upgrade) and a kind this version does not know (a newer shim) both
//! read as `system`; a reader that knows nothing of kinds ignores the field.
//!
//! ## Raw streams (attach, exec)
//! Shim→client bytes are in Docker's format already: raw for a tty, otherwise frames of an 8-byte
//! header (`[stream, 0, 0, 0, len as u32 big-endian]`, stream 1 = stdout, 2 = stderr) and the
//! payload. Client→shim bytes are the process's stdin (when asked for); the client's write
//! half-close is stdin EOF: for an exec, and for an attach with `--stdin-once`, the process's stdin
//! is closed then. The shim closes the stream once the process exited and its output was drained.
//! A client that does not keep up slows the container's output down (as Docker's attach does).
//!
//! ## Lifetime
//! The shim exits once the container exited and either a `shutdown` was answered or no client was
//! connected for [`IDLE_EXIT_SECS`] seconds. `exit.json` stays for the daemon to read.

pub use berth_runtime::error::ErrorKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The socket's file name in the state dir.
pub const SOCKET_NAME: &str = "shim.sock";
/// The exit status file's name in the state dir.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's pid file's name in the state dir.
pub const PID_FILE: &str = "shim.pid";
/// The shim's own diagnostics in the state dir.
pub const SHIM_LOG: &str = "shim.log";
/// The fd on which the shim reports readiness (see the module docs).
pub const READY_FD: i32 = 3;
/// After the container exited, the shim quits when no client was connected for this long.
pub const IDLE_EXIT_SECS: u64 = 30;

/// How a shim is invoked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The container id (the runtime's id too).
    pub id: String,
    /// The OCI bundle (config.json + rootfs).
    pub bundle: PathBuf,
    /// The shim's own directory: socket, exit status, pid.
    pub state_dir: PathBuf,
    /// The runtime's state root: its `--root` (`berth runtime --root` for the built-in one).
    pub runtime_root: PathBuf,
    /// The json-file log; none: output is only streamed to attached clients.
    pub log_path: Option<PathBuf>,
    /// Rotate the log when it reaches this size (0: never).
    pub log_max_size: u64,
    /// How many log files to keep, the current one included (at least 1).
    pub log_max_file: u32,
    /// Give the container a stdin pipe (Docker's OpenStdin); otherwise /dev/null.
    pub stdin: bool,
    /// Close the container's stdin when the first attached client closes its stdin.
    pub stdin_once: bool,
    /// The container has a terminal (its spec's `process.terminal` must agree).
    pub terminal: bool,
    /// An external runc-compatible runtime; `None`: the built-in one, in-process.
    pub runtime: Option<ExternalRuntime>,
}

/// A runc-compatible runtime executable the shim drives through its command line (the file
/// `runtime.json` in the state dir records it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRuntime {
    /// The executable (absolute: the daemon resolved it).
    pub path: PathBuf,
    /// Global options given before every command (daemon.json `runtimeArgs`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// A bad command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("shim: unknown argument {0:?}")]
    Unknown(String),
    #[error("shim: {0} needs a value")]
    Missing(&'static str),
    #[error("shim: {flag}: invalid number {value:?}")]
    Number { flag: &'static str, value: String },
    #[error("shim: --{0} is required")]
    Required(&'static str),
    #[error("shim: --runtime-arg without --runtime")]
    RuntimeArgAlone,
}

impl ShimConfig {
    /// The command line (without the leading `shim`).
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        let mut push = |flag: &str, value: &Path| {
            a.push(flag.into());
            a.push(value.as_os_str().to_owned());
        };
        push("--id", Path::new(&self.id));
        push("--bundle", &self.bundle);
        push("--state-dir", &self.state_dir);
        push("--runtime-root", &self.runtime_root);
        if let Some(p) = &self.log_path {
            push("--log-path", p);
        }
        if self.log_max_size > 0 {
            a.push("--log-max-size".into());
            a.push(self.log_max_size.to_string().into());
        }
        if self.log_max_file > 1 {
            a.push("--log-max-file".into());
            a.push(self.log_max_file.to_string().into());
        }
        for (on, flag) in [
            (self.stdin, "--stdin"),
            (self.stdin_once, "--stdin-once"),
            (self.terminal, "--terminal"),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        if let Some(rt) = &self.runtime {
            a.push("--runtime".into());
            a.push(rt.path.as_os_str().to_owned());
            for arg in &rt.args {
                a.push("--runtime-arg".into());
                a.push(arg.into());
            }
        }
        a
    }

    /// Parses the command line (a leading `shim` is skipped).
    pub fn from_args<I, S>(args: I) -> Result<ShimConfig, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        let mut c = ShimConfig {
            log_max_file: 1,
            ..ShimConfig::default()
        };
        let mut runtime_args = Vec::new();
        let mut it = args.into_iter().map(Into::into).peekable();
        if it.peek().is_some_and(|a| a == "shim") {
            it.next();
        }
        while let Some(arg) = it.next() {
            let flag = arg.to_string_lossy().into_owned();
            let mut value = |name: &'static str| it.next().ok_or(ArgsError::Missing(name));
            let number = |name: &'static str, v: std::ffi::OsString| {
                v.to_string_lossy()
                    .parse::<u64>()
                    .map_err(|_| ArgsError::Number {
                        flag: name,
                        value: v.to_string_lossy().into_owned(),
                    })
            };
            match flag.as_str() {
                "--id" => c.id = value("--id")?.to_string_lossy().into_owned(),
                "--bundle" => c.bundle = value("--bundle")?.into(),
                "--state-dir" => c.state_dir = value("--state-dir")?.into(),
                "--runtime-root" => c.runtime_root = value("--runtime-root")?.into(),
                "--log-path" => c.log_path = Some(value("--log-path")?.into()),
                "--log-max-size" => {
                    c.log_max_size = number("--log-max-size", value("--log-max-size")?)?
                }
                "--log-max-file" => {
                    let n = number("--log-max-file", value("--log-max-file")?)?;
                    c.log_max_file = u32::try_from(n).unwrap_or(u32::MAX).max(1);
                }
                "--stdin" => c.stdin = true,
                "--stdin-once" => c.stdin_once = true,
                "--terminal" => c.terminal = true,
                "--runtime" => {
                    let path = value("--runtime")?.into();
                    c.runtime.get_or_insert_with(ExternalRuntime::default).path = path;
                }
                "--runtime-arg" => {
                    let arg = value("--runtime-arg")?.to_string_lossy().into_owned();
                    runtime_args.push(arg);
                }
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }
        match &mut c.runtime {
            Some(rt) => rt.args = runtime_args,
            None if !runtime_args.is_empty() => return Err(ArgsError::RuntimeArgAlone),
            None => {}
        }
        for (empty, name) in [
            (c.id.is_empty(), "id"),
            (c.bundle.as_os_str().is_empty(), "bundle"),
            (c.state_dir.as_os_str().is_empty(), "state-dir"),
            (c.runtime_root.as_os_str().is_empty(), "runtime-root"),
        ] {
            if empty {
                return Err(ArgsError::Required(name));
            }
        }
        Ok(c)
    }
}

/// One request, one JSON line, tagged by `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Releases the created container's init.
    Start,
    State,
    /// Signals the init, or with `all` every process of the container.
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Sets the container's terminal size.
    Resize {
        height: u16,
        width: u16,
    },
    /// Freezes the container (extension).
    Pause,
    /// Thaws the container (extension).
    Resume,
    /// New resource limits for the container's cgroup (see the module docs).
    Update {
        resources: Box<berth_oci::runtime::LinuxResources>,
    },
    /// Blocks until the container exited; replies its [`ExitStatus`].
    Wait,
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
    },
    /// Runs `process` in the running container (its `terminal` is set from `tty`).
    Exec {
        exec_id: String,
        process: Box<berth_oci::runtime::Process>,
        #[serde(default)]
        tty: bool,
        #[serde(default)]
        stdin: bool,
    },
    ExecWait {
        exec_id: String,
    },
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
    Shutdown,
}

/// A failure with its kind: the reply of any op that failed, the ready line's error, and the
/// shim's own error value on its way there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}")]
pub struct ErrorReply {
    /// One line for people: what failed on what.
    pub error: String,
    /// What the daemon decides on; `system` when a (pre-kind) shim sent none.
    #[serde(default = "system")]
    pub kind: ErrorKind,
}

fn system() -> ErrorKind {
    ErrorKind::System
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            error: message.into(),
            kind,
        }
    }

    /// A failure the caller cannot fix ([`ErrorKind::System`]).
    pub fn system(message: impl Into<String>) -> ErrorReply {
        Self::new(ErrorKind::System, message)
    }
}

/// A runtime error keeps its kind and its message.
impl From<berth_runtime::RuntimeError> for ErrorReply {
    fn from(e: berth_runtime::RuntimeError) -> ErrorReply {
        ErrorReply::new(e.kind(), e.to_string())
    }
}

/// What a shim reported on its ready fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// `ready <pid>`: the container is created and the socket serves.
    Ready { pid: i32 },
    /// `error ...`: the container could not be created.
    Failed(ErrorReply),
    /// Nothing readable (the shim died before it reported).
    Silent,
}

/// The ready line for `result`, with its newline.
pub fn ready_line(result: Result<u32, &ErrorReply>) -> String {
    match result {
        Ok(pid) => format!("ready {pid}\n"),
        // An ErrorReply is plain data: serializing it cannot fail.
        Err(e) => format!("error {}\n", serde_json::to_string(e).unwrap_or_default()),
    }
}

/// Reads a ready line (without its newline). A plain-text `error <message>` (a shim from before
/// error kinds) is a failure of kind `system`.
pub fn parse_ready(line: &str) -> Ready {
    if let Some(pid) = line.strip_prefix("ready ") {
        return Ready::Ready {
            pid: pid.trim().parse().unwrap_or(0),
        };
    }
    match line.strip_prefix("error ") {
        Some(rest) => Ready::Failed(
            serde_json::from_str::<ErrorReply>(rest)
                .unwrap_or_else(|_| ErrorReply::system(rest.trim_end())),
        ),
        None => Ready::Silent,
    }
}

/// Why a reply line is not the op's reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The shim answered with an error.
    #[error("{0}")]
    Refused(ErrorReply),
    /// The line is not a reply at all.
    #[error("shim reply: {0}")]
    Malformed(String),
}

/// The empty success reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ok {}

/// The container's lifecycle status as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

/// The reply to `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateReply {
    /// The init's pid (in the shim's pid namespace).
    pub pid: i32,
    pub status: Status,
    /// A running container that is frozen (extension).
    #[serde(default)]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// How the container ended: the reply to `wait` and the content of `exit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, 128 + signal when killed by one.
    pub exit_code: i32,
    /// The signal that killed the init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The container's cgroup saw an OOM kill.
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 UTC with nanoseconds.
    pub finished_at: String,
}

/// The reply to `exec`, before the stream starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStarted {
    pub pid: i32,
}

/// The reply to `exec-wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    pub exec_id: String,
    pub exit_code: i32,
}

/// Encodes one request line (with its newline).
pub fn encode_request(req: &Request) -> Vec<u8> {
    // A Request is plain data: serializing it cannot fail.
    let mut line = serde_json::to_vec(req).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Decodes one reply line into `T`, or the shim's error with its kind.
pub fn decode_reply<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, ReplyError> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| ReplyError::Malformed(format!("not JSON: {e}")))?;
    if value.get("error").is_some_and(|e| e.is_string()) {
        let reply = serde_json::from_value::<ErrorReply>(value)
            .map_err(|e| ReplyError::Malformed(format!("bad error reply: {e}")))?;
        return Err(ReplyError::Refused(reply));
    }
    serde_json::from_value(value)
        .map_err(|e| ReplyError::Malformed(format!("unexpected shape: {e}")))
}

/// Builds the 8-byte stdcopy header of a frame of `len` bytes on `stream` (1 stdout, 2 stderr).
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let c = ShimConfig {
            id: "c1".into(),
            bundle: "/b".into(),
            state_dir: "/s".into(),
            runtime_root: "/r".into(),
            log_path: Some("/l/c1-json.log".into()),
            log_max_size: 1024,
            log_max_file: 3,
            stdin: true,
            stdin_once: true,
            terminal: true,
            runtime: Some(ExternalRuntime {
                path: "/usr/bin/crun".into(),
                args: vec!["--systemd-cgroup".into(), "--debug".into()],
            }),
        };
        let mut args = vec![std::ffi::OsString::from("shim")];
        args.extend(c.to_args());
        assert_eq!(ShimConfig::from_args(args).unwrap(), c);
        let plain = ShimConfig {
            log_max_file: 1,
            log_path: None,
            log_max_size: 0,
            stdin: false,
            stdin_once: false,
            terminal: false,
            runtime: None,
            ..c
        };
        assert_eq!(ShimConfig::from_args(plain.to_args()).unwrap(), plain);
    }

    #[test]
    fn bad_args_are_named() {
        assert_eq!(
            ShimConfig::from_args(["--id"]),
            Err(ArgsError::Missing("--id"))
        );
        assert_eq!(
            ShimConfig::from_args(["--bogus"]),
            Err(ArgsError::Unknown("--bogus".into()))
        );
        assert_eq!(
            ShimConfig::from_args(["--id", "x"]),
            Err(ArgsError::Required("bundle"))
        );
        assert_eq!(
            ShimConfig::from_args(["--runtime-arg", "--debug"]),
            Err(ArgsError::RuntimeArgAlone)
        );
        assert!(matches!(
            ShimConfig::from_args(["--log-max-size", "lots"]),
            Err(ArgsError::Number { .. })
        ));
    }

    #[test]
    fn requests_have_the_documented_shape() {
        let kill: Request = serde_json::from_str(r#"{"op":"kill","signal":9,"all":true}"#).unwrap();
        assert_eq!(
            kill,
            Request::Kill {
                signal: 9,
                all: true
            }
        );
        let line = encode_request(&Request::ExecWait {
            exec_id: "e1".into(),
        });
        assert_eq!(line, b"{\"op\":\"exec-wait\",\"exec_id\":\"e1\"}\n");
        let exec: Request = serde_json::from_str(
            r#"{"op":"exec","exec_id":"e","process":{"cwd":"/","args":["ls"],"user":{"uid":0,"gid":0}},"tty":false}"#,
        )
        .unwrap();
        assert!(matches!(exec, Request::Exec { stdin: false, .. }));
        assert_eq!(
            serde_json::to_string(&Request::Start).unwrap(),
            r#"{"op":"start"}"#
        );
        let line = r#"{"op":"update","resources":{"pids":{"limit":16}}}"#;
        let update: Request = serde_json::from_str(line).unwrap();
        assert!(matches!(&update, Request::Update { resources } if resources.pids().is_some()));
        assert_eq!(encode_request(&update), format!("{line}\n").into_bytes());
    }

    #[test]
    fn replies_decode_or_carry_the_error() {
        let st: StateReply = decode_reply(br#"{"pid":4,"status":"running"}"#).unwrap();
        assert_eq!(st.status, Status::Running);
        assert_eq!(
            decode_reply::<Ok>(br#"{"error":"no such exec x","kind":"not-found"}"#),
            Err(ReplyError::Refused(ErrorReply::new(
                ErrorKind::NotFound,
                "no such exec x"
            )))
        );
        assert!(matches!(
            decode_reply::<Ok>(b"nonsense"),
            Err(ReplyError::Malformed(_))
        ));
        let exit = ExitStatus {
            exit_code: 137,
            signal: Some(9),
            oom_killed: false,
            finished_at: "2026-11-25T00:00:00.000000001Z".into(),
        };
        let text = serde_json::to_string(&exit).unwrap();
        assert_eq!(decode_reply::<ExitStatus>(text.as_bytes()).unwrap(), exit);
    }

    /// What a shim from before error kinds sends (still serving after a daemon upgrade) is read
    /// with the generic kind; a kind from a newer shim too.
    #[test]
    fn replies_without_a_kind_are_system_errors() {
        assert_eq!(
            decode_reply::<Ok>(br#"{"error":"container c1 is not running"}"#),
            Err(ReplyError::Refused(ErrorReply::new(
                ErrorKind::System,
                "container c1 is not running"
            )))
        );
        assert_eq!(
            decode_reply::<Ok>(br#"{"error":"x","kind":"from-the-future"}"#),
            Err(ReplyError::Refused(ErrorReply::system("x")))
        );
        assert_eq!(
            parse_ready("error exec: \"nope\": executable file not found in $PATH"),
            Ready::Failed(ErrorReply::system(
                "exec: \"nope\": executable file not found in $PATH"
            ))
        );
    }

    #[test]
    fn ready_lines_carry_the_kind() {
        assert_eq!(ready_line(Ok(42)), "ready 42\n");
        assert_eq!(parse_ready("ready 42"), Ready::Ready { pid: 42 });
        let e = ErrorReply::new(
            ErrorKind::CommandNotFound,
            "exec: \"nope\": not found\nat all",
        );
        let line = ready_line(Err(&e));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains(r#""kind":"command-not-found""#), "{line}");
        assert_eq!(parse_ready(line.trim_end_matches('\n')), Ready::Failed(e));
        assert_eq!(parse_ready(""), Ready::Silent);
    }

    #[test]
    fn frame_headers_are_big_endian() {
        assert_eq!(frame_header(2, 0x0102), [2, 0, 0, 0, 0, 0, 1, 2]);
    }
}
