//! `examples/compose/counter`: web + db built from their Dockerfiles, web started once db is
//! healthy, visits counted in db's named volume (kept by `down`, gone with `down -v`), the
//! monitor on the frontend network unable to reach db on the backend one, the password secret;
//! an edited `.env` value recreating web alone. Then bad input on the same project: each error
//! names its place and leaves nothing behind.

use super::{
    address, dc_ok, docker_compose, example, http_get, lookup, project_networks, project_volumes,
    set_env,
};
use crate::harness::{self, opted_in, Daemon};
use crate::{free_port, Project, DEADLINE};

/// The project's container names, as the compose at hand writes them (`-` for berth compose
/// and Compose v2, `_` for docker-compose 1.29).
struct Names {
    web: String,
    db: String,
    monitor: String,
    frontend: String,
    backend: String,
}

impl Names {
    fn new(p: &Project, sep: char) -> Names {
        let n = |s: &str| format!("{}{sep}{s}{sep}1", p.name);
        Names {
            web: n("web"),
            db: n("db"),
            monitor: n("monitor"),
            frontend: format!("{}_frontend", p.name),
            backend: format!("{}_backend", p.name),
        }
    }
}

/// The counter example in a fresh directory, web published on a free port.
fn counter<'d>(d: &'d Daemon, tag: &str) -> (Project<'d>, u16) {
    let p = example(d, "counter", tag);
    let port = free_port();
    set_env(&p.path(), "WEB_PORT", &port.to_string());
    (p, port)
}

/// One visit through the published port: (greeting, visits).
fn visit(port: u16) -> (String, u32) {
    let mut body = None;
    harness::eventually(DEADLINE, "web to answer on its published port", || {
        body = http_get(port, "/cgi-bin/visit");
        body.is_some()
    });
    let body = body.unwrap_or_default();
    let (greeting, n) = body
        .trim()
        .rsplit_once(" visits: ")
        .unwrap_or_else(|| panic!("unexpected answer {body:?}"));
    let n = n.parse().unwrap_or_else(|_| panic!("visits in {body:?}"));
    (greeting.to_string(), n)
}

/// What holds while the project runs: db healthy and web started after it was; visits counted
/// from `from`; the secret shared; names resolved on each network but db not from the frontend
/// one, by name or by address.
fn check_running(d: &Daemon, n: &Names, port: u16, greeting: &str, from: u32) {
    assert_eq!(d.inspect(&n.db, "{{.State.Health.Status}}"), "healthy");
    for c in [&n.web, &n.monitor] {
        assert_eq!(d.inspect(c, "{{.State.Status}}"), "running", "{c}");
    }
    let started = d.inspect(&n.web, "{{.State.StartedAt}}");
    let healthy = d.inspect(
        &n.db,
        "{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}} {{end}}{{end}}",
    );
    let first = healthy.split_whitespace().next().unwrap_or_default();
    assert!(
        !first.is_empty() && started.as_str() > first,
        "web started at {started}, db first healthy at {first:?}"
    );

    let host = d.inspect(&n.web, "{{.Config.Hostname}}");
    assert_eq!(visit(port), (format!("{greeting} from {host}!"), from));
    assert_eq!(visit(port).1, from + 1);

    // The secret: both read it; the db refuses another password.
    let secret =
        std::fs::read_to_string(super::example_dir("counter").join("secrets/db_password.txt"))
            .expect("the example's secret");
    assert_eq!(
        d.ok(&["exec", &n.db, "cat", "/run/secrets/db_password"]),
        secret.trim()
    );
    let wrong = d.ok(&[
        "exec",
        &n.web,
        "wget",
        "-q",
        "-O",
        "-",
        "http://db:5000/cgi-bin/kv?key=guess&get=visits",
    ]);
    assert_eq!(wrong, "error: wrong password");

    // DNS on each network; the monitor (frontend only) cannot reach db at all.
    let db_ip = address(d, &n.db, &n.backend);
    assert_eq!(lookup(d, &n.web, "db"), std::slice::from_ref(&db_ip));
    assert_eq!(
        lookup(d, &n.monitor, "web"),
        [address(d, &n.web, &n.frontend)]
    );
    harness::eventually(DEADLINE, "the monitor to see web", || {
        harness::stdout(&d.docker(&["logs", &n.monitor])).contains("web is up")
    });
    assert!(lookup(d, &n.monitor, "db").is_empty());
    let url = format!("http://{db_ip}:5000/cgi-bin/health");
    let reach = |from: &str| {
        d.docker(&["exec", from, "timeout", "3", "wget", "-q", "-O", "-", &url])
            .status
            .success()
    };
    assert!(reach(&n.web), "web cannot reach db at {db_ip}");
    assert!(!reach(&n.monitor), "the monitor reaches db at {db_ip}");
}

