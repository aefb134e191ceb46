//! Dual-stack endpoints on the real kernel: the bridge's IPv6 gateway, containers' IPv6
//! addresses and default routes, IPv6 turned on in a namespace that had it off.

use std::net::{Ipv4Addr, Ipv6Addr};

use berth_network::bridge;
use berth_network::endpoint::{self, EndpointConfig};
use berth_network::netlink::Netlink;

use berth_network::firewall::{Desired, NetworkRules};

use crate::harness::{nft_tables, root_tests, run_ok, Bridge, Netns, Table};
use crate::links::endpoint_cfg;

fn dual(br: &str, last: u8) -> EndpointConfig {
    let gw6: Ipv6Addr = "fd00:b7:6::1".parse().unwrap();
    EndpointConfig {
        ip6: Some((
            Ipv6Addr::new(0xfd00, 0xb7, 6, 0, 0, 0, 0, u16::from(last)),
            64,
        )),
        default_gateway6: Some(gw6),
        ..endpoint_cfg(
            br,
            Ipv4Addr::new(10, 231, 9, last),
            Ipv4Addr::new(10, 231, 9, 1),
        )
    }
}

fn text(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn dual_stack_endpoints_reach_each_other_and_the_gateway_over_ipv6() {
    if !root_tests() {
        return;
    }
    let br = Bridge::new(Ipv4Addr::new(10, 231, 9, 1), 24);
    let mut nl = Netlink::open().unwrap();
    bridge::ensure6(&mut nl, &br.ifname(), "fd00:b7:6::1".parse().unwrap(), 64).unwrap();
    let (a, b) = (Netns::new(), Netns::new());
    // An image or a host default may have IPv6 off: the endpoint turns it on.
    for ns in [&a, &b] {
        let out = ns.exec(&["sysctl", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
        assert!(out.status.success(), "{}", text(out));
        let out = ns.exec(&["sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
        assert!(out.status.success(), "{}", text(out));
    }
    let (ca, cb) = (dual(&br.name, 2), dual(&br.name, 3));
    endpoint::attach(&mut nl, a.fd(), &ca).unwrap();
    endpoint::attach(&mut nl, b.fd(), &cb).unwrap();

    let addr = text(a.exec(&["ip", "-6", "addr", "show", "eth0"]));
    assert!(addr.contains("fd00:b7:6::2/64"), "{addr}");
    let route = text(a.exec(&["ip", "-6", "route"]));
    assert!(route.contains("default via fd00:b7:6::1"), "{route}");
    let v4 = text(a.exec(&["ip", "-4", "addr", "show", "eth0"]));
    assert!(v4.contains("10.231.9.2/24"), "the IPv4 address too: {v4}");
    let off = text(a.exec(&["sysctl", "-n", "net.ipv6.conf.all.disable_ipv6"]));
    assert_eq!(off.trim(), "0");

    for (ns, target) in [
        (&a, "fd00:b7:6::3"),
        (&b, "fd00:b7:6::2"),
        (&b, "fd00:b7:6::1"),
    ] {
        let out = ns.exec(&["busybox", "ping6", "-c1", "-W2", target]);
        assert!(out.status.success(), "ping6 {target}: {}", text(out));
    }
    endpoint::detach(&mut nl, &ca.host_ifname).unwrap();
    endpoint::detach(&mut nl, &cb.host_ifname).unwrap();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_ip6_table_is_accepted_by_the_kernel_and_goes_with_the_last_v6_network() {
    if !root_tests() {
        return;
    }
    let (b1, b2) = (
        Bridge::new(Ipv4Addr::new(10, 231, 10, 1), 24),
        Bridge::new(Ipv4Addr::new(10, 231, 11, 1), 24),
    );
    let table = Table::new();
    let t = table.0.table.clone();
    let rules = |subnet6: Option<&str>| {
        vec![
            NetworkRules {
                bridge: b1.ifname(),
                subnet: "10.231.10.0/24".parse().unwrap(),
                subnet6: subnet6.map(|s| s.parse().unwrap()),
                internal: false,
            },
            NetworkRules {
                bridge: b2.ifname(),
                subnet: "10.231.11.0/24".parse().unwrap(),
                subnet6: Some("fd00:b7:11::/64".parse().unwrap()),
                internal: true,
            },
        ]
    };
    let desired = Desired {
        networks: rules(Some("fd00:b7:10::/64")),
        ports: vec![],
    };
    table.0.apply(&desired).unwrap();
    let listed = run_ok("nft", &["list", "table", "ip6", &t]);
    assert!(
        listed.contains("ip6 saddr fd00:b7:10::/64 oifname != \"") && listed.contains("masquerade"),
        "{listed}"
    );
    assert!(
        !listed.contains("fd00:b7:11::/64"),
        "internal: not masqueraded: {listed}"
    );
    assert!(nft_tables().contains(&format!("table ip {t}\n")));
    // No IPv6 network left: the ip6 table goes, the ip one stays.
    let v4_only = Desired {
        networks: rules(None)
            .into_iter()
            .map(|n| NetworkRules { subnet6: None, ..n })
            .collect(),
        ports: vec![],
    };
    table.0.update(Some(&desired), &v4_only).unwrap();
    let tables = nft_tables();
    assert!(!tables.contains(&format!("table ip6 {t}\n")), "{tables}");
    assert!(tables.contains(&format!("table ip {t}\n")), "{tables}");
    table.0.remove().unwrap();
    let tables = nft_tables();
    assert!(!tables.contains(&format!(" {t}\n")), "{tables}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bridges_take_no_router_advertisements_from_containers() {
    if !root_tests() {
        return;
    }
    let br = Bridge::new(Ipv4Addr::new(10, 231, 12, 1), 24);
    let ra = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/accept_ra", br.name))
        .expect("accept_ra of the bridge");
    assert_eq!(
        ra.trim(),
        "0",
        "CVE-2020-13401: the host would route through a container"
    );
}
