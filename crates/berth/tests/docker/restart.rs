//! Restart policies across daemon restarts, as Docker applies them when its daemon starts:
//! `always` containers run again (even ones the user stopped), `unless-stopped` ones only when the
//! user did not stop them, a container whose process died while the daemon was down (kill -9)
//! comes back, and `on-failure:N` keeps its RestartCount and does not retry past N.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::{eventually, opted_in, Daemon};

const DEADLINE: Duration = Duration::from_secs(30);

fn status(d: &Daemon, name: &str) -> String {
    d.inspect(name, "{{.State.Status}}")
}

fn wait_status(d: &Daemon, name: &str, want: &str) {
    eventually(DEADLINE, &format!("{name} {want}"), || {
        status(d, name) == want
    });
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn policies_survive_daemon_restarts() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    for (name, policy) in [
        ("rs-always", "always"),
        ("rs-always-stopped", "always"),
        ("rs-unless", "unless-stopped"),
        ("rs-unless-stopped", "unless-stopped"),
        ("rs-no", "no"),
    ] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rs-fail",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    d.ok(&["stop", "-t", "1", "rs-always-stopped", "rs-unless-stopped"]);
    eventually(DEADLINE, "two on-failure retries", || {
        d.inspect("rs-fail", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });

    // A clean stop and start: running ones keep running, user-stopped `always` comes back.
    d.stop();
    d.spawn();
    for name in ["rs-always", "rs-always-stopped", "rs-unless", "rs-no"] {
        wait_status(&d, name, "running");
    }
    assert_eq!(status(&d, "rs-unless-stopped"), "exited");
    assert_eq!(
        d.inspect("rs-fail", "{{.State.Status}} {{.RestartCount}}"),
        "exited 2"
    );

    // kill -9 of the daemon, then the containers' processes die while it is down.
    let pids: Vec<(String, i32)> = ["rs-always", "rs-unless", "rs-no"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                d.inspect(n, "{{.State.Pid}}").parse().expect("pid"),
            )
        })
        .collect();
    d.kill9();
    for (_, pid) in &pids {
        assert!(*pid > 0);
        kill(Pid::from_raw(*pid), Signal::SIGKILL).expect("killing a container process");
    }
    for (_, pid) in &pids {
        eventually(DEADLINE, "container process gone", || {
            kill(Pid::from_raw(*pid), None).is_err()
        });
    }
    d.spawn();
    wait_status(&d, "rs-always", "running");
    wait_status(&d, "rs-unless", "running");
    wait_status(&d, "rs-no", "exited");
    assert_eq!(d.inspect("rs-no", "{{.State.ExitCode}}"), "137");
    for (name, old) in &pids[..2] {
        let new: i32 = d.inspect(name, "{{.State.Pid}}").parse().expect("pid");
        assert_ne!(new, *old, "{name} should run a new process");
    }
    assert_eq!(status(&d, "rs-unless-stopped"), "exited");
}
