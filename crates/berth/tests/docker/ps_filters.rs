//! `docker ps --filter` with the filters judged on a container's view (issue #15: they were
//! accepted and ignored, so every container came back): `network`, `volume`, `publish`,
//! `expose`, `is-task`, and `--last` counted after them.

use crate::harness::{code, opted_in, stderr, Daemon};

/// The names `docker ps -a --filter ...` lists, sorted.
fn names(d: &Daemon, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    let mut out: Vec<String> = d.ok(&args).lines().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn view_filters_select_as_docker_does() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "psnet"]);
    let net_id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "psnet"]);
    d.ok(&["volume", "create", "psvol"]);
    d.ok(&[
        "create",
        "--name",
        "on-net",
        "--network",
        "psnet",
        "--expose",
        "9000-9001/udp",
        "busybox",
        "true",
    ]);
    d.ok(&[
        "create",
        "--name",
        "with-vol",
        "-v",
        "psvol:/data",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "true",
    ]);
    d.ok(&["create", "--name", "plain", "busybox", "true"]);

    assert_eq!(names(&d, &["network=psnet"]), ["on-net"]);
    assert_eq!(
        names(&d, &[&format!("network={}", &net_id.trim()[..12])]),
        ["on-net"]
    );
    assert_eq!(names(&d, &["network=bridge"]), ["plain", "with-vol"]);
    assert_eq!(names(&d, &["volume=psvol"]), ["with-vol"]);
    assert_eq!(names(&d, &["volume=/data"]), ["with-vol"]);
    assert!(names(&d, &["volume=nope"]).is_empty());
    assert_eq!(names(&d, &["publish=80"]), ["with-vol"]);
    assert_eq!(names(&d, &["publish=70-90/tcp"]), ["with-vol"]);
    assert!(names(&d, &["publish=80/udp"]).is_empty());
    assert_eq!(names(&d, &["expose=9001/udp"]), ["on-net"]);
    assert!(names(&d, &["is-task=true"]).is_empty());
    assert_eq!(names(&d, &["is-task=false"]).len(), 3);
    // Different filters must all hold; values of one filter are alternatives.
    assert!(names(&d, &["network=psnet", "volume=psvol"]).is_empty());
    assert_eq!(
        names(&d, &["volume=psvol", "network=psnet", "network=bridge"]),
        ["with-vol"]
    );
    // --last counts what passes the filters.
    let out = d.ok(&[
        "ps",
        "-n",
        "1",
        "--format",
        "{{.Names}}",
        "--filter",
        "network=psnet",
    ]);
    assert_eq!(out.trim(), "on-net");

    let out = d.docker(&["ps", "--filter", "publish=1.2.3.4:80"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("should not contain ':'"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "on-net", "with-vol", "plain"]);
    d.ok(&["network", "rm", "psnet"]);
}
