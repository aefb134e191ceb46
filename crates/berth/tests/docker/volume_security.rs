//! The security catalog's cases that need volumes (issue 14), driven by the real docker CLI:
//! the mount-destination symlink race through a shared volume (CVE-05, runc CVE-2021-30465), the
//! same race on a mountpoint not made yet aimed at a host directory (CVE-12's runtime half, runc
//! CVE-2024-45310), volumes over `/proc` (CVE-06's second half) and `--read-only` with volumes
//! (ISO-25).
//!
//! The races: container A holds the shared volume and runs a small static racer (C, compiled
//! once per test run from [`RACER_C`]) that swaps the volume's `x` with symlinks by
//! `renameat2(RENAME_EXCHANGE)` in a tight loop; container B is started again and again with the
//! volume at `/v` and another mount inside the racing path. Every start either fails or mounts
//! what was asked, with the flags asked, somewhere inside B's rootfs: the runtime resolves each
//! destination by descriptor inside the rootfs and mounts onto that descriptor
//! (`runtime/src/rootfs/resolve.rs`), so a symlink swapped in is followed as B would see it, never
//! on the host; and it remounts a bind through the new mount's own descriptor, so a `:ro` stays
//! with its volume (it went to whatever the path named by then, before `rootfs/mounts.rs` cloned
//! and attached binds).
//!
//! Covered elsewhere: `docker cp`'s half of CVE-12 (`cp_security.rs`), the runtime's refusals of
//! mounts at or through `/proc` from a bundle (`runtime/rootfs_escapes.rs`), a crash in a volume
//! create (`volumes.rs`), and a volume create on a full disk (`disk_full.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::bounded::docker_within;
use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

/// How many times B is started in each race, at most.
const ROUNDS: usize = 100;
/// How long each race may run: the rounds done by then are enough (the count is printed).
const RACE_DEADLINE: Duration = Duration::from_secs(240);
/// How long one `docker run` of B may take before the test calls it a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// At least this many starts of B must have happened, or the race proves nothing.
const MIN_ROUNDS: usize = 10;

/// The racer: `racer DIR swap|cycle TARGET...` makes `DIR/x` a directory and `DIR/lN` a
/// symlink to each TARGET, then forever exchanges `x` with each link and back (`swap`), and in
/// `cycle` mode also takes `x` away for a moment (so that the runtime has to make it).
const RACER_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>

static void exchange(const char *a, const char *b) {
    syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

int main(int argc, char **argv) {
    if (argc < 4 || chdir(argv[1]) != 0) return 2;
    int cycle = !strcmp(argv[2], "cycle");
    int links = argc - 3;
    char name[32];
    mkdir("x", 0755);
    for (int i = 0; i < links; i++) {
        snprintf(name, sizeof name, "l%d", i);
        unlink(name);
        if (symlink(argv[i + 3], name) != 0) return 3;
    }
    /* Kind to the other tests on the machine; the race needs only to be there. */
    if (nice(10) == -1) return 4;
    puts("racing");
    fflush(stdout);
    for (unsigned long k = 0;; k++) {
        snprintf(name, sizeof name, "l%lu", k % links);
        exchange("x", name);
        exchange("x", name);
        if (cycle) {
            rename("x", "hold");
            rename("hold", "x");
        }
    }
}
"#;

/// The racer, compiled once per test run.
fn racer() -> &'static Path {
    static RACER: OnceLock<PathBuf> = OnceLock::new();
    RACER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let src = dir.join(format!("volume-racer-{}.c", std::process::id()));
        let out = dir.join(format!("volume-racer-{}", std::process::id()));
        std::fs::write(&src, RACER_C).expect("writing the racer's source");
        let status = std::process::Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc to build the racer");
        assert!(status.success(), "building the racer failed");
        out
    })
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The host directory of local volume `name`.
fn volume_dir(d: &Daemon, name: &str) -> PathBuf {
    d.data_root().join("volumes").join(name).join("_data")
}

/// One line of a mountinfo: the device, the root of the mount in its file system, where it is,
/// and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountLine {
    dev: String,
    root: String,
    point: String,
    ro: bool,
}

