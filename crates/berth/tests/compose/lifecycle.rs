//! up / ps / logs / down of the two-service project, recreation only on a config change,
//! scaling, a healthcheck-gated dependency, and `down -v` (with volumes: volumes.rs).

use crate::harness::{self, opted_in, Daemon};
use crate::{free_port, two_services, Project, DEADLINE};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn up_ps_logs_down() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    let p = Project::new(&d, "basic", &two_services(port, "one"));
    p.ok(&["up", "-d"]);
    // The client reaches web by its service name on the project network.
    p.wait_log("client", "hello-from-web");

    let ps = p.ok(&["ps"]);
    let web = format!("{}-web-1", p.name);
    let client = format!("{}-client-1", p.name);
    assert!(ps.contains(&web) && ps.contains(&client), "{ps}");
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    assert_eq!(ps.matches("Up ").count(), 2, "{ps}");
    let quiet = p.ok(&["ps", "-q"]);
    assert_eq!(quiet.lines().count(), 2, "{quiet}");

    // Published port, environment and labels as Compose writes them.
    harness::eventually(DEADLINE, "the published port to answer", || {
        std::process::Command::new("wget")
            .args(["-q", "-T", "2", "-O", "-"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("hello-from-web"))
    });
    let env = d.inspect(&web, "{{json .Config.Env}}");
    assert!(env.contains("MARKER=one"), "{env}");
    assert_eq!(
        d.inspect(
            &client,
            "{{index .Config.Labels \"com.docker.compose.depends_on\"}}"
        ),
        "web:service_started:false"
    );
    let nets = d.inspect(
        &client,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
    );
    assert_eq!(nets, format!("{}_default", p.name));

    let logs = p.ok(&["logs", "--no-color", "web"]);
    assert!(
        logs.lines()
            .any(|l| l.starts_with(&web) && l.contains("response:200")),
        "{logs}"
    );
    assert!(!logs.contains(&client), "{logs}");

    // Progress goes to stderr, as Compose v2 writes it.
    let down = p.run(&["down"]);
    assert!(down.status.success());
    let text = harness::stderr(&down);
    assert!(
        text.contains(&format!("Container {web}  Removing")),
        "{text}"
    );
    assert!(p.all_containers().is_empty());
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&p.name), "{nets}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn recreate_only_on_change() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    let p = Project::new(&d, "recreate", &two_services(port, "one"));
    p.ok(&["up", "-d"]);
    let (web1, client1) = (p.ids("web"), p.ids("client"));
    assert_eq!(web1.len(), 1);

    // Same file: nothing recreated.
    p.ok(&["up", "-d"]);
    assert_eq!(p.ids("web"), web1);
    assert_eq!(p.ids("client"), client1);

    // web's environment changes: web is recreated under the same name, client is kept.
    p.write(&two_services(port, "two"));
    p.ok(&["up", "-d"]);
    let web2 = p.ids("web");
    assert_eq!(web2.len(), 1);
    assert_eq!(web2[0].0, web1[0].0);
    assert_ne!(web2[0].1, web1[0].1);
    assert_eq!(p.ids("client"), client1);
    let env = d.inspect(&web2[0].1, "{{json .Config.Env}}");
    assert!(env.contains("MARKER=two"), "{env}");
    assert_eq!(
        d.inspect(&web2[0].1, "{{.State.Status}}"),
        "running",
        "recreated web is not running"
    );

    // --force-recreate recreates everything; --no-recreate keeps a diverged one.
    p.ok(&["up", "-d", "--force-recreate"]);
    assert_ne!(p.ids("client"), client1);
    let web3 = p.ids("web");
    p.write(&two_services(port, "three"));
    p.ok(&["up", "-d", "--no-recreate"]);
    assert_eq!(p.ids("web"), web3);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn scale_up_and_down() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    // Replicas cannot share a published host port: publish web's port only as a range-less
    // container port here.
    let yaml = two_services(port, "s").replace(&format!("\"{port}:80\""), "\"80\"");
    let p = Project::new(&d, "scale", &yaml);
    p.ok(&["up", "-d", "--scale", "web=3"]);
    let names: Vec<String> = p.ids("web").into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = (1..=3).map(|i| format!("{}-web-{i}", p.name)).collect();
    assert_eq!(names, want);
    for n in &names {
        assert_eq!(d.inspect(n, "{{.State.Status}}"), "running", "{n}");
    }
    // The service name resolves to every replica.
    let client = format!("{}-client-1", p.name);
    harness::eventually(DEADLINE, "web to resolve to three addresses", || {
        let out = d.docker(&["exec", &client, "nslookup", "web"]);
        let text = harness::stdout(&out);
        text.matches("Address").count() >= 3 && text.contains("172.")
    });

    // Down to one: the highest numbers go first.
    p.ok(&["up", "-d", "--scale", "web=1"]);
    let names: Vec<String> = p.ids("web").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec![format!("{}-web-1", p.name)]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn depends_on_service_healthy() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      retries: 20
  app:
    image: busybox
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
"#;
    let p = Project::new(&d, "healthy", yaml);
    p.ok(&["up", "-d"]);
    let db = format!("{}-db-1", p.name);
    let app = format!("{}-app-1", p.name);
    assert_eq!(d.inspect(&db, "{{.State.Health.Status}}"), "healthy");
    assert_eq!(d.inspect(&app, "{{.State.Status}}"), "running");
    // app started only once db was healthy: after db's first passing probe ended.
    let started = d.inspect(&app, "{{.State.StartedAt}}");
    let healthy_at = d.inspect(
        &db,
        "{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}} {{end}}{{end}}",
    );
    let first = healthy_at.split_whitespace().next().unwrap_or_default();
    assert!(!first.is_empty(), "no passing probe in db's health log");
    assert!(
        started.as_str() > first,
        "app started at {started}, db first healthy at {first}"
    );

    // A dependency that never gets healthy fails up, naming it.
    let bad = yaml
        .replace("touch /tmp/ready; ", "")
        .replace("retries: 20", "retries: 2");
    p.ok(&["down"]);
    p.write(&bad);
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(err.contains(&db) && err.contains("unhealthy"), "{err}");
    assert!(
        p.ids("app").is_empty(),
        "app created though db never got healthy"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn down_volumes_without_named_volumes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  app:
    image: busybox
    command: ["sleep", "1000"]
    tmpfs: [/scratch]
"#;
    let p = Project::new(&d, "downv", yaml);
    p.ok(&["up", "-d"]);
    assert_eq!(p.all_containers().len(), 1);
    p.ok(&["down", "-v"]);
    assert!(p.all_containers().is_empty());
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&p.name), "{nets}");
    // Named and anonymous volumes: volumes.rs.
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bad_input_names_the_place_and_leaves_nothing() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    // Two services on one host port: the second start fails, and up takes back all it made.
    let yaml = format!(
        "services:\n  a:\n    image: busybox\n    command: [sleep, '1000']\n    ports: ['{port}:80']\n  b:\n    image: busybox\n    command: [sleep, '1000']\n    ports: ['{port}:81']\n    depends_on: [a]\n"
    );
    let p = Project::new(&d, "bad", &yaml);
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(
        err.contains(&format!("service b: container {}-b-1", p.name))
            && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(p.all_containers().is_empty(), "up left containers behind");
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&p.name), "{nets}");

    // Loader errors name the file, line and key; nothing reaches the engine.
    let cases = [
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            "dependency cycle",
        ),
        ("services:\n  a:\n    image: busybox\n    bogus: 1\n", "compose.yaml:4"),
        ("services:\n  a:\n    image: ${NOPE:?set NOPE first}\n", "set NOPE first"),
        ("services:\n  a: [unclosed\n", "compose.yaml"),
    ];
    for (yaml, want) in cases {
        p.write(yaml);
        let out = p.run(&["up", "-d"]);
        assert!(!out.status.success(), "{yaml}");
        let err = harness::stderr(&out);
        assert!(err.contains(want), "{yaml}: {err}");
    }
    assert!(p.all_containers().is_empty());
}
