//! The end of a process: drain its output, and for the container delete it from the runtime,
//! record `exit.json` and answer waiters; for an exec close its stream and answer its waiters.

use super::{Kind, Shim, Src};
use crate::exit;
use crate::protocol::{ExecExit, ExitStatus};

impl Shim {
    /// Drains the output of exited execs, closes their streams and answers their waiters.
    pub(super) fn finish_execs(&mut self) {
        for e in 0..self.execs.len() {
            let Some(code) = self.execs[e].code else {
                continue;
            };
            if self.execs[e].done {
                continue;
            }
            self.drain(Src::Exec(e));
            let exec = &mut self.execs[e];
            exec.io.outputs = [None, None];
            exec.io.stdin = None;
            exec.io.stdin_pending = Vec::new();
            exec.done = true;
            let exec_id = exec.id.clone();
            for c in self.conns.iter_mut() {
                match c.kind {
                    Kind::ExecStream { exec, .. } if exec == e => {
                        c.closing = true;
                        c.input_open = false;
                        c.flush();
                    }
                    Kind::ExecWait { exec } if exec == e => {
                        c.done(&ExecExit {
                            exec_id: exec_id.clone(),
                            exit_code: code,
                        });
                        c.flush();
                    }
                    _ => {}
                }
            }
        }
    }

    /// Reads what a process left in its outputs, ignoring flow control.
    fn drain(&mut self, src: Src) {
        for i in 0..2 {
            while self.pump(src, i) {}
        }
    }

    /// The container's init was reaped: drain, delete, record, answer.
    pub(super) fn finish_container(&mut self) {
        let Some(ws) = self.reaped else { return };
        self.drain(Src::Ctr);
        self.ctr.outputs = [None, None];
        self.ctr.stdin = None;
        self.ctr.stdin_pending = Vec::new();
        if let Some(log) = &mut self.log {
            if let Err(e) = log.finish() {
                eprintln!("shim {}: {e}", self.cfg.id);
            }
        }
        let oom = self.runtime.oom_killed();
        if let Err(e) = self.runtime.delete() {
            eprintln!("shim {}: delete container: {e}", self.cfg.id);
        }
        let status = exit::from_wait(ws, oom).unwrap_or(ExitStatus {
            exit_code: 255,
            signal: None,
            oom_killed: oom,
            finished_at: berth_runtime::container::state::now_rfc3339(),
        });
        if let Err(e) = exit::write(std::path::Path::new("."), &status) {
            eprintln!("shim {}: {e}", self.cfg.id);
        }
        for c in self.conns.iter_mut() {
            match c.kind {
                Kind::Wait => c.done(&status),
                Kind::Attach { .. } => {
                    c.closing = true;
                    c.input_open = false;
                }
                _ => {}
            }
            c.flush();
        }
        self.exit = Some(status);
    }
}