/// Parses a mountinfo text (octal escapes such as `\040` are left as they are).
fn mountinfo(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some(MountLine {
                dev: f.get(2)?.to_string(),
                root: f.get(3)?.to_string(),
                point: f.get(4)?.to_string(),
                ro: f.get(5)?.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// The host's root mount, as this (host) process sees it.
fn host_root() -> MountLine {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo(&text)
        .into_iter()
        .rev()
        .find(|m| m.point == "/")
        .expect("a root mount")
}

/// Starts container `name` racing in volume `volume` (at `/s` in it); waits until it races.
fn start_racer(d: &Daemon, name: &str, volume: &str, mode: &str, targets: &[&str]) {
    let racer = format!("{}:/racer:ro", s(racer()));
    let shared = format!("{volume}:/s");
    let mut args = vec![
        "run", "-d", "--name", name, "-v", &racer, "-v", &shared, "busybox", "/racer", "/s", mode,
    ];
    args.extend_from_slice(targets);
    d.ok(&args);
    eventually(Duration::from_secs(20), "the racer's start", || {
        d.ok(&["logs", name]).contains("racing")
    });
}

/// Starts B (`docker run --rm ARGS busybox cat /proc/self/mountinfo`) up to [`ROUNDS`] times
/// within [`RACE_DEADLINE`], calling `check` after each with the outcome; returns how many
/// started and how many were refused.
fn race(d: &Daemon, args: &[&str], mut check: impl FnMut(&std::process::Output)) -> (usize, usize) {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "cat", "/proc/self/mountinfo"]);
    let end = Instant::now() + RACE_DEADLINE;
    let (mut started, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        if Instant::now() > end {
            break;
        }
        let out = docker_within(d, &all, b"", RUN_DEADLINE, || {});
        if code(&out) == 0 {
            started += 1;
        } else {
            // A start that fails is the runtime refusing, in the daemon's words; never a crash
            // of the CLI or a daemon that went away.
            assert_eq!(code(&out), 125, "{}", stderr(&out));
            eprintln!(
                "refused: {}",
                stderr(&out).lines().next().unwrap_or_default()
            );
            refused += 1;
        }
        check(&out);
    }
    assert!(
        started + refused >= MIN_ROUNDS,
        "only {} starts in {RACE_DEADLINE:?}",
        started + refused
    );
    (started, refused)
}

/// Whether `point` is `/v/<one name>/<leaf>`: `x` as B made or found it, shown under whatever
/// name the racer has renamed that directory to since (a mountpoint's parent may be renamed).
fn in_the_racing_dir(point: &str, leaf: &str) -> bool {
    point
        .strip_prefix("/v/")
        .and_then(|rest| rest.strip_suffix(&format!("/{leaf}")))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Every mount of the host's root file system in `mounts` comes from under the daemon's temp
/// root (its volumes, its per-container files): never the host's `/` or any other host
/// directory.
fn assert_only_the_daemons_files(d: &Daemon, mounts: &[MountLine], host: &MountLine) {
    let ours = d.dir.path().display().to_string();
    for m in mounts.iter().filter(|m| m.dev == host.dev) {
        assert!(
            m.root.starts_with(&format!("{ours}/")),
            "a host path is mounted into the container: {m:?}"
        );
    }
}

/// CVE-05 (runc CVE-2021-30465): A swaps the shared volume's `x` between a directory and a
/// symlink to `/` while B starts with the volume at `/v` and another volume at `/v/x/mnt`. Every
/// start of B has `other` mounted at `/v/x/mnt` or, when B met the symlink, where that symlink
/// leads inside B (`/mnt`); B's mount table holds nothing of the host's but the daemon's own
/// files, so the host's root is never mounted into it; the host's `/mnt` gains no mount.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve05_a_destination_raced_to_the_root_never_mounts_the_host() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = host_root();
    let host_mnt_before = host_mounts_at("/mnt");
    d.ok(&["volume", "create", "cve05shared"]);
    d.ok(&["volume", "create", "cve05other"]);
    std::fs::write(volume_dir(&d, "cve05other").join("inner"), b"other\n").expect("inner");
    start_racer(&d, "cve05racer", "cve05shared", "swap", &["/"]);
    let shared_root = volume_dir(&d, "cve05shared").display().to_string();
    let other_root = volume_dir(&d, "cve05other").display().to_string();
    let mut at = BTreeSet::new();
    let (started, refused) = race(
        &d,
        &["-v", "cve05shared:/v", "-v", "cve05other:/v/x/mnt"],
        |out| {
            if code(out) != 0 {
                return;
            }
            let mounts = mountinfo(&stdout(out));
            assert_only_the_daemons_files(&d, &mounts, &host);
            assert!(
                mounts
                    .iter()
                    .any(|m| m.point == "/v" && m.root == shared_root),
                "the shared volume is not at /v: {mounts:?}"
            );
            let other: Vec<&MountLine> = mounts.iter().filter(|m| m.root == other_root).collect();
            assert_eq!(other.len(), 1, "{mounts:?}");
            assert!(
                other[0].point == "/mnt" || in_the_racing_dir(&other[0].point, "mnt"),
                "the other volume went elsewhere: {other:?}"
            );
            at.insert(other[0].point.clone());
        },
    );
    eprintln!("cve05: {started} starts ({at:?}), {refused} refused");
    assert!(started > 0, "no start of B succeeded: {}", d.log());
    assert_eq!(host_mounts_at("/mnt"), host_mnt_before);
    d.ok(&["rm", "-f", "cve05racer"]);
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
}

/// CVE-05 with a read-only volume in the racing path, beside a writable one where the racer's
/// symlink leads (`/mnt`): each start either fails or has `other` read-only wherever it landed
/// and `scratch` writable — the flags of a mount go to that mount, never to whatever the path
/// names by the time they are applied.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve05_read_only_stays_with_its_mount_through_the_race() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = host_root();
    for v in ["cve05roshared", "cve05roother", "cve05scratch"] {
        d.ok(&["volume", "create", v]);
    }
    start_racer(&d, "cve05roracer", "cve05roshared", "swap", &["/"]);
    let other_root = volume_dir(&d, "cve05roother").display().to_string();
    let scratch_root = volume_dir(&d, "cve05scratch").display().to_string();
    let (started, refused) = race(
        &d,
        &[
            "-v",
            "cve05scratch:/mnt",
            "-v",
            "cve05roshared:/v",
            "-v",
            "cve05roother:/v/x/mnt:ro",
        ],
        |out| {
            if code(out) != 0 {
                return;
            }
            let mounts = mountinfo(&stdout(out));
            assert_only_the_daemons_files(&d, &mounts, &host);
            // Each volume is mounted exactly once (else the checks below would check nothing).
            let ro: Vec<_> = mounts.iter().filter(|m| m.root == other_root).collect();
            let rw: Vec<_> = mounts.iter().filter(|m| m.root == scratch_root).collect();
            assert_eq!((ro.len(), rw.len()), (1, 1), "{mounts:?}");
            assert!(ro[0].ro, "the read-only volume is writable: {mounts:?}");
            assert!(!rw[0].ro, "the writable volume is read-only: {mounts:?}");
        },
    );
    eprintln!("cve05 ro: {started} starts, {refused} refused");
    assert!(started > 0, "no start of B succeeded: {}", d.log());
    d.ok(&["rm", "-f", "cve05roracer"]);
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
}

