//! Detached containers: logs -f, stop (SIGTERM, then SIGKILL after -t), ps filters and formats,
//! inspect fields, rm -f, the OOM killer and restart policies.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, Daemon};

const LOOP_TERM_EXITS: &str =
    "trap 'exit 0' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn detached_logs_follow_and_stop() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        LOOP_TERM_EXITS,
    ]);
    assert_eq!(id.len(), 64, "{id}");
    eventually(Duration::from_secs(10), "log lines", || {
        d.ok(&["logs", "ticker"]).contains("line 2")
    });
    let mut follow = d
        .docker_cmd(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("logs -f");
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["stop", "ticker"]);
    assert_eq!(
        d.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    let mut text = String::new();
    follow
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("read logs -f");
    let _ = follow.wait();
    assert!(text.contains("line 0") && text.contains("line 2"), "{text}");
    // A container that ignores TERM is killed after the timeout.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.2; done",
    ]);
    eventually(Duration::from_secs(10), "running", || {
        d.inspect("stubborn", "{{.State.Running}}") == "true"
    });
    d.ok(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(d.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    let out = d.docker(&["logs", "--tail", "1", "ticker"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ps_inspect_and_rm() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "create", "--name", "made", "--label", "team=a", "-e", "X=1", "-w", "/srv/app", "busybox",
        "true",
    ]);
    assert_eq!(
        code(&d.docker(&["run", "--name", "done", "busybox", "sh", "-c", "exit 4"])),
        4
    );
    d.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "100"]);
    assert_eq!(d.ok(&["ps", "--format", "{{.Names}}"]), "live");
    let all = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}} {{.Status}}"
        ])
        .split(' ')
        .take(3)
        .collect::<Vec<_>>(),
        vec!["done", "Exited", "(4)"]
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=team=a",
            "--format",
            "{{.Names}}"
        ]),
        "made"
    );
    assert_eq!(d.ok(&["ps", "-a", "--filter", "exited=4", "-q"]).len(), 12);
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Status}}"
        ]),
        "Created"
    );
    assert_eq!(
        d.inspect("made", "{{.Name}} {{.State.Status}} {{.Config.WorkingDir}} {{index .Config.Labels \"team\"}} {{.Path}} {{.RestartCount}}"),
        "/made created /srv/app a true 0"
    );
    let id = d.inspect("made", "{{.Id}}");
    assert_eq!(d.inspect("made", "{{.Config.Hostname}}"), id[..12]);
    assert!(d.inspect("made", "{{json .Config.Env}}").contains("X=1"));
    d.ok(&["start", "-a", "made"]);
    assert_eq!(
        d.inspect("done", "{{.State.ExitCode}} {{.State.Running}}"),
        "4 false"
    );
    assert_eq!(d.inspect("live", "{{.State.Running}}"), "true");
    assert!(
        d.inspect("live", "{{.State.Pid}}")
            .parse::<i32>()
            .unwrap_or(0)
            > 0
    );
    let out = d.docker(&["rm", "live"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("stop the container before removing or force remove"),
        "{}",
        stderr(&out)
    );
    let live_id = d.inspect("live", "{{.Id}}");
    d.ok(&["rm", "-f", "live", "done", "made"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    assert!(!crate::harness::cgroup_exists(&live_id));
    assert!(d.mounts_under_root().iter().all(|m| !m.contains(&live_id)));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn oom_kill_reports_137() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        "tail /dev/zero",
    ]);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert_eq!(
        d.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn restart_on_failure_counts() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    eventually(Duration::from_secs(30), "two restarts", || {
        d.inspect("flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.inspect("flaky", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 1"
    );
}
