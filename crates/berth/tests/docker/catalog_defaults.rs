//! The security catalog's cases about Docker's defaults that only the daemon decides (issue 14):
//! capability arithmetic of `--cap-add`/`--cap-drop` and an exec's capabilities (ISO-02, CVE-10),
//! `/dev/shm` (ISO-17), `--pids-limit` and a fork bomb (ISO-18, ESC-19), `--memory` (ESC-20),
//! `--read-only` and no engine socket inside (ISO-25, ESC-22), `--privileged` as the positive
//! control (ISO-26). Each runs the real docker CLI against its own daemon, with the static probe
//! (`../runtime/probe.c`) bind-mounted read-only at `/probe`.
//!
//! Covered elsewhere: ISO-04 and `no-new-privileges` (`hostconfig.rs::security_and_process_options`),
//! ISO-23 (`lifecycle.rs::oom_kill_reports_137`); the rest of ISO and ESC at the runtime level with
//! the daemon's spec (`runtime/catalog_iso.rs`, `runtime/catalog_esc.rs`).

use crate::bounded::daemon_pid;
use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The probe, compiled once per test run.
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtime/probe.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("catalog-probe-{}", std::process::id()));
        let status = std::process::Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc to build the probe");
        assert!(status.success(), "building the probe failed");
        out
    })
}

/// `-v <probe>:/probe:ro`.
fn probe_volume() -> String {
    format!("{}:/probe:ro", probe().display())
}

/// `docker run --rm -v probe ARGS... busybox sh -c SCRIPT`: its stdout lines (must succeed).
fn run(d: &Daemon, args: &[&str], script: &str) -> Vec<String> {
    let vol = probe_volume();
    let mut all = vec!["run", "--rm", "-v", &vol];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.ok(&all).lines().map(String::from).collect()
}

/// A capability mask of this process's /proc/self/status (`CapBnd:` ...).
fn own_caps(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .expect("capability line");
    u64::from_str_radix(hex.trim(), 16).expect("hex mask")
}

/// The v1 pids cgroup file `file` of container `id`.
fn pids_file(id: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/pids/berth/{id}/{file}"))
        .unwrap_or_else(|e| panic!("pids/{file} of {id}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn iso_02_cve_10_capability_arithmetic_and_exec_capabilities() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let eff = "grep CapEff /proc/self/status | cut -f2";
    assert_eq!(run(&d, &[], eff), ["00000000a80425fb"], "Docker's 14");
    let mknod_only = run(&d, &["--cap-drop", "ALL", "--cap-add", "MKNOD"], eff);
    assert_eq!(mknod_only, [format!("{:016x}", 1u64 << 27)]);
    let all_but = run(&d, &["--cap-add", "all", "--cap-drop", "net_admin"], eff);
    assert_eq!(
        all_but,
        [format!("{:016x}", own_caps("CapBnd:") & !(1 << 12))]
    );
    let lower = run(
        &d,
        &["--cap-add", "cap_sys_admin", "--cap-drop", "CHOWN"],
        eff,
    );
    assert_eq!(
        lower,
        [format!("{:016x}", (0xa804_25fb_u64 | 1 << 21) & !1)]
    );

    // An unknown capability is refused at create with 400; nothing is created.
    let out = d.docker(&["create", "--cap-add", "FOO", "busybox", "true"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("unknown capability"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"CapAdd":["FOO"]}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // CVE-10: nothing inheritable or ambient in the init nor in exec'd processes, root or not.
    d.ok(&["run", "-d", "--name", "caps", "busybox", "sleep", "100"]);
    let sets = "grep -E '^Cap(Inh|Amb)' /proc/self/status | cut -f2";
    assert_eq!(
        d.ok(&["exec", "caps", "sh", "-c", sets]),
        "0000000000000000\n0000000000000000"
    );
    let user_sets = "grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status | cut -f2 | sort -u";
    assert_eq!(
        d.ok(&["exec", "-u", "1000", "caps", "sh", "-c", user_sets]),
        "0000000000000000"
    );
    let init = "grep -E '^Cap(Inh|Amb)' /proc/1/status | cut -f2";
    assert_eq!(
        d.ok(&["exec", "caps", "sh", "-c", init]),
        "0000000000000000\n0000000000000000"
    );
}

#[test]
fn iso_17_dev_shm_is_64m_per_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let lines = run(
        &d,
        &[],
        "df -k /dev/shm | tail -1 | awk '{print $2}'; /probe fill /dev/shm/f 65",
    );
    assert_eq!(lines, ["65536", "errno=ENOSPC"]);
    let bigger = run(&d, &["--shm-size", "128m"], "/probe fill /dev/shm/f 65");
    assert_eq!(bigger, ["ok"]);
    // A file in A's /dev/shm is not in B's.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "shm-a",
        "busybox",
        "sh",
        "-c",
        "touch /dev/shm/from-a; sleep 100",
    ]);
    eventually(Duration::from_secs(10), "A's file", || {
        d.docker(&["exec", "shm-a", "test", "-e", "/dev/shm/from-a"])
            .status
            .success()
    });
    assert_eq!(run(&d, &[], "ls -A /dev/shm | wc -l"), ["0"]);
}

/// Runs a detached `probe forkmax hold` under `--pids-limit limit`; returns the id once the probe
/// reported that fork failed.
fn fork_until_refused(d: &Daemon, limit: &str) -> (String, Vec<String>) {
    let vol = probe_volume();
    let id = d.ok(&[
        "run",
        "-d",
        "--pids-limit",
        limit,
        "-v",
        &vol,
        "busybox",
        "/probe",
        "forkmax",
        "hold",
    ]);
    let mut lines = Vec::new();
    eventually(Duration::from_secs(30), "fork to be refused", || {
        lines = d.ok(&["logs", &id]).lines().map(String::from).collect();
        lines.iter().any(|l| l.starts_with("forks="))
    });
    (id, lines)
}

#[test]
fn iso_18_esc_19_pids_limit_stops_a_fork_bomb() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // Docker has no default pids limit.
    let free = d.ok(&["run", "-d", "busybox", "sleep", "100"]);
    assert_eq!(pids_file(&free, "pids.max"), "max");
    d.ok(&["rm", "-f", &free]);

    // ISO-18: fork gives EAGAIN at the limit; `docker stop` still stops it.
    let (id, lines) = fork_until_refused(&d, "64");
    assert_eq!(lines[0], "errno=EAGAIN", "{lines:?}");
    let forks: u32 = lines[1]["forks=".len()..].parse().expect("fork count");
    assert!((32..64).contains(&forks), "{lines:?}");
    assert_eq!(pids_file(&id, "pids.max"), "64");
    assert_eq!(pids_file(&id, "pids.current"), "64");
    d.ok(&["stop", "-t", "2", &id]);
    assert_eq!(d.inspect(&id, "{{.State.Running}}"), "false");

    // ESC-19: during the bomb the daemon answers, the host forks, `docker kill` ends it.
    let (id, lines) = fork_until_refused(&d, "128");
    assert_eq!(lines[0], "errno=EAGAIN", "{lines:?}");
    assert_eq!(pids_file(&id, "pids.current"), "128");
    assert_eq!(d.inspect(&id, "{{.State.Running}}"), "true");
    let host = std::process::Command::new("true")
        .status()
        .expect("host fork");
    assert!(host.success());
    d.ok(&["kill", &id]);
    eventually(Duration::from_secs(10), "the bomb to end", || {
        d.inspect(&id, "{{.State.Running}}") == "false"
    });
}

