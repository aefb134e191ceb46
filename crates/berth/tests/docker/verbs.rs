//! The container verbs beyond run/stop/rm, driven by the real docker CLI: top, rename,
//! pause/unpause (and stop/kill/rm -f of a paused container), update (running, through the
//! runtime, and stopped), restart, container prune, export, diff, system df, and `ps` (columns,
//! `--size`) after `run -d`.

use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, Daemon};

/// The memory limit in the container's cgroup, where the daemon puts it (the runtime's default).
fn cgroup_memory_limit(id: &str) -> Option<u64> {
    use berth_runtime::cgroups::{Cgroup, Hierarchy};
    let cg = Cgroup::new(None, id).ok()?;
    let file = match cg.hierarchy() {
        Hierarchy::V1(_) => "memory.limit_in_bytes",
        Hierarchy::V2(_) => "memory.max",
    };
    let dir = cg.controller_dir("memory")?;
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn top_rename_restart_and_update() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "--name", "first", "busybox", "sleep", "300"]);
    let top = d.ok(&["top", "first"]);
    assert!(top.lines().next().unwrap_or("").contains("PID"), "{top}");
    assert!(top.contains("sleep 300"), "{top}");
    let top = d.ok(&["top", "first", "-o", "pid,comm"]);
    assert!(top.contains("COMMAND") && top.contains("sleep"), "{top}");

    d.ok(&["rename", "first", "second"]);
    assert_eq!(d.inspect("second", "{{.Name}}"), "/second");
    let out = d.docker(&["container", "inspect", "first"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("No such"), "{}", stderr(&out));
    d.ok(&["run", "-d", "--name", "third", "busybox", "sleep", "300"]);
    let out = d.docker(&["rename", "third", "second"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));

    let started = d.inspect("second", "{{.State.StartedAt}}");
    d.ok(&["restart", "-t", "1", "second"]);
    assert_eq!(d.inspect("second", "{{.State.Status}}"), "running");
    let restarted = d.inspect("second", "{{.State.StartedAt}}");
    assert!(restarted > started, "{started} -> {restarted}");

    d.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "second",
    ]);
    assert_eq!(
        d.inspect("second", "{{.HostConfig.Memory}}"),
        (64u64 << 20).to_string()
    );
    assert_eq!(cgroup_memory_limit(&id), Some(64 << 20));
    d.ok(&[
        "update",
        "--restart",
        "on-failure:3",
        "--cpu-shares",
        "512",
        "second",
    ]);
    assert_eq!(
        d.inspect(
            "second",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.CpuShares}}"
        ),
        "on-failure 3 512"
    );
}