/// The host's mount points at or under `dir`.
fn host_mounts_at(dir: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo(&text)
        .into_iter()
        .map(|m| m.point)
        .filter(|p| p == dir || p.starts_with(&format!("{dir}/")))
        .collect()
}

/// Everything under `dir` on the host.
fn host_tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
            out.push(e.path());
        }
    }
    out
}

/// CVE-12, the runtime half (runc CVE-2024-45310): B's mountpoints `/v/x/mnt` (a volume, a
/// directory to make) and `/v/x/f` (a bind of a host file, a file to make) do not exist; A makes
/// `x` missing, a directory, a symlink to a host canary directory by its absolute path and one
/// that climbs to it, in a tight loop. Nothing is ever made in the canary and nothing mounted
/// there; a start either mounts both where B sees them or is refused.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve12_a_missing_mountpoint_raced_to_a_host_dir_creates_nothing_there() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = host_root();
    let canary = d.dir.path().join("cve12-canary");
    std::fs::create_dir(&canary).expect("canary");
    let file = d.dir.path().join("cve12-file");
    std::fs::write(&file, b"a bound file\n").expect("bound file");
    d.ok(&["volume", "create", "cve12shared"]);
    d.ok(&["volume", "create", "cve12other"]);
    let climbing = format!("{}{}", "../".repeat(16), s(&canary).trim_start_matches('/'));
    start_racer(
        &d,
        "cve12racer",
        "cve12shared",
        "cycle",
        &[s(&canary), &climbing],
    );
    let other_root = volume_dir(&d, "cve12other").display().to_string();
    let bind = format!("{}:/v/x/f", s(&file));
    let (started, refused) = race(
        &d,
        &[
            "-v",
            "cve12shared:/v",
            "-v",
            "cve12other:/v/x/mnt",
            "-v",
            &bind,
        ],
        |out| {
            assert_eq!(
                host_tree(&canary),
                Vec::<PathBuf>::new(),
                "made on the host"
            );
            if code(out) != 0 {
                return;
            }
            let mounts = mountinfo(&stdout(out));
            assert_only_the_daemons_files(&d, &mounts, &host);
            let other = mounts.iter().find(|m| m.root == other_root);
            let bound = mounts.iter().find(|m| m.root == s(&file));
            match (other, bound) {
                (Some(o), Some(b)) => {
                    assert!(in_the_racing_dir(&o.point, "mnt"), "{o:?}");
                    assert!(in_the_racing_dir(&b.point, "f"), "{b:?}");
                }
                _ => panic!("a mount is missing: {mounts:?}"),
            }
        },
    );
    eprintln!("cve12: {started} starts, {refused} refused");
    assert!(started > 0, "no start of B succeeded: {}", d.log());
    assert_eq!(host_mounts_at(s(&canary)), Vec::<String>::new());
    d.ok(&["rm", "-f", "cve12racer"]);
    assert_eq!(
        host_tree(&canary),
        Vec::<PathBuf>::new(),
        "made on the host"
    );
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
}