/// After `down`: no container or network of the project; its volume only when `volume`.
fn check_down(d: &Daemon, p: &Project, volume: bool) {
    assert!(p.all_containers().is_empty(), "{:?}", p.all_containers());
    assert!(
        project_networks(d, &p.name).is_empty(),
        "{:?}",
        project_networks(d, &p.name)
    );
    let want: Vec<String> = if volume {
        vec![format!("{}_dbdata", p.name)]
    } else {
        vec![]
    };
    assert_eq!(project_volumes(d, &p.name), want);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn counter_with_berth_compose() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (p, port) = counter(&d, "counter");
    p.ok(&["up", "-d"]);
    let n = Names::new(&p, '-');
    let ps = p.ok(&["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    check_running(&d, &n, port, "Hello", 1);

    // ps lists a paused container, as the engine's list without all=1 does.
    p.ok(&["pause", "monitor"]);
    let ps = p.ok(&["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&n.monitor) && l.contains("(Paused)")),
        "{ps}"
    );
    p.ok(&["unpause", "monitor"]);

    // The same files again: nothing recreated.
    let before = (p.ids("web"), p.ids("db"), p.ids("monitor"));
    p.ok(&["up", "-d"]);
    assert_eq!((p.ids("web"), p.ids("db"), p.ids("monitor")), before);

    // GREETING changes in .env: web alone is recreated, under its name; the count goes on.
    set_env(&p.path(), "GREETING", "Howdy");
    p.ok(&["up", "-d"]);
    let web = p.ids("web");
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].0, before.0[0].0);
    assert_ne!(web[0].1, before.0[0].1, "web was not recreated");
    assert_eq!((p.ids("db"), p.ids("monitor")), (before.1, before.2));
    check_running(&d, &n, port, "Howdy", 3);

    // down keeps the volume and the next up finds the count; down -v takes it.
    p.ok(&["down"]);
    check_down(&d, &p, true);
    p.ok(&["up", "-d"]);
    check_running(&d, &n, port, "Howdy", 5);
    p.ok(&["down", "-v"]);
    check_down(&d, &p, false);
    p.ok(&["up", "-d"]);
    assert_eq!(visit(port).1, 1, "the count survived down -v");
    p.ok(&["down", "-v"]);
    check_down(&d, &p, false);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn counter_with_docker_compose_1_29() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (p, port) = counter(&d, "dccounter");
    dc_ok(&p, &["up", "-d"]);
    let n = Names::new(&p, '_');
    let ps = dc_ok(&p, &["ps"]);
    assert!(ps.contains(&n.web) && ps.contains("(healthy)"), "{ps}");
    check_running(&d, &n, port, "Hello", 1);
    // berth compose sees 1.29's project.
    let ours = p.ok(&["ps"]);
    assert!(ours.contains(&n.monitor), "{ours}");

    let again = dc_ok(&p, &["up", "-d"]);
    assert_eq!(again.matches("is up-to-date").count(), 3, "{again}");

    dc_ok(&p, &["down"]);
    check_down(&d, &p, true);
    dc_ok(&p, &["up", "-d"]);
    check_running(&d, &n, port, "Hello", 3);
    dc_ok(&p, &["down", "-v"]);
    check_down(&d, &p, false);
}

/// docker-compose 1.29 recreating a changed service reads the image's `ContainerConfig`, which
/// Docker's API dropped in 1.45 (1.29 talks the version the daemon announces, and fails with
/// `KeyError: 'ContainerConfig'` against Docker 25+); the berth daemon still sends it.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn counter_change_with_docker_compose_1_29() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (p, port) = counter(&d, "dcchange");
    dc_ok(&p, &["up", "-d"]);
    let n = Names::new(&p, '_');
    let before = (p.ids("web"), p.ids("db"), p.ids("monitor"));
    set_env(&p.path(), "GREETING", "Howdy");
    let out = dc_ok(&p, &["up", "-d"]);
    assert!(out.contains(&format!("Recreating {}", n.web)), "{out}");
    assert_ne!(p.ids("web"), before.0);
    assert_eq!((p.ids("db"), p.ids("monitor")), (before.1, before.2));
    check_running(&d, &n, port, "Howdy", 1);
    dc_ok(&p, &["down", "-v"]);
    check_down(&d, &p, false);
}

