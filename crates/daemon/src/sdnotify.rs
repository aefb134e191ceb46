//! systemd's readiness protocol (`sd_notify(3)`), without libsystemd: under `Type=notify`
//! systemd sets `NOTIFY_SOCKET` to a datagram socket (a path, or `@name` in the abstract
//! namespace) and waits for `READY=1` there before it counts the service as started. The daemon
//! sends [`ready`] once every listener is up, [`reloading`] and [`ready`] around a `SIGHUP`
//! reload, and [`stopping`] when it begins to stop. Without `NOTIFY_SOCKET` each call does
//! nothing; a send that fails is logged and otherwise ignored, since the daemon works without it.

use std::os::unix::net::UnixDatagram;

/// Tells the service manager the daemon is up (`READY=1`, with its pid and a status line).
pub fn ready(status: &str) {
    notify(&format!(
        "READY=1\nMAINPID={}\nSTATUS={status}",
        std::process::id()
    ));
}

/// Tells the service manager a reload has begun (`RELOADING=1`); [`ready`] ends it.
pub fn reloading() {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

/// Tells the service manager the daemon is stopping.
pub fn stopping() {
    notify("STOPPING=1");
}

/// Sends `state` to `$NOTIFY_SOCKET`, if it is set.
fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
        return;
    };
    if let Err(e) = send(&target, state) {
        tracing::warn!(socket = ?target, error = %e, "telling systemd the daemon's state (sd_notify)");
    }
}

fn send(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), std::path::Path::new(target))?;
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` in microseconds, which systemd matches against the reload it asked for.
fn monotonic_usec() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `t`.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) } != 0 {
        return 0;
    }
    (t.tv_sec as u64) * 1_000_000 + (t.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_and_an_abstract_socket() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let path = dir.path().join("notify");
        let Ok(server) = UnixDatagram::bind(&path) else {
            return;
        };
        assert!(send(path.as_os_str(), "READY=1").is_ok());
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap_or(0);
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("berth-notify-test-{}", std::process::id());
        let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) else {
            return;
        };
        let Ok(server) = UnixDatagram::bind_addr(&addr) else {
            return;
        };
        assert!(send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").is_ok());
        let n = server.recv(&mut buf).unwrap_or(0);
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(monotonic_usec() > 0);
    }
}
