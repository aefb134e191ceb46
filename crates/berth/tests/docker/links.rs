//! Legacy links (`--link NAME[:ALIAS]`, issue #15) with the real docker CLI and docker-compose
//! 1.29: on the default bridge the environment variables and `/etc/hosts` lines Docker writes,
//! inspect's `HostConfig.Links`, `docker rm --link`, and Docker's errors for a missing, stopped
//! or misplaced child; on a user-defined network a DNS alias that only the linking container
//! resolves.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

fn json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    let out = d.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// `docker run` that must fail: its stderr.
fn refused(d: &Daemon, args: &[&str]) -> String {
    let out = d.docker(args);
    assert_ne!(code(&out), 0, "{args:?} succeeded: {}", stdout(&out));
    stderr(&out)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn default_bridge_links_env_hosts_inspect_and_rm_link() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "-e",
        "PASSWORD=s3cret",
        "--expose",
        "5432",
        "--expose",
        "53/udp",
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = d.inspect("db", "{{.NetworkSettings.IPAddress}}");
    let host = d.inspect("db", "{{.Config.Hostname}}");
    assert!(!ip.is_empty() && !host.is_empty());
    d.ok(&[
        "run", "-d", "--name", "web", "--link", "db:my-db", "busybox", "sleep", "600",
    ]);

    // The environment Docker 28 gives the parent, in the process and in an exec.
    let env = d.ok(&["exec", "web", "env"]);
    for want in [
        format!("MY_DB_PORT=tcp://{ip}:5432"),
        format!("MY_DB_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("MY_DB_PORT_5432_TCP_ADDR={ip}"),
        "MY_DB_PORT_5432_TCP_PORT=5432".to_string(),
        "MY_DB_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("MY_DB_PORT_53_UDP=udp://{ip}:53"),
        "MY_DB_PORT_53_UDP_PROTO=udp".to_string(),
        "MY_DB_NAME=/web/my-db".to_string(),
        "MY_DB_ENV_PASSWORD=s3cret".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing:\n{env}");
    }
    assert!(!env.contains("MY_DB_ENV_PATH"), "{env}");
    let logged = d.ok(&[
        "run",
        "--rm",
        "--link",
        "db",
        "busybox",
        "sh",
        "-c",
        "echo $DB_PORT_5432_TCP_ADDR",
    ]);
    assert_eq!(logged, ip);

    // /etc/hosts: the child's address with the alias, its hostname and its name, before the
    // container's own line; the alias reaches it.
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    let line = format!("{ip}\tmy-db {host} db");
    let at = hosts.lines().position(|l| l == line);
    let own = d.inspect("web", "{{.NetworkSettings.IPAddress}}");
    let own_at = hosts
        .lines()
        .position(|l| l.starts_with(&format!("{own}\t")));
    assert!(
        at.is_some() && own_at > at,
        "{line:?} not before the own line:\n{hosts}"
    );
    d.ok(&["exec", "web", "ping", "-c", "1", "-W", "3", "my-db"]);

    // Inspect: Docker's form, with the child's current name.
    let links = json(&d, &["inspect", "-f", "{{json .HostConfig.Links}}", "web"]);
    assert_eq!(links, serde_json::json!(["/db:/web/my-db"]));
    d.ok(&["rename", "db", "store"]);
    let links = json(&d, &["inspect", "-f", "{{json .HostConfig.Links}}", "web"]);
    assert_eq!(links, serde_json::json!(["/store:/web/my-db"]));
    let none = json(
        &d,
        &["inspect", "-f", "{{json .HostConfig.Links}}", "store"],
    );
    assert!(none.is_null(), "{none}");
    // ps names the child by its links too (the docker CLI shows them with --no-trunc).
    let filter = format!("id={}", d.inspect("store", "{{.Id}}"));
    let ps = |more: &str| d.ok(&["ps", more, "--filter", &filter, "--format", "{{.Names}}"]);
    assert_eq!(ps("--no-trunc"), "store,web/my-db");
    assert_eq!(ps("--all"), "store");

    // rm --link: gone from inspect and from the running parent's /etc/hosts.
    let e = refused(&d, &["rm", "--link", "/web/nothing"]);
    assert!(e.contains("No such container: web/nothing"), "{e}");
    let e = refused(&d, &["rm", "--link", "store"]);
    assert!(
        e.contains("cannot remove the default link name of the container"),
        "{e}"
    );
    d.ok(&["rm", "--link", "/web/my-db"]);
    let links = json(&d, &["inspect", "-f", "{{json .HostConfig.Links}}", "web"]);
    assert!(links.is_null(), "{links}");
    assert_eq!(ps("--no-trunc"), "store");
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("my-db"), "{hosts}");
    assert!(hosts.contains(&format!("{own}\t")), "{hosts}");
    // The child stays.
    assert_eq!(d.inspect("store", "{{.State.Running}}"), "true");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn link_errors_as_docker_words_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // A child that does not exist: 400 at create.
    let e = refused(&d, &["run", "--link", "missing:x", "busybox", "true"]);
    assert!(
        e.contains("could not get container for missing: No such container: missing"),
        "{e}"
    );
    let (status, body) = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Links":["missing:x"]}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(d.ok(&["ps", "-aq"]).is_empty());

    // A child that is not running: the start fails, the container stays.
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let e = refused(
        &d,
        &["run", "--name", "pp", "--link", "idle:s", "busybox", "true"],
    );
    assert!(
        e.contains("Cannot link to a non running container: /idle AS /pp/s"),
        "{e}"
    );
    assert_eq!(d.inspect("pp", "{{.State.Running}}"), "false");
    d.ok(&["rm", "pp"]);

    // A child on another network, and host networking on either side.
    d.ok(&["network", "create", "elsewhere"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "away",
        "--network",
        "elsewhere",
        "busybox",
        "sleep",
        "600",
    ]);
    let e = refused(&d, &["run", "--rm", "--link", "away", "busybox", "true"]);
    assert!(
        e.contains("Cannot link to /away, as it does not belong to the default network"),
        "{e}"
    );
    d.ok(&[
        "create",
        "--name",
        "hostly",
        "--network",
        "host",
        "busybox",
        "true",
    ]);
    for args in [
        &["run", "--rm", "--link", "hostly", "busybox", "true"][..],
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--link",
            "away",
            "busybox",
            "true",
        ][..],
    ] {
        let e = refused(&d, args);
        assert!(
            e.contains("conflicting options: host type networking can't be used with links"),
            "{e}"
        );
    }
    // A link to a child that later stops refuses the next start.
    d.ok(&["run", "-d", "--name", "brief", "busybox", "sleep", "600"]);
    d.ok(&[
        "create", "--name", "qq", "--link", "brief", "busybox", "true",
    ]);
    d.ok(&["start", "-a", "qq"]);
    d.ok(&["stop", "-t", "0", "brief"]);
    let e = refused(&d, &["start", "qq"]);
    assert!(
        e.contains("Cannot link to a non running container: /brief AS /qq/brief"),
        "{e}"
    );
}

