//! The networks of a create (issue #12) against the real docker CLI and the API: every network of
//! `NetworkingConfig.EndpointsConfig` is attached from API 1.44 on (inspect shows each with an
//! address, the container reaches peers on each by their aliases), below 1.44 more than one is
//! refused in moby's words; a missing network is Docker's 404 `network X not found` (at start for
//! the `NetworkMode`'s, as dockerd defers it; at create for another one); compose's way (create on
//! one, connect the others before start) still works; and `ps` shows arguments with spaces
//! quoted as moby's list does.

use crate::harness::{code, opted_in, stderr, Daemon};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A create body on `mode` with `endpoints` (`{"net": {...}}`).
fn create_body(mode: &str, endpoints: serde_json::Value) -> String {
    serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sleep", "600"],
        "HostConfig": {"NetworkMode": mode},
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    })
    .to_string()
}

/// The IPv4 address of `container` on `net`, from inspect.
fn address(d: &Daemon, container: &str, net: &str) -> String {
    d.inspect(
        container,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    )
}

/// Whether `from` can ping `to` (a name or alias) once.
fn pings(d: &Daemon, from: &str, to: &str) -> bool {
    code(&d.docker(&["exec", from, "ping", "-c", "1", "-W", "2", to])) == 0
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn create_attaches_every_endpoints_config_network() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "cn-a"]);
    d.ok(&["network", "create", "cn-b"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer-a",
        "--network",
        "cn-a",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer-b",
        "--network",
        "cn-b",
        "busybox",
        "sleep",
        "600",
    ]);

    let body = create_body(
        "cn-a",
        serde_json::json!({"cn-a": {"Aliases": ["alias-a"]}, "cn-b": {"Aliases": ["alias-b"]}}),
    );
    let (status, text) = d.curl("POST", "/v1.44/containers/create?name=multi", Some(&body));
    assert_eq!(status, 201, "{text}");
    // Both networks from the create on, as Docker shows them before the start.
    let nets = json(&d.inspect("multi", "{{json .NetworkSettings.Networks}}"));
    let names: Vec<&String> = nets.as_object().expect("networks").keys().collect();
    assert_eq!(names, ["cn-a", "cn-b"], "{nets}");

    d.ok(&["start", "multi"]);
    let (a, b) = (address(&d, "multi", "cn-a"), address(&d, "multi", "cn-b"));
    assert!(!a.is_empty() && !b.is_empty() && a != b, "{a} {b}");
    let subnet = |net: &str| d.inspect(net, "{{(index .IPAM.Config 0).Subnet}}");
    let prefix = |ip: &str| ip.rsplit_once('.').map(|(p, _)| p.to_string());
    assert!(subnet("cn-a").starts_with(&prefix(&a).expect("a.b.c.d")));
    assert!(subnet("cn-b").starts_with(&prefix(&b).expect("a.b.c.d")));
    let addrs = d.ok(&["exec", "multi", "ip", "-4", "-o", "addr"]);
    assert!(addrs.contains(&a) && addrs.contains(&b), "{addrs}");
    // The container reaches both networks, and each network's peers find it by its alias there.
    assert!(pings(&d, "multi", "peer-a"), "multi -> peer-a");
    assert!(pings(&d, "multi", "peer-b"), "multi -> peer-b");
    assert!(pings(&d, "peer-a", "alias-a"), "peer-a -> alias-a");
    assert!(pings(&d, "peer-b", "alias-b"), "peer-b -> alias-b");
    assert!(!pings(&d, "peer-a", "alias-b"), "alias-b is cn-b's only");

    // The docker CLI 28 sends both `--network`s in one create (API 1.50).
    d.ok(&[
        "create",
        "--name",
        "two",
        "--network",
        "cn-a",
        "--network",
        "cn-b",
        "busybox",
        "sleep",
        "600",
    ]);
    let nets = json(&d.inspect("two", "{{json .NetworkSettings.Networks}}"));
    let names: Vec<&String> = nets.as_object().expect("networks").keys().collect();
    assert_eq!(names, ["cn-a", "cn-b"], "{nets}");
    d.ok(&["start", "two"]);
    assert!(pings(&d, "two", "peer-b"), "two -> peer-b");
    // docker-compose's way still works: created on one network, connected to the other.
    d.ok(&[
        "create",
        "--name",
        "later",
        "--network",
        "cn-a",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["network", "connect", "--alias", "late-b", "cn-b", "later"]);
    d.ok(&["start", "later"]);
    assert!(pings(&d, "later", "peer-b"), "later -> peer-b");
    assert!(pings(&d, "peer-b", "late-b"), "peer-b -> late-b");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn endpoints_refused_as_docker_refuses_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "cr-a"]);
    d.ok(&["network", "create", "cr-b"]);
    let both = create_body("cr-a", serde_json::json!({"cr-a": {}, "cr-b": {}}));
    // Before API 1.44 a create names one network at most (moby's words, 400).
    let (status, text) = d.curl("POST", "/v1.43/containers/create?name=old", Some(&both));
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        json(&text)["message"],
        "Container cannot be created with multiple network endpoints: cr-a, cr-b"
    );
    // A missing extra network: Docker's 404, and nothing is left behind.
    let missing = create_body("cr-a", serde_json::json!({"cr-a": {}, "no-such-net": {}}));
    let (status, text) = d.curl("POST", "/v1.44/containers/create?name=gone", Some(&missing));
    assert_eq!(status, 404, "{text}");
    assert_eq!(json(&text)["message"], "network no-such-net not found");
    assert_eq!(
        d.ok(&["ps", "-aq"]),
        "",
        "a refused create left a container"
    );

    // The mode's network is looked up at start, as dockerd does (the container stays created).
    let out = d.docker(&[
        "create",
        "--name",
        "nonet",
        "--network",
        "no-such-network",
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (status, text) = d.curl("POST", "/containers/nonet/start", None);
    assert_eq!(status, 404, "{text}");
    assert_eq!(json(&text)["message"], "network no-such-network not found");
    let out = d.docker(&["start", "nonet"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("network no-such-network not found"),
        "{}",
        stderr(&out)
    );
    // Once the network exists the same container starts on it.
    d.ok(&["network", "create", "no-such-network"]);
    d.ok(&["start", "nonet"]);
    assert!(!address(&d, "nonet", "no-such-network").is_empty());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ps_quotes_arguments_with_spaces_as_moby() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "quoted",
        "busybox",
        "sh",
        "-c",
        "echo \"a b\" c",
        "x y",
        "z",
    ]);
    let (status, text) = d.curl("GET", "/containers/json?all=1", None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json(&text)[0]["Command"], "sh -c 'echo \"a b\" c' 'x y' z");
    // What dockerd 20.10 and 28 print for the same container.
    let shown = d.ok(&["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]);
    assert_eq!(shown, "\"sh -c 'echo \\\"a b\\\" c' 'x y' z\"");
    // The berth CLI prints what the docker CLI prints, whole and truncated.
    for args in [
        &["ps", "-a", "--no-trunc", "--format", "{{.Command}}"][..],
        &["ps", "-a", "--format", "{{.Command}}"][..],
    ] {
        assert_eq!(crate::cli_links::berth_ok(&d, args), d.ok(args), "{args:?}");
    }
}
