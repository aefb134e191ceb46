//! The embedded DNS server reached at 127.0.0.11:53 inside a container's namespace.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_network::dns::{build_query, parse_response, qtype, serve_udp, DnsTable, Resolver};
use berth_network::endpoint;
use berth_network::files::EMBEDDED_DNS;
use berth_network::netns::{socket_in, SocketKind};

use crate::harness::{root_tests, Netns};

struct Stop(
    Arc<AtomicBool>,
    Option<std::thread::JoinHandle<std::io::Result<()>>>,
);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn embedded_dns_answers_names_aliases_and_nxdomain_inside_the_namespace() {
    if !root_tests() {
        return;
    }
    let ns = Netns::new();
    endpoint::loopback_up(ns.fd()).unwrap();
    let table = Arc::new(DnsTable::default());
    table.insert("net1", "web", Ipv4Addr::new(10, 7, 0, 2));
    table.insert("net1", "frontend", Ipv4Addr::new(10, 7, 0, 2));
    let resolver = Resolver {
        table,
        networks: vec!["net1".into()],
        upstreams: vec![],
        timeout: Duration::from_secs(1),
    };
    let server = socket_in(
        ns.fd(),
        SocketKind::Udp(SocketAddrV4::new(EMBEDDED_DNS, 53)),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || serve_udp(UdpSocket::from(server), &resolver, &flag));
    let _stop = Stop(stop, Some(handle));

    // A client socket inside the same namespace, as a container process would have.
    let client = socket_in(
        ns.fd(),
        SocketKind::Udp(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
    )
    .unwrap();
    let client = UdpSocket::from(client);
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let ask = |id: u16, name: &str| {
        client
            .send_to(&build_query(id, name, qtype::A), (EMBEDDED_DNS, 53))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = client.recv(&mut buf).expect("an answer from 127.0.0.11");
        parse_response(&buf[..n]).expect("a DNS response")
    };
    assert_eq!(ask(1, "web"), (0, vec![Ipv4Addr::new(10, 7, 0, 2)]));
    assert_eq!(ask(2, "frontend"), (0, vec![Ipv4Addr::new(10, 7, 0, 2)]));
    assert_eq!(ask(3, "unknown-name"), (3, vec![]));

    // The server is not reachable from the host's own 127.0.0.11.
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = host.send_to(&build_query(4, "web", qtype::A), (EMBEDDED_DNS, 53));
    let mut buf = [0u8; 512];
    assert!(
        host.recv(&mut buf).is_err(),
        "the host's namespace has no such server"
    );
}
