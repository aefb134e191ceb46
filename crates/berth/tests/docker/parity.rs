//! Behaviours clients rely on, compared with what Docker does (issue #15): each of these accepted
//! a request and then did something else.

use crate::harness::{opted_in, Daemon};

#[path = "parity_ns.rs"]
mod namespaces;

/// `-e NAME` with NAME unset on the client: the docker CLI sends the bare name; Docker keeps it in
/// the config and the process does not get it.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_unset_env_name_does_not_reach_the_process() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let name = "BERTH_PARITY_UNSET_VARIABLE";
    let mut cmd = d.docker_cmd(&[
        "run",
        "--name",
        "envs",
        "-e",
        name,
        "-e",
        "SET_ONE=1",
        "busybox",
        "env",
    ]);
    cmd.env_remove(name);
    let out = cmd.output().expect("run docker");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.contains("SET_ONE=1\n"), "{env}");
    assert!(!env.lines().any(|l| l.starts_with(name)), "{env}");
    // The config keeps what the client sent, as Docker's does.
    let config = d.inspect("envs", "{{json .Config.Env}}");
    assert!(config.contains(&format!("\"{name}\"")), "{config}");
    // The same for exec.
    d.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "100"]);
    let mut cmd = d.docker_cmd(&["exec", "-e", name, "target", "env"]);
    cmd.env_remove(name);
    let out = cmd.output().expect("exec docker");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.lines().any(|l| l.starts_with(name)), "{env}");
    d.ok(&["rm", "-f", "envs", "target"]);
}

/// `docker diff` never lists the files the engine puts in place for its own mounts.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn diff_shows_only_the_containers_own_changes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "--name", "quiet", "busybox", "true"]);
    assert_eq!(
        d.ok(&["diff", "quiet"]),
        "",
        "a container that changed nothing"
    );
    d.ok(&[
        "run",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "echo x > /etc/motd; mkdir /data",
    ]);
    let diff = d.ok(&["diff", "busy"]);
    assert_eq!(diff, "A /data\nC /etc\nA /etc/motd", "{diff}");
    d.ok(&["rm", "quiet", "busy"]);
}

/// `docker info` counts the containers by state, as Docker's does.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn info_counts_containers_by_state() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let counts = |d: &Daemon| {
        d.ok(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}",
        ])
    };
    assert_eq!(counts(&d), "0 0 0 0");
    d.ok(&["create", "--name", "made", "busybox", "true"]);
    d.ok(&["run", "-d", "--name", "runs", "busybox", "sleep", "100"]);
    d.ok(&["run", "-d", "--name", "frozen", "busybox", "sleep", "100"]);
    d.ok(&["pause", "frozen"]);
    assert_eq!(counts(&d), "3 1 1 1");
    d.ok(&["unpause", "frozen"]);
    d.ok(&["rm", "-f", "made", "runs", "frozen"]);
}

/// `docker kill` (SIGKILL) answers once the container is down: inspect right after sees the exit,
/// and `rm` right after works.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn kill_answers_once_the_container_is_down() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for i in 0..5 {
        let name = format!("victim{i}");
        d.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
        d.ok(&["kill", &name]);
        assert_eq!(
            d.inspect(&name, "{{.State.Running}} {{.State.ExitCode}}"),
            "false 137"
        );
        d.ok(&["rm", &name]);
    }
}

/// The kernel's supplementary groups of a process run with `flags`, sorted.
fn groups_of(d: &Daemon, flags: &[&str]) -> Vec<u32> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        "berth-parity-users",
        "grep",
        "^Groups:",
        "/proc/self/status",
    ]);
    let line = d.ok(&args);
    let mut gids: Vec<u32> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|g| g.parse().ok())
        .collect();
    gids.sort_unstable();
    gids
}

