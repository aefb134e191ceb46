//! The conntrack flush on the real kernel, inside a namespace of the test's own (loopback flows
//! between addresses of its `lo`, tracked because a ruleset there uses `ct`).

use std::net::{IpAddr, UdpSocket};

use berth_network::conntrack::{flows, flush, Family};
use berth_network::netns::run_in;

use crate::harness::{root_tests, Netns};

/// Sends one UDP datagram from `src` to `dst` (port 9, nobody listening) inside `ns`.
fn udp(ns: &Netns, src: &str, dst: &str) {
    let (src, dst) = (src.to_string(), dst.to_string());
    run_in(ns.fd(), move || {
        let s = UdpSocket::bind((src.as_str(), 0)).expect("bind");
        s.send_to(b"x", (dst.as_str(), 9)).expect("send");
    })
    .expect("run in netns");
}

fn tracked(ns: &Netns, family: Family, ip: &str) -> usize {
    let ip: IpAddr = ip.parse().unwrap();
    run_in(ns.fd(), move || flows(family).expect("dump"))
        .expect("run in netns")
        .iter()
        .filter(|f| f.involves(ip))
        .count()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn flush_deletes_the_flows_of_the_addresses_in_both_directions_and_no_others() {
    if !root_tests() {
        return;
    }
    let ns = Netns::new();
    for args in [
        &["ip", "link", "set", "lo", "up"][..],
        &["ip", "addr", "add", "fd00:c7::5/128", "dev", "lo", "nodad"],
        &["ip", "addr", "add", "fd00:c7::7/128", "dev", "lo", "nodad"],
        &["nft", "add", "table", "inet", "cttest"],
        &[
            "nft",
            "add chain inet cttest out { type filter hook output priority 0 ; }",
        ],
        &[
            "nft", "add", "rule", "inet", "cttest", "out", "ct", "state", "new", "counter",
        ],
    ] {
        let out = ns.exec(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    // The address as source (it started the flow) and as destination (a flow to it), v4 and
    // v6; and flows of other addresses, which stay.
    udp(&ns, "127.0.0.5", "127.0.0.6");
    udp(&ns, "127.0.0.7", "127.0.0.5");
    udp(&ns, "127.0.0.7", "127.0.0.8");
    udp(&ns, "fd00:c7::5", "::1");
    udp(&ns, "fd00:c7::7", "::1");
    assert_eq!(tracked(&ns, Family::V4, "127.0.0.5"), 2);
    assert_eq!(tracked(&ns, Family::V6, "fd00:c7::5"), 1);
    let deleted = run_in(ns.fd(), || {
        flush(&["127.0.0.5".parse().unwrap(), "fd00:c7::5".parse().unwrap()]).expect("flush")
    })
    .expect("run in netns");
    assert_eq!(deleted, 3);
    assert_eq!(tracked(&ns, Family::V4, "127.0.0.5"), 0);
    assert_eq!(tracked(&ns, Family::V6, "fd00:c7::5"), 0);
    assert_eq!(
        tracked(&ns, Family::V4, "127.0.0.8"),
        1,
        "another flow went"
    );
    assert_eq!(
        tracked(&ns, Family::V6, "fd00:c7::7"),
        1,
        "another flow went"
    );
    // Nothing left to delete is not an error.
    let again = run_in(ns.fd(), || {
        flush(&["127.0.0.5".parse().unwrap()]).expect("flush")
    });
    assert_eq!(again.expect("run in netns"), 0);
}
