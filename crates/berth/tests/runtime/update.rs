//! `berth runtime update` (runc's `update`): new limits reach the running container's cgroup,
//! from flags or from a resources file on stdin, are recorded in its state, and a container that
//! is not there or has stopped is refused. Files are read from the host side of the cgroup.

use crate::harness::{stderr, Bundle};
use crate::root_test;
use berth_runtime::cgroups::{Cgroup, Hierarchy};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// A `sleep` container with a 64 MiB memory limit and 512 CPU shares, started (detached).
fn running(name: &str) -> Bundle {
    let mut b = Bundle::busybox(name, &["sleep", "60"]);
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864},
        "cpu": {"shares": 512},
        "pids": {"limit": 32}
    });
    b.write_config();
    b.create(&[]);
    let out = b.verb("start", &[]);
    assert!(out.status.success(), "start failed: {}", stderr(&out));
    b.wait_status("running");
    b
}

fn cgroup(b: &Bundle) -> Cgroup {
    let path = b.config["linux"]["cgroupsPath"].as_str().expect("path");
    Cgroup::new(Some(Path::new(path)), &b.id).expect("resolve the cgroup")
}

/// Reads `file` (v1) or `v2_file` (v2) of the container's cgroup.
fn read(b: &Bundle, controller: &str, file: &str, v2_file: &str) -> String {
    let cg = cgroup(b);
    let name = match cg.hierarchy() {
        Hierarchy::V1(_) => file,
        Hierarchy::V2(_) => v2_file,
    };
    let dir = cg.controller_dir(controller).expect("controller mounted");
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(name).display()))
        .trim()
        .to_string()
}

fn update(b: &Bundle, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["update"];
    args.extend_from_slice(flags);
    b.verb(args[0], &args[1..])
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_flags_change_the_running_cgroup() {
    root_test!();
    let b = running("update-flags");
    assert_eq!(
        read(&b, "memory", "memory.limit_in_bytes", "memory.max"),
        "67108864"
    );
    let out = update(
        &b,
        &[
            "--memory",
            "128m",
            "--cpu-shares",
            "1024",
            "--pids-limit",
            "16",
        ],
    );
    assert!(out.status.success(), "update failed: {}", stderr(&out));
    assert_eq!(
        read(&b, "memory", "memory.limit_in_bytes", "memory.max"),
        "134217728"
    );
    assert_eq!(read(&b, "pids", "pids.max", "pids.max"), "16");
    // v2 has weights, converted from shares: 1024 shares is weight 39.
    let weight = match cgroup(&b).hierarchy() {
        Hierarchy::V1(_) => "1024",
        Hierarchy::V2(_) => "39",
    };
    assert_eq!(read(&b, "cpu", "cpu.shares", "cpu.weight"), weight);
    // The state records what the container now runs with; what was not updated stays.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.state_root().join(&b.id).join("state.json")).expect("state.json"),
    )
    .expect("state.json is JSON");
    let r = &state["config"]["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 134217728, "{r}");
    assert_eq!(r["pids"]["limit"], 16, "{r}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_reads_a_resources_file_from_stdin() {
    root_test!();
    let b = running("update-stdin");
    let mut child = b
        .runtime(&["update", "--resources", "-", &b.id])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run berth runtime update");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"memory": {"limit": 100663296}, "pids": {"limit": 20}}"#)
        .expect("write the resources");
    let out = child.wait_with_output().expect("wait for update");
    assert!(out.status.success(), "update failed: {}", stderr(&out));
    assert_eq!(
        read(&b, "memory", "memory.limit_in_bytes", "memory.max"),
        "100663296"
    );
    assert_eq!(read(&b, "pids", "pids.max", "pids.max"), "20");
    // A file and flags together are refused, and change nothing.
    let out = update(&b, &["--resources", "-", "--memory", "1g"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be combined"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read(&b, "memory", "memory.limit_in_bytes", "memory.max"),
        "100663296"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_refuses_a_stopped_or_missing_container() {
    root_test!();
    let b = running("update-stopped");
    let out = b
        .runtime(&["kill", &b.id, "KILL"])
        .output()
        .expect("run kill");
    assert!(out.status.success(), "kill failed: {}", stderr(&out));
    b.wait_status("stopped");
    let out = update(&b, &["--memory", "128m"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is stopped, cannot update"),
        "{}",
        stderr(&out)
    );
    let out = b
        .runtime(&["update", "--memory", "128m", "no-such-container"])
        .output()
        .expect("run update");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

/// Deletes a container of another runtime (`<exe> --root <root> delete --force <id>`) on drop.
struct PeerContainer<'a> {
    exe: &'a str,
    root: std::path::PathBuf,
    id: String,
}

impl Drop for PeerContainer<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(self.exe)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
    }
}

/// The same `update` command line, given to runc for its container and to Berth for its own,
/// leaves the same values in both cgroups (runc is the peer: runc-compatible means this).
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_takes_runcs_command_line_with_runcs_result() {
    root_test!();
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("runc is not installed: install it to compare update with its peer");
        return;
    };
    let flags = [
        "--memory",
        "100m",
        "--memory-reservation",
        "50m",
        "--cpu-share",
        "300",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "25",
    ];
    let ours = running("update-peer-berth");
    let out = update(&ours, &flags);
    assert!(out.status.success(), "update failed: {}", stderr(&out));

    let theirs = Bundle::busybox("update-peer-runc", &["sleep", "60"]);
    let peer = PeerContainer {
        exe: runc,
        root: theirs.path().join("runc-state"),
        id: theirs.id.clone(),
    };
    let runc_cmd = |args: &[&str]| {
        let out = std::process::Command::new(runc)
            .arg("--root")
            .arg(&peer.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(theirs.path().join("runc.out")).expect("runc.out"))
            .stderr(std::fs::File::create(theirs.path().join("runc.err")).expect("runc.err"))
            .status()
            .expect("run runc");
        let err = std::fs::read_to_string(theirs.path().join("runc.err")).unwrap_or_default();
        assert!(out.success(), "runc {args:?} failed: {err}");
    };
    let bundle = theirs.path().display().to_string();
    runc_cmd(&["create", "--bundle", &bundle, &peer.id]);
    runc_cmd(&["start", &peer.id]);
    let mut args = vec!["update"];
    args.extend_from_slice(&flags);
    args.push(&peer.id);
    runc_cmd(&args);

    let files: &[(&str, &str)] = match cgroup(&ours).hierarchy() {
        Hierarchy::V1(_) => &[
            ("memory", "memory.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"),
            ("cpu", "cpu.shares"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
            ("cpuset", "cpuset.cpus"),
            ("pids", "pids.max"),
        ],
        Hierarchy::V2(_) => &[
            ("memory", "memory.max"),
            ("memory", "memory.low"),
            ("cpu", "cpu.weight"),
            ("cpu", "cpu.max"),
            ("cpuset", "cpuset.cpus"),
            ("pids", "pids.max"),
        ],
    };
    for (controller, file) in files {
        assert_eq!(
            read(&ours, controller, file, file),
            read(&theirs, controller, file, file),
            "{file}: Berth and runc disagree"
        );
    }
    drop(peer);
}
