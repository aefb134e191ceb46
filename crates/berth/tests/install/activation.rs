//! Socket activation as systemd does it, without systemd: a listening socket passed as fd 3 with
//! `LISTEN_PID`/`LISTEN_FDS`, the daemon started with `-H fd://`, and its readiness sent as
//! `READY=1` to `NOTIFY_SOCKET` once it serves.

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Stops the daemon (by PID) however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_socket_passed_as_systemd_does_is_served_and_readiness_is_notified() {
    if !super::root_tests() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-activation-")
        .tempdir()
        .expect("temp dir");
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).expect("bind the activation socket");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind NOTIFY_SOCKET");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let raw = listener.as_raw_fd();
    // LISTEN_PID must be the daemon's own pid: a shell sets it to its own and execs the daemon.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" daemon -H fd:// --data-root \"$1\" --exec-root \"$2\"")
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg(dir.path().join("data"))
        .arg(dir.path().join("exec"))
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).expect("log"));
    // SAFETY: between fork and exec only dup2 or fcntl runs (async-signal-safe): the listening socket
    // becomes fd 3 without close-on-exec, as systemd passes it.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it instead.
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _daemon = Child(cmd.spawn().expect("start the daemon"));
    drop(listener);
    let mut buf = [0u8; 512];
    let mut said = String::new();
    while !said.lines().any(|l| l == "READY=1") {
        let n = notify.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "no READY=1 on NOTIFY_SOCKET ({e}); got {said:?}; log: {}",
                std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
            )
        });
        said.push_str(&String::from_utf8_lossy(&buf[..n]));
        said.push('\n');
    }
    // Ready means serving: the socket it was given answers the docker CLI at once.
    let out = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_CONFIG", dir.path().join("docker-config"))
        .output()
        .expect("docker version");
    assert!(
        out.status.success(),
        "docker version through the activated socket: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
