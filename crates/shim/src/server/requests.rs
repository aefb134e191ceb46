//! The shim's answers to requests: one arm per [`Request`] op.

use super::{Exec, Kind, Shim, KEPT_EXECS};
use crate::protocol::{
    self, ErrorKind, ErrorReply, ExecExit, ExecStarted, Request, StateReply, Status,
};
use nix::sys::signal::Signal;

impl Shim {
    pub(super) fn dispatch(&mut self, i: usize, req: Request) {
        // Requests run code the streaming loop does not: give its pages back after each one.
        self.shrink_soon();
        let id = self.cfg.id.clone();
        let exited = self.exit.is_some() || self.reaped.is_some();
        let not_running = || {
            ErrorReply::new(
                ErrorKind::Conflict,
                format!("container {id} is not running"),
            )
        };
        let no_exec = |exec_id: &str| {
            ErrorReply::new(
                ErrorKind::NotFound,
                format!("no such exec {exec_id} in container {id}"),
            )
        };
        let result: Result<(), ErrorReply> = match req {
            Request::Start if self.started || exited => Err(ErrorReply::new(
                ErrorKind::Conflict,
                format!("container {id} was started already"),
            )),
            Request::Start => self.runtime.start().map(|()| self.started = true),
            Request::State => {
                let status = match (&self.exit, self.started) {
                    (Some(_), _) => Status::Exited,
                    (None, false) => Status::Created,
                    (None, true) => Status::Running,
                };
                let paused = status == Status::Running && self.runtime.paused();
                let reply = StateReply {
                    pid: self.runtime.init_pid().as_raw(),
                    status,
                    paused,
                    exit: self.exit.clone(),
                };
                self.conns[i].done(&reply);
                return;
            }
            Request::Kill { .. } if exited => Err(not_running()),
            Request::Kill { signal, all } => Signal::try_from(signal)
                .map_err(|_| {
                    ErrorReply::new(
                        ErrorKind::InvalidArgument,
                        format!("invalid signal {signal}"),
                    )
                })
                .and_then(|s| self.runtime.kill(s, all)),
            Request::Resize { height, width } => match self.ctr.master() {
                Some(m) => {
                    berth_runtime::console::set_size(m, height, width).map_err(ErrorReply::from)
                }
                None if exited => Err(not_running()),
                None => Err(ErrorReply::new(
                    ErrorKind::Conflict,
                    format!("container {id} has no terminal"),
                )),
            },
            Request::Pause | Request::Resume if exited => Err(not_running()),
            Request::Pause | Request::Resume => self.runtime.pause(matches!(req, Request::Pause)),
            Request::Update { .. } if exited => Err(not_running()),
            Request::Update { resources } => self.runtime.update(&resources),
            Request::Wait => {
                match &self.exit {
                    Some(e) => {
                        let e = e.clone();
                        self.conns[i].done(&e);
                    }
                    None => self.conns[i].kind = Kind::Wait,
                }
                return;
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                let c = &mut self.conns[i];
                c.reply(&protocol::Ok {});
                c.kind = Kind::Attach {
                    stdin,
                    stdout,
                    stderr,
                };
                if self.exit.is_some() {
                    c.closing = true;
                }
                return;
            }
            Request::Exec { .. } if exited || !self.started => Err(not_running()),
            Request::Exec {
                exec_id,
                process,
                tty,
                stdin,
            } => {
                if self.execs.iter().any(|e| e.id == exec_id && !e.done) {
                    Err(ErrorReply::new(
                        ErrorKind::Conflict,
                        format!("exec {exec_id} is running already"),
                    ))
                } else {
                    self.exec_seq = self.exec_seq.wrapping_add(1);
                    match crate::exec::start(&self.runtime, self.exec_seq, *process, tty, stdin) {
                        Ok(started) => {
                            let exec = Exec {
                                id: exec_id,
                                pid: started.pid,
                                io: started.io,
                                code: None,
                                done: false,
                            };
                            let slot = self.exec_slot();
                            if slot == self.execs.len() {
                                self.execs.push(exec);
                            } else {
                                self.execs[slot] = exec;
                            }
                            let c = &mut self.conns[i];
                            c.reply(&ExecStarted {
                                pid: started.pid.as_raw(),
                            });
                            c.kind = Kind::ExecStream { exec: slot, stdin };
                            return;
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Request::ExecWait { exec_id } => match self.find_exec(&exec_id) {
                Some(e) => {
                    match (self.execs[e].done, self.execs[e].code) {
                        (true, Some(code)) => self.conns[i].done(&ExecExit {
                            exec_id,
                            exit_code: code,
                        }),
                        _ => self.conns[i].kind = Kind::ExecWait { exec: e },
                    }
                    return;
                }
                None => Err(no_exec(&exec_id)),
            },
            Request::ExecResize {
                exec_id,
                height,
                width,
            } => match self.find_exec(&exec_id).map(|e| self.execs[e].io.master()) {
                Some(Some(m)) => {
                    berth_runtime::console::set_size(m, height, width).map_err(ErrorReply::from)
                }
                Some(None) => Err(ErrorReply::new(
                    ErrorKind::Conflict,
                    format!("exec {exec_id} has no terminal or has exited"),
                )),
                None => Err(no_exec(&exec_id)),
            },
            Request::Shutdown => {
                self.shutdown = true;
                Ok(())
            }
        };
        match result {
            Ok(()) => self.conns[i].done(&protocol::Ok {}),
            Err(e) => self.conns[i].fail(e),
        }
    }

    /// Where a new exec goes: past the end, or (once [`KEPT_EXECS`] are recorded) over the
    /// first finished one that no connection refers to, so a long-lived container with periodic
    /// execs (health checks) does not grow the shim.
    pub(super) fn exec_slot(&self) -> usize {
        if self.execs.len() < KEPT_EXECS {
            return self.execs.len();
        }
        let referenced = |e: usize| {
            self.conns.iter().any(|c| {
                matches!(c.kind, Kind::ExecStream { exec, .. } | Kind::ExecWait { exec } if exec == e)
            })
        };
        (0..self.execs.len())
            .find(|&e| self.execs[e].done && !referenced(e))
            .unwrap_or(self.execs.len())
    }

    /// The running exec with this id, else a finished one.
    fn find_exec(&self, id: &str) -> Option<usize> {
        let with_id = |e: &&Exec| e.id == id;
        (self.execs.iter().position(|e| with_id(&e) && !e.done))
            .or_else(|| self.execs.iter().position(|e| with_id(&e)))
    }
}
