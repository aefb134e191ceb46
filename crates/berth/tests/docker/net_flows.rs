//! NET-09's conntrack half (issue #14): when a container stops, the kernel's tracked flows of its
//! address go with it (as Docker's bridge driver deletes them), so that the next holder of the
//! address does not inherit them. Read from `/proc/net/nf_conntrack`, independently of the
//! daemon's own netlink code.

use std::time::{Duration, Instant};

use crate::harness::{opted_in, Daemon};

/// The conntrack entries naming `ip` as a source or destination in either direction.
fn flows_of(ip: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/net/nf_conntrack")
        .expect("/proc/net/nf_conntrack (the nf_conntrack module) is needed by this test");
    let src = format!("src={ip}");
    let dst = format!("dst={ip}");
    text.lines()
        .filter(|l| l.split_whitespace().any(|w| w == src || w == dst))
        .map(str::to_string)
        .collect()
}

/// Waits up to `deadline` for `cond` over the flows of `ip`; panics with them when it never holds.
fn wait_flows(ip: &str, deadline: Duration, what: &str, cond: impl Fn(&[String]) -> bool) {
    let end = Instant::now() + deadline;
    loop {
        let now = flows_of(ip);
        if cond(&now) {
            return;
        }
        assert!(Instant::now() < end, "{what}: flows of {ip}: {now:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_stopped_containers_flows_are_deleted_with_its_endpoint() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.198.71.0/24",
        "netflows",
    ]);
    // An ICMP flow and an unanswered UDP one (a DNS query) to the gateway: both live 30 s in the
    // kernel unless deleted, far longer than the waits below.
    let script = "ping -c1 -W1 10.198.71.1; nslookup x.invalid 10.198.71.1; exec sleep 600";
    for (name, verb) in [("flows1", "stop"), ("flows2", "rm")] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "netflows",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let ip = d.inspect(
            name,
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        );
        assert!(ip.starts_with("10.198.71."), "{ip:?}");
        wait_flows(&ip, Duration::from_secs(15), "the container's flows", |f| {
            f.iter().any(|l| l.contains("icmp")) && f.iter().any(|l| l.contains("udp"))
        });
        match verb {
            "stop" => d.ok(&["stop", "-t", "0", name]),
            _ => d.ok(&["rm", "-f", name]),
        };
        wait_flows(
            &ip,
            Duration::from_secs(5),
            &format!("{verb}: the flows deleted"),
            |f| f.is_empty(),
        );
    }
    d.ok(&["rm", "-f", "flows1"]);
    d.ok(&["network", "rm", "netflows"]);
}
