//! An external runc-compatible runtime (runc, crun), driven through runc's command line:
//!
//! ```text
//! RUNTIME [runtimeArgs] --root=DIR --log=FILE --log-format=json COMMAND ...
//!   create --bundle B --pid-file F [--console-socket S] ID
//!   start ID | state ID | kill [--all] ID SIG | pause ID | resume ID | delete --force ID
//!   update --resources - ID                    (the OCI linux.resources JSON on stdin)
//!   exec --detach --pid-file F --process P.json [--console-socket S] [--tty] ID
//! ```
//!
//! `create` and `exec` run with the process's pipes as their fds 0-2 (the runtime hands them on),
//! or with a console socket for a tty; the processes they leave behind are adopted by the shim
//! (a child subreaper), so `waitpid` sees their exits as it does the built-in runtime's. The
//! other commands run with their output captured.
//!
//! A command that fails gives its reason in the runtime's log (`runtime.log` in the state dir,
//! JSON lines; the last `error` or `fatal` line), else on its stderr; that text is the message,
//! and [`super::reason::kind_of`] reads the kind from it. The socket paths given to the runtime go through
//! `/proc/<shim pid>/cwd/`: short whatever the state dir's length (a socket path has 108 bytes),
//! and independent of the runtime's own working directory (runc changes to the bundle).

use super::reason::{kind_of, last_line, log_error, message, Op};
use super::{ConsoleSocket, ExecRequest};
use crate::io::ProcIo;
use crate::protocol::{ErrorKind, ErrorReply, ExternalRuntime, ShimConfig};
use berth_oci::runtime::LinuxResources;
use berth_runtime::cgroups::Cgroup;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The record of the runtime a shim drives, in its state dir (see the protocol docs).
pub const RECORD: &str = "runtime.json";
/// The runtime's own log (its `--log`) in the state dir.
pub const LOG: &str = "runtime.log";
/// The init's pid file in the state dir.
const INIT_PID: &str = "init.pid";
/// The init's pid and start time in the state dir ([`InitRecord`]).
pub const INIT: &str = "init.json";
/// The console socket of the init's tty, in the state dir.
const CONSOLE: &str = "console.sock";

/// What `runtime.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub runtime: ExternalRuntime,
    /// The runtime's `--root`.
    pub root: PathBuf,
}

/// The init of a container of an external runtime, as the shim recorded it after create: for a
/// reader outside the shim (the daemon's `docker cp` into a running container) that must know a
/// pid still names that init (the same start time, clock ticks since boot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InitRecord {
    pub pid: i32,
    pub start_time: u64,
}

