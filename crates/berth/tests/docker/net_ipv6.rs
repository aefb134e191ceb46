//! Dual-stack networks with the real docker CLI (issue #15): `network create --ipv6 --subnet`,
//! the IPv6 fields of network and container inspect, `--ip6`, containers reaching each other by
//! name over IPv6 (AAAA answers of the embedded DNS), the default route via the gateway, the
//! ip6 nftables table, and Docker's refusal of an IPv6 subnet without `--ipv6`.

use crate::harness::{code, opted_in, stderr, Daemon};

/// Puts `net.ipv6.conf.all.forwarding` back as it was (the daemons turn it on, as Docker does)
/// when the last test holding one ends: the tests of this file run in parallel.
struct Ip6Forward;

const IP6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

static FORWARD: std::sync::Mutex<(u32, String)> = std::sync::Mutex::new((0, String::new()));

impl Ip6Forward {
    fn remember() -> Ip6Forward {
        let mut g = FORWARD.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 == 0 {
            g.1 = std::fs::read_to_string(IP6_FORWARD).expect("read ipv6 forwarding");
        }
        g.0 += 1;
        Ip6Forward
    }
}

impl Drop for Ip6Forward {
    fn drop(&mut self) {
        let mut g = FORWARD.lock().unwrap_or_else(|p| p.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            let _ = std::fs::write(IP6_FORWARD, g.1.trim());
        }
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

    // --ip6 where there is no IPv6: refused with what to do.
    let out = d.docker(&["run", "--rm", "--ip6", "2001:db8:71::5", "busybox", "true"]);
    assert!(
        stderr(&out)
            .contains("user specified IP address is supported on user defined networks only"),
        "{out:?}"
    );
    d.ok(&["network", "create", "--subnet", "10.198.73.0/24", "v4only"]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v4only",
        "--ip6",
        "2001:db8:71::5",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("does not have IPv6 enabled"),
        "{out:?}"
    );

    // A running container connected to the dual-stack network with --ip6.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "v6c",
        "--network",
        "v4only",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "network",
        "connect",
        "--ip6",
        "2001:db8:71::55",
        "v6net",
        "v6c",
    ]);
    let c6 = d.inspect(
        "v6c",
        "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}",
    );
    assert_eq!(c6, "2001:db8:71::55");
    let out = d.docker(&["exec", "v6c", "ping6", "-c1", "-W3", "v6b"]);
    assert_eq!(code(&out), 0, "ping6 v6b after connect: {out:?}");
    d.ok(&["network", "disconnect", "v6net", "v6c"]);
    // Connected before it starts, the dual-stack network gives the IPv6 default route though
    // it is not the primary one.
    d.ok(&[
        "create",
        "--name",
        "v6d",
        "--network",
        "v4only",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["network", "connect", "v6net", "v6d"]);
    d.ok(&["start", "v6d"]);
    let routes = d.ok(&["exec", "v6d", "ip", "-6", "route"]);
    assert!(routes.contains("default via 2001:db8:71::1"), "{routes}");
    let routes4 = d.ok(&["exec", "v6d", "ip", "route"]);
    assert!(routes4.contains("default via 10.198.73.1"), "{routes4}");

    // --ipv6 without an IPv6 subnet: a unique local /64.
    d.ok(&["network", "create", "--ipv6", "v6auto"]);
    let auto = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        "v6auto",
    ]);
    let ula = auto.split_whitespace().find(|s| s.contains(':'));
    assert!(
        ula.is_some_and(|s| s.starts_with("fd") && s.ends_with("::/64")),
        "{auto}"
    );

    d.ok(&["rm", "-f", "v6a", "v6b", "v6c", "v6d"]);
    d.ok(&["network", "rm", "v6net", "v4only", "v6auto"]);
    let ruleset = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    assert!(
        !String::from_utf8_lossy(&ruleset.stdout).contains("2001:db8:71::/64"),
        "the ip6 rules outlived the network"
    );
}

/// An "outside machine": a namespace joined to the host by a veth, with `2001:db8:7e::2/64`
/// (the host end `2001:db8:7e::1/64`) and no route to any container subnet; deleted on drop.
struct Outside {
    ns: String,
    veth: String,
}

