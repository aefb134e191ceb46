//! `berth run --link` (issue #15) against a real daemon: the berth CLI's own `--link` gives the
//! same legacy link as the docker CLI's on the default bridge (the parent's environment, its
//! `/etc/hosts` line, inspect's `HostConfig.Links`), and on a user-defined network an alias only
//! the linking container resolves.

use std::process::{Command, Output, Stdio};

use crate::harness::{code, opted_in, stderr, stdout, Daemon};

/// The berth CLI on the test's daemon.
pub(crate) fn berth(d: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::null())
        .output()
        .expect("running berth")
}

pub(crate) fn berth_ok(d: &Daemon, args: &[&str]) -> String {
    let out = berth(d, args);
    assert_eq!(code(&out), 0, "berth {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berth_run_link_on_the_default_bridge_and_a_user_network() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "db", "--expose", "5432", "busybox", "sleep", "600",
    ]);
    let ip = d.inspect("db", "{{.NetworkSettings.IPAddress}}");
    let seen = berth_ok(
        &d,
        &[
            "run",
            "--rm",
            "--link",
            "db:my-db",
            "busybox",
            "sh",
            "-c",
            "echo $MY_DB_NAME $MY_DB_PORT_5432_TCP_ADDR; grep -c my-db /etc/hosts",
        ],
    );
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), 2, "{seen}");
    assert!(lines[0].ends_with(&format!("/my-db {ip}")), "{seen}");
    assert_eq!(lines[1], "1", "{seen}");
    berth_ok(
        &d,
        &["create", "--name", "parent", "--link", "db", "busybox"],
    );
    let links = d.inspect("parent", "{{json .HostConfig.Links}}");
    assert_eq!(links, "[\"/db:/parent/db\"]");
    // A link to no container: Docker's refusal, from the daemon.
    let out = berth(&d, &["create", "--link", "nobody:x", "busybox"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("nobody"), "{}", stderr(&out));

    // On a user-defined network the alias is the linking container's only.
    d.ok(&["network", "create", "ln-net"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "store",
        "--network",
        "ln-net",
        "busybox",
        "sleep",
        "600",
    ]);
    berth_ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "ln-net",
            "--link",
            "store:st",
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            "st",
        ],
    );
    let out = berth(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "ln-net",
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "st",
        ],
    );
    assert_ne!(code(&out), 0, "st resolved without the link");
}
