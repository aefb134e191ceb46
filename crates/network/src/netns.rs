//! Sockets created inside another network namespace, without the caller ever changing its own.
//!
//! A socket belongs for life to the network namespace it was created in. So instead of `setns` in the
//! (multi-threaded) daemon, [`socket_in`] forks a child that only makes raw async-signal-safe system calls
//! (`setns`, `socket`, `setsockopt`, `bind`, `listen`, `sendmsg`, `_exit`) with buffers prepared before the
//! fork, and passes the new socket back over a socketpair with `SCM_RIGHTS`. The caller then configures the
//! namespace with a netlink socket from here, or serves DNS on a UDP/TCP socket bound to 127.0.0.11.

use std::fs::File;
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};

/// Errors from namespace helpers.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("open network namespace {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("network namespace helper: {step}: {source}")]
    Helper {
        step: &'static str,
        source: io::Error,
    },
}

/// Opens a network namespace file (`/proc/<pid>/ns/net` or a bind-mounted netns file).
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    File::open(path)
        .map(OwnedFd::from)
        .map_err(|source| NetnsError::Open {
            path: path.display().to_string(),
            source,
        })
}

/// Which socket to create inside the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A `NETLINK_ROUTE` socket: configures links, addresses and routes of that namespace.
    Netlink,
    /// A UDP socket bound to the address.
    Udp(SocketAddrV4),
    /// A TCP socket bound to the address and listening.
    TcpListener(SocketAddrV4),
}

const STEPS: [&str; 6] = ["setns", "socket", "setsockopt", "bind", "listen", "sendmsg"];

/// Creates a socket of `kind` inside the network namespace `netns` and returns it (close-on-exec).
pub fn socket_in(netns: BorrowedFd<'_>, kind: SocketKind) -> Result<OwnedFd, NetnsError> {
    let helper = |step, source| NetnsError::Helper { step, source };
    let (parent_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| helper("socketpair", e.into()))?;
    let (domain, ty, proto, addr) = match kind {
        SocketKind::Netlink => (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE, None),
        SocketKind::Udp(a) => (libc::AF_INET, libc::SOCK_DGRAM, 0, Some(sockaddr(a))),
        SocketKind::TcpListener(a) => (libc::AF_INET, libc::SOCK_STREAM, 0, Some(sockaddr(a))),
    };
    let listen = matches!(kind, SocketKind::TcpListener(_));
    // SAFETY: the child only calls async-signal-safe functions on memory prepared before the fork and
    // leaves with `_exit`, so forking from a multi-threaded process is sound.
    match unsafe { fork() }.map_err(|e| helper("fork", e.into()))? {
        ForkResult::Child => {
            let code = child(
                netns.as_raw_fd(),
                child_end.as_raw_fd(),
                (domain, ty | libc::SOCK_CLOEXEC, proto),
                addr,
                listen,
            );
            // SAFETY: `_exit` ends the child without running the parent's destructors or atexit hooks.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            let got = receive(parent_end.as_fd());
            let _ = waitpid(child, None);
            match got {
                Ok(Ok(fd)) => Ok(fd),
                Ok(Err((step, errno))) => Err(helper(
                    STEPS.get(step).copied().unwrap_or("unknown step"),
                    io::Error::from_raw_os_error(errno),
                )),
                Err(e) => Err(helper("receive socket", e)),
            }
        }
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// The child's work; returns its exit code. Sends `[step, errno]` and, on success, the socket.
fn child(
    netns: RawFd,
    chan: RawFd,
    (domain, ty, proto): (i32, i32, i32),
    addr: Option<libc::sockaddr_in>,
    listen: bool,
) -> i32 {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: plain system calls on valid descriptors and on stack memory that outlives each call.
    unsafe {
        let (step, err, sock) = 'work: {
            if libc::setns(netns, libc::CLONE_NEWNET) != 0 {
                break 'work (0, errno(), -1);
            }
            let sock = libc::socket(domain, ty, proto);
            if sock < 0 {
                break 'work (1, errno(), -1);
            }
            if let Some(sa) = addr {
                let one: libc::c_int = 1;
                let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                let optval = (&one as *const libc::c_int).cast();
                if libc::setsockopt(sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, optval, len) != 0 {
                    break 'work (2, errno(), -1);
                }
                let salen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                if libc::bind(sock, (&sa as *const libc::sockaddr_in).cast(), salen) != 0 {
                    break 'work (3, errno(), -1);
                }
            }
            if listen && libc::listen(sock, 128) != 0 {
                break 'work (4, errno(), -1);
            }
            (0, 0, sock)
        };
        let mut status: [i32; 2] = [step, err];
        let mut iov = libc::iovec {
            iov_base: status.as_mut_ptr().cast(),
            iov_len: std::mem::size_of_val(&status),
        };
        // Room for one cmsghdr carrying one fd, 8-byte aligned.
        let mut cbuf = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if sock >= 0 {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), sock);
        }
        if libc::sendmsg(chan, &msg, 0) < 0 {
            return 1;
        }
        0
    }
}

type ChildResult = Result<OwnedFd, (usize, i32)>;

fn receive(chan: BorrowedFd<'_>) -> io::Result<ChildResult> {
    let mut status = [0u8; 8];
    let mut iov = [io::IoSliceMut::new(&mut status)];
    let mut cmsg = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        chan.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS just installed `raw` in this process; nobody else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    if msg.bytes != status.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "helper exited without an answer",
        ));
    }
    let step = i32::from_ne_bytes([status[0], status[1], status[2], status[3]]);
    let errno = i32::from_ne_bytes([status[4], status[5], status[6], status[7]]);
    match fd {
        Some(fd) if errno == 0 => Ok(Ok(fd)),
        _ => Ok(Err((
            usize::try_from(step).unwrap_or(usize::MAX),
            errno.max(1),
        ))),
    }
}
