//! Container-level root tests: cgroups. A memory limit kills a hog, a pids limit stops a fork loop,
//! the cgroup files hold the values asked for while the container runs, pause/resume freeze it,
//! device rules decide what `/dev` nodes open, and an invalid value is a clear error that leaves no
//! cgroup behind. Files are read from the host side of the container's cgroup.

use crate::harness::{stderr, stdout, wait_for, Bundle};
use crate::root_test;
use berth_runtime::cgroups::{Cgroup, Hierarchy};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;

/// The host-side view of `bundle`'s cgroup.
fn cgroup_of(bundle: &Bundle) -> Cgroup {
    let path = bundle.config["linux"]["cgroupsPath"]
        .as_str()
        .expect("cgroupsPath");
    Cgroup::new(Some(Path::new(path)), &bundle.id).expect("resolve the container's cgroup")
}

/// Reads `file` of `controller` in the container's cgroup (v2: the one directory).
fn read(cg: &Cgroup, controller: &str, file: &str) -> String {
    let dir = cg
        .controller_dir(controller)
        .unwrap_or_else(|| panic!("{controller} not mounted"));
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn with_resources(name: &str, args: &[&str], resources: Value) -> Bundle {
    let mut b = Bundle::busybox(name, args);
    b.config["linux"]["resources"] = resources;
    b.write_config();
    b
}

/// `create` then `start`, stdio detached; waits until the state says running.
fn start_detached(b: &Bundle) -> Value {
    let status = b
        .runtime(&["create", "--bundle"])
        .arg(b.path())
        .arg(&b.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run berth runtime create");
    assert!(status.success(), "create failed");
    let out = b.runtime(&["start", &b.id]).output().expect("run start");
    assert!(out.status.success(), "start failed: {}", stderr(&out));
    let mut state = Value::Null;
    wait_for(10, "the container to run", || {
        let out = b.runtime(&["state", &b.id]).output().expect("run state");
        state = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        state["status"] == "running"
    });
    state
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn memory_limit_kills_a_hog_with_137() {
    root_test!();
    // busybox dd allocates its whole block and fills it from /dev/zero: 256 MiB > 32 MiB.
    let b = with_resources(
        "memhog",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
        json!({"memory": {"limit": 33554432, "swap": 33554432}}),
    );
    let out = b.run();
    assert_eq!(out.status.code(), Some(137), "stderr: {}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn pids_limit_stops_a_fork_loop() {
    root_test!();
    let b = with_resources(
        "forkloop",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo all-forked",
        ],
        json!({"pids": {"limit": 8}}),
    );
    let out = b.run();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        !o.contains("all-forked"),
        "20 forks under pids.max 8 succeeded: {o}"
    );
    assert!(e.contains("fork"), "expected a fork failure, stderr: {e}");
    assert!(!out.status.success());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cgroup_files_hold_the_values_asked_for() {
    root_test!();
    let b = with_resources(
        "values",
        &["sleep", "60"],
        json!({
            "memory": {"limit": 67108864, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 32}
        }),
    );
    let state = start_detached(&b);
    let cg = cgroup_of(&b);
    match cg.hierarchy() {
        Hierarchy::V1(_) => {
            assert_eq!(read(&cg, "memory", "memory.limit_in_bytes"), "67108864");
            assert_eq!(
                read(&cg, "memory", "memory.soft_limit_in_bytes"),
                "33554432"
            );
            assert_eq!(read(&cg, "cpu", "cpu.shares"), "512");
            assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(read(&cg, "cpu", "cpu.cfs_period_us"), "100000");
        }
        Hierarchy::V2(_) => {
            assert_eq!(read(&cg, "memory", "memory.max"), "67108864");
            assert_eq!(read(&cg, "memory", "memory.low"), "33554432");
            assert_eq!(read(&cg, "cpu", "cpu.weight"), "20");
            assert_eq!(read(&cg, "cpu", "cpu.max"), "50000 100000");
        }
    }
    assert_eq!(read(&cg, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(read(&cg, "cpuset", "cpuset.mems"), "0");
    assert_eq!(read(&cg, "pids", "pids.max"), "32");
    let pid = state["pid"].as_i64().expect("state has the pid");
    let pids: Vec<i64> = cg
        .pids()
        .expect("pids")
        .iter()
        .map(|p| p.as_raw().into())
        .collect();
    assert_eq!(
        pids,
        vec![pid],
        "the container's init is the cgroup's only process"
    );

    let out = b
        .runtime(&["delete", "--force", &b.id])
        .output()
        .expect("delete");
    assert!(out.status.success(), "delete failed: {}", stderr(&out));
    assert!(
        !cg.exists(),
        "delete must remove the cgroup: {:?}",
        cg.dirs()
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn kernel_tcp_limit_is_written_on_v1() {
    root_test!();
    let b = with_resources(
        "kmemtcp",
        &["sleep", "60"],
        json!({"memory": {"limit": 67108864, "kernelTCP": 50593792}}),
    );
    start_detached(&b);
    let cg = cgroup_of(&b);
    if let Hierarchy::V1(_) = cg.hierarchy() {
        assert_eq!(
            read(&cg, "memory", "memory.kmem.tcp.limit_in_bytes"),
            "50593792"
        );
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn pause_and_resume_freeze_and_thaw_the_cgroup() {
    root_test!();
    let b = Bundle::busybox("pause", &["sleep", "60"]);
    start_detached(&b);
    let cg = cgroup_of(&b);
    let out = b.runtime(&["pause", &b.id]).output().expect("pause");
    assert!(out.status.success(), "pause failed: {}", stderr(&out));
    assert!(cg.is_frozen().expect("is_frozen"));
    let state = b.runtime(&["state", &b.id]).output().expect("state");
    let state: Value = serde_json::from_slice(&state.stdout).expect("state json");
    assert_eq!(state["status"], "paused");
    let out = b.runtime(&["resume", &b.id]).output().expect("resume");
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    assert!(!cg.is_frozen().expect("is_frozen"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn device_rules_decide_which_nodes_open() {
    root_test!();
    // /dev/tun (c 10:200, opened without any capability) is created in the container but is not
    // in the default allow list.
    let script =
        "(: </dev/tun) 2>/dev/null && echo tun-ok || echo tun-denied; : </dev/null && echo null-ok";
    let tun =
        json!([{"path": "/dev/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 420}]);
    let mut denied = Bundle::busybox("devdeny", &["sh", "-c", script]);
    let mut allowed = Bundle::busybox("devallow", &["sh", "-c", script]);
    denied.config["linux"]["devices"] = tun.clone();
    denied.write_config();
    allowed.config["linux"]["devices"] = tun;
    allowed.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}
    ]);
    allowed.write_config();
    let out = denied.run();
    assert_eq!(
        stdout(&out),
        "tun-denied\nnull-ok\n",
        "stderr: {}",
        stderr(&out)
    );
    let out = allowed.run();
    assert_eq!(
        stdout(&out),
        "tun-ok\nnull-ok\n",
        "stderr: {}",
        stderr(&out)
    );
}

/// Runs `resources` that must be refused; returns stderr after checking nothing was left behind.
fn refused(name: &str, resources: Value) -> String {
    let b = with_resources(name, &["true"], resources);
    let out = b.run();
    assert!(
        !out.status.success(),
        "an invalid cgroup value must fail the run"
    );
    assert!(
        !cgroup_of(&b).exists(),
        "no cgroup may be left behind: {:?}",
        cgroup_of(&b).dirs()
    );
    let state = b.runtime(&["state", &b.id]).output().expect("state");
    assert!(
        !state.status.success(),
        "no container state may be left behind"
    );
    stderr(&out)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn invalid_cgroup_value_is_a_clear_error_and_leaves_nothing() {
    root_test!();
    let e = refused("badshares", json!({"cpu": {"shares": 1}}));
    assert!(
        e.contains("linux.resources.cpu.shares: 1 below minimum 2"),
        "stderr: {e}"
    );
    let e = refused("badmem", json!({"memory": {"limit": -5}}));
    assert!(
        e.contains("linux.resources.memory.limit: -5 is invalid"),
        "stderr: {e}"
    );
    // Valid to the validator but refused by the kernel: the error names the file.
    let e = refused("badcpus", json!({"cpu": {"cpus": "4000"}}));
    assert!(e.contains("cpuset.cpus"), "stderr: {e}");
}
