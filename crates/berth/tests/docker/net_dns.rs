//! The embedded DNS with the real docker CLI: a name that several containers share (a scaled
//! service's alias) is answered with all their addresses, in a new order each time, as Docker
//! shuffles them (issue #12).

use std::collections::BTreeSet;

use crate::harness::{opted_in, Daemon};

/// The IPv4 addresses of one `nslookup` answer, in the order given (the server's own address,
/// `127.0.0.11:53`, left out).
fn answer(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(str::trim)
        .filter(|a| !a.contains(':') && !a.starts_with("127."))
        .map(str::to_string)
        .collect()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_shared_alias_resolves_to_every_member_in_varying_order() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "--subnet", "10.198.74.0/24", "shuffle"]);
    let mut members = BTreeSet::new();
    for n in 1..=3 {
        let name = format!("svc{n}");
        d.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "shuffle",
            "--network-alias",
            "svc",
            "busybox",
            "sleep",
            "600",
        ]);
        members.insert(d.inspect(&name, "{{.NetworkSettings.Networks.shuffle.IPAddress}}"));
    }
    let script = "for i in $(seq 20); do nslookup -type=a svc; echo ===; done";
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "shuffle",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let answers: Vec<Vec<String>> = out
        .split("===")
        .map(answer)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(answers.len(), 20, "{out}");
    for a in &answers {
        let got: BTreeSet<String> = a.iter().cloned().collect();
        assert_eq!(got, members, "every member, once: {a:?}");
        assert_eq!(a.len(), members.len(), "{a:?}");
    }
    let firsts: BTreeSet<&String> = answers.iter().map(|a| &a[0]).collect();
    assert!(firsts.len() > 1, "always the same order: {answers:?}");
    d.ok(&["rm", "-f", "svc1", "svc2", "svc3"]);
    d.ok(&["network", "rm", "shuffle"]);
}
