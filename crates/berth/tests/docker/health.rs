//! Healthchecks driven by the real docker CLI: `--health-*` flags make a running container
//! `healthy` or `unhealthy` (with its failing streak and probe log in `State.Health`), a probe that
//! outlives `--health-timeout` is recorded as a failure, `--no-healthcheck` leaves no health state,
//! a committed image passes its check on (merged field by field), `docker ps` shows the status and
//! filters by it, the event stream carries `health_status`, and a daemon restart keeps the status
//! and resumes probing.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{eventually, opted_in, unix_now, Daemon};

/// Bound on every wait for a health status (probes run every few hundred milliseconds).
const DEADLINE: Duration = Duration::from_secs(30);

fn health(d: &Daemon, name: &str) -> Value {
    serde_json::from_str(&d.inspect(name, "{{json .State.Health}}")).expect("health json")
}

fn wait_status(d: &Daemon, name: &str, want: &str) -> Value {
    eventually(DEADLINE, &format!("{name} to be {want}"), || {
        health(d, name)["Status"] == want
    });
    health(d, name)
}

fn ps_status(d: &Daemon, name: &str) -> String {
    d.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn passing_check_becomes_healthy_and_says_so() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let since = unix_now();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-ok",
        "--health-cmd",
        "echo ok",
        "--health-interval",
        "300ms",
        "busybox",
        "sleep",
        "300",
    ]);
    let h = wait_status(&d, "hc-ok", "healthy");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().expect("log");
    let last = log.last().expect("a probe");
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "ok\n");
    assert!(last["Start"].as_str().is_some_and(|s| s.len() > 20));
    let status = ps_status(&d, "hc-ok");
    assert!(
        status.starts_with("Up ") && status.ends_with("(healthy)"),
        "{status}"
    );
    // Probes keep running; the log keeps the last five.
    eventually(DEADLINE, "five probes in the log", || {
        health(&d, "hc-ok")["Log"].as_array().map(Vec::len) == Some(5)
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(health(&d, "hc-ok")["Log"].as_array().map(Vec::len), Some(5));
    let until = unix_now();
    let actions = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = actions.lines().collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("health_status"))
            .collect::<Vec<_>>(),
        [&"health_status: healthy"],
        "{actions:?}"
    );
    assert!(
        actions.contains(&"exec_create: /bin/sh -c echo ok"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"exec_start: /bin/sh -c echo ok"),
        "{actions:?}"
    );
    // Stopped, the container keeps its last health; started again, it is starting anew.
    d.ok(&["stop", "-t", "1", "hc-ok"]);
    assert_eq!(health(&d, "hc-ok")["Status"], "healthy");
    d.ok(&["start", "hc-ok"]);
    wait_status(&d, "hc-ok", "healthy");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn failing_check_becomes_unhealthy_after_retries() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-bad",
        "--health-cmd",
        "echo bad; exit 3",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]);
    let h = wait_status(&d, "hc-bad", "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap_or(0) >= 2, "{h}");
    let log = h["Log"].as_array().expect("log");
    assert!(log.len() >= 2, "{h}");
    for probe in log {
        assert_eq!(probe["ExitCode"], 3, "{h}");
        assert_eq!(probe["Output"], "bad\n", "{h}");
    }
    let status = ps_status(&d, "hc-bad");
    assert!(status.ends_with("(unhealthy)"), "{status}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn timed_out_probe_is_a_failure() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-slow",
        "--health-cmd",
        "sleep 30",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]);
    let h = wait_status(&d, "hc-slow", "unhealthy");
    let probe = &h["Log"][0];
    assert_eq!(probe["ExitCode"], -1, "{h}");
    assert_eq!(
        probe["Output"], "Health check exceeded timeout (300ms)",
        "{h}"
    );
}

/// Four containers: `hf-start` (a check not run yet), `hf-ok` (healthy, waited for), `hf-none`
/// (`--no-healthcheck`) and `hf-plain` (no check).
fn run_one_of_each(d: &Daemon) {
    let run = |name: &str, flags: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sleep", "300"]);
        d.ok(&args);
    };
    run(
        "hf-start",
        &["--health-cmd", "true", "--health-interval", "1h"],
    );
    run(
        "hf-ok",
        &["--health-cmd", "true", "--health-interval", "200ms"],
    );
    run("hf-none", &["--no-healthcheck"]);
    run("hf-plain", &[]);
    wait_status(d, "hf-ok", "healthy");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn starting_and_no_healthcheck() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    run_one_of_each(&d);
    assert_eq!(health(&d, "hf-start")["Status"], "starting");
    let status = ps_status(&d, "hf-start");
    assert!(status.ends_with("(health: starting)"), "{status}");
    assert_eq!(d.inspect("hf-none", "{{json .State.Health}}"), "null");
    assert_eq!(
        d.inspect("hf-none", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    assert_eq!(d.inspect("hf-plain", "{{json .State.Health}}"), "null");
    assert!(!ps_status(&d, "hf-plain").contains('('));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ps_filters_by_health() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    run_one_of_each(&d);
    let names = |value: &str| {
        let out = d.ok(&[
            "ps",
            "--filter",
            &format!("health={value}"),
            "--format",
            "{{.Names}}",
        ]);
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names("healthy"), ["hf-ok"]);
    assert_eq!(names("starting"), ["hf-start"]);
    assert_eq!(names("none"), ["hf-none", "hf-plain"]);
    assert!(names("unhealthy").is_empty());
    let bad = d.docker(&["ps", "--filter", "health=sick"]);
    assert!(!bad.status.success());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn committed_image_passes_its_check_on() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "hc-src",
        "--health-cmd",
        "echo from-image",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&["commit", "hc-src", "hc-image:1"]);
    d.ok(&["run", "-d", "--name", "hc-inherit", "hc-image:1"]);
    let h = wait_status(&d, "hc-inherit", "healthy");
    assert_eq!(h["Log"][0]["Output"], "from-image\n");
    // Only the retries given: the test and the interval still come from the image.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-merge",
        "--health-retries",
        "7",
        "hc-image:1",
    ]);
    wait_status(&d, "hc-merge", "healthy");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-off",
        "--no-healthcheck",
        "hc-image:1",
    ]);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(d.inspect("hc-off", "{{json .State.Health}}"), "null");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn daemon_restart_keeps_the_status_and_probing() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc-live",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "300",
    ]);
    let before = wait_status(&d, "hc-live", "healthy");
    d.kill9();
    d.spawn();
    let after = health(&d, "hc-live");
    assert_eq!(after["Status"], "healthy", "{after}");
    let last = |h: &Value| h["Log"].as_array().and_then(|l| l.last()).cloned();
    let seen = last(&before);
    eventually(DEADLINE, "a probe after the restart", || {
        last(&health(&d, "hc-live")) != seen
    });
}