/// `-u` and `--group-add` give the groups Docker gives: the primary group, the user's groups from
/// the image's `/etc/group` (not with an explicit group), then the added ones.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn users_get_their_groups_as_docker_resolves_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "users-prep",
        "busybox",
        "sh",
        "-c",
        "echo 'web:x:1000:1000::/srv:/bin/sh' >> /etc/passwd; \
         printf 'web:x:1000:\\nstaff:x:50:other,web\\naudio:x:29:\\n' >> /etc/group",
    ]);
    d.ok(&["commit", "users-prep", "berth-parity-users"]);
    assert_eq!(groups_of(&d, &[]), [0]);
    let id = d.ok(&["run", "--rm", "berth-parity-users", "id"]);
    assert_eq!(id, "uid=0(root) gid=0(root) groups=0(root)");
    assert_eq!(groups_of(&d, &["-u", "web"]), [50, 1000]);
    assert_eq!(groups_of(&d, &["-u", "1000"]), [50, 1000]);
    assert_eq!(groups_of(&d, &["-u", "web:audio"]), [29]);
    assert_eq!(
        groups_of(
            &d,
            &["-u", "web", "--group-add", "audio", "--group-add", "4242"]
        ),
        [29, 50, 1000, 4242]
    );
    let id = d.ok(&["run", "--rm", "-u", "web", "berth-parity-users", "id"]);
    assert_eq!(id, "uid=1000(web) gid=1000(web) groups=50(staff),1000(web)");
    let ghost = d.docker(&[
        "run",
        "--rm",
        "--group-add",
        "ghosts",
        "berth-parity-users",
        "true",
    ]);
    assert!(!ghost.status.success());
    let err = String::from_utf8_lossy(&ghost.stderr);
    assert!(
        err.contains("Unable to find group ghosts: no matching entries in group file"),
        "{err}"
    );
    d.ok(&["rm", "users-prep"]);
}

/// Runs `cmd` to its end, or kills it after `secs` seconds (`None`).
fn finish_within(mut cmd: std::process::Command, secs: u64) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().ok();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `docker wait` on a container that its restart policy brings back returns at each exit with
/// that exit's code, as Docker's does (it waited forever); `next-exit` and `removed` too.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn wait_returns_each_exit_of_a_restarting_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "bouncer",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    for round in 0..2 {
        let out = finish_within(d.docker_cmd(&["wait", "bouncer"]), 30)
            .unwrap_or_else(|| panic!("docker wait did not return (round {round})"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    }
    let restarts: u32 = d
        .inspect("bouncer", "{{.RestartCount}}")
        .parse()
        .expect("restart count");
    assert!(restarts >= 1, "restarted {restarts} times");
    // The API's next-exit, by curl (the body comes when the process exits).
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "--unix-socket"]).arg(&d.sock).args([
        "-X",
        "POST",
        "http://localhost/containers/bouncer/wait?condition=next-exit",
    ]);
    let out = finish_within(curl, 30).expect("next-exit wait returned");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("\"StatusCode\":3"), "{body}");
    // removed: only the removal ends it.
    let mut curl = std::process::Command::new("curl");
    curl.args(["-s", "--unix-socket"]).arg(&d.sock).args([
        "-X",
        "POST",
        "http://localhost/containers/bouncer/wait?condition=removed",
    ]);
    let waiter = std::thread::spawn(move || finish_within(curl, 30));
    // The removed wait must outlive at least one more exit.
    let _ = finish_within(d.docker_cmd(&["wait", "bouncer"]), 30).expect("another exit");
    assert!(!waiter.is_finished(), "the removed wait ended at an exit");
    d.ok(&["rm", "-f", "bouncer"]);
    let out = waiter
        .join()
        .expect("waiter")
        .expect("removed wait returned");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("\"StatusCode\""), "{body}");
}

