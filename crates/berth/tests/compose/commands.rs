//! The commands besides up/down: exec, run (--rm, -T, -e, --no-deps), top, port, images, ls,
//! wait, up --abort-on-container-exit / --exit-code-from, build and pull through the engine.

use crate::harness::{self, code, opted_in, Daemon};
use crate::{free_port, two_services, Project};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_run_top_port_images_ls() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let port = free_port();
    let p = Project::new(&d, "cmds", &two_services(port, "x"));
    p.ok(&["up", "-d"]);
    p.wait_log("client", "hello-from-web");

    let out = p.ok(&["exec", "-T", "web", "cat", "/www/index.html"]);
    assert_eq!(out.trim(), "hello-from-web");
    let out = p.ok(&[
        "exec",
        "-T",
        "-e",
        "FOO=bar",
        "web",
        "sh",
        "-c",
        "echo $FOO $MARKER",
    ]);
    assert_eq!(out.trim(), "bar x");
    assert_eq!(
        code(&p.run(&["exec", "-T", "web", "sh", "-c", "exit 3"])),
        3
    );
    let out = p.run(&["exec", "-T", "nosuch", "true"]);
    assert_ne!(code(&out), 0);
    assert!(harness::stderr(&out).contains("nosuch"));

    // A one-off container: on the project network, its own environment, removed with --rm.
    let out = p.ok(&[
        "run",
        "--rm",
        "-T",
        "-e",
        "X=1",
        "client",
        "sh",
        "-c",
        "echo run-$X; wget -q -O - http://web/",
    ]);
    assert!(
        out.contains("run-1") && out.contains("hello-from-web"),
        "{out}"
    );
    assert_eq!(
        p.all_containers().len(),
        2,
        "the one-off container was not removed"
    );
    assert_eq!(
        code(&p.run(&[
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "web",
            "sh",
            "-c",
            "exit 4"
        ])),
        4
    );
    // Without --rm it stays, labelled oneoff, and ps leaves it out.
    p.ok(&["run", "-T", "--no-deps", "web", "true"]);
    let filter = format!("label=com.docker.compose.project={}", p.name);
    let oneoff = d.ok(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--filter",
        "label=com.docker.compose.oneoff=True",
        "--format",
        "{{.Names}}",
    ]);
    assert!(
        oneoff.starts_with(&format!("{}-web-run-", p.name)),
        "{oneoff}"
    );
    assert!(!p.ok(&["ps", "-a"]).contains("-run-"));

    let top = p.ok(&["top", "web"]);
    assert!(
        top.contains(&format!("{}-web-1", p.name)) && top.contains("httpd"),
        "{top}"
    );
    assert_eq!(
        p.ok(&["port", "web", "80"]).trim(),
        format!("0.0.0.0:{port}")
    );
    let images = p.ok(&["images"]);
    assert!(
        images.contains("busybox") && images.contains("CONTAINER"),
        "{images}"
    );
    let ls = p.ok(&["ls"]);
    let row = ls
        .lines()
        .find(|l| l.starts_with(&p.name))
        .unwrap_or_default();
    assert!(row.contains("running(2)"), "{ls}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn abort_on_container_exit_and_wait() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  quick:
    image: busybox
    command: ["sh", "-c", "echo quick-done; exit 7"]
  long:
    image: busybox
    command: ["sh", "-c", "trap 'exit 5' TERM; echo long-up; sleep 1000 & wait"]
"#;
    let p = Project::new(&d, "abort", yaml);
    let out = p.run(&["up", "--abort-on-container-exit"]);
    let text = harness::stdout(&out);
    assert_eq!(code(&out), 7, "{text}{}", harness::stderr(&out));
    assert!(
        text.contains("quick-done") && text.contains("exited with code 7"),
        "{text}"
    );
    assert!(text.contains("Aborting on container exit"), "{text}");
    let long = format!("{}-long-1", p.name);
    assert_eq!(d.inspect(&long, "{{.State.Status}}"), "exited");

    let out = p.run(&["up", "--exit-code-from", "long"]);
    assert_eq!(code(&out), 5, "{}", harness::stdout(&out));

    p.ok(&["up", "-d"]);
    let out = p.run(&["wait", "quick"]);
    assert_eq!(code(&out), 7);
    assert_eq!(harness::stdout(&out).trim(), "7");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn build_and_pull_through_the_engine() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  app:
    build:
      context: ./app
      args:
        GREETING: built-by-compose
"#;
    let p = Project::new(&d, "build", yaml);
    std::fs::create_dir_all(p.path().join("app")).expect("context dir");
    std::fs::write(
        p.path().join("app/Dockerfile"),
        "FROM busybox\nARG GREETING\nRUN echo $GREETING > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .expect("Dockerfile");
    let out = p.run(&["build"]);
    if out.status.success() {
        let image = format!("{}-app", p.name);
        assert!(d
            .ok(&["images", "--format", "{{.Repository}}"])
            .contains(&image));
        let out = p.ok(&["run", "--rm", "-T", "app"]);
        assert_eq!(out.trim(), "built-by-compose");
    } else {
        // An engine without a builder: its own words, naming the service.
        let err = harness::stderr(&out);
        assert!(err.contains("app") && err.contains("builder"), "{err}");
    }

    // A missing image is pulled; one that cannot be pulled fails up before anything is created.
    p.write("services:\n  gone:\n    image: 127.0.0.1:1/nothing/here:1\n");
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(err.contains("127.0.0.1:1/nothing/here"), "{err}");
    assert!(p.all_containers().is_empty());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn scale_events_tty_exec_and_down_rmi() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  app:
    build: ./app
  side:
    image: busybox
    command: ["sleep", "1000"]
"#;
    let p = Project::new(&d, "scale", yaml);
    std::fs::create_dir_all(p.path().join("app")).expect("context dir");
    std::fs::write(
        p.path().join("app/Dockerfile"),
        "FROM busybox\nCMD [\"sleep\", \"1000\"]\n",
    )
    .expect("Dockerfile");
    p.ok(&["up", "-d"]);

    // events: a start of the new replica shows up while `scale` runs.
    let mut events = p
        .cmd(&["events", "--json", "app"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("compose events");
    let stdout = events.stdout.take().expect("events stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    p.ok(&["scale", "app=2"]);
    let want = format!("{}-app-2", p.name);
    let end = std::time::Instant::now() + crate::DEADLINE;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("\"start\"") && l.contains(&want))
    {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no start event of {want}: {seen:?}"),
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert!(seen.iter().all(|l| !l.contains("-side-")), "{seen:?}");
    assert_eq!(p.ids("app").len(), 2);
    assert_eq!(p.ids("side").len(), 1);

    // exec allocates a TTY when stdin is a terminal (script(1) gives it one).
    let line = format!(
        "{} -H unix://{} compose -p {} exec app tty",
        env!("CARGO_BIN_EXE_berth"),
        d.sock.display(),
        p.name
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(p.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert!(
        harness::stdout(&out).contains("/dev/pts/"),
        "{}",
        harness::stdout(&out)
    );

    // down --rmi local takes the built image with it, not busybox.
    p.ok(&["down", "--rmi", "local"]);
    let images = d.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(!images.contains(&format!("{}-app", p.name)), "{images}");
    assert!(images.contains("busybox"), "{images}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_both_ways() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo inside > /tmp/in.txt; mkdir -p /tmp/dir/sub; echo deep > /tmp/dir/sub/f; exec sleep 1000\"]\n";
    let p = Project::new(&d, "cp", yaml);
    p.ok(&["up", "-d"]);
    harness::eventually(crate::DEADLINE, "the container's files", || {
        code(&p.run(&["exec", "-T", "app", "test", "-f", "/tmp/dir/sub/f"])) == 0
    });
    let host = p.path();
    // Container -> host: a file under a new name, a directory into an existing one.
    p.ok(&[
        "cp",
        "app:/tmp/in.txt",
        host.join("out.txt").to_str().expect("utf-8"),
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt")).expect("out.txt"),
        "inside\n"
    );
    p.ok(&["cp", "app:/tmp/dir", host.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read_to_string(host.join("dir/sub/f")).expect("dir/sub/f"),
        "deep\n"
    );
    // Host -> container: into a directory, and as a new name.
    std::fs::write(host.join("up.txt"), "from host\n").expect("up.txt");
    p.ok(&[
        "cp",
        host.join("up.txt").to_str().expect("utf-8"),
        "app:/tmp",
    ]);
    assert_eq!(
        p.ok(&["exec", "-T", "app", "cat", "/tmp/up.txt"]),
        "from host\n"
    );
    p.ok(&[
        "cp",
        host.join("up.txt").to_str().expect("utf-8"),
        "app:/tmp/renamed.txt",
    ]);
    assert_eq!(
        p.ok(&["exec", "-T", "app", "cat", "/tmp/renamed.txt"]),
        "from host\n"
    );
}
