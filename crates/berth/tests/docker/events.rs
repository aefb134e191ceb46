//! The event stream, driven by the real docker CLI: a bounded `docker events --since --until` lists
//! a container's lifecycle in order, and a live `docker events` sees a `start` as it happens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{opted_in, unix_now, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bounded_events_list_the_lifecycle_in_order() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let since = unix_now();
    d.ok(&["create", "--name", "ev", "busybox", "true"]);
    d.ok(&["start", "ev"]);
    assert_eq!(d.ok(&["wait", "ev"]), "0");
    d.ok(&["rm", "ev"]);
    // Events are stamped before the answer is sent; a hair later bounds them all.
    std::thread::sleep(Duration::from_millis(10));
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
    assert_eq!(actions, ["create", "start", "die", "destroy"]);
    let names = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{.Type}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(names, "container ev 0");
}

/// A running `docker events`, killed by PID when dropped.
struct Stream(Child);

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_live_stream_sees_a_start() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["create", "--name", "live", "busybox", "true"]);
    let mut stream = Stream(
        d.docker_cmd(&[
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker events"),
    );
    let out = stream.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The stream subscribes asynchronously: start until it reports one (no since: live only).
    let end = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < end {
        d.ok(&["start", "live"]);
        let until = Instant::now() + Duration::from_secs(1);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        if seen.iter().any(|l| l == "start live") {
            return;
        }
        d.ok(&["wait", "live"]);
    }
    panic!("no live start event; the stream printed {seen:?}");
}