/// `docker update` reaches a running container through its shim and the runtime (the runtime's
/// state records the new limit: the daemon wrote no cgroup file itself), and on a stopped one is
/// kept for the next start, as Docker does.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn update_goes_through_the_runtime_and_waits_for_a_stopped_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "--name", "limited", "busybox", "sleep", "300"]);
    d.ok(&[
        "update",
        "--memory",
        "96m",
        "--memory-swap",
        "-1",
        "limited",
    ]);
    assert_eq!(cgroup_memory_limit(&id), Some(96 << 20));
    let state = d.exec_root().join("runtime").join(&id).join("state.json");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("the runtime's state.json"))
            .expect("state.json is JSON");
    assert_eq!(
        state["config"]["linux"]["resources"]["memory"]["limit"],
        96u64 << 20,
        "the runtime did not record the update"
    );
    // A paused container takes them too (the freezer does not stop a cgroup write).
    d.ok(&["pause", "limited"]);
    d.ok(&[
        "update",
        "--memory",
        "80m",
        "--memory-swap",
        "-1",
        "limited",
    ]);
    assert_eq!(cgroup_memory_limit(&id), Some(80 << 20));
    d.ok(&["unpause", "limited"]);
    // A value the kernel refuses: Docker's words, and nothing stored.
    let out = d.docker(&["update", "--cpuset-cpus", "1000", "limited"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(&format!("Cannot update container {id}: ")),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.inspect("limited", "{{.HostConfig.CpusetCpus}}"), "");

    d.ok(&["stop", "-t", "1", "limited"]);
    d.ok(&[
        "update",
        "--memory",
        "48m",
        "--memory-swap",
        "-1",
        "limited",
    ]);
    assert_eq!(
        d.inspect("limited", "{{.HostConfig.Memory}}"),
        (48u64 << 20).to_string()
    );
    d.ok(&["start", "limited"]);
    assert_eq!(cgroup_memory_limit(&id), Some(48 << 20));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn pause_freezes_the_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
    ]);
    let count = || -> i64 {
        let out = d.docker(&["exec", "counter", "cat", "/tmp/n"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-1)
    };
    eventually(Duration::from_secs(10), "the counter to run", || {
        count() > 2
    });
    d.ok(&["pause", "counter"]);
    assert_eq!(d.inspect("counter", "{{.State.Status}}"), "paused");
    // Exec into a paused container is refused; the counter file is read from the export.
    let out = d.docker(&["exec", "counter", "true"]);
    assert_ne!(code(&out), 0);
    let frozen = exported_counter(&d);
    let again = exported_counter(&d);
    assert_eq!(frozen, again, "the counter advanced while paused");
    let out = d.docker(&["pause", "counter"]);
    assert_ne!(code(&out), 0, "pausing twice must fail");
    d.ok(&["unpause", "counter"]);
    assert_eq!(d.inspect("counter", "{{.State.Status}}"), "running");
    eventually(Duration::from_secs(10), "the counter to advance", || {
        count() > frozen + 2
    });
    let out = d.docker(&["unpause", "counter"]);
    assert_ne!(code(&out), 0, "unpausing a running container must fail");

    // As Docker: a paused container is thawed so that stop, kill and rm -f can end it.
    let status = || d.inspect("counter", "{{.State.Status}}");
    d.ok(&["pause", "counter"]);
    d.ok(&["stop", "-t", "1", "counter"]);
    assert_eq!(status(), "exited");
    d.ok(&["start", "counter"]);
    d.ok(&["pause", "counter"]);
    d.ok(&["kill", "counter"]);
    assert_eq!(d.ok(&["wait", "counter"]), "137");
    d.ok(&["start", "counter"]);
    d.ok(&["pause", "counter"]);
    d.ok(&["rm", "-f", "counter"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

/// Reads `/tmp/n` of container `counter` through `docker export` (works while paused).
fn exported_counter(d: &Daemon) -> i64 {
    let text = tar_file(&export(d, "counter"), "tmp/n");
    text.trim().parse().unwrap_or(-1)
}

/// `docker export NAME` into a file in the daemon's temp dir.
fn export(d: &Daemon, name: &str) -> std::path::PathBuf {
    let path = d.dir.path().join(format!("{name}.tar"));
    d.ok(&["export", "-o", &path.display().to_string(), name]);
    path
}

/// The member names of a tar, without a leading `./`.
fn tar_names(path: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(path)
        .output()
        .expect("tar -t");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

/// One member's content (stored with or without a leading `./`).
fn tar_file(path: &std::path::Path, member: &str) -> String {
    for name in [member.to_string(), format!("./{member}")] {
        let out = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(path)
            .arg(&name)
            .output()
            .expect("tar -x");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
    }
    panic!("{member} not in the export: {:?}", tar_names(path));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn export_diff_prune_and_df() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo hi > /added.txt && rm /etc/group && echo x >> /etc/passwd",
    ]);
    let diff = d.ok(&["diff", "changed"]);
    assert!(diff.lines().any(|l| l == "A /added.txt"), "{diff}");
    assert!(diff.lines().any(|l| l == "D /etc/group"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /etc/passwd"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /etc"), "{diff}");

    let names = tar_names(&export(&d, "changed"));
    let has = |n: &str| names.iter().any(|p| p == n);
    assert!(has("added.txt") && has("bin/busybox"), "{names:?}");
    assert!(!has("etc/group"), "deleted file exported");

    // `inspect -s`: the writable layer holds the new file and the changed passwd; the root fs
    // is that plus the image.
    let sizes = d.ok(&[
        "inspect",
        "-s",
        "--format",
        "{{.SizeRw}} {{.SizeRootFs}}",
        "changed",
    ]);
    let (rw, root) = sizes.split_once(' ').expect("two sizes");
    let (rw, root): (i64, i64) = (rw.parse().expect(&sizes), root.parse().expect(&sizes));
    assert!(rw > 0 && root > rw, "{sizes}");
    let plain = d.ok(&["inspect", "--format", "{{json .}}", "changed"]);
    assert!(!plain.contains("SizeRw"), "sizes only when asked: {plain}");

    let df = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.lines().any(|l| l == "Containers 1"), "{df}");
    let verbose = d.ok(&["system", "df", "-v"]);
    assert!(verbose.contains("changed"), "{verbose}");

    d.ok(&[
        "create", "--name", "keep", "--label", "keep=1", "busybox", "true",
    ]);
    let out = d.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let left = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left, "keep");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ps_and_inspect_after_run_d() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    let row = d.ok(&[
        "ps",
        "--format",
        "{{.Command}}|{{.Status}}|{{.Names}}|{{.RunningFor}}|{{.Image}}",
    ]);
    let cols: Vec<&str> = row.split('|').collect();
    assert_eq!(cols[0], "\"sleep 300\"", "{row}");
    assert!(cols[1].starts_with("Up "), "{row}");
    assert_eq!(cols[2], "web", "{row}");
    assert!(cols[3].ends_with(" ago"), "{row}");
    assert_eq!(cols[4], "busybox", "{row}");
    let table = d.ok(&["ps"]);
    let header = table.lines().next().unwrap_or("");
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{table}");
    }

    d.ok(&["exec", "web", "sh", "-c", "echo hello > /hello"]);
    assert_eq!(d.inspect("web", "{{len .ExecIDs}}"), "1");
    let size = d.ok(&["ps", "--size", "--format", "{{.Size}}"]);
    assert!(size.contains(" (virtual "), "{size}");
    assert!(
        !size.starts_with("0B"),
        "the written file is not counted: {size}"
    );
    let table = d.ok(&["ps", "--size"]);
    assert!(
        table.lines().next().unwrap_or("").ends_with("SIZE"),
        "{table}"
    );
}
