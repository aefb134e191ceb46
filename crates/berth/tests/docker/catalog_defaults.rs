//! The security catalog's cases about Docker's defaults that only the daemon decides (issue 14):
//! capability arithmetic of `--cap-add`/`--cap-drop` and an exec's capabilities (ISO-02, CVE-10),
//! `/dev/shm` (ISO-17), `--pids-limit` and a fork bomb (ISO-18, ESC-19), `--memory` (ESC-20), a
//! daemon-wide `--no-new-privileges` (ISO-20), `--read-only` and no engine socket inside
//! (ISO-25, ESC-22), `--privileged` as the positive control (ISO-26: every capability, no
//! seccomp, masks or read-only paths, `/sys` and the cgroup tree read-write on a bridge network,
//! every host device). Each runs the real docker CLI against its own daemon, with the static
//! probe (`../runtime/probe.c`) bind-mounted read-only at `/probe`.
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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
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

/// The host's block devices under /dev as `/dev/NAME MAJ:MIN` (hex, as busybox `stat %t:%T`
/// prints them), walked as Docker lists a privileged container's devices: directories but
/// `pts`, `shm`, `fd` and `mqueue`, no symbolic link followed.
fn host_block_devices() -> std::collections::BTreeSet<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn walk(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let name = e.file_name();
            if kind.is_dir() {
                if !["pts", "shm", "fd", "mqueue"].iter().any(|s| name == *s) {
                    walk(&e.path(), out);
                }
            } else if kind.is_block_device() {
                if let Ok(m) = e.metadata() {
                    let (major, minor) = (
                        nix::sys::stat::major(m.rdev()),
                        nix::sys::stat::minor(m.rdev()),
                    );
                    out.insert(format!("{} {major:x}:{minor:x}", e.path().display()));
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(Path::new("/dev"), &mut out);
    out
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_26_privileged_undoes_the_defaults() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // Capabilities, seccomp, a masked path, the read-only paths' mounts, /sys and the cgroup
    // tree's mount options, the device cgroup (v1), then every block device in /dev.
    let script = "grep CapEff: /proc/self/status | cut -f2; grep Seccomp: /proc/self/status | cut -f2; \
                  wc -c < /proc/interrupts; \
                  awk '$5 == \"/proc/sys\" || $5 == \"/proc/sysrq-trigger\"' /proc/self/mountinfo | wc -l; \
                  awk '$5 == \"/sys\" { split($6, o, \",\"); print o[1] }' /proc/self/mountinfo; \
                  awk '$5 ~ /^\\/sys\\/fs\\/cgroup/ { split($6, o, \",\"); print o[1] }' /proc/self/mountinfo \
                    | sort -u | tr '\\n' ' '; echo; \
                  cat /sys/fs/cgroup/devices/devices.list 2>/dev/null | head -1; echo; \
                  find /dev -type b -exec stat -c 'DEV %n %t:%T' {} +";
    let before = host_block_devices();
    let lines = run(&d, &["--privileged"], script);
    let after = host_block_devices();
    let all_caps = format!("{:016x}", own_caps("CapBnd:"));
    assert_eq!(lines[0], all_caps, "every capability: {lines:?}");
    assert_eq!(lines[1], "0", "seccomp off: {lines:?}");
    assert_ne!(lines[2].trim(), "0", "/proc/interrupts unmasked: {lines:?}");
    assert_eq!(lines[3].trim(), "0", "no read-only /proc paths: {lines:?}");
    // On the default bridge network, in a network namespace the daemon made.
    assert_eq!(lines[4], "rw", "/sys read-write: {lines:?}");
    assert_eq!(
        lines[5].trim(),
        "rw",
        "the cgroup tree read-write: {lines:?}"
    );
    if Path::new("/sys/fs/cgroup/devices").is_dir() {
        assert_eq!(lines[6], "a *:* rwm", "every device allowed: {lines:?}");
    }
    // Every block device the host had throughout the run is in the container, same numbers.
    let inside: std::collections::BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("DEV "))
        .map(String::from)
        .collect();
    let missing: Vec<&String> = before
        .intersection(&after)
        .filter(|dev| !inside.contains(*dev))
        .collect();
    assert!(
        missing.is_empty(),
        "host devices missing: {missing:?} of {inside:?}"
    );
    // The device cgroup lets it read a block device the host can read (loop devices of other
    // tests come and go: a failure counts only if the host can still read it afterwards).
    let readable = |dev: &str| {
        use std::io::Read;
        let mut buf = [0u8; 512];
        std::fs::File::open(dev).is_ok_and(|mut f| f.read_exact(&mut buf).is_ok())
    };
    let device = after
        .iter()
        .filter_map(|l| l.split(' ').next())
        .find(|dev| readable(dev));
    match device {
        Some(dev) => {
            let read = run(&d, &["--privileged"], &format!("head -c 512 {dev} | wc -c"));
            assert!(
                read == ["512"] || !readable(dev),
                "reading {dev} in a privileged container: {read:?}"
            );
        }
        None => eprintln!("ISO-26: this host has no block device it can read"),
    }
    // The same script with the defaults: the restrictive answers (the control of the control).
    let default = run(&d, &[], script);
    assert_ne!(default[0], all_caps, "{default:?}");
    let trimmed: Vec<&str> = default[1..6].iter().map(|l| l.trim()).collect();
    assert_eq!(
        [trimmed[0], trimmed[1], trimmed[3], trimmed[4]],
        ["2", "0", "ro", "ro"],
        "{default:?}"
    );
    assert_ne!(trimmed[2], "0", "read-only /proc paths: {default:?}");
    assert!(
        !default.iter().any(|l| l.starts_with("DEV ")),
        "no block device by default: {default:?}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_20_daemon_wide_no_new_privileges() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start_with(&["--no-new-privileges"]);
    let nnp = "grep NoNewPrivs /proc/self/status | cut -f2";
    assert_eq!(run(&d, &[], nnp), ["1"], "the daemon's default");
    let off = ["--security-opt", "no-new-privileges=false"];
    assert_eq!(run(&d, &off, nnp), ["0"], "the container's own choice wins");
    // Decided at create and kept: an exec in the container has it too.
    d.ok(&["run", "-d", "--name", "nnp", "busybox", "sleep", "60"]);
    assert_eq!(d.ok(&["exec", "nnp", "sh", "-c", nnp]), "1");
    let info = d.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=no-new-privileges"), "{info}");
}
