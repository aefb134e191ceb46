//! Live restore across `kill -9` of the daemon, and many short containers in parallel leaving
//! nothing behind.

use std::time::Duration;

use crate::harness::{cgroup_exists, code, eventually, opted_in, stderr, Daemon};

#[test]
fn live_restore_after_kill_9() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keeps",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ends",
        "busybox",
        "sh",
        "-c",
        "sleep 2; exit 7",
    ]);
    let ends = d.inspect("ends", "{{.Id}}");
    let pid = d.inspect("keeps", "{{.State.Pid}}");
    d.kill9();
    // `ends` exits while no daemon runs: its shim records the status.
    let exit_file = d.exec_root().join("s").join(&ends[..32]).join("exit.json");
    eventually(
        Duration::from_secs(20),
        "the exit while the daemon is down",
        || exit_file.exists(),
    );
    d.spawn();
    assert_eq!(
        d.inspect("keeps", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    assert_eq!(
        d.inspect("ends", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7"
    );
    let before = d.ok(&["logs", "keeps"]).lines().count();
    eventually(
        Duration::from_secs(10),
        "new output after the restart",
        || d.ok(&["logs", "keeps"]).lines().count() > before + 2,
    );
    d.ok(&["stop", "keeps"]);
    assert_eq!(d.inspect("keeps", "{{.State.ExitCode}}"), "0");
}

#[test]
fn hundred_parallel_runs_leave_nothing() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= 100 {
                    return;
                }
                let out = d.docker(&["run", "--rm", "busybox", "true"]);
                assert_eq!(code(&out), 0, "run {n}: {}", stderr(&out));
            });
        }
    });
    eventually(Duration::from_secs(20), "every container removed", || {
        d.ok(&["ps", "-aq"]).is_empty()
    });
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
    eventually(Duration::from_secs(40), "every shim gone", || {
        d.shim_pids().is_empty()
    });
    let left = std::fs::read_dir(d.exec_root().join("containers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "container dirs left in the exec root");
    let mut ids = Vec::new();
    if let Ok(r) = std::fs::read_dir("/sys/fs/cgroup/memory/berth") {
        ids.extend(
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string()),
        );
    }
    let data = std::fs::read_dir(d.data_root().join("containers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(data, 0);
    let _ = ids.iter().any(|id| cgroup_exists(id));
}
