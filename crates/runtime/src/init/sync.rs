//! The setup socket between the runtime (P) and the process it cloned (C): one `SOCK_SEQPACKET`
//! message per step ([`Msg`]), a failure reported as an `E` message carrying the error's kind, and
//! the end of the conversation ([`close_sync`]) that tells P the container is ready.

use super::sys_err;
use crate::console;
use crate::error::ErrorKind;
use crate::{Result, RuntimeError};
use nix::sys::socket::{send, MsgFlags};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// One message on the parent↔child socketpair: a tag byte and a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// P→C: maps written and cgroup joined; payload: the state JSON for hooks.
    Go = b'G' as isize,
    /// C→P: run the prestart and createRuntime hooks now.
    Hooks = b'H' as isize,
    /// P→C: hooks done.
    HooksDone = b'D' as isize,
    /// C→P: the pty master (SCM_RIGHTS) for the parent to relay.
    Terminal = b'T' as isize,
    /// C→P: setup failed; payload: the [`ErrorKind`] tag byte, then the message
    /// ([`send_error`], [`reported_error`]).
    Error = b'E' as isize,
}

/// Sends `msg` with `payload`.
pub fn send_msg(sock: BorrowedFd<'_>, msg: Msg, payload: &[u8]) -> Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + 1);
    buf.push(msg as u8);
    buf.extend_from_slice(payload);
    send(sock.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)
        .map(drop)
        .map_err(|source| RuntimeError::Sys {
            what: "write to setup socket".into(),
            source,
        })
}

/// A received message: its tag, payload and the fd it carried.
pub type Received = (Msg, Vec<u8>, Option<OwnedFd>);

/// Receives one message; `None` at EOF (the peer closed its end).
pub fn recv_msg(sock: BorrowedFd<'_>) -> Result<Option<Received>> {
    let (fd, data) = console::recv_msg(sock)?;
    let Some((&tag, payload)) = data.split_first() else {
        return Ok(None);
    };
    let msg = [
        Msg::Go,
        Msg::Hooks,
        Msg::HooksDone,
        Msg::Terminal,
        Msg::Error,
    ]
    .into_iter()
    .find(|m| *m as u8 == tag)
    .ok_or_else(|| RuntimeError::Other(format!("setup socket: unknown message {tag:#x}")))?;
    Ok(Some((msg, payload.to_vec(), fd)))
}

/// Reports `err` to the parent as an `E` message: its kind's tag byte, then its message.
pub fn send_error(sock: BorrowedFd<'_>, err: &RuntimeError) -> Result<()> {
    let message = err.to_string();
    let mut payload = Vec::with_capacity(message.len() + 1);
    payload.push(err.kind().tag());
    payload.extend_from_slice(message.as_bytes());
    send_msg(sock, Msg::Error, &payload)
}

/// The error an `E` message's payload reports, with the kind the child gave it.
pub fn reported_error(payload: &[u8]) -> RuntimeError {
    match payload.split_first() {
        Some((&tag, message)) => {
            RuntimeError::failed(ErrorKind::from_tag(tag), String::from_utf8_lossy(message))
        }
        None => RuntimeError::Other("container setup failed without a message".into()),
    }
}

/// Waits for `want`, turning an `E` message or EOF into an error.
pub fn expect_msg(sock: BorrowedFd<'_>, want: Msg) -> Result<Vec<u8>> {
    match recv_msg(sock)? {
        Some((m, payload, _)) if m == want => Ok(payload),
        Some((Msg::Error, payload, _)) => Err(reported_error(&payload)),
        Some((m, ..)) => Err(RuntimeError::Other(format!(
            "setup socket: got {m:?}, want {want:?}"
        ))),
        None => Err(RuntimeError::Other(format!(
            "setup socket closed while waiting for {want:?}"
        ))),
    }
}

/// Ends the setup conversation while the socket's `OwnedFd` lives on (borrowed by the caller):
/// shutting the socket down makes the peer see EOF, and a later error report fails harmlessly
/// (EPIPE). Nothing is opened by path: at this point the paths are the container's.
pub fn close_sync(sync: &OwnedFd) -> Result<()> {
    nix::sys::socket::shutdown(sync.as_raw_fd(), nix::sys::socket::Shutdown::Both)
        .map_err(sys_err("close setup socket"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::resolve_program;
    use std::os::fd::AsFd;
    #[test]
    fn messages_round_trip() {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send_msg(a.as_fd(), Msg::Go, b"{}").unwrap();
        assert_eq!(expect_msg(b.as_fd(), Msg::Go).unwrap(), b"{}");
        send_error(a.as_fd(), &RuntimeError::Other("boom".into())).unwrap();
        let e = expect_msg(b.as_fd(), Msg::Go).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (ErrorKind::System, "boom".into())
        );
        drop(a);
        assert!(recv_msg(b.as_fd()).unwrap().is_none());
    }

    /// What the setup process reports reaches the parent with its kind, for every kind.
    #[test]
    fn error_kinds_survive_the_setup_socket() {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (child, parent) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let missing = resolve_program(&["no-such-program".into()], &[]).unwrap_err();
        send_error(child.as_fd(), &missing).unwrap();
        let got = expect_msg(parent.as_fd(), Msg::Go).unwrap_err();
        assert_eq!(got.kind(), ErrorKind::CommandNotFound);
        assert_eq!(got.to_string(), missing.to_string());
        for kind in ErrorKind::ALL {
            send_error(child.as_fd(), &RuntimeError::failed(kind, "what failed")).unwrap();
            let Some((Msg::Error, payload, None)) = recv_msg(parent.as_fd()).unwrap() else {
                panic!("expected an E message");
            };
            let got = reported_error(&payload);
            assert_eq!((got.kind(), got.to_string()), (kind, "what failed".into()));
        }
        // The kind is its own byte: a message that starts like a tag is not read as one.
        send_error(child.as_fd(), &RuntimeError::Other("Conflicting".into())).unwrap();
        let got = expect_msg(parent.as_fd(), Msg::HooksDone).unwrap_err();
        assert_eq!(
            (got.kind(), got.to_string()),
            (ErrorKind::System, "Conflicting".into())
        );
        assert_eq!(reported_error(b"").kind(), ErrorKind::System);
    }
}