impl Outside {
    fn new() -> Outside {
        let pid = std::process::id() % 100_000;
        let o = Outside {
            ns: format!("bv6-out-{pid}"),
            veth: format!("bv6o{pid}"),
        };
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .expect("ip");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&["netns", "add", &o.ns]);
        ip(&[
            "link", "add", &o.veth, "type", "veth", "peer", "name", "eth0", "netns", &o.ns,
        ]);
        ip(&["addr", "add", "2001:db8:7e::1/64", "dev", &o.veth, "nodad"]);
        ip(&["link", "set", &o.veth, "up"]);
        for args in [
            &["addr", "add", "2001:db8:7e::2/64", "dev", "eth0", "nodad"][..],
            &["link", "set", "eth0", "up"],
            &["link", "set", "lo", "up"],
        ] {
            let mut all = vec!["netns", "exec", o.ns.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all);
        }
        o
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ipv6_traffic_leaves_masqueraded_and_internal_networks_have_no_way_out() {
    if !opted_in() {
        return;
    }
    let _forward = Ip6Forward::remember();
    let d = Daemon::start();
    let outside = Outside::new();
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "2001:db8:73::/64",
        "v6out",
    ]);
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--internal",
        "--subnet",
        "2001:db8:74::/64",
        "v6int",
    ]);
    // The outside machine has no route back to 2001:db8:73::/64: a reply arrives only because the
    // request left with the host's address.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6out",
        "busybox",
        "ping6",
        "-c1",
        "-W3",
        "2001:db8:7e::2",
    ]);
    assert_eq!(code(&out), 0, "ping6 the outside machine: {out:?}");
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6int",
        "busybox",
        "ping6",
        "-c1",
        "-W2",
        "2001:db8:7e::2",
    ]);
    assert_ne!(
        code(&out),
        0,
        "an --internal network reached outside: {out:?}"
    );
    // Two dual-stack networks are isolated from each other over IPv6 too (forwarding is on: the
    // host would route between them).
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "2001:db8:78::/64",
        "v6other",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "v6there",
        "--network",
        "v6other",
        "--ip6",
        "2001:db8:78::9",
        "busybox",
        "sleep",
        "600",
    ]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6out",
        "busybox",
        "ping6",
        "-c1",
        "-W2",
        "2001:db8:78::9",
    ]);
    assert_ne!(
        code(&out),
        0,
        "another network's container reached: {out:?}"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6other",
        "busybox",
        "ping6",
        "-c1",
        "-W3",
        "2001:db8:78::9",
    ]);
    assert_eq!(code(&out), 0, "the same network's container: {out:?}");
    d.ok(&["rm", "-f", "v6there"]);

    // A port published on all addresses answers at the host's IPv6 address too.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "v6web",
        "--network",
        "v6out",
        "-p",
        "0:80",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-v6 > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let listed = d.ok(&["port", "v6web", "80"]);
    let port = listed
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        listed.contains(&format!("0.0.0.0:{port}")) && listed.contains(&format!("[::]:{port}")),
        "both families: {listed}"
    );
    let url = format!("http://[2001:db8:7e::1]:{port}/");
    let mut got = String::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.contains("hello-v6") && std::time::Instant::now() < end {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &outside.ns, "curl", "-sS", "-m", "2", &url])
            .output()
            .expect("curl in the outside namespace");
        got = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(got.contains("hello-v6"), "{url} from outside: {got}");
    d.ok(&["rm", "-f", "v6web"]);
    drop(outside);
    d.ok(&["network", "rm", "v6out", "v6int", "v6other"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_restarted_daemon_keeps_the_ipv6_gateway_addresses_and_aaaa_answers() {
    if !opted_in() {
        return;
    }
    let _forward = Ip6Forward::remember();
    let mut d = Daemon::start();
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "2001:db8:77::/64",
        "v6keep",
    ]);
    for name in ["k1", "k2"] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "v6keep",
            "busybox",
            "sleep",
            "600",
        ]);
    }
    let before = d.inspect(
        "k2",
        "{{.NetworkSettings.Networks.v6keep.GlobalIPv6Address}}",
    );
    d.kill9();
    d.spawn();
    let after = d.inspect(
        "k2",
        "{{.NetworkSettings.Networks.v6keep.GlobalIPv6Address}}",
    );
    assert_eq!(after, before);
    let looked = d.ok(&["exec", "k1", "nslookup", "k2"]);
    assert!(looked.contains(&before), "AAAA after the restart: {looked}");
    let out = d.docker(&["exec", "k1", "ping6", "-c1", "-W3", "k2"]);
    assert_eq!(code(&out), 0, "ping6 after the restart: {out:?}");
    // A container started after the restart gets the next address and the gateway's route.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "k3",
        "--network",
        "v6keep",
        "busybox",
        "sleep",
        "600",
    ]);
    let k3 = d.inspect(
        "k3",
        "{{.NetworkSettings.Networks.v6keep.GlobalIPv6Address}}",
    );
    assert!(k3.starts_with("2001:db8:77::") && k3 != before, "{k3}");
    let out = d.docker(&["exec", "k3", "ping6", "-c1", "-W3", "2001:db8:77::1"]);
    assert_eq!(
        code(&out),
        0,
        "ping6 the gateway after the restart: {out:?}"
    );
    d.ok(&["rm", "-f", "k1", "k2", "k3"]);
    d.ok(&["network", "rm", "v6keep"]);
}