/// Reads `init.json` in a shim's state dir; `None` when there is none (the built-in runtime, or
/// a create that did not get that far).
pub fn read_init(state_dir: &Path) -> Option<InitRecord> {
    let text = std::fs::read(state_dir.join(INIT)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// How a command's stdio is set.
enum Io<'a> {
    /// The shim's fds 0-2 (the process's pipes, put there by the caller).
    Inherit,
    /// Captured output; `Some` is written to its stdin.
    Captured(Option<&'a [u8]>),
}

/// A container of an external runtime.
pub struct External {
    runtime: ExternalRuntime,
    root: PathBuf,
    id: String,
    /// The shim's state dir (absolute).
    dir: PathBuf,
    pid: Pid,
    /// The spec's `linux.cgroupsPath`.
    cgroups_path: Option<PathBuf>,
}

impl External {
    pub(super) fn create(
        cfg: &ShimConfig,
        runtime: &ExternalRuntime,
    ) -> Result<(External, ProcIo), ErrorReply> {
        let record = Record {
            runtime: runtime.clone(),
            root: cfg.runtime_root.clone(),
        };
        let text = serde_json::to_vec(&record).unwrap_or_default();
        let path = cfg.state_dir.join(RECORD);
        std::fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
        std::fs::create_dir_all(&cfg.runtime_root)
            .map_err(|e| io_error("create", &cfg.runtime_root, &e))?;
        let mut ext = External {
            runtime: runtime.clone(),
            root: cfg.runtime_root.clone(),
            id: cfg.id.clone(),
            dir: cfg.state_dir.clone(),
            pid: Pid::from_raw(0),
            cgroups_path: cgroups_path(&cfg.bundle),
        };
        let pid_file = ext.dir.join(INIT_PID);
        let _ = std::fs::remove_file(&pid_file);
        let mut args: Vec<std::ffi::OsString> = vec![
            "--bundle".into(),
            cfg.bundle.clone().into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        let io = if cfg.terminal {
            let console = ConsoleSocket::bind(Path::new(CONSOLE))?;
            args.push("--console-socket".into());
            args.push(via_cwd(console.name()).into());
            args.push(ext.id.clone().into());
            ext.run(Op::Create, &args, Io::Captured(None))?;
            let io = console
                .receive()
                .and_then(|master| ProcIo::terminal(master, cfg.stdin).map_err(Into::into));
            match io {
                Ok(io) => io,
                Err(e) => {
                    let _ = ext.delete();
                    return Err(e);
                }
            }
        } else {
            args.push(ext.id.clone().into());
            let (io, child) = ProcIo::pipes(cfg.stdin)?;
            crate::io::with_stdio(&child, || ext.run(Op::Create, &args, Io::Inherit))??;
            io
        };
        match read_pid(&pid_file) {
            Some(pid) => {
                ext.pid = pid;
                ext.record_init();
            }
            None => {
                let _ = ext.delete();
                return Err(ErrorReply::system(format!(
                    "{} create: no pid in {}",
                    ext.name(),
                    pid_file.display()
                )));
            }
        }
        Ok((ext, io))
    }

    pub(super) fn init_pid(&self) -> Pid {
        self.pid
    }

    /// Writes `init.json` (temp file, rename); a failure only loses `docker cp`'s live view.
    fn record_init(&self) {
        let Some((_, start_time)) = berth_runtime::container::state::proc_stat(self.pid.as_raw())
        else {
            return;
        };
        let record = InitRecord {
            pid: self.pid.as_raw(),
            start_time,
        };
        let (tmp, path) = (self.dir.join(".init.json.tmp"), self.dir.join(INIT));
        let written = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            eprintln!(
                "shim {}: record the init in {}: {e}",
                self.id,
                path.display()
            );
        }
    }

    pub(super) fn start(&self) -> Result<(), ErrorReply> {
        self.simple(Op::Start, &[])
    }

    /// Asks the runtime's `state`; a runtime that cannot answer counts as not paused.
    pub(super) fn paused(&self) -> bool {
        let out = self.run(Op::State, &[self.id.clone().into()], Io::Captured(None));
        out.ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o).ok())
            .is_some_and(|v| v["status"] == "paused")
    }

    pub(super) fn kill(&self, signal: Signal, all: bool) -> Result<(), ErrorReply> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        if all {
            args.push("--all".into());
        }
        args.push(self.id.clone().into());
        args.push((signal as i32).to_string().into());
        self.run(Op::Kill, &args, Io::Captured(None)).map(drop)
    }

    pub(super) fn pause(&self, freeze: bool) -> Result<(), ErrorReply> {
        self.simple(if freeze { Op::Pause } else { Op::Resume }, &[])
    }

    pub(super) fn update(&self, resources: &LinuxResources) -> Result<(), ErrorReply> {
        let json = serde_json::to_vec(resources).map_err(|e| {
            ErrorReply::new(ErrorKind::InvalidArgument, format!("encode resources: {e}"))
        })?;
        let args: Vec<std::ffi::OsString> =
            vec!["--resources".into(), "-".into(), self.id.clone().into()];
        self.run(Op::Update, &args, Io::Captured(Some(&json)))
            .map(drop)
    }

    pub(super) fn exec(&self, req: &ExecRequest<'_>) -> Result<(), ErrorReply> {
        let pid_file = self.dir.join(req.pid_file);
        let process = self.dir.join(format!("{}.json", req.pid_file.display()));
        let json = serde_json::to_vec(req.process).map_err(|e| {
            ErrorReply::new(ErrorKind::InvalidArgument, format!("encode process: {e}"))
        })?;
        std::fs::write(&process, json).map_err(|e| io_error("write", &process, &e))?;
        let _remove = RemoveOnDrop(process.clone());
        let mut args: Vec<std::ffi::OsString> = vec![
            "--detach".into(),
            "--pid-file".into(),
            pid_file.into(),
            "--process".into(),
            process.into(),
        ];
        if let Some(console) = req.console_socket {
            args.push("--console-socket".into());
            args.push(via_cwd(console).into());
            args.push("--tty".into());
        }
        args.push(self.id.clone().into());
        let io = if req.console_socket.is_some() {
            Io::Captured(None)
        } else {
            Io::Inherit
        };
        self.run(Op::Exec, &args, io).map(drop)
    }

    pub(super) fn cgroup(&self) -> Option<Cgroup> {
        Cgroup::new(self.cgroups_path.as_deref(), &self.id).ok()
    }

    pub(super) fn delete(&self) -> Result<(), ErrorReply> {
        let args: Vec<std::ffi::OsString> = vec!["--force".into(), self.id.clone().into()];
        self.run(Op::Delete, &args, Io::Captured(None)).map(drop)
    }

    /// The runtime's name in messages (its file name).
    fn name(&self) -> String {
        self.runtime.path.file_name().map_or_else(
            || self.runtime.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    fn simple(&self, op: Op, extra: &[&str]) -> Result<(), ErrorReply> {
        let mut args: Vec<std::ffi::OsString> = extra.iter().map(Into::into).collect();
        args.push(self.id.clone().into());
        self.run(op, &args, Io::Captured(None)).map(drop)
    }

    /// Runs one command; returns its stdout, or its failure with its kind.
    fn run(&self, op: Op, args: &[std::ffi::OsString], io: Io<'_>) -> Result<Vec<u8>, ErrorReply> {
        let log = self.dir.join(LOG);
        // Only this command's lines: the reason of a failure is the last error in it.
        let _ = std::fs::File::create(&log);
        let mut cmd = Command::new(&self.runtime.path);
        cmd.args(&self.runtime.args)
            .arg(format!("--root={}", self.root.display()))
            .arg(format!("--log={}", log.display()))
            .arg("--log-format=json")
            .arg(op.name())
            .args(args);
        // The runtime hands its signal state on to the container's processes: it starts with
        // none of the shim's (SIGCHLD and SIGPIPE blocked, SIGPIPE ignored, and whatever the
        // daemon's parent ignored), as from a clean shell.
        // SAFETY: the closure runs between fork and exec and makes only the sigprocmask and
        // rt_sigaction system calls, which are async-signal-safe, on local memory.
        unsafe {
            cmd.pre_exec(|| {
                let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
                libc::sigemptyset(set.as_mut_ptr());
                if libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The kernel's `struct sigaction` all zero: SIG_DFL, no flags, empty mask. The
                // raw call reaches the signals libc keeps for itself (32, 33) too.
                let default = [0u64; 4];
                for sig in 1..=64 {
                    if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                        libc::syscall(
                            libc::SYS_rt_sigaction,
                            sig,
                            default.as_ptr(),
                            std::ptr::null_mut::<u64>(),
                            8usize,
                        );
                    }
                }
                Ok(())
            })
        };
        let spawn_failed = |e: std::io::Error| {
            ErrorReply::system(format!(
                "runtime {} {}: {e}",
                self.runtime.path.display(),
                op.name()
            ))
        };
        let (status, stdout, stderr) = match io {
            Io::Inherit => {
                let status = cmd.status().map_err(spawn_failed)?;
                (status, Vec::new(), Vec::new())
            }
            Io::Captured(input) => {
                cmd.stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
                let mut child = cmd.spawn().map_err(spawn_failed)?;
                if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
                    // A runtime that does not read its stdin fails on its own; its reason wins.
                    let _ = stdin.write_all(data);
                }
                let out = child.wait_with_output().map_err(spawn_failed)?;
                (out.status, out.stdout, out.stderr)
            }
        };
        if status.success() {
            return Ok(stdout);
        }
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let reason = log_error(&log_text)
            .or_else(|| last_line(&String::from_utf8_lossy(&stderr)))
            .unwrap_or_else(|| format!("exited with {status}"));
        Err(ErrorReply::new(
            kind_of(op, &reason),
            message(op, &self.name(), &reason),
        ))
    }
}

/// Removes a file on drop.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::of_io(e),
        format!("shim: {what} {}: {e}", path.display()),
    )
}

/// `name` (relative to the shim's working directory) as `/proc/<shim pid>/cwd/name`.
fn via_cwd(name: &Path) -> PathBuf {
    PathBuf::from(format!("/proc/{}/cwd", std::process::id())).join(name)
}

fn read_pid(path: &Path) -> Option<Pid> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 0)
        .map(Pid::from_raw)
}

/// The spec's `linux.cgroupsPath` in `bundle`.
fn cgroups_path(bundle: &Path) -> Option<PathBuf> {
    let text = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
    spec["linux"]["cgroupsPath"].as_str().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_go_through_the_shims_cwd() {
        let p = via_cwd(Path::new("exec-3.sock"));
        assert_eq!(
            p,
            PathBuf::from(format!("/proc/{}/cwd/exec-3.sock", std::process::id()))
        );
    }
}
