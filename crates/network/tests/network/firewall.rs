//! Berth's nftables table on the real kernel: isolation between networks, published ports from the host
//! (127.0.0.1 and the bridge address) and hairpin, port conflicts, and teardown.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use berth_network::endpoint;
use berth_network::firewall::{Desired, NetworkRules};
use berth_network::ipam::Subnet;
use berth_network::netlink::Netlink;
use berth_network::netns::{socket_in, SocketKind};
use berth_network::ports::{allocate, parse_publish, PortError};

use crate::harness::{link_exists, nft_tables, root_tests, Bridge, IpForward, Netns, Table};
use crate::links::endpoint_cfg;

fn ping(ns: &Netns, ip: &str) -> bool {
    ns.exec(&["busybox", "ping", "-c1", "-W1", ip])
        .status
        .success()
}

/// Serves a fixed HTTP answer on port 80 inside `ns`, from a thread of this process.
fn http_server(ns: &Netns, body: &'static str) {
    let fd = socket_in(
        ns.fd(),
        SocketKind::TcpListener(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)),
    )
    .expect("listener in netns");
    let listener = TcpListener::from(fd);
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

fn fetch(addr: SocketAddrV4) -> String {
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn networks_are_isolated_and_published_ports_reach_the_container() {
    if !root_tests() {
        return;
    }
    let _fwd = IpForward::on();
    let (gw1, gw2) = (Ipv4Addr::new(10, 232, 1, 1), Ipv4Addr::new(10, 232, 2, 1));
    let (b1, b2) = (Bridge::new(gw1, 24), Bridge::new(gw2, 24));
    let (a, a2, c) = (Netns::new(), Netns::new(), Netns::new());
    let mut nl = Netlink::open().unwrap();
    let (ip_a, ip_a2, ip_c) = (
        Ipv4Addr::new(10, 232, 1, 2),
        Ipv4Addr::new(10, 232, 1, 3),
        Ipv4Addr::new(10, 232, 2, 2),
    );
    let ea = endpoint_cfg(&b1.name, ip_a, gw1);
    endpoint::attach(&mut nl, a.fd(), &ea).unwrap();
    endpoint::attach(&mut nl, a2.fd(), &endpoint_cfg(&b1.name, ip_a2, gw1)).unwrap();
    endpoint::attach(&mut nl, c.fd(), &endpoint_cfg(&b2.name, ip_c, gw2)).unwrap();

    // Before Berth's rules, the host routes between the two bridges.
    assert!(
        ping(&c, "10.232.1.2"),
        "routing between bridges works without rules"
    );

    let table = Table::new();
    let subnet = |s: &str| s.parse::<Subnet>().unwrap();
    let mut desired = Desired {
        networks: vec![
            NetworkRules {
                bridge: b1.ifname(),
                subnet: subnet("10.232.1.0/24"),
                subnet6: None,
                internal: false,
            },
            NetworkRules {
                bridge: b2.ifname(),
                subnet: subnet("10.232.2.0/24"),
                subnet6: None,
                internal: false,
            },
        ],
        ports: vec![],
    };
    http_server(&a, "hello from a");
    let spec = parse_publish("0.0.0.0::80").unwrap();
    let (mapping, held) = allocate(&spec, ip_a, &desired.ports)
        .unwrap()
        .pop()
        .unwrap();
    // The networks first; the port then comes as map elements (Firewall::update), as when a
    // container with `-p` starts on an existing network.
    let without_ports = desired.clone();
    table.0.apply(&without_ports).unwrap();
    assert!(nft_tables().contains(&format!("table ip {}", table.0.table)));
    desired.ports.push(mapping.clone());
    table.0.update(Some(&without_ports), &desired).unwrap();

    assert!(!ping(&c, "10.232.1.2"), "another network must not reach a");
    assert!(ping(&a2, "10.232.1.2"), "the same network reaches a");

    let port = mapping.host_port;
    assert!(
        fetch(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).ends_with("hello from a"),
        "via 127.0.0.1"
    );
    assert!(
        fetch(SocketAddrV4::new(gw1, port)).ends_with("hello from a"),
        "via the bridge address"
    );
    // Hairpin: a reaches its own published port through the host's address.
    // (busybox nc, since Debian's static busybox wget crashes on name lookup.)
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {gw1} {port}");
    let out = a.exec(&["busybox", "sh", "-c", &script]);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.ends_with("hello from a"), "hairpin: {out:?}");

    // The same host port again is refused, and so is a port another program holds.
    let again = allocate(
        &parse_publish(&format!("{port}:80")).unwrap(),
        ip_a2,
        &desired.ports,
    );
    assert_eq!(
        again.unwrap_err().to_string(),
        format!("Bind for 0.0.0.0:{port} failed: port is already allocated")
    );
    let other = allocate(&parse_publish(&format!("{port}:80")).unwrap(), ip_a2, &[]);
    assert_eq!(
        other.unwrap_err(),
        PortError::Allocated {
            ip: Ipv4Addr::UNSPECIFIED,
            port
        }
    );
    drop(held);

    // The container stops: its elements go, the rest of the table stays.
    let listing = || {
        let out = std::process::Command::new("nft")
            .args(["list", "table", "ip", &table.0.table])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        listing().contains(&format!("tcp . {port} :")),
        "{}",
        listing()
    );
    table.0.update(Some(&desired), &without_ports).unwrap();
    let left = listing();
    assert!(!left.contains(&format!(". {port}")), "{left}");
    assert!(left.contains("chain publish"), "{left}");

    // Reconcile to "nothing": table, veths and bridges go.
    table.0.apply(&Desired::default()).unwrap();
    assert!(!nft_tables().contains(&format!("table ip {}", table.0.table)));
    endpoint::detach(&mut nl, &ea.host_ifname).unwrap();
    assert!(!link_exists(&ea.host_ifname));
    let names = (b1.name.clone(), b2.name.clone());
    drop((b1, b2));
    assert!(!link_exists(&names.0) && !link_exists(&names.1));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn internal_networks_have_no_way_out() {
    if !root_tests() {
        return;
    }
    let _fwd = IpForward::on();
    let (gw1, gw2) = (Ipv4Addr::new(10, 233, 1, 1), Ipv4Addr::new(10, 233, 2, 1));
    let (b1, b2) = (Bridge::new(gw1, 24), Bridge::new(gw2, 24));
    let (a, b, c) = (Netns::new(), Netns::new(), Netns::new());
    let mut nl = Netlink::open().unwrap();
    endpoint::attach(
        &mut nl,
        a.fd(),
        &endpoint_cfg(&b1.name, Ipv4Addr::new(10, 233, 1, 2), gw1),
    )
    .unwrap();
    endpoint::attach(
        &mut nl,
        b.fd(),
        &endpoint_cfg(&b1.name, Ipv4Addr::new(10, 233, 1, 3), gw1),
    )
    .unwrap();
    endpoint::attach(
        &mut nl,
        c.fd(),
        &endpoint_cfg(&b2.name, Ipv4Addr::new(10, 233, 2, 2), gw2),
    )
    .unwrap();
    let table = Table::new();
    let desired = Desired {
        networks: vec![NetworkRules {
            bridge: b1.ifname(),
            subnet: "10.233.1.0/24".parse().unwrap(),
            subnet6: None,
            internal: true,
        }],
        ports: vec![],
    };
    assert!(ping(&c, "10.233.1.2"), "routed before the rules");
    table.0.apply(&desired).unwrap();
    assert!(
        !ping(&c, "10.233.1.2"),
        "nothing enters an internal network"
    );
    assert!(
        !ping(&a, "10.233.2.2"),
        "nothing leaves an internal network"
    );
    assert!(
        ping(&a, "10.233.1.3"),
        "members of the internal network talk"
    );
}
