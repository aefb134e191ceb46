//! The embedded DNS server reached at 127.0.0.11:53 inside a container's namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_network::dns::{
    build_query, parse_response, qtype, serve_tcp, serve_udp, DnsTable, Resolver,
};
use berth_network::endpoint;
use berth_network::files::EMBEDDED_DNS;
use berth_network::netns::{run_in, socket_in, SocketKind};

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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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
        forward: true,
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

/// One DNS message over a TCP stream (two-byte length prefix each way).
fn ask_tcp(conn: &mut TcpStream, query: &[u8]) -> Vec<u8> {
    conn.write_all(&(query.len() as u16).to_be_bytes()).unwrap();
    conn.write_all(query).unwrap();
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).expect("a length prefix over tcp");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut reply).expect("a reply over tcp");
    reply
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn embedded_dns_answers_over_tcp_and_aaaa_of_a_known_name_is_empty_noerror() {
    if !root_tests() {
        return;
    }
    let ns = Netns::new();
    endpoint::loopback_up(ns.fd()).unwrap();
    // An upstream on the host's loopback that notes the names it is asked and answers NXDOMAIN.
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    upstream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let asked = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, peer) = upstream.recv_from(&mut buf).expect("a forwarded query");
        let mut reply = buf[..n].to_vec();
        reply[2] |= 0x80;
        reply[3] = 0x83;
        upstream.send_to(&reply, peer).unwrap();
        buf[..n].to_vec()
    });
    let table = Arc::new(DnsTable::default());
    table.insert("net1", "web", Ipv4Addr::new(10, 7, 1, 2));
    table.insert("net1", "frontend", Ipv4Addr::new(10, 7, 1, 2));
    let resolver = Resolver {
        table,
        networks: vec!["net1".into()],
        upstreams: vec![up_addr],
        forward: true,
        timeout: Duration::from_secs(3),
    };
    let addr = SocketAddrV4::new(EMBEDDED_DNS, 53);
    let udp = UdpSocket::from(socket_in(ns.fd(), SocketKind::Udp(addr)).unwrap());
    let tcp = TcpListener::from(socket_in(ns.fd(), SocketKind::TcpListener(addr)).unwrap());
    let (r1, r2) = (resolver.clone(), resolver);
    let stop_u = Arc::new(AtomicBool::new(false));
    let flag = stop_u.clone();
    let _udp = Stop(
        stop_u,
        Some(std::thread::spawn(move || serve_udp(udp, &r1, &flag))),
    );
    let stop_t = Arc::new(AtomicBool::new(false));
    let flag = stop_t.clone();
    let _tcp = Stop(
        stop_t,
        Some(std::thread::spawn(move || serve_tcp(tcp, &r2, &flag))),
    );

    // A client inside the namespace, as after a truncated UDP reply: several queries on one
    // connection.
    let mut conn = run_in(ns.fd(), move || TcpStream::connect(addr))
        .unwrap()
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reply = ask_tcp(&mut conn, &build_query(11, "web", qtype::A));
    assert_eq!(reply[..2], 11u16.to_be_bytes());
    assert_eq!(
        parse_response(&reply),
        Some((0, vec![Ipv4Addr::new(10, 7, 1, 2)]))
    );
    let reply = ask_tcp(&mut conn, &build_query(12, "FrontEnd", qtype::A));
    assert_eq!(
        parse_response(&reply),
        Some((0, vec![Ipv4Addr::new(10, 7, 1, 2)]))
    );

    // AAAA of a known name: NOERROR, authoritative, no answer records, not forwarded; over TCP
    // and over UDP.
    let check_aaaa = |reply: &[u8], id: u16| {
        assert_eq!(reply[..2], id.to_be_bytes());
        assert_eq!(reply[3] & 0x0f, 0, "rcode NOERROR: {reply:?}");
        assert_ne!(reply[2] & 0x04, 0, "authoritative: {reply:?}");
        assert_eq!(reply[6..8], [0, 0], "no answer records: {reply:?}");
    };
    check_aaaa(
        &ask_tcp(&mut conn, &build_query(13, "web", qtype::AAAA)),
        13,
    );
    let client = UdpSocket::from(
        socket_in(
            ns.fd(),
            SocketKind::Udp(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
        )
        .unwrap(),
    );
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client
        .send_to(&build_query(14, "frontend", qtype::AAAA), addr)
        .unwrap();
    let mut buf = [0u8; 512];
    let n = client.recv(&mut buf).expect("an answer over udp");
    check_aaaa(&buf[..n], 14);

    // The first query the upstream sees is the first unknown name, not an AAAA of a known one.
    let reply = ask_tcp(&mut conn, &build_query(15, "elsewhere.test", qtype::A));
    assert_eq!(parse_response(&reply).map(|r| r.0), Some(3));
    let first = asked.join().unwrap();
    assert!(
        first.windows(10).any(|w| w == b"\x09elsewhere"),
        "forwarded: {first:?}"
    );
}
