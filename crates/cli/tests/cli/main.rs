//! End-to-end tests of the berth CLI against a fake daemon on a UNIX socket: version negotiation,
//! error exits, the attached `run` flow over a hijacked connection, and the requests (paths,
//! queries and the `run` create body) compared with what the real docker CLI sends.

#![allow(clippy::unwrap_used)]

mod build;
mod diff_prune;
mod fake;
mod network;
mod output;
mod run_links;
mod run_networks;
mod volume;

use fake::{empty_reply, json_reply, Fake, Reply, Req};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn berth(host: &str, args: &[&str]) -> i32 {
    let mut v: Vec<OsString> = vec!["-H".into(), host.into()];
    v.extend(args.iter().map(OsString::from));
    berth_cli::main(v)
}

fn ping(api: Option<&str>) -> Reply {
    let extra = api
        .map(|v| format!("Api-Version: {v}\r\n"))
        .unwrap_or_default();
    Reply {
        bytes: format!("HTTP/1.1 200 OK\r\n{extra}Ostype: linux\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
        close: false,
    }
}

/// Paths of all non-ping requests.
fn calls(reqs: &[Req]) -> Vec<String> {
    reqs.iter()
        .filter(|r| !r.path.ends_with("/_ping"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn negotiation_follows_the_daemons_ping() {
    for (announced, prefix) in [
        (None, "/v1.24/"),
        (Some("1.30"), "/v1.30/"),
        (Some("1.50"), "/v1.50/"),
        (Some("1.60"), "/v1.50/"),
    ] {
        let f = Fake::start(move |r| {
            if r.path == "/_ping" {
                ping(announced)
            } else {
                json_reply("200 OK", "[]")
            }
        });
        assert_eq!(berth(&f.host(), &["images", "-q"]), 0);
        let reqs = f.requests();
        assert_eq!(
            (reqs[0].method.as_str(), reqs[0].path.as_str()),
            ("HEAD", "/_ping")
        );
        assert_eq!(
            calls(&reqs),
            vec![format!("GET {prefix}images/json")],
            "announced {announced:?}"
        );
    }
}

#[test]
fn refused_head_ping_falls_back_to_get() {
    let f = Fake::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("HEAD", "/_ping") => empty_reply("405 Method Not Allowed"),
        ("GET", "/_ping") => ping(Some("1.41")),
        _ => json_reply("200 OK", "[]"),
    });
    assert_eq!(berth(&f.host(), &["ps", "-q"]), 0);
    let seen: Vec<String> = f
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        vec!["HEAD /_ping", "GET /_ping", "GET /v1.41/containers/json"]
    );
}

#[test]
fn daemon_errors_exit_1_and_every_object_is_tried() {
    let f = Fake::start(|r| {
        if r.path == "/_ping" {
            ping(Some("1.50"))
        } else {
            json_reply("404 Not Found", r#"{"message":"No such container: a"}"#)
        }
    });
    assert_eq!(berth(&f.host(), &["rm", "-f", "a", "b"]), 1);
    assert_eq!(
        calls(&f.requests()),
        vec![
            "DELETE /v1.50/containers/a?force=1",
            "DELETE /v1.50/containers/b?force=1"
        ]
    );
}

#[test]
fn usage_errors_exit_like_docker() {
    let nowhere = "unix:///nonexistent/berth-test.sock";
    assert_eq!(berth(nowhere, &["run", "--nope", "busybox"]), 125);
    assert_eq!(berth(nowhere, &["run", "-m", "abc", "busybox"]), 125);
    assert_eq!(berth(nowhere, &["rm"]), 1);
    assert_eq!(berth(nowhere, &["tag", "a"]), 1);
    assert_eq!(berth(nowhere, &["ps"]), 1, "no daemon: cannot connect");
    assert_eq!(
        berth(nowhere, &["run", "busybox"]),
        125,
        "run reports a missing daemon as 125"
    );
    assert_eq!(berth(nowhere, &["frobnicate"]), 1);
    assert_eq!(berth(nowhere, &["run", "--help"]), 0);
}

#[test]
fn attached_run_streams_and_exits_with_the_container_status() {
    let f = Fake::start(|r| {
        let p = r.path.as_str();
        if p == "/_ping" {
            ping(Some("1.50"))
        } else if p.contains("/containers/create") {
            json_reply("201 Created", r#"{"Id":"c0ffee","Warnings":[]}"#)
        } else if p.contains("/attach") {
            let mut bytes = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".to_vec();
            bytes.extend(berth_cli::client::stdcopy::encode(
                1,
                b"hello from the fake\n",
            ));
            bytes.extend(berth_cli::client::stdcopy::encode(2, b"and stderr\n"));
            Reply { bytes, close: true }
        } else if p.contains("/wait") {
            json_reply("200 OK", r#"{"StatusCode":3,"Error":null}"#)
        } else {
            empty_reply("204 No Content")
        }
    });
    assert_eq!(
        berth(&f.host(), &["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        3
    );
    let reqs = f.requests();
    assert_eq!(
        calls(&reqs),
        vec![
            "POST /v1.50/containers/create",
            "POST /v1.50/containers/c0ffee/attach?stderr=1&stdout=1&stream=1",
            "POST /v1.50/containers/c0ffee/wait?condition=removed",
            "POST /v1.50/containers/c0ffee/start",
        ]
    );
    let attach = reqs.iter().find(|r| r.path.contains("/attach")).unwrap();
    assert_eq!(
        attach.headers.get("upgrade").map(String::as_str),
        Some("tcp")
    );
    assert_eq!(
        attach.headers.get("connection").map(String::as_str),
        Some("Upgrade")
    );
    let body = reqs
        .iter()
        .find(|r| r.path.contains("/create"))
        .unwrap()
        .json();
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "exit 3"]));
}

#[test]
fn missing_image_is_pulled_and_a_failed_pull_exits_125() {
    let f = Fake::start(|r| {
        if r.path == "/_ping" {
            ping(Some("1.50"))
        } else if r.path.contains("/containers/create") {
            json_reply(
                "404 Not Found",
                r#"{"message":"No such image: busybox:latest"}"#,
            )
        } else {
            json_reply(
                "500 Internal Server Error",
                r#"{"message":"pulling is not supported: no registry configured"}"#,
            )
        }
    });
    assert_eq!(berth(&f.host(), &["run", "busybox"]), 125);
    assert_eq!(
        calls(&f.requests()),
        vec![
            "POST /v1.50/containers/create",
            "POST /v1.50/images/create?fromImage=busybox&tag=latest"
        ]
    );
}

/// A daemon that answers every request plausibly, for comparing request sequences.
fn permissive() -> Fake {
    Fake::start(|r| {
        let p = r.path.as_str();
        if p == "/_ping" {
            ping(Some("1.50"))
        } else if p.contains("/containers/create") {
            json_reply(
                "201 Created",
                r#"{"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Warnings":[]}"#,
            )
        } else if p.ends_with("/json") && p.contains("/containers/") {
            json_reply(
                "200 OK",
                r#"{"Id":"0123456789abcdef","Config":{"Tty":false,"OpenStdin":false},"State":{"Running":true},"HostConfig":{}}"#,
            )
        } else if p.contains("/logs") {
            Reply { bytes: b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nContent-Length: 0\r\n\r\n".to_vec(), close: false }
        } else if p.contains("/wait") {
            json_reply("200 OK", r#"{"StatusCode":0}"#)
        } else if p.contains("/containers/json")
            || p.contains("/images/json")
            || (r.method == "DELETE" && p.contains("/images/"))
        {
            json_reply("200 OK", "[]")
        } else if r.method == "POST" && p.contains("/exec") && p.contains("/containers/") {
            json_reply("201 Created", r#"{"Id":"e1"}"#)
        } else if p.contains("/exec/e1/json") {
            json_reply("200 OK", r#"{"ExitCode":0,"Running":false}"#)
        } else if p.contains("/top") {
            json_reply("200 OK", r#"{"Titles":["PID"],"Processes":[["1"]]}"#)
        } else if p.contains("/update") {
            json_reply("200 OK", r#"{"Warnings":[]}"#)
        } else if p.contains("/version")
            || p.contains("/info")
            || p.contains("/system/df")
            || p.contains("/prune")
        {
            json_reply("200 OK", "{}")
        } else if r.method == "GET"
            && (p.contains("/events") || p.contains("/images/get") || p.contains("/export"))
        {
            Reply {
                bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
                close: false,
            }
        } else if p.contains("/images/load") || p.contains("/images/create") {
            json_reply("200 OK", "")
        } else if p.contains("/commit") {
            json_reply("201 Created", r#"{"Id":"sha256:abc"}"#)
        } else if r.method == "GET" && p.contains("/history") {
            json_reply("200 OK", "[]")
        } else {
            empty_reply("204 No Content")
        }
    })
}

/// The `berth` example binary, which `cargo test` builds beside the test binaries.
/// Whether a test that needs `what` can run. Missing, it skips with the reason — except in the
/// full suite (`BERTH_ROOT_TESTS=1`, as CI runs it), where the tools are installed and a comparison
/// that compares nothing must fail rather than pass.
fn need(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    assert_ne!(
        std::env::var("BERTH_ROOT_TESTS").as_deref(),
        Ok("1"),
        "{what} missing: the full suite needs it"
    );
    eprintln!("{what} missing: skipped");
    false
}

fn berth_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("berth")
}

/// Runs `program` against the fake `f`: (its requests but `/_ping`, each as "METHOD PATH BODY";
/// stdout; stderr with "docker" read as "berth"; exit code).
fn run_against(
    f: &Fake,
    program: &Path,
    args: &[&str],
) -> (Vec<String>, String, String, Option<i32>) {
    let out = std::process::Command::new(program)
        .env("DOCKER_HOST", f.host())
        .env("BERTH_HOST", f.host())
        .env_remove("DOCKER_API_VERSION")
        .env("DOCKER_CONFIG", f._dir.path())
        .args(args)
        .output()
        .unwrap();
    let reqs = f
        .requests()
        .iter()
        .filter(|r| r.path != "/_ping")
        .map(|r| format!("{} {} {}", r.method, r.path, r.json()))
        .collect();
    (
        reqs,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace("docker", "berth"),
        out.status.code(),
    )
}

/// Runs the docker CLI and berth with `args`, each against a fresh `fake()`, and asserts that they
/// send the same requests, print the same stdout and exit alike; stderr too (after
/// `docker_stderr` adjusts the docker CLI's), unless the docker CLI failed with a usage text.
fn assert_like_docker(
    fake: impl Fn() -> Fake,
    args: &[&str],
    docker_stderr: impl Fn(&str) -> String,
) {
    let mut d = run_against(&fake(), Path::new("docker"), args);
    d.2 = docker_stderr(&d.2);
    let b = run_against(&fake(), &berth_exe(), args);
    assert_eq!(b.0, d.0, "requests of {args:?}");
    assert_eq!(b.1, d.1, "stdout of {args:?}");
    assert_eq!(
        b.3, d.3,
        "exit code of {args:?} (stderr: {} / {})",
        b.2, d.2
    );
    if d.3 == Some(0) || !d.2.contains("Usage") {
        assert_eq!(b.2, d.2, "stderr of {args:?}");
    }
}

fn docker_available() -> bool {
    std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The create request's JSON among `reqs`, Env sorted (the docker CLI's order comes from a Go
/// map).
fn create_body(reqs: &[Req]) -> Option<serde_json::Value> {
    let r = reqs
        .iter()
        .find(|r| r.path.contains("/containers/create"))?;
    let mut j = r.json();
    if let Some(env) = j.get_mut("Env").and_then(|e| e.as_array_mut()) {
        env.sort_by_key(|e| e.to_string());
    }
    Some(j)
}

/// Runs the real docker CLI and berth with the same arguments against fresh fakes.
fn both(args: &[&str]) -> (Vec<Req>, Vec<Req>) {
    let d = permissive();
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_API_VERSION")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success() || !out.stderr.is_empty(),
        "docker {args:?} failed silently"
    );
    let b = permissive();
    berth(&b.host(), args);
    (d.requests(), b.requests())
}

#[test]
fn requests_match_the_docker_cli() {
    if !need(docker_available(), "docker CLI") {
        return;
    }
    for args in [
        &["ps", "-a", "--filter", "status=exited", "-n", "3", "-s"][..],
        &["ps", "-q", "-l"],
        &["images", "-a", "-q"],
        &["rm", "-f", "-v", "web"],
        &["stop", "-t", "3", "web", "db"],
        &["kill", "-s", "HUP", "web"],
        &["restart", "web"],
        &["rmi", "-f", "--no-prune", "busybox"],
        &["tag", "busybox", "localhost:5000/bb:1"],
        &["tag", "busybox", "bb"],
        &["pause", "web"],
        &["rename", "web", "web2"],
        &["history", "busybox"],
        &["wait", "web"],
        &["logs", "-f", "--tail", "10", "-t", "web"],
        &["image", "prune", "-f"],
        &["container", "prune", "-f"],
        &[
            "exec",
            "-d",
            "-e",
            "A=B",
            "-w",
            "/tmp",
            "-u",
            "1",
            "--privileged",
            "web",
            "ls",
            "-l",
        ],
        &[
            "commit", "-a", "me", "-m", "msg", "-c", "ENV A=B", "-p=false", "web", "img:1",
        ],
        &["update", "-m", "64m", "--cpus", "0.5", "web"],
        &[
            "update",
            "--restart",
            "on-failure:2",
            "--pids-limit",
            "10",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--blkio-weight",
            "300",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "32m",
            "--cpu-shares",
            "100",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "web",
            "db",
        ],
        &["top", "web", "-ef"],
        &["port", "web"],
        &["unpause", "web"],
        &["start", "web", "db"],
        &[
            "events",
            "--since",
            "1700000000",
            "--until",
            "1700000100",
            "--filter",
            "type=container",
        ],
        &["system", "df"],
        &["system", "prune", "-f"],
        &["version"],
        &["save", "-o", "/dev/null", "busybox", "alpine:3"],
        &["export", "-o", "/dev/null", "web"],
        &["load", "-i", "/dev/null"],
        &[
            "import",
            "-m",
            "hello",
            "-c",
            "CMD [\"sh\"]",
            "/dev/null",
            "img:2",
        ],
    ] {
        let (d, b) = both(args);
        // docker acts on several objects in parallel: compare the set of requests.
        let with_bodies = |reqs: &[Req]| {
            let mut v: Vec<(String, serde_json::Value)> = reqs
                .iter()
                .filter(|r| !r.path.ends_with("/_ping"))
                .map(|r| (format!("{} {}", r.method, r.path), r.json()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(with_bodies(&b), with_bodies(&d), "berth {args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    let out = out.to_str().unwrap();
    for args in [
        ["save", "-o", out, "busybox", "alpine:3"],
        ["export", "-o", out, "web", "--"],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| *a != "--").collect();
        let (d, b) = both(&args);
        assert_eq!(calls(&b), calls(&d), "berth {args:?}");
    }
}

#[test]
fn run_create_body_matches_the_docker_cli() {
    if !need(docker_available(), "docker CLI") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("seccomp.json");
    std::fs::write(
        &profile,
        "{ \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [] }\n",
    )
    .unwrap();
    let seccomp = format!("seccomp={}", profile.display());
    let sets: Vec<Vec<&str>> = vec![
        vec!["run", "-d", "busybox"],
        vec![
            "run",
            "-d",
            "--name",
            "web",
            "-e",
            "A=B",
            "-e",
            "HOME",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "-h",
            "hh",
            "--entrypoint",
            "/bin/sh",
            "-l",
            "x=y",
            "--restart",
            "on-failure:3",
            "-m",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "512",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "100",
            "--ulimit",
            "nofile=1024:2048",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "mknod",
            "--privileged",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            &seccomp,
            "--init",
            "-v",
            "/tmp:/data:ro",
            "-v",
            "/anon",
            "--mount",
            "type=tmpfs,destination=/scratch,tmpfs-size=1m",
            "--mount",
            "type=bind,src=/tmp,dst=/x,readonly",
            "--tmpfs",
            "/run:size=1m",
            "--shm-size",
            "32m",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--group-add",
            "10",
            "--device",
            "/dev/null:/dev/xnull:rwm",
            "--oom-score-adj",
            "100",
            "--network",
            "net1",
            "--network-alias",
            "a1",
            "--network-alias",
            "a2",
            "--ip",
            "10.9.0.5",
            "--mac-address",
            "02:42:0a:09:00:05",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "-p",
            "127.0.0.1:8080:80/udp",
            "--expose",
            "7000",
            "busybox",
            "echo",
            "hi",
        ],
        vec![
            "create",
            "-i",
            "-a",
            "stdin",
            "-a",
            "stdout",
            "--entrypoint",
            "",
            "busybox",
        ],
        vec![
            "create",
            "-t",
            "-P",
            "--no-healthcheck",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/tmp:rw,size=64k",
            "--sysctl",
            "net.core.somaxconn=100",
            "--runtime",
            "runc",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "--dns",
            "1.1.1.1",
            "--dns-option",
            "ndots:2",
            "--dns-search",
            "example.com",
            "--add-host",
            "h:10.0.0.1",
            "--cgroupns",
            "private",
            "--ipc",
            "private",
            "--pid",
            "host",
            "--uts",
            "host",
            "--userns",
            "host",
            "--cgroup-parent",
            "/p",
            "--blkio-weight",
            "300",
            "--cpuset-mems",
            "0",
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--volume-driver",
            "local",
            "--domainname",
            "example.org",
            "--network",
            "net1",
            "--ip6",
            "fd00::5",
            "-e",
            "A=B",
            "--expose",
            "80-81/udp",
            "-p",
            "9000-9001:8000-8001",
            "busybox",
            "sh",
        ],
        vec![
            "create",
            "--network",
            "net1",
            "--mount",
            "type=bind,src=/tmp,dst=/b,bind-propagation=rslave,bind-nonrecursive",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-mode=1770",
            "--mount",
            "type=volume,dst=/v,volume-label=k=v,consistency=cached",
            "busybox",
        ],
    ];
    for args in sets {
        let (d, b) = both(&args);
        let find = |reqs: &[Req]| {
            reqs.iter()
                .find(|r| r.path.contains("/containers/create"))
                .cloned()
                .expect("a create request")
        };
        let (dc, bc) = (find(&d), find(&b));
        assert_eq!(bc.path, dc.path);
        let (mut dj, mut bj) = (dc.json(), bc.json());
        // docker's Env order varies from run to run (it passes through a Go map): compare as sets.
        for j in [&mut dj, &mut bj] {
            if let Some(env) = j.get_mut("Env").and_then(|e| e.as_array_mut()) {
                env.sort_by_key(|e| e.to_string());
            }
        }
        for (k, v) in dj.as_object().unwrap() {
            if k == "HostConfig" {
                for (hk, hv) in v.as_object().unwrap() {
                    assert_eq!(
                        bj["HostConfig"].get(hk),
                        Some(hv),
                        "HostConfig.{hk} for {args:?}"
                    );
                }
            } else {
                assert_eq!(bj.get(k), Some(v), "{k} for {args:?}");
            }
        }
        assert_eq!(bj, dj, "whole body for {args:?}");
    }
}

#[test]
fn tls_flags_are_refused_not_ignored() {
    // The CLI speaks only unix://: a TLS flag it cannot honour is an error (125), never a no-op,
    // and no request is made.
    for flag in ["--tls", "--tlsverify", "--tlscacert=ca.pem"] {
        let args: Vec<OsString> = vec![flag.into(), "ps".into()];
        assert_eq!(berth_cli::main(args), 125, "{flag}");
    }
}
