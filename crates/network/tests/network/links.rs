//! Bridges and veth endpoints: containers on one bridge reach each other; teardown leaves nothing.

use std::net::Ipv4Addr;

use berth_network::endpoint::{self, mac_from_ip, EndpointConfig};
use berth_network::netlink::Netlink;

use crate::harness::{link_exists, root_tests, unique, Bridge, Netns};

pub fn endpoint_cfg(bridge: &str, ip: Ipv4Addr, gw: Ipv4Addr) -> EndpointConfig {
    EndpointConfig {
        bridge: bridge.to_string(),
        host_ifname: unique("btv"),
        ifname: "eth0".to_string(),
        ip,
        prefix: 24,
        mac: mac_from_ip(ip),
        default_gateway: Some(gw),
        link_local: Vec::new(),
        ip6: None,
        default_gateway6: None,
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn two_namespaces_on_one_bridge_reach_each_other() {
    if !root_tests() {
        return;
    }
    let gw = Ipv4Addr::new(10, 231, 7, 1);
    let br = Bridge::new(gw, 24);
    let (a, b) = (Netns::new(), Netns::new());
    let mut nl = Netlink::open().unwrap();
    let ca = endpoint_cfg(&br.name, Ipv4Addr::new(10, 231, 7, 2), gw);
    let cb = endpoint_cfg(&br.name, Ipv4Addr::new(10, 231, 7, 3), gw);
    endpoint::attach(&mut nl, a.fd(), &ca).unwrap();
    endpoint::attach(&mut nl, b.fd(), &cb).unwrap();
    assert!(link_exists(&ca.host_ifname));
    // The host end is on the bridge, up, with hairpin on (made by one request, then one more).
    let sys = |f: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{}/{f}", ca.host_ifname))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(sys("brport/hairpin_mode"), "1");
    assert_eq!(sys("operstate"), "up");
    let master = std::fs::read_link(format!("/sys/class/net/{}/master", ca.host_ifname)).unwrap();
    assert!(master.ends_with(&br.name), "{master:?}");

    let addr =
        String::from_utf8_lossy(&a.exec(&["ip", "-4", "addr", "show", "eth0"]).stdout).into_owned();
    assert!(addr.contains("10.231.7.2/24"), "{addr}");
    let link =
        String::from_utf8_lossy(&a.exec(&["ip", "link", "show", "eth0"]).stdout).into_owned();
    assert!(link.contains("02:42:0a:e7:07:02"), "{link}");
    let route = String::from_utf8_lossy(&a.exec(&["ip", "route"]).stdout).into_owned();
    assert!(route.contains("default via 10.231.7.1"), "{route}");

    let ping = a.exec(&["busybox", "ping", "-c1", "-W2", "10.231.7.3"]);
    assert!(
        ping.status.success(),
        "ping b: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let ping = b.exec(&["busybox", "ping", "-c1", "-W2", "10.231.7.1"]);
    assert!(
        ping.status.success(),
        "ping gateway: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    endpoint::detach(&mut nl, &ca.host_ifname).unwrap();
    endpoint::detach(&mut nl, &ca.host_ifname).unwrap();
    assert!(!link_exists(&ca.host_ifname));
    let links = String::from_utf8_lossy(&a.exec(&["ip", "link"]).stdout).into_owned();
    assert!(!links.contains("eth0"), "{links}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_restarted_endpoint_replaces_its_stale_veth_and_late_deletion_goes_by_index() {
    if !root_tests() {
        return;
    }
    let gw = Ipv4Addr::new(10, 231, 8, 1);
    let br = Bridge::new(gw, 24);
    let (old, new) = (Netns::new(), Netns::new());
    let mut nl = Netlink::open().unwrap();
    let cfg = endpoint_cfg(&br.name, Ipv4Addr::new(10, 231, 8, 2), gw);
    endpoint::attach(&mut nl, old.fd(), &cfg).unwrap();
    let stale = nl.link_index(&cfg.host_ifname).unwrap().unwrap();

    // The container restarted before its old veth was deleted: same name, new namespace.
    endpoint::attach(&mut nl, new.fd(), &cfg).unwrap();
    let fresh = nl.link_index(&cfg.host_ifname).unwrap().unwrap();
    assert_ne!(stale, fresh);
    let links = String::from_utf8_lossy(&old.exec(&["ip", "link"]).stdout).into_owned();
    assert!(!links.contains("eth0"), "the stale end is gone: {links}");
    let addr = String::from_utf8_lossy(&new.exec(&["ip", "-4", "addr", "show", "eth0"]).stdout)
        .into_owned();
    assert!(addr.contains("10.231.8.2/24"), "{addr}");

    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = errors.clone();
    endpoint::delete_later(vec![fresh], move |e| {
        sink.lock().unwrap().push(e.to_string())
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while link_exists(&cfg.host_ifname) {
        assert!(
            std::time::Instant::now() < deadline,
            "the veth was not deleted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_in_works_inside_the_namespace_and_leaves_no_thread_there() {
    if !root_tests() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).unwrap().ino();
    let ns = Netns::new();
    let target = ino(&format!("/run/netns/{}", ns.name));
    let mine = ino("/proc/thread-self/ns/net");
    assert_ne!(target, mine);
    for _ in 0..3 {
        let (inside, tid) = berth_network::netns::run_in(ns.fd(), move || {
            (
                ino("/proc/thread-self/ns/net"),
                nix::unistd::gettid().as_raw(),
            )
        })
        .unwrap();
        assert_eq!(inside, target, "the closure runs in the namespace");
        // The helper is back in the caller's namespace before run_in returns.
        assert_eq!(ino(&format!("/proc/self/task/{tid}/ns/net")), mine);
    }
}

/// `netns::create` (the one maker of a container's namespace): a new namespace bound at the path,
/// `lo` up inside, the caller's own namespace unchanged; `remove` leaves nothing; a path that
/// cannot be made is an error that names it, with nothing left behind.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn create_binds_a_new_namespace_with_lo_up_and_remove_unbinds_it() {
    if !root_tests() {
        return;
    }
    use berth_network::netns;
    use std::os::unix::fs::MetadataExt;
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            netns::remove(&self.0);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = Removed(dir.path().join("netns"));
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    let mine = ino(std::path::Path::new("/proc/thread-self/ns/net"));
    netns::create(&path.0).unwrap();
    let made = ino(&path.0);
    assert_ne!(made, mine, "the path holds another namespace");
    assert_eq!(ino(std::path::Path::new("/proc/thread-self/ns/net")), mine);
    // Made again over the one there (a stale namespace after a crash): replaced.
    netns::create(&path.0).unwrap();
    let out = crate::harness::run_ok(
        "nsenter",
        &[
            &format!("--net={}", path.0.display()),
            "ip",
            "-o",
            "link",
            "show",
            "lo",
        ],
    );
    assert!(out.contains(",UP"), "lo is not up: {out}");
    netns::remove(&path.0);
    assert!(!path.0.exists());

    let bad = dir.path().join("missing").join("netns");
    let err = netns::create(&bad).unwrap_err().to_string();
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert!(!bad.exists());
}

/// IPv6 beside IPv4 (the dual-stack foundation): addresses added without DAD are usable at once,
/// so two namespaces on one bridge reach each other and the bridge's IPv6 gateway.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ipv6_addresses_without_dad_reach_each_other_at_once() {
    if !root_tests() {
        return;
    }
    let gw = Ipv4Addr::new(10, 231, 9, 1);
    let gw6: std::net::Ipv6Addr = "fd00:b37:9::1".parse().unwrap();
    let br = Bridge::new(gw, 24);
    let mut nl = Netlink::open().unwrap();
    let index = nl.link_index(&br.name).unwrap().unwrap();
    nl.add_address6(index, gw6, 64).unwrap();
    let (a, b) = (Netns::new(), Netns::new());
    for (ns, last) in [(&a, 2u8), (&b, 3u8)] {
        let cfg = endpoint_cfg(&br.name, Ipv4Addr::new(10, 231, 9, last), gw);
        endpoint::attach(&mut nl, ns.fd(), &cfg).unwrap();
        let ip: std::net::Ipv6Addr = format!("fd00:b37:9::{last}").parse().unwrap();
        berth_network::netns::run_in(ns.fd(), move || {
            let mut inner = Netlink::open().unwrap();
            let eth = inner.link_index("eth0").unwrap().unwrap();
            inner.add_address6(eth, ip, 64).unwrap();
            // Twice: an address that is there already is not an error.
            inner.add_address6(eth, ip, 64).unwrap();
            inner.add_default_route6(gw6).unwrap();
        })
        .unwrap();
    }
    let addr =
        String::from_utf8_lossy(&a.exec(&["ip", "-6", "addr", "show", "eth0"]).stdout).into_owned();
    let line = addr
        .lines()
        .find(|l| l.contains("fd00:b37:9::2/64"))
        .unwrap_or_else(|| panic!("{addr}"));
    assert!(!line.contains("tentative"), "{addr}");
    let route = String::from_utf8_lossy(&a.exec(&["ip", "-6", "route"]).stdout).into_owned();
    assert!(route.contains("default via fd00:b37:9::1"), "{route}");
    for target in ["fd00:b37:9::3", "fd00:b37:9::1"] {
        let ping = a.exec(&["busybox", "ping", "-6", "-c1", "-W2", target]);
        assert!(
            ping.status.success(),
            "ping {target}: {}{}",
            String::from_utf8_lossy(&ping.stdout),
            String::from_utf8_lossy(&ping.stderr)
        );
    }
}
