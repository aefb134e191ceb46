//! docker-compose 1.29 (Debian's, Python) against the Berth daemon: the two-service project
//! brought up, listed, logged, exec'ed into and taken down; and each compose sees the other's
//! project through the labels.
//!
//! Known daemon gap (issue #15): `GET /networks/{name}` lists a `com.docker.network.bridge.name`
//! option on user-defined bridge networks that nobody asked for. Docker shows `Options: {}` for a
//! network created without driver options, and docker-compose 1.29 compares the remote
//! `Options` with the file's `driver_opts` before it reuses a network (`up` of a running
//! project, `run`): any key it did not set fails with `Network "<p>_default" needs to be
//! recreated - option "com.docker.network.bridge.name" has changed`. Those steps are skipped
//! with that reason printed while the daemon shows the option.

use crate::harness::{self, opted_in, Daemon};
use crate::{free_port, two_services, Project, DEADLINE};
use std::process::{Command, Output, Stdio};

const BRIDGE_NAME_GAP: &str = "com.docker.network.bridge.name";

fn docker_compose(p: &Project, args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-H")
        .arg(format!("unix://{}", p.daemon.sock.display()))
        .arg("-p")
        .arg(&p.name)
        .args(args)
        .current_dir(p.path())
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", p.path().join(".docker"))
        .stdin(Stdio::null());
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run docker-compose ({e}): run scripts/install-deps.sh"),
    }
}

fn dc_ok(p: &Project, args: &[&str]) -> String {
    let out = docker_compose(p, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?} failed ({:?}):\n{}{}\n--- daemon log ---\n{}",
        out.status.code(),
        harness::stdout(&out),
        harness::stderr(&out),
        p.daemon.log()
    );
    harness::stdout(&out) + &harness::stderr(&out)
}

/// Whether a failed step is the known network-options gap; prints the skip reason if so.
fn known_gap(step: &str, out: &Output) -> bool {
    let err = harness::stderr(out);
    if !out.status.success() && err.contains(BRIDGE_NAME_GAP) {
        eprintln!(
            "skipping docker-compose {step}: the daemon's network inspect shows an option \
             {BRIDGE_NAME_GAP} the project never set, so docker-compose 1.29 refuses to reuse \
             the network (issue #15): {}",
            err.trim()
        );
        return true;
    }
    false
}

#[test]
fn docker_compose_1_29_up_ps_logs_exec_down() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    let p = Project::new(&d, "dc", &two_services(port, "dc"));
    dc_ok(&p, &["up", "-d"]);
    harness::eventually(DEADLINE, "the client to fetch from web", || {
        harness::stdout(&docker_compose(&p, &["logs", "--no-color", "client"]))
            .contains("hello-from-web")
    });
    let ps = dc_ok(&p, &["ps"]);
    for n in [format!("{}_web_1", p.name), format!("{}_client_1", p.name)] {
        assert!(ps.contains(&n), "{ps}");
    }
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    let logs = dc_ok(&p, &["logs", "--no-color", "web"]);
    assert!(logs.contains("response:200"), "{logs}");
    let out = dc_ok(&p, &["exec", "-T", "web", "cat", "/www/index.html"]);
    assert!(out.contains("hello-from-web"), "{out}");

    // berth compose sees docker-compose's project through the labels.
    let ours = p.ok(&["ps"]);
    assert!(ours.contains(&format!("{}_web_1", p.name)), "{ours}");

    // A second up of the running project reuses its network.
    let again = docker_compose(&p, &["up", "-d"]);
    if !known_gap("up -d (again)", &again) {
        assert!(again.status.success(), "{}", harness::stderr(&again));
        let text = harness::stderr(&again);
        assert!(text.contains("is up-to-date"), "{text}");
    }

    let down = dc_ok(&p, &["down"]);
    assert!(down.contains("Removing"), "{down}");
    assert!(p.all_containers().is_empty());
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&p.name), "{nets}");

    // docker-compose sees and takes down berth compose's project.
    p.ok(&["up", "-d"]);
    let ps = dc_ok(&p, &["ps"]);
    assert!(ps.contains(&format!("{}-web-1", p.name)), "{ps}");
    let down = docker_compose(&p, &["down"]);
    if !known_gap("down of berth compose's project", &down) {
        assert!(down.status.success(), "{}", harness::stderr(&down));
        assert!(p.all_containers().is_empty());
    }
}
