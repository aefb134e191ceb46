//! Attach and exec streams: Docker framing, raw tty, stdin, resize, exec exit codes.

use crate::harness::{read_frame, read_frames, read_until, Setup};
use crate::root_test;
use std::io::Write;
use std::net::Shutdown;

fn process(args: &[&str], tty: bool) -> berth_oci::runtime::Process {
    let mut p = berth_runtime::spec::default_spec()
        .process()
        .clone()
        .expect("default spec has a process");
    p.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
    p.set_terminal(Some(tty));
    p
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn attach_streams_framed_output() {
    root_test!();
    let mut s = Setup::new("attach", &["sh", "-c", "echo hello; echo oops >&2"]);
    let h = s.spawn();
    let mut stream = h.attach(false, true, true).unwrap();
    h.start().unwrap();
    let (out, err) = read_frames(&mut stream);
    assert_eq!((out.as_str(), err.as_str()), ("hello\n", "oops\n"));
    assert_eq!(h.wait().unwrap().exit_code, 0);
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn stdin_reaches_cat_and_half_close_ends_it() {
    root_test!();
    let mut s = Setup::new("cat", &["cat"]);
    s.shim.stdin = true;
    s.shim.stdin_once = true;
    let h = s.spawn();
    let mut stream = h.attach(true, true, false).unwrap();
    h.start().unwrap();
    stream.write_all(b"ping\n").unwrap();
    let (kind, data) = read_frame(&mut stream).expect("a frame");
    assert_eq!((kind, data.as_slice()), (1, b"ping\n".as_slice()));
    stream.shutdown(Shutdown::Write).unwrap();
    let (rest, _) = read_frames(&mut stream);
    assert_eq!(rest, "");
    assert_eq!(h.wait().unwrap().exit_code, 0);
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn tty_is_raw_and_resize_changes_stty_size() {
    root_test!();
    let mut s = Setup::new("tty", &["sh"]).tty();
    s.shim.stdin = true;
    let h = s.spawn();
    let mut stream = h.attach(true, true, true).unwrap();
    h.start().unwrap();
    h.resize(33, 101).unwrap();
    stream.write_all(b"stty size\n").unwrap();
    read_until(&mut stream, "33 101", 10);
    h.resize(20, 70).unwrap();
    stream.write_all(b"stty size; exit 5\n").unwrap();
    read_until(&mut stream, "20 70", 10);
    assert_eq!(h.wait().unwrap().exit_code, 5);
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_streams_output_and_reports_its_code() {
    root_test!();
    let mut s = Setup::new("exec", &["sleep", "100"]);
    let h = s.spawn();
    h.start().unwrap();
    let p = process(&["sh", "-c", "echo in-exec; echo e >&2; exit 4"], false);
    let (pid, mut stream) = h.exec("e1", p, false, false).unwrap();
    assert!(pid > 0);
    let (out, err) = read_frames(&mut stream);
    assert_eq!((out.as_str(), err.as_str()), ("in-exec\n", "e\n"));
    assert_eq!(h.exec_wait("e1").unwrap(), 4);
    // stdin of an exec, closed by the client's half-close.
    let (_, mut cat) = h.exec("e2", process(&["cat"], false), false, true).unwrap();
    cat.write_all(b"via exec\n").unwrap();
    cat.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_frames(&mut cat).0, "via exec\n");
    assert_eq!(h.exec_wait("e2").unwrap(), 0);
    // A tty exec is raw and resizable.
    let (_, mut tty) = h.exec("e3", process(&["sh"], true), true, true).unwrap();
    h.exec_resize("e3", 40, 90).unwrap();
    tty.write_all(b"stty size; exit 6\n").unwrap();
    read_until(&mut tty, "40 90", 10);
    assert_eq!(h.exec_wait("e3").unwrap(), 6);
    // A command that cannot run is refused with its kind.
    let missing = h.exec("e4", process(&["nope"], false), false, false);
    assert!(
        matches!(
            &missing,
            Err(berth_shim::ShimError::Refused {
                kind: berth_shim::ErrorKind::CommandNotFound,
                message,
            }) if message == "exec: \"nope\": executable file not found in $PATH"
        ),
        "{missing:?}"
    );
    let dir = h.exec("e5", process(&["/etc"], false), false, false);
    assert!(
        matches!(
            &dir,
            Err(berth_shim::ShimError::Refused {
                kind: berth_shim::ErrorKind::NotExecutable,
                ..
            })
        ),
        "{dir:?}"
    );
    // Its own refusals have kinds too.
    assert!(matches!(
        h.exec_wait("no-such-exec"),
        Err(berth_shim::ShimError::Refused {
            kind: berth_shim::ErrorKind::NotFound,
            ..
        })
    ));
    h.kill(9, false).unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 137);
    h.shutdown().unwrap();
}

/// Prints the shim's memory while it streams a running container (for the benchmark's record;
/// set `BERTH_SHIM_EXE` to measure another build). Asserts only that the figures are there.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn reports_its_memory() {
    root_test!();
    let mut s = Setup::new(
        "rss",
        &["sh", "-c", "while true; do echo tick; sleep 0.01; done"],
    );
    let h = s.spawn();
    let mut stream = h.attach(false, true, true).unwrap();
    h.start().unwrap();
    for _ in 0..20 {
        read_frame(&mut stream).expect("a tick");
    }
    print_memory(h.pid);
    h.kill(9, true).unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 137);
    h.shutdown().unwrap();
}

