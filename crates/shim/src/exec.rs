//! Starting an exec: the runtime's `exec`, detached, so the process is the shim's child. Without a
//! tty it gets pipes (through fds 0-2, see [`crate::io::with_stdio`]); with one, the runtime's
//! console-socket protocol hands the pty master over a short-lived socket in the state dir (the
//! shim's working directory, so the path stays short).

use crate::io::{self, ProcIo};
use crate::protocol::{ErrorKind, ErrorReply, ShimConfig};
use berth_runtime::container::{exec, ExecOptions};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

/// A started exec: its pid and the shim's ends of its stdio.
pub struct Started {
    pub pid: Pid,
    pub io: ProcIo,
}

/// Removes the exec's temporary files.
struct Temp(Vec<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs `process` in the container of `cfg`; `seq` makes the temporary names unique. Errors are
/// the runtime's, kind and message (a command that cannot run is
/// [`ErrorKind::CommandNotFound`] or [`ErrorKind::NotExecutable`]).
pub fn start(
    cfg: &ShimConfig,
    seq: u32,
    mut process: berth_oci::runtime::Process,
    tty: bool,
    stdin: bool,
) -> Result<Started, ErrorReply> {
    let io_err = |what: String| {
        move |e: std::io::Error| ErrorReply::new(ErrorKind::of_io(&e), format!("exec: {what}: {e}"))
    };
    process.set_terminal(Some(tty));
    let pid_file = PathBuf::from(format!("exec-{seq}.pid"));
    let console = PathBuf::from(format!("exec-{seq}.sock"));
    let mut temp = Temp(vec![pid_file.clone()]);
    let listener = if tty {
        let _ = std::fs::remove_file(&console);
        let l = UnixListener::bind(&console)
            .map_err(io_err(format!("bind console socket {}", console.display())))?;
        temp.0.push(console.clone());
        Some(l)
    } else {
        None
    };
    let opts = ExecOptions {
        root: cfg.runtime_root.clone(),
        id: cfg.id.clone(),
        process,
        console_socket: tty.then(|| console.clone()),
        pid_file: Some(pid_file.clone()),
        detach: true,
        preserve_fds: 0,
    };
    let io = match listener {
        None => {
            let (io, child) = ProcIo::pipes(stdin)?;
            io::with_stdio(&child, || exec(&opts))??;
            io
        }
        Some(listener) => {
            exec(&opts)?;
            // The process sent the master before it exec'd: the connection is queued already.
            listener
                .set_nonblocking(true)
                .map_err(io_err("console socket".into()))?;
            let (conn, _) = listener
                .accept()
                .map_err(io_err("console socket: no terminal received".into()))?;
            let (master, _) = berth_runtime::console::recv_fd(conn.as_fd())
                .map_err(|e| ErrorReply::new(e.kind(), format!("exec: receive terminal: {e}")))?;
            ProcIo::terminal(master, stdin)?
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
