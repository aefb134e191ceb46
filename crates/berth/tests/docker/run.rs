//! `docker run`: output, exit codes 0/3/125/126/127, piped stdin, a tty.

use crate::harness::{code, opted_in, stderr, stdout, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_rm_echo_and_exit_codes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    assert_eq!(stdout(&out), "hi\n");
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(stderr(&out), "err\n");
    let out = d.docker(&["run", "--rm", "--bogus-flag", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    let out = d.docker(&["run", "--rm", "nosuchimage-berth", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "busybox", "nope"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    // The private network namespace has its loopback up.
    let lo = d.ok(&["run", "--rm", "busybox", "ip", "addr", "show", "lo"]);
    assert!(
        lo.contains("LOOPBACK,UP") && lo.contains("127.0.0.1"),
        "{lo}"
    );
    // --rm removed all of them, the failed starts too.
    crate::harness::eventually(std::time::Duration::from_secs(10), "auto-removal", || {
        d.ok(&["ps", "-aq"]).is_empty()
    });
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn piped_stdin_and_tty() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker_input(&["run", "-i", "--rm", "busybox", "cat"], b"hello\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
    // A tty: docker needs a terminal on its side too; `script` gives it one.
    let cmd = format!(
        "docker -H unix://{} run -t --rm busybox tty",
        d.sock.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/"),
        "no tty: {text:?} {}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "busybox", "tty"]);
    assert_ne!(code(&out), 0, "tty without -t: {}", stdout(&out));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn interactive_shell_through_a_pty() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // `script` runs docker on a pty and types what it reads on its stdin (raw mode: CR ends a line).
    let cmd = format!(
        "docker -H unix://{} run -it --rm busybox sh",
        d.sock.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        input
            .write_all(b"echo marker$((40+2))\rexit 5\r")
            .expect("typing");
    }
    let out = child.wait_with_output().expect("script output");
    assert_eq!(code(&out), 5, "{}", stdout(&out));
    assert!(stdout(&out).contains("marker42"), "{}", stdout(&out));
}

/// A command that cannot run reaches the API by its kind, not its words: the start answers 400,
/// the container is left `created` (it never ran) with Docker's code (127 missing, 126 not
/// executable) and the docker CLI exits with it. Commands under a bind mount are looked up by the runtime inside the
/// container, so their kind crosses the setup socket, the shim's ready line and the daemon; the
/// others are found missing by the daemon before any shim starts. Both answer alike.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn commands_that_cannot_run_keep_their_kind_to_the_api() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = d.dir.path().join("cmd-mount");
    std::fs::create_dir_all(host.join("dir")).expect("mkdir");
    std::fs::write(host.join("plain"), "not a program\n").expect("write");
    let bind = format!("{}:/m", host.display());
    let cases: [(&str, &[&str], i32); 5] = [
        ("daemon-missing", &["busybox", "nope"], 127),
        ("daemon-dir", &["busybox", "/etc"], 126),
        ("rt-missing", &["-v", &bind, "busybox", "/m/nope"], 127),
        ("rt-dir", &["-v", &bind, "busybox", "/m/dir"], 126),
        ("rt-plain", &["-v", &bind, "busybox", "/m/plain"], 126),
    ];
    for (name, args, want) in cases {
        let mut create = vec!["create", "--name", name];
        create.extend_from_slice(args);
        d.ok(&create);
        let (status, body) = d.curl("POST", &format!("/containers/{name}/start"), None);
        assert_eq!(status, 400, "{name}: {body}\n{}", d.log());
        // As Docker: never started, so `created`, with the code and the runtime's words.
        assert_eq!(
            d.inspect(
                name,
                "{{.State.Status}} {{.State.ExitCode}} {{.State.StartedAt}}"
            ),
            format!("created {want} 0001-01-01T00:00:00Z"),
            "{name}: {body}"
        );
        assert!(
            !d.inspect(name, "{{.State.Error}}").is_empty(),
            "{name}: no State.Error"
        );
        let mut run = vec!["run", "--rm"];
        run.extend_from_slice(args);
        let out = d.docker(&run);
        assert_eq!(code(&out), want, "{name}: {}", stderr(&out));
    }
    // The same kinds for an exec, which the runtime always looks up inside the container.
    d.ok(&[
        "run", "-d", "--name", "box", "-v", &bind, "busybox", "sleep", "100",
    ]);
    for (cmd, want) in [("/m/nope", 127), ("/m/dir", 126), ("/m/plain", 126)] {
        let out = d.docker(&["exec", "box", cmd]);
        assert_eq!(code(&out), want, "{cmd}: {}", stderr(&out));
    }
    d.ok(&["rm", "-f", "box"]);
}