/// The container's events between `since` and now, as `action` words.
fn actions(d: &Daemon, name: &str, since: &str) -> Vec<String> {
    let until = crate::harness::unix_now();
    d.ok(&[
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// `docker commit` pauses a running container around the copy (`--pause=false` does not), and a
/// container that exits meanwhile is committed all the same, as Docker does.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn commit_pauses_by_default_and_commits_an_exiting_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "frozen", "busybox", "sleep", "100"]);
    let since = crate::harness::unix_now();
    d.ok(&["commit", "frozen", "berth-parity-frozen"]);
    let seen = actions(&d, "frozen", &since);
    let at = |a: &str| seen.iter().position(|x| x == a);
    assert!(
        matches!((at("pause"), at("commit"), at("unpause")), (Some(p), Some(c), Some(u)) if p < c && c < u),
        "{seen:?}"
    );
    assert_eq!(d.inspect("frozen", "{{.State.Status}}"), "running");
    let since = crate::harness::unix_now();
    d.ok(&["commit", "--pause=false", "frozen", "berth-parity-thawed"]);
    let seen = actions(&d, "frozen", &since);
    assert!(seen.contains(&"commit".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|a| a == "pause"), "{seen:?}");
    // Containers that are exiting while they are committed.
    for i in 0..10 {
        let name = format!("exiting{i}");
        d.ok(&["run", "-d", "--name", &name, "busybox", "true"]);
        d.ok(&["commit", &name, &format!("berth-parity-exiting:{i}")]);
        d.ok(&["rm", "-f", &name]);
    }
    d.ok(&["rm", "-f", "frozen"]);
}

/// `docker load` of a broken archive: Docker answers 200 with the error in the JSON stream; the
/// CLI prints it and exits 1 (it got a bare HTTP error before).
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn load_errors_come_in_the_json_stream() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for (what, input) in [
        ("not a tar", b"this is not an image archive".to_vec()),
        ("an empty tar", vec![0u8; 1024]),
    ] {
        let out = d.docker_input(&["load"], &input);
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{what}: no message");
        assert!(!err.contains("Error response from daemon"), "{what}: {err}");
        let mut curl = std::process::Command::new("curl");
        curl.args(["-s", "-i", "--unix-socket"])
            .arg(&d.sock)
            .args([
                "-X",
                "POST",
                "-H",
                "Content-Type: application/x-tar",
                "--data-binary",
                "@-",
                "http://localhost/images/load",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = curl.spawn().expect("curl");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        }
        let answer = child.wait_with_output().expect("curl output");
        let answer = String::from_utf8_lossy(&answer.stdout);
        assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer}");
        assert!(
            answer.contains("\"errorDetail\":{\"message\":"),
            "{what}: {answer}"
        );
        let sent = answer
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v["error"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("{what}: no error message in {answer}"));
        assert!(
            err.contains(&sent),
            "{what}: the CLI printed {err}, the daemon sent {sent}"
        );
    }
}

/// `--runtime`: `runc` (Docker's default name, which inspect shows) and `berth` name the built-in
/// runtime; any other name is refused with Docker's words (it was accepted and ignored); `docker
/// info` lists both.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runtime_names_as_docker_checks_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    assert_eq!(
        d.ok(&[
            "info",
            "--format",
            "{{.DefaultRuntime}} {{range $k, $v := .Runtimes}}{{$k}},{{end}}"
        ]),
        "runc berth,runc,"
    );
    d.ok(&["create", "--name", "rt-default", "busybox", "true"]);
    assert_eq!(d.inspect("rt-default", "{{.HostConfig.Runtime}}"), "runc");
    for name in ["runc", "berth"] {
        let out = d.ok(&["run", "--rm", "--runtime", name, "busybox", "echo", name]);
        assert_eq!(out, name);
    }
    let refused = d.docker(&["run", "--rm", "--runtime", "crun", "busybox", "true"]);
    assert_eq!(refused.status.code(), Some(125));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("unknown or invalid runtime name: crun"),
        "{err}"
    );
    let (status, body) = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Runtime":"io.containerd.runc.v2"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    d.ok(&["rm", "rt-default"]);
}

/// docs/compat.md is what scripts/compat.py makes of the API specification, the daemon's route
/// table, the docker CLI's commands and berth's: a new endpoint or command without a status, or
/// a page not regenerated, fails here. Needs no root.
#[test]
fn compat_doc_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/compat.py"))
        .arg("--check")
        .arg("--berth")
        .arg(env!("CARGO_BIN_EXE_berth"))
        .output()
        .expect("running python3 scripts/compat.py");
    assert!(
        out.status.success(),
        "scripts/compat.py --check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