/// CVE-06, the volume half: a volume at or under `/proc` — by `-v`, `--mount`, a path that
/// climbs there, or the image's `VOLUME` — is refused at create in Docker's words and leaves
/// neither a container nor a volume; a volume reaching `/proc` through a symlink of the image
/// gets past the daemon's lexical check and is refused by the runtime at start.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve06_volumes_over_proc_are_refused() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let base = d.ok(&["create", "busybox", "true"]);
    d.ok(&["commit", "-c", "VOLUME /proc", &base, "procvolume:1"]);
    d.ok(&["rm", &base]);
    let refused: &[(&[&str], &str)] = &[
        (&["-v", "procvol:/proc", "busybox"], "/proc"),
        (&["-v", "procvol:/proc/sys", "busybox"], "/proc/sys"),
        (&["-v", "/proc/self", "busybox"], "/proc/self"),
        (&["-v", "procvol:/tmp/../proc", "busybox"], "/proc"),
        (
            &["--mount", "type=volume,src=procvol,dst=/proc", "busybox"],
            "/proc",
        ),
        (&["procvolume:1"], "/proc"),
    ];
    for (args, dest) in refused {
        // The docker CLI's create exits 1 on a daemon error, its run 125.
        for (verb, exit) in [("create", 1), ("run", 125)] {
            let mut all = vec![verb];
            all.extend_from_slice(args);
            all.push("true");
            let out = d.docker(&all);
            assert_eq!(code(&out), exit, "{all:?}: {}", stderr(&out));
            let words = format!(
                "invalid mount config for type \"volume\": a volume cannot be mounted on {dest}: \
                 /proc must be mounted on ordinary directory"
            );
            assert!(stderr(&out).contains(&words), "{all:?}: {}", stderr(&out));
        }
    }
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // `/p -> /proc` in the image: the daemon sees `/p`, the runtime where it leads.
    d.ok(&[
        "run", "--name", "linker", "busybox", "ln", "-s", "/proc", "/p",
    ]);
    d.ok(&["commit", "linker", "proclink:1"]);
    let out = d.docker(&[
        "run",
        "--name",
        "viaproc",
        "-v",
        "procvol:/p",
        "proclink:1",
        "true",
    ]);
    assert_ne!(
        code(&out),
        0,
        "a volume over /proc through a symlink started"
    );
    let err = stderr(&out);
    assert!(
        err.contains("mount destination \"/p\": resolves to /proc, which cannot be mounted"),
        "{err}"
    );
    assert_ne!(d.inspect("viaproc", "{{.State.Status}}"), "running");
    d.ok(&["rm", "-f", "viaproc", "linker"]);
    d.ok(&["volume", "rm", "procvol"]);
}

/// ISO-25 with volumes: under `--read-only` the rootfs refuses writes (EROFS) while named,
/// anonymous and `--mount` volumes take them, mountpoints missing from the image included; the
/// files are in the volumes afterwards; a `:ro` volume refuses writes too.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_25_a_read_only_rootfs_keeps_its_volumes_writable() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let script = "for p in /data/f /new/deep/f /anon/f /m/f /f /etc/f /tmp/f; do \
                    if touch $p 2>/dev/null; then echo $p ok; else echo $p refused; fi; done; \
                  touch /f 2>&1 | grep -c 'Read-only file system'";
    let out = d.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "rodata:/data",
        "-v",
        "rodata:/new/deep",
        "-v",
        "/anon",
        "--mount",
        "type=volume,src=romount,dst=/m",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/data/f ok",
            "/new/deep/f ok",
            "/anon/f ok",
            "/m/f ok",
            "/f refused",
            "/etc/f refused",
            "/tmp/f refused",
            "1"
        ]
    );
    assert!(volume_dir(&d, "rodata").join("f").is_file());
    assert!(volume_dir(&d, "romount").join("f").is_file());
    let seen = d.ok(&["run", "--rm", "-v", "rodata:/x", "busybox", "ls", "/x"]);
    assert_eq!(seen, "f");
    // `:ro` on a read-only rootfs: nothing is writable but what --tmpfs gives.
    let ro = d.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "-v",
        "rodata:/data:ro",
        "busybox",
        "sh",
        "-c",
        "touch /data/g 2>&1; touch /scratch/g && echo scratch ok",
    ]);
    assert_eq!(
        ro, "touch: /data/g: Read-only file system\nscratch ok",
        "{ro}"
    );
    assert!(!volume_dir(&d, "rodata").join("g").exists());
}
