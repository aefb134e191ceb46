use super::*;

fn resolver(upstreams: Vec<SocketAddr>) -> Resolver {
    let table = Arc::new(DnsTable::default());
    table.insert("front", "web", Ipv4Addr::new(10, 5, 0, 2));
    table.insert("front", "www-alias", Ipv4Addr::new(10, 5, 0, 2));
    table.insert("back", "db", Ipv4Addr::new(10, 6, 0, 2));
    Resolver {
        table,
        networks: vec!["front".into()],
        upstreams,
        forward: true,
        timeout: Duration::from_millis(500),
    }
}

fn ask(r: &Resolver, name: &str, qtype: u16) -> (u8, Vec<Ipv4Addr>) {
    let reply = r
        .answer(&build_query(0x1234, name, qtype))
        .expect("an answer");
    assert_eq!(reply[..2], [0x12, 0x34]);
    parse_response(&reply).expect("a well-formed response")
}

#[test]
fn names_and_aliases_resolve_case_insensitively() {
    let r = resolver(vec![]);
    assert_eq!(
        ask(&r, "web", qtype::A),
        (0, vec![Ipv4Addr::new(10, 5, 0, 2)])
    );
    assert_eq!(
        ask(&r, "WWW-Alias.", qtype::A),
        (0, vec![Ipv4Addr::new(10, 5, 0, 2)])
    );
    assert_eq!(ask(&r, "web", qtype::AAAA), (0, vec![]));
}

#[test]
fn other_networks_and_unknown_names_are_nxdomain_without_upstreams() {
    let r = resolver(vec![]);
    assert_eq!(ask(&r, "db", qtype::A), (RCODE_NXDOMAIN, vec![]));
    assert_eq!(ask(&r, "nope.example", qtype::A), (RCODE_NXDOMAIN, vec![]));
}

#[test]
fn ptr_for_a_known_address() {
    let r = resolver(vec![]);
    let reply = r
        .answer(&build_query(7, "2.0.5.10.in-addr.arpa", qtype::PTR))
        .unwrap();
    assert_eq!(parse_response(&reply).unwrap().0, 0);
    assert!(reply.windows(4).any(|w| w == b"\x03web"), "{reply:?}");
}

#[test]
fn malformed_input_gets_no_answer() {
    let r = resolver(vec![]);
    assert!(r.answer(&[]).is_none());
    assert!(r.answer(&[0u8; 11]).is_none());
    let mut q = build_query(1, "web", qtype::A);
    q.truncate(q.len() - 3);
    assert!(r.answer(&q).is_none());
}

#[test]
fn unknown_names_are_forwarded_and_dead_upstreams_give_servfail() {
    // A fake upstream on loopback that answers every query with 192.0.2.1 (by rewriting the query).
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = up.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, peer) = up.recv_from(&mut buf).unwrap();
        let q = parse_query(&buf[..n]).unwrap();
        let reply = respond(&q, 0, false, &[(TYPE_A, vec![192, 0, 2, 1])]);
        up.send_to(&reply, peer).unwrap();
    });
    let r = resolver(vec![addr]);
    assert_eq!(
        ask(&r, "example.test", qtype::A),
        (0, vec![Ipv4Addr::new(192, 0, 2, 1)])
    );
    server.join().unwrap();

    // The upstream is gone now: nobody answers on that port.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = resolver(vec![dead.local_addr().unwrap()]);
    assert_eq!(ask(&r, "example.test", qtype::A), (RCODE_SERVFAIL, vec![]));
}

#[test]
fn without_forwarding_unknown_names_are_servfail_and_nothing_is_sent() {
    // An upstream that would answer; it must never see a query.
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    up.set_nonblocking(true).unwrap();
    let r = Resolver {
        forward: false,
        ..resolver(vec![up.local_addr().unwrap()])
    };
    assert_eq!(ask(&r, "example.test", qtype::A), (RCODE_SERVFAIL, vec![]));
    assert_eq!(
        ask(&r, "example.test", qtype::AAAA),
        (RCODE_SERVFAIL, vec![])
    );
    assert_eq!(
        ask(&r, "9.9.9.9.in-addr.arpa", qtype::PTR),
        (RCODE_SERVFAIL, vec![])
    );
    // Names on the container's networks still resolve.
    assert_eq!(
        ask(&r, "web", qtype::A),
        (0, vec![Ipv4Addr::new(10, 5, 0, 2)])
    );
    let mut buf = [0u8; 512];
    let got = up.recv_from(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the upstream was asked: {got:?}"
    );
}

#[test]
fn table_updates() {
    let r = resolver(vec![]);
    r.table.remove_ip("front", Ipv4Addr::new(10, 5, 0, 2));
    assert_eq!(ask(&r, "web", qtype::A).0, RCODE_NXDOMAIN);
    r.table.insert("front", "web", Ipv4Addr::new(10, 5, 0, 9));
    r.table.insert("front", "web", Ipv4Addr::new(10, 5, 0, 9));
    assert_eq!(ask(&r, "web", qtype::A).1, vec![Ipv4Addr::new(10, 5, 0, 9)]);
    r.table.remove_network("front");
    assert_eq!(ask(&r, "web", qtype::A).0, RCODE_NXDOMAIN);
}

fn ask_all(r: &Resolver, name: &str, qtype: u16) -> (u8, Vec<IpAddr>) {
    let reply = r.answer(&build_query(9, name, qtype)).expect("an answer");
    parse_answers(&reply).expect("a well-formed response")
}

#[test]
fn a_names_several_addresses_come_complete_in_varying_order() {
    let r = resolver(vec![]);
    let all: Vec<Ipv4Addr> = (2..=7).map(|d| Ipv4Addr::new(10, 5, 1, d)).collect();
    for ip in &all {
        r.table.insert("front", "svc", *ip);
    }
    let mut orders = std::collections::BTreeSet::new();
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let (rcode, got) = ask(&r, "svc", qtype::A);
        assert_eq!(rcode, 0);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, all, "every address, once");
        firsts.insert(got[0]);
        orders.insert(got);
    }
    // 720 orders are possible: 200 answers in one order would be a fixed order.
    assert!(
        orders.len() > 20,
        "only {} orders: {orders:?}",
        orders.len()
    );
    assert_eq!(
        firsts.len(),
        all.len(),
        "each address comes first sometimes"
    );
}

#[test]
fn aaaa_and_ip6_ptr_for_v6_addresses() {
    let r = resolver(vec![]);
    let v6: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    r.table.insert("front", "web", v6);
    assert_eq!(ask_all(&r, "web", qtype::AAAA), (0, vec![IpAddr::V6(v6)]));
    assert_eq!(
        ask_all(&r, "web", qtype::A),
        (0, vec![IpAddr::V4(Ipv4Addr::new(10, 5, 0, 2))])
    );
    let name = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    let reply = r.answer(&build_query(7, name, qtype::PTR)).unwrap();
    assert_eq!(parse_response(&reply).unwrap().0, 0);
    assert!(reply.windows(4).any(|w| w == b"\x03web"), "{reply:?}");
    assert_eq!(ptr_address("1.0.ip6.arpa"), None);
    r.table.remove_ip("front", v6);
    assert_eq!(ask_all(&r, "web", qtype::AAAA), (0, vec![]));
}
