//! The shim over an external runtime (the host's runc, driven through its command line): the
//! same contract as over the built-in one — exit status and log, signals, exec streams and
//! their kinds, pause, update, cleanup — and the record of which runtime it drives.

use crate::harness::{read_frames, read_until, Setup};
use crate::root_test;
use berth_shim::protocol::Status;
use berth_shim::{ErrorKind, ShimError};
use std::io::Write;

fn process(args: &[&str], tty: bool) -> berth_oci::runtime::Process {
    let mut p = berth_runtime::spec::default_spec()
        .process()
        .clone()
        .expect("default spec has a process");
    p.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
    p.set_terminal(Some(tty));
    p
}

fn refused_with(r: Result<impl std::fmt::Debug, ShimError>, want: ErrorKind) -> String {
    match r {
        Err(ShimError::Refused { kind, message }) if kind == want => message,
        other => panic!("expected a {want} refusal, got {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runc_exit_code_log_and_cleanup() {
    root_test!();
    let mut s =
        Setup::new("runc-exit", &["sh", "-c", "echo out; echo err >&2; exit 3"]).external("runc");
    let h = s.spawn();
    assert_eq!(h.state().unwrap().status, Status::Created);
    let record = std::fs::read_to_string(s.shim.state_dir.join("runtime.json")).unwrap();
    assert!(record.contains("runc"), "{record}");
    // runc's own state: the container is runc's, not the built-in runtime's.
    assert!(s.shim.runtime_root.join(&s.id).join("state.json").exists());
    h.start().unwrap();
    let exit = h.wait().unwrap();
    assert_eq!((exit.exit_code, exit.signal), (3, None));
    let mut got: Vec<String> = s
        .log_lines(&s.log_path())
        .iter()
        .map(|l| format!("{}:{}", l["stream"], l["log"]))
        .collect();
    got.sort();
    assert_eq!(got, ["\"stderr\":\"err\\n\"", "\"stdout\":\"out\\n\""]);
    assert!(s.container_gone(), "runc state or cgroup left behind");
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runc_create_failures_keep_their_kind() {
    root_test!();
    let mut s = Setup::new("runc-nope", &["nope"]).external("runc");
    match s.try_spawn() {
        Err(ShimError::Create { kind, message }) => {
            assert_eq!(kind, ErrorKind::CommandNotFound, "{message}");
            assert!(
                message.starts_with("OCI runtime create failed: ")
                    && message.contains("exec: \"nope\": executable file not found in $PATH"),
                "{message}"
            );
        }
        other => panic!("expected a create error, got {other:?}"),
    }
    assert!(s.container_gone());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runc_execs_signals_pause_and_update() {
    root_test!();
    let mut s = Setup::new("runc-exec", &["sleep", "100"]).external("runc");
    let h = s.spawn();
    h.start().unwrap();
    assert_eq!(h.state().unwrap().status, Status::Running);
    let p = process(&["sh", "-c", "echo in-exec; echo e >&2; exit 4"], false);
    let (pid, mut stream) = h.exec("e1", p, false, false).unwrap();
    assert!(pid > 0);
    assert_eq!(read_frames(&mut stream), ("in-exec\n".into(), "e\n".into()));
    assert_eq!(h.exec_wait("e1").unwrap(), 4);
    let (_, mut tty) = h.exec("e2", process(&["sh"], true), true, true).unwrap();
    h.exec_resize("e2", 40, 90).unwrap();
    tty.write_all(b"stty size; exit 6\n").unwrap();
    read_until(&mut tty, "40 90", 10);
    assert_eq!(h.exec_wait("e2").unwrap(), 6);
    let message = refused_with(
        h.exec("e3", process(&["nope"], false), false, false),
        ErrorKind::CommandNotFound,
    );
    assert_eq!(
        message,
        "exec: \"nope\": executable file not found in $PATH"
    );

    h.pause().unwrap();
    assert!(h.state().unwrap().paused);
    h.resume().unwrap();
    assert!(!h.state().unwrap().paused);

    let resources: berth_oci::runtime::LinuxResources =
        serde_json::from_value(serde_json::json!({"pids": {"limit": 12}})).unwrap();
    h.update(&resources).unwrap();
    let cg = berth_runtime::cgroups::Cgroup::new(
        Some(std::path::Path::new(&format!("/berth-{}", s.id))),
        &s.id,
    )
    .unwrap();
    let pids_max = cg.controller_dir("pids").unwrap().join("pids.max");
    assert_eq!(std::fs::read_to_string(&pids_max).unwrap().trim(), "12");

    h.kill(9, false).unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 137);
    refused_with(h.kill(9, false), ErrorKind::Conflict);
    refused_with(h.update(&resources), ErrorKind::Conflict);
    assert!(s.container_gone());
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runc_tty_container_through_the_console_socket() {
    root_test!();
    let mut s = Setup::new("runc-tty", &["sh"]).tty().external("runc");
    s.shim.stdin = true;
    let h = s.spawn();
    let mut stream = h.attach(true, true, true).unwrap();
    h.start().unwrap();
    h.resize(33, 101).unwrap();
    stream.write_all(b"stty size; tty\n").unwrap();
    let got = read_until(&mut stream, "/dev/pts/", 10);
    assert!(got.contains("33 101"), "{got:?}");
    stream.write_all(b"exit 5\n").unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 5);
    assert!(
        !s.shim.state_dir.join("console.sock").exists(),
        "console socket left"
    );
    assert!(s.container_gone());
    h.shutdown().unwrap();
}