/// What `nslookup NAME` answers inside container `c` (empty when it fails).
fn lookup(d: &Daemon, c: &str, name: &str) -> String {
    stdout(&d.docker(&["exec", c, "nslookup", "-type=a", name]))
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn links_on_a_user_network_are_aliases_of_the_linker_alone() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "lnk"]);
    let run = |name: &str, more: &[&str]| {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "lnk",
            "--dns",
            "127.0.0.1",
        ];
        args.extend_from_slice(more);
        args.extend_from_slice(&["busybox", "sleep", "600"]);
        d.ok(&args);
    };
    run("db", &[]);
    let ip = d.inspect("db", "{{.NetworkSettings.Networks.lnk.IPAddress}}");
    run("web", &["--link", "db:database"]);
    run("other", &[]);
    eventually(Duration::from_secs(10), "the alias to resolve", || {
        lookup(&d, "web", "database").contains(&ip)
    });
    assert!(!lookup(&d, "other", "database").contains(&ip));
    // No environment, no hosts line; inspect shows the endpoint's Links as given and no
    // HostConfig.Links, as Docker does.
    assert!(!d.ok(&["exec", "web", "env"]).contains("DATABASE_"));
    assert!(!d
        .ok(&["exec", "web", "cat", "/etc/hosts"])
        .contains("database"));
    let ep = json(
        &d,
        &[
            "inspect",
            "-f",
            "{{json .NetworkSettings.Networks.lnk.Links}}",
            "web",
        ],
    );
    assert_eq!(ep, serde_json::json!(["db:database"]));
    let host = json(&d, &["inspect", "-f", "{{json .HostConfig.Links}}", "web"]);
    assert!(host.is_null(), "{host}");

    // A target that starts after the linker, and one that stops.
    run("early", &["--link", "late:later"]);
    run("late", &[]);
    let late = d.inspect("late", "{{.NetworkSettings.Networks.lnk.IPAddress}}");
    eventually(
        Duration::from_secs(10),
        "the late target to resolve",
        || lookup(&d, "early", "later").contains(&late),
    );
    d.ok(&["stop", "-t", "0", "late"]);
    eventually(
        Duration::from_secs(10),
        "the stopped target to leave",
        || !lookup(&d, "early", "later").contains(&late),
    );
    // `network connect --link`.
    d.ok(&["network", "create", "lnk2"]);
    d.ok(&["network", "connect", "lnk2", "db"]);
    let ip2 = d.inspect("db", "{{.NetworkSettings.Networks.lnk2.IPAddress}}");
    d.ok(&["network", "connect", "--link", "db:store", "lnk2", "other"]);
    eventually(
        Duration::from_secs(10),
        "the connect alias to resolve",
        || lookup(&d, "other", "store").contains(&ip2),
    );
    // Not on the default bridge.
    let e = refused(
        &d,
        &["network", "connect", "--link", "db:x", "bridge", "early"],
    );
    assert!(
        e.contains("links are only supported for user-defined networks"),
        "{e}"
    );
}

