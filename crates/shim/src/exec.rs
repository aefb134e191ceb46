//! Starting an exec: the runtime's `exec`, detached, so the process is the shim's child. Without a
//! tty it gets pipes (through fds 0-2, see [`crate::io::with_stdio`]); with one, the runtime's
//! console-socket protocol hands the pty master over a short-lived socket in the state dir (the
//! shim's working directory, so the path stays short).

use crate::io::{self, ProcIo};
use crate::protocol::ErrorReply;
use crate::runtime::{ConsoleSocket, ExecRequest, Runtime};
use nix::unistd::Pid;
use std::path::PathBuf;

/// A started exec: its pid and the shim's ends of its stdio.
pub struct Started {
    pub pid: Pid,
    pub io: ProcIo,
}

/// Removes the exec's pid file.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `process` in the container of `runtime`; `seq` makes the temporary names unique. Errors
/// are the runtime's, kind and message (a command that cannot run is
/// [`crate::protocol::ErrorKind::CommandNotFound`] or
/// [`crate::protocol::ErrorKind::NotExecutable`]).
pub fn start(
    runtime: &Runtime,
    seq: u32,
    mut process: berth_oci::runtime::Process,
    tty: bool,
    stdin: bool,
) -> Result<Started, ErrorReply> {
    process.set_terminal(Some(tty));
    let pid_file = PathBuf::from(format!("exec-{seq}.pid"));
    let _temp = Temp(pid_file.clone());
    let console = if tty {
        Some(ConsoleSocket::bind(&PathBuf::from(format!(
            "exec-{seq}.sock"
        )))?)
    } else {
        None
    };
    let req = ExecRequest {
        process: &process,
        pid_file: &pid_file,
        console_socket: console.as_ref().map(|c| c.name()),
    };
    let io = match &console {
        None => {
            let (io, child) = ProcIo::pipes(stdin)?;
            io::with_stdio(&child, || runtime.exec(&req))??;
            io
        }
        Some(console) => {
            runtime.exec(&req)?;
            ProcIo::terminal(console.receive()?, stdin)?
        }
    };
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| ErrorReply::system(format!("exec: no pid in {}", pid_file.display())))?;
    Ok(Started {
        pid: Pid::from_raw(pid),
        io,
    })
}
