//! Behaviours clients rely on, compared with what Docker does (issue #15): each of these accepted
//! a request and then did something else.

use crate::harness::{opted_in, Daemon};

#[path = "parity_ns.rs"]
mod namespaces;

/// `-e NAME` with NAME unset on the client: the docker CLI sends the bare name; Docker keeps it in
/// the config and the process does not get it.
#[test]
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