/// Like [`reports_its_memory`], beside an idle running container (the benchmark's `sleep`).
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn reports_its_memory_idle() {
    root_test!();
    let mut s = Setup::new("rssidle", &["sleep", "100"]);
    let h = s.spawn();
    h.start().unwrap();
    assert_eq!(
        h.state().unwrap().status,
        berth_shim::protocol::Status::Running
    );
    // The shim gives back the pages a request used before its next poll: wait (up to 1 s) for it.
    let rss = || crate::harness::proc_status(h.pid, "VmRSS");
    let after_reply = rss();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while rss() == after_reply && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    print_memory(h.pid);
    h.kill(9, true).unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 137);
    h.shutdown().unwrap();
}

/// Prints `VmRSS`, `VmHWM`, `RssAnon` and the smaps rollup of the shim `pid` (and, with
/// `BERTH_SHIM_SMAPS` set, the resident size of each mapping), and asserts that the shim has
/// shed memory since its peak.
fn print_memory(pid: i32) {
    let rss = crate::harness::proc_status(pid, "VmRSS");
    let hwm = crate::harness::proc_status(pid, "VmHWM");
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", pid))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("Pss:") || l.starts_with("Private_"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "shim {}: {rss}, {hwm}, {}, {rollup}",
        crate::harness::shim_exe().display(),
        crate::harness::proc_status(pid, "RssAnon")
    );
    // The shim gives back what setup (creating the container) touched: its resident set is now
    // below its high-water mark.
    let kb = |v: &str| -> u64 {
        let n = v.split_whitespace().rev().nth(1).unwrap_or_default();
        n.parse().unwrap_or_else(|_| panic!("not a kB figure: {v}"))
    };
    assert!(kb(&rss) < kb(&hwm), "VmRSS {rss} not below VmHWM {hwm}");
    if std::env::var_os("BERTH_SHIM_SMAPS").is_some() {
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", pid)).unwrap();
        let mut name = String::new();
        for l in smaps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 5 && f[0].contains('-') {
                name = format!("{} {}", f.get(5).unwrap_or(&"[anon]"), f[1]);
            } else if f.first() == Some(&"Rss:") && f[1] != "0" {
                eprintln!("{:>6} kB {name}", f[1]);
            }
        }
    }
}

/// Much more output than a pipe holds reaches a slow attach client and the log complete and in
/// order (flow control, then the drain at exit).
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bulk_output_arrives_whole() {
    root_test!();
    let mut s = Setup::new("bulk", &["seq", "1", "30000"]);
    let h = s.spawn();
    let mut stream = h.attach(false, true, true).unwrap();
    h.start().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200)); // a slow reader, on purpose
    let (out, err) = read_frames(&mut stream);
    assert_eq!(err, "");
    let expected: String = (1..=30000).map(|i| format!("{i}\n")).collect();
    assert!(
        out == expected,
        "attach output differs ({} bytes)",
        out.len()
    );
    assert_eq!(h.wait().unwrap().exit_code, 0);
    let logged: String = s
        .log_lines(&s.log_path())
        .iter()
        .map(|l| l["log"].as_str().unwrap().to_string())
        .collect();
    assert!(logged == expected, "log differs ({} bytes)", logged.len());
    h.shutdown().unwrap();
}
