//! `docker stats` and `GET /containers/{id}/stats` against a real daemon: the docker CLI's figures
//! for a container with a memory limit and several processes, a stopped container's zeros, the
//! stream's pairing of samples (`precpu_stats` of one object is `cpu_stats` of the one before),
//! the end of a stream when its client leaves, and which containers report networks.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::harness::{eventually, opted_in, stdout, Daemon};

/// Starts two background sleeps and holds ~10 MB in a shell variable (the trailing `echo` keeps
/// the shell from exec'ing its last command, which would free it).
const HOLD_MEMORY: &str =
    "sleep 1000 & sleep 1000 & x=$(head -c 10000000 /dev/zero | tr '\\0' a); sleep 1000; echo ${#x}";

/// `docker stats --no-stream --format '{{json .}}' NAME` as JSON.
fn docker_stats(d: &Daemon, name: &str) -> Value {
    let line = d.ok(&["stats", "--no-stream", "--format", "{{json .}}", name]);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("stats line {line:?}: {e}"))
}

/// `10.2MiB` → bytes (binary units, as docker's MEM USAGE column prints them).
fn binary_bytes(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let k = ["B", "KiB", "MiB", "GiB", "TiB"]
        .iter()
        .position(|u| *u == unit)
        .unwrap_or_else(|| panic!("unit of {s:?}"));
    n.parse::<f64>().expect("number") * 1024f64.powi(k as i32)
}

/// The berth CLI against the test daemon.
fn berth(d: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args(args)
        .output()
        .expect("running berth")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_stats_shows_memory_against_the_limit_and_pids() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hold",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        HOLD_MEMORY,
    ]);
    let mut last = Value::Null;
    eventually(
        Duration::from_secs(30),
        "stats of the memory holder",
        || {
            last = docker_stats(&d, "hold");
            let usage = last["MemUsage"]
                .as_str()
                .unwrap_or("")
                .split(" / ")
                .next()
                .unwrap_or("");
            last["PIDs"] == "4" && binary_bytes(usage) >= 8.0 * 1024.0 * 1024.0
        },
    );
    assert_eq!(last["Name"], "hold", "{last}");
    assert_eq!(last["Container"], "hold", "{last}");
    assert_eq!(last["ID"].as_str().map(str::len), Some(12), "{last}");
    assert!(
        last["MemUsage"].as_str().unwrap().ends_with(" / 64MiB"),
        "{last}"
    );
    let mem_perc: f64 = last["MemPerc"]
        .as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(mem_perc > 10.0 && mem_perc < 100.0, "{last}");
    assert!(last["CPUPerc"].as_str().unwrap().ends_with('%'), "{last}");
    assert!(last["NetIO"].as_str().unwrap().contains(" / "), "{last}");

    // The default table: docker's columns, and berth's CLI prints the same ones and fields.
    let table = d.ok(&["stats", "--no-stream", "hold"]);
    let columns = |t: &str| -> Vec<String> {
        t.lines()
            .next()
            .unwrap_or("")
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let expected = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ];
    assert_eq!(columns(&table), expected, "{table}");
    let ours = berth(&d, &["stats", "--no-stream", "hold"]);
    assert!(ours.status.success(), "{ours:?}");
    assert_eq!(columns(&stdout(&ours)), expected, "{}", stdout(&ours));
    let ours = berth(
        &d,
        &["stats", "--no-stream", "--format", "{{json .}}", "hold"],
    );
    let ours: Value = serde_json::from_str(stdout(&ours).trim()).expect("berth stats json");
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&ours), keys(&last));
    assert!(
        ours["MemUsage"].as_str().unwrap().ends_with(" / 64MiB"),
        "{ours}"
    );
    assert_eq!(ours["PIDs"], "4", "{ours}");

    // Without names: the running containers, `Container` being the short ID, as docker has it.
    let listing = [
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}} {{.ID}} {{.Name}}",
    ];
    let theirs = d.ok(&listing);
    assert_eq!(
        theirs,
        format!(
            "{} {} hold",
            last["ID"].as_str().unwrap(),
            last["ID"].as_str().unwrap()
        )
    );
    assert_eq!(stdout(&berth(&d, &listing)).trim(), theirs);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_stopped_container_has_zero_stats() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["create", "--name", "idle", "busybox"]);
    let s = docker_stats(&d, "idle");
    assert_eq!(s["CPUPerc"], "0.00%", "{s}");
    assert_eq!(s["MemUsage"], "0B / 0B", "{s}");
    assert_eq!(s["NetIO"], "0B / 0B", "{s}");
    assert_eq!(s["PIDs"], "0", "{s}");
    let (code, body) = d.curl("GET", "/containers/idle/stats?stream=false", None);
    assert_eq!(code, 200, "{body}");
    let objects: Vec<Value> = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("stats json"))
        .collect();
    assert_eq!(objects.len(), 1, "{body}");
    assert_eq!(objects[0]["name"], "/idle");
    assert_eq!(objects[0]["read"], "0001-01-01T00:00:00Z");
    let out = d.docker(&["stats", "--no-stream", "nosuch"]);
    assert!(!out.status.success());
}

