//! Networking with the real docker CLI: user networks with DNS by name and alias, isolation
//! between networks, published ports from the host (127.0.0.1 and the bridge gateway), the
//! `none`, `host` and `container:` modes, and Docker's errors for bad input. Traffic stays on
//! this machine (loopback and the test daemon's own bridges).

pub(crate) mod support;

use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};
use support::{free_port, http_get, links_of, nft_tables, FakeDns};

const HTTPD: &str =
    "mkdir -p /www && echo hello-berth > /www/index.html && exec httpd -f -p 80 -h /www";

fn fetch_in(d: &Daemon, args: &[&str], host: &str) -> std::process::Output {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80");
    let mut all: Vec<&str> = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker(&all)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn user_networks_dns_ports_and_modes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.0.0/24",
        "--label",
        "t=1",
        "berthnet",
    ]);
    d.ok(&["network", "create", "--subnet", "10.232.0.0/24", "othernet"]);
    let ls = d.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    assert!(
        ls.contains("berthnet bridge local") && ls.contains("bridge bridge local"),
        "{ls}"
    );
    let subnet = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "berthnet",
    ]);
    assert_eq!(subnet.trim(), "10.231.0.0/24");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "berthnet",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    d.ok(&["network", "connect", "--alias", "web", "othernet", "srv"]);
    d.ok(&["network", "disconnect", "othernet", "srv"]);
    let ip = d.inspect("srv", "{{.NetworkSettings.Networks.berthnet.IPAddress}}");
    assert!(ip.trim().starts_with("10.231.0."), "{ip}");
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}{{end}}",
        "berthnet",
    ]);
    assert_eq!(members.trim(), "srv");

    // By name from the same network.
    let mut last = String::new();
    eventually(Duration::from_secs(15), "srv serves http by name", || {
        let out = fetch_in(&d, &["--network", "berthnet"], "srv");
        last = format!("{}{}", stdout(&out), stderr(&out));
        last.contains("hello-berth")
    });
    // Not from another network.
    let out = fetch_in(&d, &["--network", "othernet"], ip.trim());
    assert!(
        !stdout(&out).contains("hello-berth"),
        "isolation broken: {}",
        stdout(&out)
    );

    // The host through the published port on 127.0.0.1.
    let port = d.ok(&["port", "srv", "80"]);
    let hostport = port.lines().next().unwrap_or("").trim().to_string();
    assert!(hostport.starts_with("127.0.0.1:"), "{port}");
    let mut body = None;
    eventually(Duration::from_secs(10), "published port answers", || {
        body = http_get(&hostport);
        body.as_deref().is_some_and(|b| b.contains("hello-berth"))
    });
    // The host on the bridge address of A directly.
    let direct = http_get(&format!("{}:80", ip.trim()));
    assert!(direct.is_some_and(|b| b.contains("hello-berth")));

    // Removing a network in use is refused, with Docker's 403.
    let out = d.docker(&["network", "rm", "berthnet"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("has active endpoints"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.curl("DELETE", "/networks/berthnet", None);
    assert_eq!(status, 403, "{body}");

    // Modes.
    let none = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
    let host = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host.lines().count() > 1, "{host}");
    let shared = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:srv",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(shared.contains(ip.trim()), "{shared}");

    d.ok(&["rm", "-f", "srv"]);
    d.ok(&["network", "rm", "berthnet", "othernet"]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains("berthnet"), "{ls}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn default_bridge_and_bad_input() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let hostport = format!("127.0.0.1:{port}");
    let out = d.docker(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "sh", "-c", HTTPD,
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    assert!(
        stderr(&out).is_empty(),
        "no bridge warning any more: {}",
        stderr(&out)
    );
    let gw = d.inspect("web", "{{.NetworkSettings.Networks.bridge.Gateway}}");
    let ip = d.inspect("web", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert!(!ip.trim().is_empty(), "{ip}");
    // The default bridge's endpoint also at top level, as Docker shows it.
    let top = d.inspect(
        "web",
        "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}}",
    );
    assert_eq!(top, format!("{} {} 16", ip.trim(), gw.trim()));
    // `ps` shows the published port.
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Ports}} {{.Networks}}"]);
    assert!(
        ps.contains(&format!("web {hostport}->80/tcp bridge")),
        "{ps}"
    );
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(ip.trim()), "{hosts}");
    eventually(Duration::from_secs(10), "published port answers", || {
        http_get(&hostport).is_some_and(|b| b.contains("hello-berth"))
    });
    let _ = gw;
    // A used port.
    let out = d.docker(&[
        "run", "-d", "--name", "web2", "-p", &publish, "busybox", "sleep", "30",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    let _ = d.docker(&["rm", "-f", "web2"]);
    // Overlapping subnets.
    d.ok(&["network", "create", "--subnet", "10.233.0.0/16", "n1"]);
    let out = d.docker(&["network", "create", "--subnet", "10.233.1.0/24", "n2"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("Pool overlaps"), "{}", stderr(&out));
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains("n2"), "{ls}");
    // Docker's statuses: 403 for an overlap, a predefined name or network; 409 for a duplicate.
    let overlap = r#"{"Name":"n3","IPAM":{"Config":[{"Subnet":"10.233.2.0/24"}]}}"#;
    assert_eq!(d.curl("POST", "/networks/create", Some(overlap)).0, 403);
    let predefined = r#"{"Name":"bridge"}"#;
    assert_eq!(d.curl("POST", "/networks/create", Some(predefined)).0, 403);
    assert_eq!(d.curl("DELETE", "/networks/bridge", None).0, 403);
    assert_eq!(d.curl("DELETE", "/networks/nosuchnet", None).0, 404);
    let dup = r#"{"Name":"n1"}"#;
    assert_eq!(d.curl("POST", "/networks/create", Some(dup)).0, 409);
    // A duplicate name, an unknown network.
    let out = d.docker(&["network", "create", "n1"]);
    assert_ne!(code(&out), 0);
    let out = d.docker(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("network nosuchnet not found"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "web"]);
    d.ok(&["network", "rm", "n1"]);
    // Prune takes unused user networks only.
    d.ok(&["network", "create", "prunable"]);
    let dangling = d.ok(&[
        "network",
        "ls",
        "--filter",
        "dangling=true",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(dangling, "prunable");
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert_eq!(pruned, "Deleted Networks:\nprunable");
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "bridge\nhost\nnone");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn aliases_static_ip_rename_and_stop_in_dns() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "--subnet", "10.234.0.0/24", "aliasnet"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "a1",
        "--network",
        "aliasnet",
        "--network-alias",
        "svc",
        "--ip",
        "10.234.0.50",
        "--mac-address",
        "02:42:0a:ea:00:99",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let got = d.inspect(
        "a1",
        "{{.NetworkSettings.Networks.aliasnet.IPAddress}} {{.NetworkSettings.Networks.aliasnet.MacAddress}} {{.NetworkSettings.Networks.aliasnet.Aliases}}",
    );
    assert_eq!(got, "10.234.0.50 02:42:0a:ea:00:99 [svc]");
    // The alias answers by DNS and serves.
    let mut last = String::new();
    eventually(Duration::from_secs(15), "a1 serves by its alias", || {
        let out = fetch_in(&d, &["--network", "aliasnet"], "svc");
        last = format!("{}{}", stdout(&out), stderr(&out));
        last.contains("hello-berth")
    });
    // Connected to a second network and disconnected again, a1 still resolves on the first.
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.236.0.0/24",
        "aliasnet2",
    ]);
    d.ok(&["network", "connect", "aliasnet2", "a1"]);
    d.ok(&["network", "disconnect", "aliasnet2", "a1"]);
    let own = d.ok(&["exec", "a1", "nslookup", "svc"]);
    assert!(own.contains("10.234.0.50"), "{own}");
    d.ok(&["network", "rm", "aliasnet2"]);
    // A used static address is refused.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "aliasnet",
        "--ip",
        "10.234.0.50",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Address already in use"),
        "{}",
        stderr(&out)
    );
    // Lookups that must fail are forwarded only to this machine (--dns 127.0.0.1).
    let lookup = |name: &str| {
        let out = d.docker(&[
            "run",
            "--rm",
            "--network",
            "aliasnet",
            "--dns",
            "127.0.0.1",
            "busybox",
            "nslookup",
            name,
        ]);
        stdout(&out)
    };
    // Rename: the new name resolves, the old one no longer does.
    d.ok(&["rename", "a1", "a2"]);
    assert!(lookup("a2").contains("10.234.0.50"), "{}", lookup("a2"));
    assert!(!lookup("a1").contains("10.234.0.50"), "{}", lookup("a1"));
    // Stop: the container's names leave DNS.
    d.ok(&["stop", "-t", "1", "a2"]);
    assert!(!lookup("svc").contains("10.234.0.50"), "{}", lookup("svc"));
    d.ok(&["rm", "-f", "a2"]);
    d.ok(&["network", "rm", "aliasnet"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn restart_after_kill_9_keeps_ports_and_clean_stop_leaves_nothing() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    // The user network's bridge named here: inspect shows the option only when it was given.
    let user_bridge = format!("bk{}", std::process::id() % 1_000_000);
    let bridge_opt = format!("com.docker.network.bridge.name={user_bridge}");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.235.0.0/24",
        "-o",
        &bridge_opt,
        "keepnet",
    ]);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let hostport = format!("127.0.0.1:{port}");
    d.ok(&[
        "run", "-d", "--name", "keep", "-p", &publish, "busybox", "sh", "-c", HTTPD,
    ]);
    d.ok(&["network", "connect", "keepnet", "keep"]);
    // A container whose embedded DNS forwards to its own --dns server: a fake one on the
    // network's gateway address (this machine), which answers NXDOMAIN and notes the names.
    // (Network inspect shows no gateway for a subnet given without one, as Docker's; the
    // container's endpoint does.)
    let gateway = d.inspect(
        "keep",
        "{{(index .NetworkSettings.Networks \"keepnet\").Gateway}}",
    );
    let upstream = FakeDns::start(&format!("{gateway}:53"));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "dnsc",
        "--network",
        "keepnet",
        "--dns",
        &gateway,
        "busybox",
        "sleep",
        "300",
    ]);
    let asked = |d: &Daemon, name: &str| {
        eventually(Duration::from_secs(15), "the query reaches --dns", || {
            let _ = d.docker(&["exec", "dnsc", "nslookup", "-type=a", name]);
            upstream.saw(name)
        });
    };
    asked(&d, "probe-before.test");
    eventually(Duration::from_secs(10), "published port answers", || {
        http_get(&hostport).is_some_and(|b| b.contains("hello-berth"))
    });
    let bridge = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    ]);
    let table = format!("berth_{}", bridge.trim_start_matches("bt"));
    let mut ours = links_of(&bridge);
    ours.extend(links_of(&user_bridge));
    assert!(ours.len() >= 4, "bridges and veths: {ours:?}");
    assert!(nft_tables().contains(&table), "{}", nft_tables());

    d.kill9();
    d.spawn();
    assert_eq!(d.inspect("keep", "{{.State.Status}}"), "running");
    // The embedded DNS forwards to the container's --dns again, not to the host's resolvers.
    asked(&d, "probe-after.test");
    eventually(
        Duration::from_secs(10),
        "the port after the restart",
        || http_get(&hostport).is_some_and(|b| b.contains("hello-berth")),
    );
    // The port is still held: another container cannot take it.
    let out = d.docker(&[
        "run", "-d", "--name", "thief", "-p", &publish, "busybox", "true",
    ]);
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    let _ = d.docker(&["rm", "-f", "thief"]);

    d.ok(&["rm", "-f", "keep", "dnsc"]);
    d.ok(&["network", "rm", "keepnet"]);
    d.stop();
    let left: Vec<String> = ours
        .iter()
        .filter(|l| !links_of(l).is_empty())
        .cloned()
        .collect();
    assert!(left.is_empty(), "links left behind: {left:?}");
    assert!(!nft_tables().contains(&table), "{}", nft_tables());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn stopped_members_show_no_address_and_do_not_keep_their_network() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "--subnet", "10.237.0.0/24", "gonenet"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        "gonenet",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&["run", "-d", "--name", "outsider", "busybox", "sleep", "300"]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let ip = d.inspect("member", "{{.NetworkSettings.Networks.gonenet.IPAddress}}");
    assert!(ip.starts_with("10.237.0."), "{ip}");

    // Disconnecting a container that is not on the network: moby's plain error (500), worded
    // one way for a running container and another for a stopped one.
    let body = |c: &str| format!(r#"{{"Container":"{c}"}}"#);
    let outsider = d.inspect("outsider", "{{.Id}}");
    let (status, msg) = d.curl(
        "POST",
        "/networks/gonenet/disconnect",
        Some(&body("outsider")),
    );
    assert_eq!(status, 500, "{msg}");
    assert!(
        msg.contains(&format!(
            "container {outsider} is not connected to network gonenet"
        )),
        "{msg}"
    );
    let idle = d.inspect("idle", "{{.Id}}");
    let (status, msg) = d.curl("POST", "/networks/gonenet/disconnect", Some(&body("idle")));
    assert_eq!(status, 500, "{msg}");
    assert!(
        msg.contains(&format!(
            "container {idle} is not connected to the network gonenet"
        )),
        "{msg}"
    );
    let out = d.docker(&["network", "disconnect", "gonenet", "idle"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("is not connected to the network gonenet"),
        "{}",
        stderr(&out)
    );

    // A running member keeps the network.
    let (status, msg) = d.curl("DELETE", "/networks/gonenet", None);
    assert_eq!(status, 403, "{msg}");
    assert!(msg.contains("has active endpoints"), "{msg}");

    // Stopped: the entry stays, its operational data goes (as Docker shows it).
    d.ok(&["kill", "member"]);
    eventually(Duration::from_secs(10), "member exits", || {
        d.inspect("member", "{{.State.Status}}") == "exited"
    });
    let stopped = d.inspect(
        "member",
        "{{with .NetworkSettings.Networks.gonenet}}{{.IPAddress}}|{{.Gateway}}|{{.MacAddress}}|{{.IPPrefixLen}}|{{.EndpointID}}|{{.NetworkID}}{{end}}",
    );
    let network_id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "gonenet"]);
    assert_eq!(stopped, format!("|||0||{network_id}"));
    d.ok(&["kill", "outsider"]);
    eventually(Duration::from_secs(10), "outsider exits", || {
        d.inspect("outsider", "{{.State.Status}}") == "exited"
    });
    let top = d.inspect(
        "outsider",
        "{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.Gateway}}|{{.NetworkSettings.MacAddress}}|{{.NetworkSettings.Networks.bridge.IPAddress}}",
    );
    assert_eq!(top, "|||");

    // Only stopped members: the network goes, and starting one of them fails cleanly.
    d.ok(&["network", "rm", "gonenet"]);
    let keys = d.inspect(
        "member",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert_eq!(keys.trim(), "gonenet");
    let out = d.docker(&["start", "member"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("network gonenet not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.curl("POST", "/containers/member/start", None).0, 404);
    assert_eq!(d.inspect("member", "{{.State.Status}}"), "exited");
    let id = d.inspect("member", "{{.Id}}");
    let left: Vec<String> = d
        .mounts_under_root()
        .into_iter()
        .filter(|m| m.contains(&id))
        .collect();
    assert!(left.is_empty(), "mounts left by the failed start: {left:?}");
    d.ok(&["rm", "-f", "member", "outsider", "idle"]);
}
