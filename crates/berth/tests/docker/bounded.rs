//! Helpers for the tests of attacks that used to hang or bloat the daemon: a docker command with a
//! deadline, and the daemon's process (its peak resident set).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Daemon;

/// Runs the docker CLI with `input` on stdin (none when empty) and waits at most `deadline`. On
/// timeout it kills that CLI process, runs `unblock` (which lets a daemon thread stuck on the
/// attack go, so the daemon can still be stopped and cleaned up), and fails the test.
pub fn docker_within(
    d: &Daemon,
    args: &[&str],
    input: &[u8],
    deadline: Duration,
    unblock: impl FnOnce(),
) -> Output {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    let out_path = d.dir.path().join(format!("bounded-{nanos}.out"));
    let err_path = d.dir.path().join(format!("bounded-{nanos}.err"));
    let out_file = std::fs::File::create(&out_path).expect("stdout file");
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let stdin = if input.is_empty() {
        Stdio::null()
    } else {
        let in_path = d.dir.path().join(format!("bounded-{nanos}.in"));
        std::fs::write(&in_path, input).expect("stdin file");
        Stdio::from(std::fs::File::open(&in_path).expect("stdin file"))
    };
    let mut child = d
        .docker_cmd(args)
        .stdin(stdin)
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .expect("running docker");
    let end = Instant::now() + deadline;
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for docker") {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            unblock();
            panic!(
                "docker {args:?} did not finish within {deadline:?}\n--- daemon log ---\n{}",
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    out
}

/// The PID of `d`'s daemon process (found by its socket on its command line).
pub fn daemon_pid(d: &Daemon) -> i32 {
    let sock = d.sock.display().to_string();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_daemon = args.get(1) == Some(&&b"daemon"[..]);
        let unix = format!("unix://{sock}");
        if is_daemon && args.contains(&unix.as_bytes()) {
            return pid;
        }
    }
    panic!("no daemon process serves {sock}");
}

/// A line of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`).
pub fn status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Opens the FIFO at `path` for writing without blocking and closes it: a reader blocked in its
/// open wakes up (and reads end-of-file).
pub fn release_fifo(path: &str) {
    let _ = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    );
}
