use std::net::Ipv4Addr;

use super::*;
use crate::ports::Proto;

#[test]
fn empty_state_only_deletes_the_table() {
    let fw = Firewall {
        table: "t1".into(),
        nft: "nft".into(),
    };
    assert_eq!(
        fw.render(&Desired::default()),
        "table ip t1\ndelete table ip t1\ntable ip6 t1\ndelete table ip6 t1\n"
    );
}

#[test]
fn renders_isolation_masquerade_and_ports() {
    let fw = Firewall::default();
    let desired = Desired {
        networks: vec![
            NetworkRules {
                bridge: IfName::new("berth0").unwrap(),
                subnet: "172.17.0.0/16".parse().unwrap(),
                subnet6: None,
                internal: false,
            },
            NetworkRules {
                bridge: IfName::new("br-1").unwrap(),
                subnet: "172.18.0.0/16".parse().unwrap(),
                subnet6: None,
                internal: true,
            },
        ],
        ports: vec![PortMapping {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 8080,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 80,
            proto: Proto::Tcp,
            container_ip6: None,
        }],
    };
    let s = fw.render(&desired);
    assert!(
        s.starts_with(
            "table ip berth\ndelete table ip berth\ntable ip6 berth\ndelete table ip6 berth\n\
             table ip berth {"
        ),
        "{s}"
    );
    assert!(s.contains("iifname { \"berth0\", \"br-1\" } oifname { \"berth0\", \"br-1\" } drop"));
    assert!(s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
    assert!(
        !s.contains("ip saddr 172.18.0.0/16"),
        "internal networks are not masqueraded"
    );
    assert!(s.contains("iifname \"br-1\" drop"));
    assert!(
        s.contains("elements = { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }"),
        "{s}"
    );
    assert!(
        s.contains("elements = { 172.17.0.2 . 172.17.0.2 . tcp . 80 }"),
        "{s}"
    );
    assert!(s.contains("dnat to ip daddr . meta l4proto . th dport map @publish_ip"));
    assert!(
        s.contains("    iifname { \"berth0\", \"br-1\" } ip daddr 127.0.0.0/8 drop\n"),
        "loopback traffic arriving on a bridge is dropped: {s}"
    );
    // Same-bridge traffic is accepted before the isolation drop.
    assert!(s.find("iifname \"berth0\" oifname \"berth0\" accept") < s.find("iifname {"));
    assert!(
        !s.contains("table ip6 berth {"),
        "no IPv6 network, no ip6 rules: {s}"
    );
}

#[test]
fn ports_of_dual_stack_containers_are_published_on_ipv6_too() {
    let fw = Firewall::default();
    let mut m = mapping([0, 0, 0, 0], 8080, 2, 80);
    m.container_ip6 = Some("2001:db8:1::2".parse().unwrap());
    let desired = Desired {
        networks: vec![NetworkRules {
            bridge: IfName::new("br-a").unwrap(),
            subnet: "172.17.0.0/16".parse().unwrap(),
            subnet6: Some("2001:db8:1::/64".parse().unwrap()),
            internal: false,
        }],
        ports: vec![m.clone()],
    };
    let s = fw.render(&desired);
    let v6 = &s[s.find("table ip6 berth {").expect("an ip6 table")..];
    assert!(
        v6.contains("elements = { tcp . 8080 : 2001:db8:1::2 . 80 }"),
        "{v6}"
    );
    assert!(v6.contains("dnat ip6 to meta l4proto . th dport map @publish_any"));
    // One on 127.0.0.1 only is not published on IPv6.
    let local = mapping([127, 0, 0, 1], 9090, 3, 80);
    let local = PortMapping {
        container_ip6: Some("2001:db8:1::3".parse().unwrap()),
        ..local
    };
    assert!(!Elements::of(std::slice::from_ref(&local))
        .any6
        .iter()
        .any(|e| e.contains("9090")));
    assert_eq!(
        fw.render_port_changes(&[m], &[local]),
        "delete element ip berth publish_any { tcp . 8080 }\n\
         delete element ip berth hairpin { 172.17.0.2 . 172.17.0.2 . tcp . 80 }\n\
         delete element ip6 berth publish_any { tcp . 8080 }\n\
         add element ip berth publish_ip { 127.0.0.1 . tcp . 9090 : 172.17.0.3 . 80 }\n\
         add element ip berth hairpin { 172.17.0.3 . 172.17.0.3 . tcp . 80 }\n"
    );
}

#[test]
fn ipv6_networks_get_mirrored_rules_in_an_ip6_table() {
    let fw = Firewall::default();
    let net = |b: &str, v4: &str, v6: Option<&str>, internal| NetworkRules {
        bridge: IfName::new(b).unwrap(),
        subnet: v4.parse().unwrap(),
        subnet6: v6.map(|x| x.parse().unwrap()),
        internal,
    };
    let desired = Desired {
        networks: vec![
            net("berth0", "172.17.0.0/16", None, false),
            net("br-a", "172.18.0.0/16", Some("2001:db8:1::/64"), false),
            net("br-b", "172.19.0.0/16", Some("2001:db8:2::/64"), true),
        ],
        ports: vec![],
    };
    let s = fw.render(&desired);
    let v6 = &s[s.find("table ip6 berth {").expect("an ip6 table")..];
    for want in [
        "    iifname \"br-a\" oifname \"br-a\" accept\n",
        "    iifname { \"br-a\", \"br-b\" } oifname { \"br-a\", \"br-b\" } drop\n",
        "    iifname \"br-b\" drop\n",
        "    oifname \"br-a\" ct state established,related accept\n",
        "    oifname \"br-a\" drop\n",
        "    ip6 saddr 2001:db8:1::/64 oifname != \"br-a\" masquerade\n",
    ] {
        assert!(v6.contains(want), "{want:?} in {v6}");
    }
    assert!(
        !v6.contains("berth0"),
        "a v4-only bridge has no ip6 rules: {v6}"
    );
    assert!(
        !v6.contains("2001:db8:2::/64"),
        "internal: not masqueraded: {v6}"
    );
}

#[test]
fn bridge_names_are_written_as_plain_quoted_words() {
    // `x"accept#` would close the quotes and comment out the rest of the line:
    // `oifname "x"accept#" drop` is `oifname "x" accept` to nft. It cannot be an IfName.
    assert!(IfName::new("x\"accept#").is_err());
    let fw = Firewall::default();
    let bridge = IfName::new("a-b_c.d").unwrap();
    let desired = Desired {
        networks: vec![NetworkRules {
            bridge,
            subnet: "10.9.0.0/24".parse().unwrap(),
            subnet6: None,
            internal: true,
        }],
        ports: vec![],
    };
    let s = fw.render(&desired);
    for want in [
        "    iifname \"a-b_c.d\" oifname \"a-b_c.d\" accept\n",
        "    iifname \"a-b_c.d\" drop\n",
        "    oifname \"a-b_c.d\" drop\n",
    ] {
        assert!(s.contains(want), "{want:?} in {s}");
    }
    for line in s.lines() {
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        assert!(!line.contains('#'), "{line}");
    }
}

fn mapping(host_ip: [u8; 4], host_port: u16, container: u8, container_port: u16) -> PortMapping {
    PortMapping {
        host_ip: Ipv4Addr::from(host_ip),
        host_port,
        container_ip: Ipv4Addr::new(172, 17, 0, container),
        container_port,
        proto: Proto::Tcp,
        container_ip6: None,
    }
}

#[test]
fn port_changes_are_element_deletions_then_additions() {
    let fw = Firewall::default();
    let a = mapping([0, 0, 0, 0], 8080, 2, 80);
    let b = mapping([127, 0, 0, 1], 9090, 3, 80);
    let one = std::slice::from_ref(&a);
    assert_eq!(fw.render_port_changes(one, one), "");
    let s = fw.render_port_changes(one, &[b]);
    assert_eq!(
        s,
        "delete element ip berth publish_any { tcp . 8080 }\n\
         delete element ip berth hairpin { 172.17.0.2 . 172.17.0.2 . tcp . 80 }\n\
         add element ip berth publish_ip { 127.0.0.1 . tcp . 9090 : 172.17.0.3 . 80 }\n\
         add element ip berth hairpin { 172.17.0.3 . 172.17.0.3 . tcp . 80 }\n"
    );
    // Two host ports to one container port share a hairpin element: it stays while one does.
    let c = mapping([0, 0, 0, 0], 8081, 2, 80);
    let s = fw.render_port_changes(&[a.clone(), c], &[a]);
    assert_eq!(s, "delete element ip berth publish_any { tcp . 8081 }\n");
}
