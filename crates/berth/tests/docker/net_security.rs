//! Networking attacks from the security review (issue #14): interface names that would write
//! nftables syntax into the daemon's ruleset, and DNS queries leaking out of `--internal`
//! networks through the embedded resolver (moby's CVE-2024-29018; catalog case NET-05).

use std::process::Command;
use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};
use crate::network::support::{links_of, FakeDns};

/// The daemon's nftables table as `nft` lists it ("" when it has none).
fn table_rules(d: &Daemon) -> String {
    let bridge = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    ]);
    let table = format!("berth_{}", bridge.trim().trim_start_matches("bt"));
    let out = Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bridge_names_with_nft_syntax_are_refused_and_leave_nothing() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let rules = table_rules(&d);
    // `x"accept#` made `oifname "x"accept#" drop` read `oifname "x" accept` to nft.
    for bad in ["x\"accept#", "bs;accept", "bs{x", "bs#x", "bs x"] {
        let opt = format!("com.docker.network.bridge.name={bad}");
        let out = d.docker(&["network", "create", "--internal", "-o", &opt, "evilnet"]);
        assert_ne!(code(&out), 0, "{bad:?} was taken: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("Error response from daemon: invalid bridge name")
                && err.contains("com.docker.network.bridge.name"),
            "{bad:?}: {err}"
        );
        assert!(links_of(bad).is_empty(), "a link named {bad:?} was made");
    }
    // Through the API: 400, as for any bad parameter.
    let body = r#"{"Name":"evilnet","Internal":true,"Options":{"com.docker.network.bridge.name":"x\"accept#"}}"#;
    let (status, reply) = d.curl("POST", "/networks/create", Some(body));
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("invalid bridge name"), "{reply}");
    // Nothing stored, nothing in the ruleset.
    let out = d.docker(&["network", "inspect", "evilnet"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(!d.ok(&["network", "ls"]).contains("evilnet"));
    assert_eq!(table_rules(&d), rules);
}

/// The gateway (this host's address on the bridge) of network `name`.
fn gateway(d: &Daemon, name: &str) -> String {
    d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        name,
    ])
    .trim()
    .to_string()
}

fn nslookup(d: &Daemon, container: &str, name: &str) -> String {
    let out = d.docker(&["exec", container, "nslookup", "-type=a", name]);
    format!("{}{}", stdout(&out), stderr(&out))
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn internal_networks_do_not_forward_dns_upstream() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.246.0.0/24",
        "intnet",
    ]);
    // The gateway given, so inspect shows it (as Docker, it shows none for a subnet without one).
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.247.0.0/24",
        "--gateway",
        "10.247.0.1",
        "extnet",
    ]);
    // The upstream every container names with --dns: a fake server on the open network's
    // gateway, which the embedded DNS reaches from the host's namespace. It notes every name.
    let dns = gateway(&d, "extnet");
    let upstream = FakeDns::start(&format!("{dns}:53"));
    let run = |name: &str, net: &str| {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "--dns",
            &dns,
            "busybox",
            "sleep",
            "300",
        ]);
    };
    run("inside", "intnet");
    run("peer", "intnet");
    run("outside", "extnet");

    // Only on an internal network: container names resolve, other names fail (SERVFAIL, as
    // moby answers) and the upstream is never asked. The embedded DNS answers only after
    // hearing from an upstream it asked, so a query sent would be noted by now.
    let peer = d.inspect("peer", "{{.NetworkSettings.Networks.intnet.IPAddress}}");
    let answer = nslookup(&d, "inside", "peer");
    assert!(answer.contains(peer.trim()), "{answer}");
    let answer = nslookup(&d, "inside", "leak-int.test");
    assert!(answer.contains("SERVFAIL"), "{answer}");
    assert!(upstream.names().is_empty(), "asked: {:?}", upstream.names());

    // The control: on an open network the same upstream gets the query.
    eventually(Duration::from_secs(15), "the open network's query", || {
        let _ = nslookup(&d, "outside", "open-ext.test");
        upstream.saw("open-ext.test")
    });

    // Also on an open network: forwarding as before; back to internal only: none again.
    d.ok(&["network", "connect", "extnet", "inside"]);
    eventually(
        Duration::from_secs(15),
        "the query of a dual-homed container",
        || {
            let _ = nslookup(&d, "inside", "dual-homed.test");
            upstream.saw("dual-homed.test")
        },
    );
    d.ok(&["network", "disconnect", "extnet", "inside"]);
    let answer = nslookup(&d, "inside", "leak-again.test");
    assert!(answer.contains("SERVFAIL"), "{answer}");
    let leaked: Vec<String> = upstream
        .names()
        .into_iter()
        .filter(|n| n.contains("leak"))
        .collect();
    assert!(leaked.is_empty(), "asked: {leaked:?}");

    d.ok(&["rm", "-f", "inside", "peer", "outside"]);
    d.ok(&["network", "rm", "intnet", "extnet"]);
}
