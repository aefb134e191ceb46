//! The console socket (runc's protocol) gives the container a working tty.

use crate::harness::{stderr, Bundle};
use crate::root_test;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Accepts one connection on `listener` and receives the fd it carries, with the payload.
fn receive_master(listener: &UnixListener) -> (OwnedFd, String) {
    let (conn, _) = listener.accept().expect("accept console connection");
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS just installed this descriptor for us.
            fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let len = msg.bytes;
    (
        fd.expect("an fd in the message"),
        String::from_utf8_lossy(&buf[..len]).into_owned(),
    )
}

/// Reads `master` until EOF/EIO or the deadline.
fn read_all(master: &OwnedFd, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
            continue;
        }
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn console_socket_gives_a_working_tty() {
    root_test!();
    let mut b = Bundle::busybox(
        "console",
        &[
            "sh",
            "-c",
            "[ -t 0 ] && echo stdin-is-a-tty; tty; read line; echo got:$line",
        ],
    );
    b.config["process"]["terminal"] = true.into();
    b.write_config();
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.create(&["--console-socket", sock.to_str().unwrap()]);
    let (master, name) = receive_master(&listener);
    assert!(name.starts_with("/dev/pts/"), "{name}");
    let start = b.verb("start", &[]);
    assert!(start.status.success(), "{}", stderr(&start));
    nix::unistd::write(&master, b"hello\n").unwrap();
    let out = read_all(&master, 10);
    assert!(out.contains("stdin-is-a-tty"), "{out:?}");
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("got:hello"), "{out:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_in_the_foreground_relays_the_terminal() {
    root_test!();
    let mut b = Bundle::busybox(
        "relay",
        &["sh", "-c", "tty; [ -t 1 ] && echo stdout-is-a-tty; exit 4"],
    );
    b.config["process"]["terminal"] = true.into();
    b.write_config();
    let out = b.run();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = crate::harness::stdout(&out);
    assert!(
        text.contains("/dev/pts/") && text.contains("stdout-is-a-tty"),
        "{text:?}"
    );
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_with_a_terminal_uses_the_console_socket() {
    root_test!();
    let b = Bundle::busybox("exectty", &["sleep", "100"]);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sock = b.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let child = b
        .runtime(&[
            "exec",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            &b.id,
            "--",
            "sh",
            "-c",
        ])
        .arg("[ -t 0 ] && echo exec-has-a-tty; exit 6")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (master, _) = receive_master(&listener);
    let text = read_all(&master, 10);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(text.contains("exec-has-a-tty"), "{text:?}");
}
