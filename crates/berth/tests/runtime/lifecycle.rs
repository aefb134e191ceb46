//! Lifecycle: create → created → start → running → kill → stopped → delete; run's exit status;
//! run -d, pid files and list.

use crate::harness::{stderr, stdout, wait_for, Bundle};
use crate::root_test;
use std::process::Stdio;

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_exits_with_the_container_status() {
    root_test!();
    for (script, want) in [("exit 0", 0), ("echo out; exit 3", 3)] {
        let b = Bundle::busybox("exit", &["sh", "-c", script]);
        let out = b.run();
        assert_eq!(out.status.code(), Some(want), "{script}: {}", stderr(&out));
        b.assert_gone();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_prints_the_container_output() {
    root_test!();
    let b = Bundle::busybox("echo", &["echo", "hello from berth"]);
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from berth\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn killed_container_exits_128_plus_signal() {
    root_test!();
    let b = Bundle::busybox("sigkill", &["sleep", "100"]);
    let child = b
        .runtime(&["run", "--bundle"])
        .arg(b.path())
        .arg(&b.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    b.wait_status("running");
    let kill = b.runtime(&["kill", &b.id, "KILL"]).output().unwrap();
    assert!(kill.status.success(), "{}", stderr(&kill));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn create_start_kill_delete() {
    root_test!();
    let b = Bundle::busybox("lifecycle", &["sleep", "100"]);
    b.create(&[]);
    let state = b.state().expect("state after create");
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], b.id.as_str());
    assert_eq!(
        state["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    assert!(state["ociVersion"].is_string());
    let pid = state["pid"].as_i64().expect("pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // Created, not yet running: the process is still the runtime's init, parked.
    let start = b.verb("start", &[]);
    assert!(start.status.success(), "{}", stderr(&start));
    assert_eq!(b.status().as_deref(), Some("running"));
    // A second start is refused.
    assert!(!b.verb("start", &[]).status.success());
    // Deleting a running container needs --force.
    let del = b.verb("delete", &[]);
    assert!(!del.status.success());
    assert!(stderr(&del).contains("running"), "{}", stderr(&del));
    let kill = b.runtime(&["kill", &b.id, "KILL"]).output().unwrap();
    assert!(kill.status.success(), "{}", stderr(&kill));
    b.wait_status("stopped");
    let del = b.verb("delete", &[]);
    assert!(del.status.success(), "{}", stderr(&del));
    assert!(b.state().is_none());
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn delete_of_a_created_container_kills_it() {
    root_test!();
    let b = Bundle::busybox("delcreated", &["sleep", "100"]);
    b.create(&[]);
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    let del = b.verb("delete", &[]);
    assert!(del.status.success(), "{}", stderr(&del));
    wait_for(5, "init to die", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"))
    });
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_detached_writes_pid_file_and_lists() {
    root_test!();
    let b = Bundle::busybox("detach", &["sleep", "100"]);
    let pid_file = b.path().join("init.pid");
    let out = b.detached(&["run", "-d", "--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state = b.state().unwrap();
    assert_eq!(state["status"], "running");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(state["pid"].as_i64(), Some(pid));

    let list = b.runtime(&["list", "--format", "json"]).output().unwrap();
    assert!(list.status.success(), "{}", stderr(&list));
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["id"], b.id.as_str());
    let table = stdout(&b.runtime(&["list"]).output().unwrap());
    assert!(table.lines().nth(1).unwrap().starts_with(&b.id), "{table}");

    let ps = b
        .runtime(&["ps", "--format", "json", &b.id])
        .output()
        .unwrap();
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(pids, vec![pid]);

    let del = b.verb("delete", &["--force"]);
    assert!(del.status.success(), "{}", stderr(&del));
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn pause_and_resume() {
    root_test!();
    let b = Bundle::busybox("pause", &["sleep", "100"]);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.verb("pause", &[]).status.success());
    assert_eq!(b.status().as_deref(), Some("paused"));
    assert!(b.verb("resume", &[]).status.success());
    assert_eq!(b.status().as_deref(), Some("running"));
    assert!(b.verb("delete", &["--force"]).status.success());
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_runs_in_the_container() {
    root_test!();
    let mut b = Bundle::busybox("exec", &["sleep", "100"]);
    b.config["hostname"] = "exec-host".into();
    b.write_config();
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = b
        .runtime(&[
            "exec",
            &b.id,
            "--",
            "sh",
            "-c",
            "hostname; tr '\\0' ' ' < /proc/1/cmdline; exit 5",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stdout(&out), "exec-host\nsleep 100 ");
    // The exec'ed process is in the container's cgroups (and cgroup namespace), as PID 1 is.
    let out = b
        .runtime(&[
            "exec",
            &b.id,
            "--",
            "sh",
            "-c",
            "diff /proc/1/cgroup /proc/self/cgroup && echo same",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "same\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_forwards_signals_to_the_container() {
    root_test!();
    let mut b = Bundle::busybox(
        "forward",
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo ready > /tmp/ready; while true; do sleep 0.05; done",
        ],
    );
    b.config["root"]["readonly"] = false.into();
    b.write_config();
    let mut child = b
        .runtime(&["run", "--bundle"])
        .arg(b.path())
        .arg(&b.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let ready = b.rootfs().join("tmp/ready");
    wait_for(10, "the trap to be installed", || ready.exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    b.assert_gone();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_with_a_process_file_and_user_flags() {
    root_test!();
    let b = Bundle::busybox("execproc", &["sleep", "100"]);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let process = serde_json::json!({
        "args": ["sh", "-c", "echo $GREETING; id -u; pwd"],
        "env": ["PATH=/bin", "GREETING=hi"],
        "cwd": "/tmp",
        "user": {"uid": 65534, "gid": 65534},
    });
    let file = b.path().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = b
        .runtime(&["exec", "--process", file.to_str().unwrap(), &b.id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n65534\n/tmp\n");
    let out = b
        .runtime(&[
            "exec",
            "-u",
            "1000:1000",
            "--cwd",
            "/bin",
            "-e",
            "X=y",
            &b.id,
            "sh",
            "-c",
        ])
        .arg("id -u; id -g; pwd; echo $X")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\n1000\n/bin\ny\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn kill_all_signals_every_process() {
    root_test!();
    let b = Bundle::busybox("killall", &["sleep", "100"]);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = b
        .runtime(&["exec", "-d", &b.id, "sleep", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ps = || -> Vec<i64> {
        let out = b
            .runtime(&["ps", "--format", "json", &b.id])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    assert_eq!(ps().len(), 2);
    let kill = b
        .runtime(&["kill", "--all", &b.id, "KILL"])
        .output()
        .unwrap();
    assert!(kill.status.success(), "{}", stderr(&kill));
    b.wait_status("stopped");
    wait_for(10, "the cgroup to empty", || ps().is_empty());
    assert!(b.verb("delete", &[]).status.success());
    b.assert_gone();
}
