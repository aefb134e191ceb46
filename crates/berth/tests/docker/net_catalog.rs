//! The networking section of the security catalog (issue #14), probed from network namespaces
//! the tests make themselves: a "neighbour" plugged into the daemon's bridge by a veth (what a
//! container with CAP_NET_RAW could send), and an "outside machine" joined to the host by a veth.
//!
//! - NET-03: packets to 127.0.0.0/8 arriving on a bridge (where the engine sets `route_localnet=1`)
//!   reach neither a port published on 127.0.0.1 nor a host service on 127.0.0.1.
//! - NET-01: a container's outbound connection is seen from outside with the host's address.
//! - NET-02: a port published on every address answers the outside machine at the host's address;
//!   one published on 127.0.0.1 does not.
//! - NET-08: a refused port conflict leaves the bridge and the ruleset as they were.
//! - NET-09: 100 sequential `run --rm -p 0:80` leave links, addresses, rules, conntrack entries and
//!   IPAM as they were.
//! - NET-10: a flushed ruleset is restored by a daemon restart.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};
use crate::network::support::{free_port, http_get, links_of};

const HTTPD: &str =
    "mkdir -p /www && echo hello-berth > /www/index.html && exec httpd -f -p 80 -h /www";

/// Runs `ip ARGS`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with one veth into the host, plus host routes the test added; all of it
/// deleted on drop, even when the test fails.
struct TestNs {
    name: String,
    host_veth: String,
    ns_veth: String,
    host_routes: Vec<String>,
}

