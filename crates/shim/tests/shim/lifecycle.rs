//! Create, start, signals, exit status, exit.json, cleanup, recovery and the log.

use crate::harness::{alive, wait_for, Setup};
use crate::root_test;
use berth_shim::protocol::Status;
use berth_shim::{ErrorKind, Recovered, ShimError};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exit_code_log_exit_file_and_cleanup() {
    root_test!();
    let mut s = Setup::new("exit", &["sh", "-c", "echo out; echo 'a<b>' >&2; exit 3"]);
    let h = s.spawn();
    assert_eq!(h.state().unwrap().status, Status::Created);
    assert!(s.shim.state_dir.join("shim.sock").exists());
    h.start().unwrap();
    let exit = h.wait().unwrap();
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed),
        (3, None, false)
    );
    assert!(exit.finished_at.ends_with('Z'), "{}", exit.finished_at);
    let recorded = berth_shim::exit::read(&s.shim.state_dir).unwrap();
    assert_eq!(recorded, Some(exit.clone()));
    assert!(s.container_gone(), "runtime state or cgroup left behind");
    let st = h.state().unwrap();
    assert_eq!((st.status, st.exit), (Status::Exited, Some(exit)));
    let lines = s.log_lines(&s.log_path());
    let mut got: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            assert!(l["time"].as_str().unwrap().ends_with('Z'));
            (
                l["stream"].as_str().unwrap().to_string(),
                l["log"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("stderr".to_string(), "a<b>\n".to_string()),
            ("stdout".to_string(), "out\n".to_string())
        ]
    );
    let raw = std::fs::read_to_string(s.log_path()).unwrap();
    assert!(raw.contains(r"a\u003cb\u003e\n"), "{raw}");
    h.shutdown().unwrap();
    wait_for(10, "the shim to quit", || !alive(h.pid));
    assert!(!s.shim.state_dir.join("shim.sock").exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn kill_gives_137() {
    root_test!();
    let mut s = Setup::new("kill", &["sleep", "100"]);
    let h = s.spawn();
    h.start().unwrap();
    assert_eq!(h.state().unwrap().status, Status::Running);
    h.kill(9, false).unwrap();
    let exit = h.wait().unwrap();
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
    assert!(matches!(
        h.kill(9, false),
        Err(ShimError::Refused {
            kind: ErrorKind::Conflict,
            ..
        })
    ));
    assert!(s.container_gone());
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_created_container_can_be_killed() {
    root_test!();
    let mut s = Setup::new("created", &["true"]);
    let h = s.spawn();
    h.kill(9, true).unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 137);
    assert!(s.container_gone());
    h.shutdown().unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_missing_program_fails_the_spawn_with_its_kind_and_the_runtime_message() {
    root_test!();
    let mut s = Setup::new("nope", &["nope"]);
    match s.try_spawn() {
        Err(ShimError::Create { kind, message }) => {
            assert_eq!(kind, ErrorKind::CommandNotFound, "{message}");
            assert_eq!(
                message,
                "exec: \"nope\": executable file not found in $PATH"
            );
        }
        other => panic!("expected a create error, got {other:?}"),
    }
    assert!(!s.shim.state_dir.join("shim.sock").exists());
    assert!(s.container_gone());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn programs_that_cannot_run_fail_the_spawn_with_their_kinds() {
    root_test!();
    for (args, want) in [
        (&["/bin/nope"][..], ErrorKind::CommandNotFound),
        (&["/etc"][..], ErrorKind::NotExecutable),
        (&["/etc/passwd"][..], ErrorKind::NotExecutable),
    ] {
        let mut s = Setup::new("cannot-run", args);
        std::fs::write(
            s.shim.bundle.join("rootfs/etc/passwd"),
            "root:x:0:0::/:/bin/sh\n",
        )
        .unwrap();
        match s.try_spawn() {
            Err(e @ ShimError::Create { .. }) => assert_eq!(e.kind(), want, "{args:?}: {e}"),
            other => panic!("{args:?}: expected a create error, got {other:?}"),
        }
        assert!(s.container_gone());
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn recover_sees_running_then_exited() {
    root_test!();
    let mut s = Setup::new("recover", &["sleep", "100"]);
    let h = s.spawn();
    h.start().unwrap();
    let pid = h.pid;
    drop(h);
    let h = match berth_shim::recover(&s.shim.state_dir) {
        Recovered::Running(h) => h,
        other => panic!("expected running, got {other:?}"),
    };
    assert_eq!(h.pid, pid);
    h.kill(9, false).unwrap();
    let mut found = None;
    wait_for(
        10,
        "recover to see the exit",
        || match berth_shim::recover(&s.shim.state_dir) {
            Recovered::Exited(e) => {
                found = Some(e);
                true
            }
            Recovered::Running(_) => false,
            Recovered::Lost => panic!("shim lost"),
        },
    );
    assert_eq!(found.unwrap().exit_code, 137);
    // recover told the shim to quit; exit.json still answers.
    wait_for(10, "the shim to quit", || !alive(pid));
    assert!(matches!(
        berth_shim::recover(&s.shim.state_dir),
        Recovered::Exited(e) if e.exit_code == 137
    ));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_log_rotates() {
    root_test!();
    let script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done";
    let mut s = Setup::new("rotate", &["sh", "-c", script]);
    s.shim.log_max_size = 2000;
    s.shim.log_max_file = 3;
    let h = s.spawn();
    h.start().unwrap();
    assert_eq!(h.wait().unwrap().exit_code, 0);
    let log = s.log_path();
    let numbered = |n: u32| std::path::PathBuf::from(format!("{}.{n}", log.display()));
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists());
    for p in [log.clone(), numbered(1), numbered(2)] {
        let len = std::fs::metadata(&p).unwrap().len();
        assert!(len < 2200, "{} has {len} bytes", p.display());
    }
    let last = s.log_lines(&log);
    assert_eq!(last.last().unwrap()["log"], "line 299\n");
    h.shutdown().unwrap();
}

/// `update` reaches the running container's cgroup through the runtime; once the container
/// exited it is a conflict.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_changes_the_limits_then_conflicts_after_exit() {
    root_test!();
    let mut s = Setup::new("update", &["sleep", "100"]);
    let h = s.spawn();
    h.start().unwrap();
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
    h.wait().unwrap();
    assert!(matches!(
        h.update(&resources),
        Err(ShimError::Refused {
            kind: ErrorKind::Conflict,
            ..
        })
    ));
    h.shutdown().unwrap();
}
