//! `docker exec` against Berth: environment, working directory and user; exit codes (the
//! process's own, 126/127 for commands that cannot run); `-it` through a pty; `-d`; exec into a
//! stopped container; exec inspect.

use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_env_workdir_user_and_codes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "FROM_CTR=1",
        "busybox",
        "sleep",
        "300",
    ]);
    let out = d.ok(&[
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        "echo $FOO $FROM_CTR $(pwd) $(id -u)",
    ]);
    assert_eq!(out, "bar 1 /tmp 65534");
    // Default user and working dir are the container's.
    assert_eq!(d.ok(&["exec", "box", "sh", "-c", "id -u; pwd"]), "0\n/");
    // stderr is kept apart from stdout.
    let out = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code(&out), 3);
    assert_eq!(stdout(&out).trim(), "out");
    assert_eq!(stderr(&out).trim(), "err");
    // Not found → 127 with Docker's words; not executable → 126.
    let out = d.docker(&["exec", "box", "nope"]);
    assert_eq!(code(&out), 127, "{}{}", stdout(&out), stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("executable file not found in $PATH"),
        "{text}"
    );
    let out = d.docker(&["exec", "box", "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{}{}", stdout(&out), stderr(&out));
    // Piped stdin with -i.
    let out = d.docker_input(&["exec", "-i", "box", "cat"], b"piped text\n");
    assert_eq!(stdout(&out), "piped text\n");
    // -d returns at once; the process runs in the background.
    d.ok(&["exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg"]);
    eventually(Duration::from_secs(10), "detached exec output", || {
        d.docker(&["exec", "box", "cat", "/tmp/bg"])
            .status
            .success()
    });
    // Stopped container → error naming it.
    d.ok(&["stop", "-t", "1", "box"]);
    let out = d.docker(&["exec", "box", "true"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    // Unknown exec instance → 404.
    let (status, body) = d.curl("GET", "/exec/0123456789abcdef/json", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such exec instance"), "{body}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_it_through_a_pty() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "tty", "busybox", "sleep", "300"]);
    // `script` gives the docker CLI a terminal; the shell reads the commands typed on it.
    let docker = format!("docker -H unix://{} exec -it tty sh", d.sock.display());
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &docker, "/dev/null"])
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env_remove("DOCKER_HOST");
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(b"tty; echo marker-$((6*7))\nexit 5\n")
            .expect("type");
    }
    let out = child.wait_with_output().expect("script output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("marker-42"), "{text}");
    assert_eq!(code(&out), 5, "{text}");
}