impl TestNs {
    /// A new namespace `bnc-<tag>-<pid>-<n>` and a veth pair, the host end named
    /// `nc<tag><n><pid>` (15 characters at most), the namespace end `eth0`, both up.
    fn new(tag: &str) -> TestNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() % 100_000;
        let t = TestNs {
            name: format!("bnc-{tag}-{pid}-{n}"),
            host_veth: format!("nc{tag}{n}{pid}"),
            ns_veth: "eth0".to_string(),
            host_routes: Vec::new(),
        };
        assert!(t.host_veth.len() <= 15, "{}", t.host_veth);
        ip(&["netns", "add", &t.name]);
        ip(&[
            "link",
            "add",
            &t.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            &t.ns_veth,
            "netns",
            &t.name,
        ]);
        ip(&["link", "set", &t.host_veth, "up"]);
        t.exec_ok(&["ip", "link", "set", &t.ns_veth, "up"]);
        t
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("20")
            .args(["ip", "netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    fn exec_ok(&self, args: &[&str]) {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "in {}: {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A host route (`ip route add ROUTE...`), deleted on drop.
    fn host_route(&mut self, route: &[&str]) {
        let mut args = vec!["route", "add"];
        args.extend_from_slice(route);
        ip(&args);
        self.host_routes.push(route.join(" "));
    }

    /// `curl` of `url` from inside the namespace: the body, or `None` when it fails.
    fn get(&self, url: &str) -> Option<String> {
        let out = self.exec(&["curl", "-sf", "-m", "3", url]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A TCP listener bound inside the namespace (the socket keeps the namespace it was made in).
    fn listen(&self, addr: SocketAddr) -> TcpListener {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("netns file");
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            TcpListener::bind(addr).expect("bind in netns")
        })
        .join()
        .expect("listener thread")
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        for r in &self.host_routes {
            let mut args = vec!["route", "del"];
            args.extend(r.split(' '));
            let _ = Command::new("ip").args(&args).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The default network's bridge, subnet and gateway.
fn default_bridge(d: &Daemon) -> (String, String, String) {
    let f = "{{index .Options \"com.docker.network.bridge.name\"}} \
             {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}";
    let out = d.ok(&["network", "inspect", "-f", f, "bridge"]);
    let v: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(v.len(), 3, "{out}");
    (v[0].to_string(), v[1].to_string(), v[2].to_string())
}

/// Whether `listener` (non-blocking) gets a connection before `deadline`.
fn accepted(listener: &TcpListener, deadline: Duration) -> Option<SocketAddr> {
    listener.set_nonblocking(true).expect("nonblocking");
    let end = Instant::now() + deadline;
    loop {
        if let Ok((_, peer)) = listener.accept() {
            return Some(peer);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// NET-03 (the CVE-2020-8558 class): the engine sets `route_localnet=1` on its bridges, so without
/// a drop rule a neighbour on the bridge that routes 127.0.0.0/8 to the gateway reaches a port
/// another container published on 127.0.0.1, and any host service on 127.0.0.1.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net03_loopback_is_not_reachable_from_the_bridge() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (bridge, _subnet, gw) = default_bridge(&d);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "sh", "-c", HTTPD,
    ]);
    let web_ip = d.inspect("web", "{{.NetworkSettings.IPAddress}}");
    let local = format!("127.0.0.1:{port}");
    eventually(Duration::from_secs(20), "the published port", || {
        http_get(&local).is_some_and(|r| r.contains("hello-berth"))
    });
    // A host service on 127.0.0.1 only.
    let host_svc = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host_port = host_svc.local_addr().expect("addr").port();

    // The attacker: plugged into the bridge with an address outside the subnet (so that the
    // container's replies are routed back through the host, which undoes the DNAT), routing
    // 127.0.0.0/8 to the gateway. Its own loopback stays down: no local 127/8 route there.
    let mut ns = TestNs::new("l");
    ip(&["link", "set", &ns.host_veth, "master", &bridge]);
    let me = "203.0.113.83";
    ns.exec_ok(&["ip", "addr", "add", &format!("{me}/32"), "dev", &ns.ns_veth]);
    ns.exec_ok(&["ip", "route", "add", &gw, "dev", &ns.ns_veth]);
    ns.exec_ok(&["ip", "route", "add", "default", "via", &gw]);
    ns.exec_ok(&["ip", "route", "add", "127.0.0.0/8", "via", &gw]);
    for conf in ["all", "eth0"] {
        ns.exec_ok(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{conf}.route_localnet=1"),
        ]);
    }
    ns.host_route(&[&format!("{me}/32"), "dev", &bridge]);

    // Positive control: the neighbour reaches the container by its address.
    let direct = ns.get(&format!("http://{web_ip}/"));
    assert!(
        direct.as_deref().is_some_and(|b| b.contains("hello-berth")),
        "the test neighbour cannot reach {web_ip}:80 at all: {direct:?}"
    );
    // The attack: 127.0.0.1:PORT through the bridge.
    let stolen = ns.get(&format!("http://127.0.0.1:{port}/"));
    assert!(
        stolen.is_none(),
        "a neighbour on the bridge reached the port published on 127.0.0.1:{port}: {stolen:?}"
    );
    let _ = ns.get(&format!("http://127.0.0.1:{host_port}/"));
    let peer = accepted(&host_svc, Duration::from_secs(1));
    assert!(
        peer.is_none(),
        "a neighbour on the bridge reached a host service on 127.0.0.1:{host_port} from {peer:?}"
    );
    // The host itself still reaches its loopback publish.
    assert!(http_get(&local).is_some_and(|r| r.contains("hello-berth")));
}

/// NET-01: a container's connection to an outside machine works, and that machine sees the host's
/// address (masquerade), not the container's.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net01_outbound_is_masqueraded_to_the_host_address() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // A network of its own: daemons of tests running beside this one can pick the same default
    // subnet, and then the host routes the replies to the other bridge.
    let subnet = "10.198.61.0/24".to_string();
    let bridge = format!("bc01-{}", std::process::id() % 100_000);
    let opt = format!("com.docker.network.bridge.name={bridge}");
    d.ok(&[
        "network", "create", "--subnet", &subnet, "-o", &opt, "net01",
    ]);
    // The daemon's table is named after its default bridge.
    let (default_br, _, _) = default_bridge(&d);
    // "ext": another machine on a link of its own, 198.51.100.61 on the host, .62 there.
    let ns = TestNs::new("o");
    let host_addr = "198.51.100.61";
    let ext_addr = "198.51.100.62";
    ip(&[
        "addr",
        "add",
        &format!("{host_addr}/30"),
        "dev",
        &ns.host_veth,
    ]);
    ns.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{ext_addr}/30"),
        "dev",
        &ns.ns_veth,
    ]);
    let server = ns.listen(format!("{ext_addr}:8080").parse().expect("addr"));
    // The masquerade decision is taken at a connection's first packet: wait for the rule.
    let masq = format!("ip saddr {subnet} oifname != \"{bridge}\" masquerade");
    eventually(Duration::from_secs(10), "the masquerade rule", || {
        table_of(&default_br).contains(&masq)
    });
    let script = format!("echo hi | nc -w 3 {ext_addr} 8080; echo nc exit $?; ip route");
    // Detached: nc waits for the server to close, which it does when the test ends.
    let id = d.ok(&[
        "run",
        "-d",
        "--network",
        "net01",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let peer = accepted(&server, Duration::from_secs(10)).unwrap_or_else(|| {
        let logs = d.docker(&["logs", &id]);
        panic!(
            "{ext_addr}:8080 saw no connection from the container (subnet {subnet} on {bridge}; \
             host routes to it: {}): {}{}",
            String::from_utf8_lossy(
                &Command::new("ip")
                    .args(["route", "show", "to", "match", &subnet])
                    .output()
                    .expect("ip route")
                    .stdout
            ),
            stdout(&logs),
            stderr(&logs)
        )
    });
    assert_eq!(
        peer.ip().to_string(),
        host_addr,
        "the outside saw {peer}, not the host's address (container subnet {subnet})"
    );
}

/// The daemon's nftables table (`berth_<suffix>` for bridge `bt<suffix>`) as `nft` lists it.
fn table_of(bridge: &str) -> String {
    let table = format!("berth_{}", bridge.trim_start_matches("bt"));
    let out = Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a refused start could leave behind on the bridge: its ports (veths), its addresses, and
/// the daemon's table.
fn bridge_state(bridge: &str) -> (Vec<String>, String, String) {
    let mut links = links_of(bridge);
    links.sort();
    let addr = Command::new("ip")
        .args(["-o", "addr", "show", "dev", bridge])
        .output()
        .expect("ip addr");
    (
        links,
        String::from_utf8_lossy(&addr.stdout).into_owned(),
        table_of(bridge),
    )
}

/// NET-08: a second container publishing a taken port fails to start with Docker's message and
/// leaves the bridge's links and addresses and the daemon's ruleset as they were.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net08_port_conflict_leaves_no_trace() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (bridge, _subnet, _gw) = default_bridge(&d);
    let port = free_port();
    let publish = format!("{port}:80");
    d.ok(&[
        "run", "-d", "--name", "first", "-p", &publish, "busybox", "sh", "-c", HTTPD,
    ]);
    let local = format!("127.0.0.1:{port}");
    eventually(Duration::from_secs(20), "the published port", || {
        http_get(&local).is_some_and(|r| r.contains("hello-berth"))
    });
    // The bridge and the first container's veth, nothing else.
    eventually(Duration::from_secs(10), "one veth on the bridge", || {
        links_of(&bridge).len() == 2
    });
    let before = bridge_state(&bridge);
    let out = d.docker(&[
        "run", "-d", "--name", "second", "-p", &publish, "busybox", "sh", "-c", HTTPD,
    ]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    // The refused start's veth can still be on the bridge when the CLI gets the error (seen when
    // other daemons run beside this one); it must be gone soon after, with nothing else changed.
    let end = Instant::now() + Duration::from_secs(10);
    let mut after = bridge_state(&bridge);
    while after != before && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        after = bridge_state(&bridge);
    }
    assert_eq!(after, before);
    assert_ne!(d.inspect("second", "{{.State.Status}}"), "running");
    // The first one still serves.
    assert!(http_get(&local).is_some_and(|r| r.contains("hello-berth")));
}

/// NET-10: the daemon's rules come back after someone flushes its table: a restart reconciles the
/// ruleset from the stored state, and the published port works again.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net10_flushed_rules_are_restored_on_restart() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    let (bridge, _subnet, _gw) = default_bridge(&d);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--restart",
        "always",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let local = format!("127.0.0.1:{port}");
    let serves = |what: &str| {
        eventually(Duration::from_secs(30), what, || {
            http_get(&local).is_some_and(|r| r.contains("hello-berth"))
        })
    };
    serves("the published port");
    let rules = table_of(&bridge);
    assert!(rules.contains(&format!("tcp . {port}")), "{rules}");
    let table = format!("berth_{}", bridge.trim_start_matches("bt"));
    let out = Command::new("nft")
        .args(["flush", "table", "ip", &table])
        .output()
        .expect("nft");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        http_get(&local).is_none(),
        "the port still answers with the table flushed"
    );
    d.stop();
    d.spawn();
    serves("the published port after the restart");
    let after = table_of(&bridge);
    assert!(after.contains(&format!("tcp . {port}")), "{after}");
    assert!(after.contains("ip daddr 127.0.0.0/8 drop"), "{after}");
}

/// NET-02: a port published on every address (`-p PORT:80`) answers on the host's loopback, at the
/// host's address, and to another machine ("ext", a namespace joined to the host by a veth) at
/// the host's address on that link; one published on 127.0.0.1 answers on the host's loopback
/// only, "ext" is refused or times out.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net02_published_ports_from_the_host_and_from_outside() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (open_port, local_port) = (free_port(), free_port());
    let open = format!("{open_port}:80");
    let local = format!("127.0.0.1:{local_port}:80");
    d.ok(&[
        "run", "-d", "--name", "open", "-p", &open, "busybox", "sh", "-c", HTTPD,
    ]);
    d.ok(&[
        "run", "-d", "--name", "local", "-p", &local, "busybox", "sh", "-c", HTTPD,
    ]);
    // "ext": another machine, 198.51.100.69 on the host, .70 there (a /30 of its own).
    let ns = TestNs::new("e");
    let host_addr = "198.51.100.69";
    let ext_addr = "198.51.100.70";
    ip(&[
        "addr",
        "add",
        &format!("{host_addr}/30"),
        "dev",
        &ns.host_veth,
    ]);
    ns.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{ext_addr}/30"),
        "dev",
        &ns.ns_veth,
    ]);
    let serves = |addr: &str| http_get(addr).is_some_and(|r| r.contains("hello-berth"));
    for addr in [
        format!("127.0.0.1:{open_port}"),
        format!("{host_addr}:{open_port}"),
        format!("127.0.0.1:{local_port}"),
    ] {
        eventually(
            Duration::from_secs(20),
            &format!("{addr} from the host"),
            || serves(&addr),
        );
    }
    let from_ext = ns.get(&format!("http://{host_addr}:{open_port}/"));
    assert!(
        from_ext
            .as_deref()
            .is_some_and(|b| b.contains("hello-berth")),
        "ext cannot reach {host_addr}:{open_port} (published on every address): {from_ext:?}"
    );
    let stolen = ns.get(&format!("http://{host_addr}:{local_port}/"));
    assert!(
        stolen.is_none(),
        "ext reached {host_addr}:{local_port}, published on 127.0.0.1 only: {stolen:?}"
    );
    assert!(
        !serves(&format!("{host_addr}:{local_port}")),
        "the host reached the 127.0.0.1 publish at {host_addr}"
    );
}