fn compose(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("-p")
        .arg("lk")
        .args(args)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker-compose ({e}): run scripts/install-deps.sh"))
}

/// Links on the default bridge (`network_mode: bridge`) and on the project's network.
const PROJECT: &str = "version: '2.4'
services:
  db:
    image: busybox
    command: sleep 600
    network_mode: bridge
    environment: [ROLE=db]
  web:
    image: busybox
    command: sleep 600
    network_mode: bridge
    links: ['db:database']
  cache:
    image: busybox
    command: sleep 600
  app:
    image: busybox
    command: sleep 600
    links: ['cache:kv']
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_compose_links() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let dir = d.dir.path().join("project");
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("docker-compose.yml"), PROJECT).expect("compose file");
    let out = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());

    let env = d.ok(&["exec", "lk_web_1", "env"]);
    assert!(env.contains("DATABASE_NAME=/lk_web_1/database"), "{env}");
    assert!(env.contains("DATABASE_ENV_ROLE=db"), "{env}");
    let ip = d.inspect("lk_db_1", "{{.NetworkSettings.IPAddress}}");
    let hosts = d.ok(&["exec", "lk_web_1", "cat", "/etc/hosts"]);
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&format!("{ip}\tdatabase "))),
        "{hosts}"
    );
    let links = json(
        &d,
        &["inspect", "-f", "{{json .HostConfig.Links}}", "lk_web_1"],
    );
    assert!(
        links
            .as_array()
            .is_some_and(|l| l.contains(&serde_json::json!("/lk_db_1:/lk_web_1/database"))),
        "{links}"
    );

    let cache = d.inspect(
        "lk_cache_1",
        "{{.NetworkSettings.Networks.lk_default.IPAddress}}",
    );
    eventually(
        Duration::from_secs(10),
        "the compose link alias to resolve",
        || lookup(&d, "lk_app_1", "kv").contains(&cache),
    );
    let out = compose(&d, &dir, &["down", "-t", "0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
