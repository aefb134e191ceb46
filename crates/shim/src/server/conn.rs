//! One client connection of the shim: what it is waiting for or streaming ([`Kind`]), its unsent
//! bytes, and its end.

use super::{Src, BUF};
use crate::io::write_some;
use crate::protocol;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

pub(super) enum Kind {
    /// Reading the request line.
    Request,
    /// Sending one reply, then closing.
    Reply,
    Wait,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    ExecStream {
        exec: usize,
        stdin: bool,
    },
    ExecWait {
        exec: usize,
    },
}

pub(super) struct Conn {
    pub(super) sock: UnixStream,
    pub(super) kind: Kind,
    pub(super) inbuf: Vec<u8>,
    pub(super) out: Vec<u8>,
    pub(super) input_open: bool,
    /// Close once `out` is sent.
    pub(super) closing: bool,
    pub(super) dead: bool,
}

impl Conn {
    /// Whether (and for which outputs) this connection streams `src`.
    pub(super) fn streams(&self, src: Src) -> Option<[bool; 2]> {
        match (&self.kind, src) {
            (Kind::Attach { stdout, stderr, .. }, Src::Ctr) => Some([*stdout, *stderr]),
            (Kind::ExecStream { exec, .. }, Src::Exec(e)) if *exec == e => Some([true, true]),
            _ => None,
        }
    }

    pub(super) fn stdin_target(&self) -> Option<Src> {
        match self.kind {
            Kind::Attach { stdin: true, .. } => Some(Src::Ctr),
            Kind::ExecStream { exec, stdin: true } => Some(Src::Exec(exec)),
            _ => None,
        }
    }

    pub(super) fn reply<T: serde::Serialize>(&mut self, value: &T) {
        if let Ok(mut line) = serde_json::to_vec(value) {
            line.push(b'\n');
            self.out.extend_from_slice(&line);
        }
    }

    pub(super) fn fail(&mut self, error: protocol::ErrorReply) {
        self.reply(&error);
        self.kind = Kind::Reply;
        self.closing = true;
    }

    pub(super) fn done<T: serde::Serialize>(&mut self, value: &T) {
        self.reply(value);
        self.kind = Kind::Reply;
        self.closing = true;
    }

    pub(super) fn flush(&mut self) {
        if !self.out.is_empty() {
            match write_some(self.sock.as_fd(), &self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
            if self.out.is_empty() && self.out.capacity() > 4 * BUF {
                self.out = Vec::new();
            }
        }
        if self.out.is_empty() && self.closing {
            self.dead = true;
        }
    }
}