/// The daemon's process ID, found by its socket path on its command line.
fn daemon_pid(d: &Daemon) -> i32 {
    let sock = d.sock.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("\0daemon\0") && c.contains(&sock)
            })
        })
        .expect("daemon process")
}

fn open_sockets(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| t.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_stream_pairs_samples_and_ends_when_the_client_leaves() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "spin",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let pid = daemon_pid(&d);
    let before = open_sockets(pid);
    let mut conn = UnixStream::connect(&d.sock).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /v1.50/containers/spin/stats HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    // Chunked framing puts each object on a line of its own between the chunk sizes.
    let mut objects: Vec<Value> = Vec::new();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    while objects.len() < 3 {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("stream read") > 0,
            "stream ended early"
        );
        if line.starts_with('{') {
            objects.push(serde_json::from_str(line.trim()).expect("stats object"));
        }
    }
    let cpu = |v: &Value| {
        v["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(objects[0]["name"], "/spin");
    assert_eq!(objects[0]["preread"], "0001-01-01T00:00:00Z");
    for pair in objects.windows(2) {
        assert_eq!(pair[1]["precpu_stats"], pair[0]["cpu_stats"]);
        assert_eq!(pair[1]["preread"], pair[0]["read"]);
        assert!(
            cpu(&pair[1]) > cpu(&pair[0]),
            "a spinning container uses CPU"
        );
    }
    assert!(
        objects[2]["cpu_stats"]["system_cpu_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(objects[2]["cpu_stats"]["online_cpus"].as_u64().unwrap() > 0);
    assert!(objects[2]["memory_stats"]["limit"].as_u64().unwrap() > 0);
    assert!(
        objects[2]["networks"]["eth0"]["rx_packets"].is_u64(),
        "{}",
        objects[2]
    );
    assert!(objects[2]["pids_stats"]["current"].as_u64().unwrap() >= 1);
    drop(reader);
    drop(conn);
    eventually(
        Duration::from_secs(10),
        "the daemon to close the stream",
        || open_sockets(pid) <= before,
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn networks_are_reported_only_for_a_private_network() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for (name, net) in [
        ("bridged", "bridge"),
        ("nonet", "none"),
        ("hostnet", "host"),
    ] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    let one_shot = |name: &str| -> Value {
        let (code, body) = d.curl(
            "GET",
            &format!("/containers/{name}/stats?stream=false&one-shot=true"),
            None,
        );
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(body.trim()).expect("stats object")
    };
    let bridged = one_shot("bridged");
    let nets = bridged["networks"]
        .as_object()
        .expect("networks of a bridged container");
    assert!(
        nets.contains_key("eth0") && !nets.contains_key("lo"),
        "{bridged}"
    );
    assert_eq!(bridged["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    for name in ["nonet", "hostnet"] {
        let v = one_shot(name);
        assert!(v.get("networks").is_none(), "{name}: {v}");
        assert_eq!(v["pids_stats"]["current"], 1, "{name}: {v}");
    }
}