/// The conntrack entries (`/proc/net/nf_conntrack`) naming a container address, one that starts
/// with `prefix` (`a.b.c.`) and is not the `gateway` (whose own multicast reports come and go),
/// without their countdowns; or why they cannot be read.
fn conntrack_of(prefix: &str, gateway: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string("/proc/net/nf_conntrack")
        .map_err(|e| format!("/proc/net/nf_conntrack: {e}"))?;
    let container = |w: &str| {
        ["src=", "dst="].iter().any(|k| {
            w.strip_prefix(k)
                .is_some_and(|a| a.starts_with(prefix) && a != gateway)
        })
    };
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.split_whitespace().any(container))
        .map(|l| {
            // ipv4 2 tcp 6 <seconds left> ...: the countdown is not state.
            let mut f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 4 {
                f.remove(4);
            }
            f.join(" ")
        })
        .collect();
    v.sort();
    Ok(v)
}

/// NET-09: 100 sequential `run --rm -p 0:80` on one network leave the daemon's ruleset, the
/// bridge's links and addresses, the conntrack entries of the network's addresses and its
/// endpoints as they were, and the addresses are reused: the allocation is serial from a cursor
/// (as Docker's IPAM), so on a /27 (29 addresses for containers) the runs go round the pool three
/// times, each round in the same order, which a leaked address would break.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn net09_hundred_sequential_publishes_leave_nothing() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let subnet = "10.198.69.0/27";
    let bridge = format!("bc09-{}", std::process::id() % 100_000);
    let opt = format!("com.docker.network.bridge.name={bridge}");
    d.ok(&["network", "create", "--subnet", subnet, "-o", &opt, "net09"]);
    let (default_br, _, _) = default_bridge(&d);
    let run = || {
        d.ok(&[
            "run",
            "--rm",
            "-p",
            "0:80",
            "--network",
            "net09",
            "busybox",
            "hostname",
            "-i",
        ])
    };
    // One run first, so that anything made once per network (the bridge's port state) is in the
    // baseline.
    let first = run();
    let state = || {
        let mut links = links_of(&bridge);
        links.sort();
        let addr = Command::new("ip")
            .args(["-o", "addr", "show", "dev", &bridge])
            .output()
            .expect("ip addr");
        let endpoints = d.ok(&["network", "inspect", "-f", "{{len .Containers}}", "net09"]);
        (
            links,
            // Duplicate address detection on the bridge's link-local address comes and goes
            // with its ports: not a leftover.
            String::from_utf8_lossy(&addr.stdout).replace(" tentative", ""),
            table_of(&default_br),
            endpoints,
        )
    };
    // The last run's veth can linger for a moment after the CLI returns.
    let settled = |before: &(Vec<String>, String, String, String)| {
        let end = Instant::now() + Duration::from_secs(10);
        let mut now = state();
        while now != *before && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
            now = state();
        }
        now
    };
    eventually(Duration::from_secs(10), "the first run's veth gone", || {
        links_of(&bridge).len() == 1
    });
    let before = state();
    assert_eq!(before.3, "0", "an endpoint outlived its --rm container");
    let conntrack_before = conntrack_of("10.198.69.", "10.198.69.1");
    let mut ips = vec![first];
    for n in 0..100 {
        let ip = run();
        assert!(ip.starts_with("10.198.69."), "run {n}: {ip}");
        ips.push(ip);
    }
    assert_eq!(settled(&before), before);
    let distinct: std::collections::BTreeSet<&String> = ips.iter().collect();
    assert_eq!(
        distinct.len(),
        29,
        "the pool is 10.198.69.2-30: {distinct:?}"
    );
    for (n, w) in ips.windows(30).enumerate() {
        assert_eq!(
            w[0], w[29],
            "run {n}: not the next round's address: {ips:?}"
        );
    }
    match (conntrack_before, conntrack_of("10.198.69.", "10.198.69.1")) {
        (Ok(b), Ok(a)) => assert_eq!(a, b, "conntrack entries of {subnet}"),
        (Err(why), _) | (_, Err(why)) => eprintln!("NET-09: conntrack not checked: {why}"),
    }
}