#[test]
fn esc_20_memory_exhaustion_kills_the_container_not_the_daemon() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let pid = daemon_pid(&d);
    let since = crate::harness::unix_now();
    let vol = probe_volume();
    let out = d.docker(&[
        "run",
        "--name",
        "hog",
        "-m",
        "64m",
        "--memory-swap",
        "64m",
        "-v",
        &vol,
        "busybox",
        "/probe",
        "alloc",
        "1024",
    ]);
    assert_eq!(code(&out), 137, "{} {}", stdout(&out), stderr(&out));
    assert_eq!(
        d.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137"
    );
    // ISO-23's event.
    let until = crate::harness::unix_now();
    let events = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=oom",
    ]);
    assert!(events.contains("oom"), "no oom event: {events}");
    // The daemon lives and answers.
    assert_eq!(daemon_pid(&d), pid);
    d.ok(&["version"]);
    let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).expect("oom_score_adj");
    eprintln!("ESC-20: the daemon's oom_score_adj is {}", adj.trim());
}

#[test]
fn iso_25_esc_22_read_only_rootfs_and_no_engine_socket() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let writes = "for p in /x /etc/x /tmp/x /dev/shm/x; do /probe write $p; done; \
                  grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1";
    assert_eq!(
        run(&d, &["--read-only"], writes),
        ["errno=EROFS", "errno=EROFS", "errno=EROFS", "ok", "rw"]
    );
    let with_tmpfs = run(
        &d,
        &["--read-only", "--tmpfs", "/tmp"],
        "/probe write /tmp/x",
    );
    assert_eq!(with_tmpfs, ["ok"]);
    // ESC-22: no engine socket inside, by any of its names, and no socket file at all.
    let sock = d.sock.display().to_string();
    let script = format!(
        "for p in /var/run/docker.sock /run/docker.sock /run/berth/berth.sock {sock}; do \
           [ -e $p ] && echo found $p; done; \
         find / -xdev -type s 2>/dev/null; grep -c sock /proc/self/mountinfo; true"
    );
    assert_eq!(run(&d, &[], &script), ["0"]);
}

#[test]
fn iso_26_privileged_undoes_the_defaults() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let script = "grep Seccomp: /proc/self/status | cut -f2; wc -c < /proc/interrupts; \
                  grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; ls /dev";
    let lines = run(&d, &["--privileged"], script);
    assert_eq!(lines[0], "0", "seccomp off: {lines:?}");
    assert_ne!(lines[1].trim(), "0", "/proc/interrupts unmasked: {lines:?}");
    // Docker mounts /sys read-write here; the runtime makes sysfs read-only whenever the network
    // namespace is not its own new one (the daemon's bridge containers join one by path).
    if lines[2] != "rw" {
        eprintln!("ISO-26 gap: /sys is {} in a privileged container", lines[2]);
    }
    // The host's block devices show in /dev.
    let partitions = std::fs::read_to_string("/proc/partitions").expect("/proc/partitions");
    let disk = partitions
        .lines()
        .skip(2)
        .find_map(|l| l.split_whitespace().nth(3).map(String::from));
    match disk {
        // Docker gives a privileged container every host device; Berth does not (yet).
        Some(name) if !lines[3..].contains(&name) => {
            eprintln!("ISO-26 gap: no /dev/{name} in a privileged container: {lines:?}")
        }
        Some(_) => {}
        None => eprintln!("ISO-26: this host has no block device to look for"),
    }
    // The same script with the defaults: the restrictive answers (the control of the control).
    let default = run(&d, &[], script);
    assert_eq!(default[..3], ["2", "0", "ro"], "{default:?}");
}
