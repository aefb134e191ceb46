//! Dual-stack networks with the real docker CLI (issue #15): `network create --ipv6 --subnet`,
//! the IPv6 fields of network and container inspect, `--ip6`, containers reaching each other by
//! name over IPv6 (AAAA answers of the embedded DNS), the default route via the gateway, the
//! ip6 nftables table, and Docker's refusal of an IPv6 subnet without `--ipv6`.

use crate::harness::{code, opted_in, stderr, Daemon};

/// Puts `net.ipv6.conf.all.forwarding` back as it was (the daemon turns it on, as Docker does).
struct Ip6Forward(String);

const IP6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

impl Ip6Forward {
    fn remember() -> Ip6Forward {
        Ip6Forward(std::fs::read_to_string(IP6_FORWARD).expect("read ipv6 forwarding"))
    }
}

impl Drop for Ip6Forward {
    fn drop(&mut self) {
        let _ = std::fs::write(IP6_FORWARD, self.0.trim());
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn dual_stack_network_containers_reach_each_other_by_name_over_ipv6() {
    if !opted_in() {
        return;
    }
    let _forward = Ip6Forward::remember();
    let d = Daemon::start();
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "2001:db8:71::/64",
        "v6net",
    ]);
    assert_eq!(
        d.ok(&["network", "inspect", "-f", "{{.EnableIPv6}}", "v6net"]),
        "true"
    );
    let config = d.ok(&["network", "inspect", "-f", "{{json .IPAM.Config}}", "v6net"]);
    assert!(
        config.contains("\"Subnet\":\"2001:db8:71::/64\""),
        "{config}"
    );
    // An IPv4 subnet is allocated beside the IPv6 one given.
    assert!(config.matches("\"Subnet\"").count() == 2, "{config}");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "v6a",
        "--network",
        "v6net",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "v6b",
        "--network",
        "v6net",
        "--ip6",
        "2001:db8:71::99",
        "busybox",
        "sleep",
        "600",
    ]);
    let fields = d.inspect(
        "v6b",
        "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} \
         {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}",
    );
    assert_eq!(fields, "2001:db8:71::99/64 2001:db8:71::1 2001:db8:71::99");
    let a6 = d.inspect(
        "v6a",
        "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}",
    );
    assert!(
        a6.starts_with("2001:db8:71::"),
        "an allocated address: {a6:?}"
    );
    let members = d.ok(&["network", "inspect", "-f", "{{json .Containers}}", "v6net"]);
    assert!(
        members.contains("\"IPv6Address\":\"2001:db8:71::99/64\""),
        "{members}"
    );

    // The embedded DNS answers AAAA (and A) for names and aliases on the network.
    let looked = d.ok(&["exec", "v6a", "nslookup", "v6b"]);
    assert!(looked.contains("2001:db8:71::99"), "{looked}");
    let looked = d.ok(&["exec", "v6a", "nslookup", "-type=a", "v6b"]);
    assert!(looked.contains("Address: "), "{looked}");
    for (from, to) in [("v6a", "v6b"), ("v6b", "v6a")] {
        let out = d.docker(&["exec", from, "ping6", "-c1", "-W3", to]);
        assert_eq!(code(&out), 0, "ping6 {to} from {from}: {out:?}");
    }
    let out = d.docker(&["exec", "v6a", "ping6", "-c1", "-W3", "2001:db8:71::1"]);
    assert_eq!(code(&out), 0, "ping6 the gateway: {out:?}");
    let routes = d.ok(&["exec", "v6a", "ip", "-6", "route"]);
    assert!(routes.contains("default via 2001:db8:71::1"), "{routes}");
    let hosts = d.ok(&["exec", "v6b", "cat", "/etc/hosts"]);
    assert!(hosts.contains("2001:db8:71::99"), "{hosts}");

    // The ip6 table masquerades the subnet towards the outside.
    let ruleset = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    let ruleset = String::from_utf8_lossy(&ruleset.stdout);
    assert!(
        ruleset.contains("ip6 saddr 2001:db8:71::/64 oifname != "),
        "no masquerade of the IPv6 subnet: {ruleset}"
    );

    // A taken --ip6 is refused; so is an IPv6 subnet without --ipv6.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        "--ip6",
        "2001:db8:71::99",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0, "{out:?}");
    assert!(stderr(&out).contains("Address already in use"), "{out:?}");
    let out = d.docker(&["network", "create", "--subnet", "2001:db8:72::/64", "nov6"]);
    assert_ne!(code(&out), 0, "{out:?}");
    assert!(stderr(&out).contains("IPv6 is not enabled"), "{out:?}");

    d.ok(&["rm", "-f", "v6a", "v6b"]);
    d.ok(&["network", "rm", "v6net"]);
    let ruleset = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    assert!(
        !String::from_utf8_lossy(&ruleset.stdout).contains("2001:db8:71::/64"),
        "the ip6 rules outlived the network"
    );
}
