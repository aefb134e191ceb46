//! The container's terminal: a pty opened inside the container's devpts, its master handed over
//! SCM_RIGHTS (runc's console-socket protocol: one message whose payload is the tty name and whose
//! control data carries the master fd), and the slave made the process's stdio and controlling tty.

use crate::{Result, RuntimeError};
use nix::fcntl::{open, OFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::Mode;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

nix::ioctl_write_ptr_bad!(tiocsptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_read_bad!(tiocgptn, libc::TIOCGPTN, libc::c_uint);
nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Sys { what, source }
}

/// A pty master opened from `ptmx`, and the number of its slave in the same devpts.
pub struct Pty {
    pub master: OwnedFd,
    pub number: u32,
}

impl Pty {
    /// Opens a new pty through `ptmx` (e.g. `<rootfs>/dev/pts/ptmx`) and unlocks its slave.
    pub fn open(ptmx: &Path) -> Result<Pty> {
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let master =
            open(ptmx, flags, Mode::empty()).map_err(sys(format!("open {}", ptmx.display())))?;
        let unlock: libc::c_int = 0;
        let mut number: libc::c_uint = 0;
        // SAFETY: `master` is an open pty master; both ioctls take a pointer to a live local int.
        unsafe {
            tiocsptlck(master.as_raw_fd(), &unlock).map_err(sys("unlock pty"))?;
            tiocgptn(master.as_raw_fd(), &mut number).map_err(sys("get pty number"))?;
        }
        Ok(Pty { master, number })
    }

    /// The slave's path in the devpts mounted at `pts_dir`.
    pub fn slave_path(&self, pts_dir: &Path) -> PathBuf {
        pts_dir.join(self.number.to_string())
    }
}

/// Sets the terminal size of `fd` (a master or a slave).
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is open; TIOCSWINSZ reads a winsize we own.
    unsafe { tiocswinsz(fd.as_raw_fd(), &ws) }
        .map(drop)
        .map_err(sys("set terminal size"))
}

/// Copies the window size of terminal `from` to `to`; errors are ignored (a non-tty has none).
pub fn copy_size(from: RawFd, to: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize we own; a bad fd is only an error.
    unsafe {
        if tiocgwinsz(from, &mut ws).is_ok() {
            let _ = tiocswinsz(to, &ws);
        }
    }
}

/// Makes `slave` the calling process's controlling terminal and its stdin, stdout and stderr.
/// The process must not be a session leader yet (it becomes one here).
pub fn make_stdio(slave: OwnedFd) -> Result<()> {
    nix::unistd::setsid().map_err(sys("setsid"))?;
    // SAFETY: `slave` is an open tty and we are a session leader without a controlling tty.
    unsafe { tiocsctty(slave.as_raw_fd(), 0) }.map_err(sys("set controlling tty"))?;
    for target in 0..3 {
        // SAFETY: dup2 onto 0..2 replaces our own stdio; no Rust object owns those numbers.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(sys("dup2 console onto stdio")(nix::Error::last()));
        }
    }
    Ok(())
}

/// Opens the slave of `master` without a path (`TIOCGPTPEER`).
pub fn open_peer(master: BorrowedFd<'_>) -> Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER on a pty master returns a new fd that we own at once.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(sys("open pty slave")(nix::Error::last()));
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `fd` over the unix socket `sock` with `name` as payload (runc's console-socket protocol).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map(drop)
        .map_err(sys("send console fd"))
}

/// Sends `fd` with a one-byte `tag` as payload (the setup socket's `T` message).
pub fn send_fd_tagged(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, tag: u8) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(std::slice::from_ref(&tag))];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map(drop)
        .map_err(sys("send console fd"))
}

/// Receives one message and the fd it may carry (close-on-exec); an empty message is EOF.
pub fn recv_msg(sock: BorrowedFd<'_>) -> Result<(Option<OwnedFd>, Vec<u8>)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            other => break other.map_err(sys("receive message"))?,
        }
    };
    let len = msg.bytes;
    let mut got = None;
    for c in msg.cmsgs().map_err(sys("read control message"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: SCM_RIGHTS installed these descriptors in our table; we own them now.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                got.get_or_insert(owned);
            }
        }
    }
    buf.truncate(len);
    Ok((got, buf))
}

/// Receives one fd sent by [`send_fd`], with its payload (the tty name).
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<(OwnedFd, Vec<u8>)> {
    let (fd, data) = recv_msg(sock)?;
    let fd = fd.ok_or_else(|| RuntimeError::Other("console message carried no fd".into()))?;
    Ok((fd, data))
}