/// Bad input in the example's files: each error names its place, and an `up` that fails
/// half-way (the published port is taken) leaves no container, network or volume behind.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn counter_bad_input() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let (p, port) = counter(&d, "badcounter");
    let path = p.path().join("compose.yaml");
    let good = std::fs::read_to_string(&path).expect("compose.yaml");
    let line_of = |needle: &str| {
        good.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} not in the example"))
    };
    let build_web = line_of("build: ./web");
    let ports = line_of("ports:");
    let cases = [
        (
            good.replace("build: ./web\n", "build: ./web\n    colour: red\n"),
            vec![
                format!("compose.yaml:{}:", build_web + 1),
                "services.web.colour".into(),
            ],
        ),
        (
            good.replace(
                "    networks: [backend]\n",
                "    networks: [backend]\n    depends_on: [monitor]\n",
            ),
            vec![
                "dependency cycle".into(),
                "db -> monitor -> web -> db".into(),
            ],
        ),
        (
            good.replace("    ports:\n", "    ports: [\n"),
            vec![format!("compose.yaml:{}:", ports + 1)],
        ),
        (good.clone() + "  oops: [\n", vec!["compose.yaml:".into()]),
    ];
    for (yaml, wants) in cases {
        std::fs::write(&path, &yaml).expect("compose.yaml");
        let out = p.run(&["up", "-d"]);
        assert!(!out.status.success(), "{yaml}");
        let err = harness::stderr(&out);
        for want in wants {
            assert!(err.contains(&want), "want {want:?} in: {err}");
        }
    }
    std::fs::write(&path, &good).expect("compose.yaml");

    // GREETING missing from .env: `${GREETING:?...}` names the variable and the key.
    let env = std::fs::read_to_string(p.path().join(".env")).expect(".env");
    std::fs::write(
        p.path().join(".env"),
        env.lines()
            .filter(|l| !l.starts_with("GREETING="))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect(".env");
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(
        err.contains("services.web.environment.GREETING") && err.contains("set GREETING in .env"),
        "{err}"
    );
    std::fs::write(p.path().join(".env"), &env).expect(".env");
    check_down(&d, &p, false);

    // The published port is taken on the host: db is made and started, web's start fails, and
    // up takes back the containers, networks and the volume it made.
    let _taken = std::net::TcpListener::bind(("0.0.0.0", port)).expect("taking the port");
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(
        err.contains(&format!("service web: container {}-web-1", p.name))
            && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        err.contains(&format!("Container {}-db-1  Started", p.name)),
        "{err}"
    );
    check_down(&d, &p, false);

    // docker-compose 1.29 refuses the unknown key, naming it, and starts nothing either.
    std::fs::write(
        &path,
        good.replace("build: ./web\n", "build: ./web\n    colour: red\n"),
    )
    .expect("compose.yaml");
    let out = docker_compose(&p, &["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(err.contains("colour"), "{err}");
    check_down(&d, &p, false);
}
