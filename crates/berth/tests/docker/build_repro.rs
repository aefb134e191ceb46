//! Reproducible builds against Berth: with `SOURCE_DATE_EPOCH`, the same context built on two
//! daemons with their own data roots, from files made on different days, gives the same image ID
//! — through the docker CLI (a build arg) on one and `berth build` (the environment) on the other;
//! and `--cache-from`: an image built elsewhere gives a fresh daemon the steps it made.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::build::{build_ok, context};
use crate::harness::{opted_in, stderr, stdout, Daemon};

const EPOCH: &str = "1700000000";
const EPOCH_RFC3339: &str = "2023-11-14T22:13:20Z";

const DOCKERFILE: &str = "FROM busybox
RUN echo made > /made && mkdir -p /var/lib/x && hostname > /host
COPY app/ /app/
WORKDIR /w
ENV A=1
RUN echo $SOURCE_DATE_EPOCH > /epoch
";

/// Sets the mtime of every file under `dir` to `secs`.
fn touch_all(dir: &Path, secs: u64) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            touch_all(&p, secs);
        }
        let f = std::fs::File::open(&p).expect("open");
        f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .expect("set mtime");
    }
}

/// `berth build` against `d`, with `env` set.
fn berth_build(d: &Daemon, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("build")
        .args(args)
        .arg(dir)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running berth build");
    assert!(
        out.status.success(),
        "berth build failed: {}{}\n--- daemon log ---\n{}",
        stdout(&out),
        stderr(&out),
        d.log()
    );
    stdout(&out)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn source_date_epoch_gives_the_same_image_on_two_data_roots() {
    if !opted_in() {
        return;
    }
    let a = Daemon::start();
    let b = Daemon::start();
    // The same base in both (each harness imported a busybox of its own, at its own time).
    let saved = a.docker(&["save", "busybox:latest"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let loaded = b.docker_input(&["load"], &saved.stdout);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    assert_eq!(
        a.inspect("busybox", "{{.Id}}"),
        b.inspect("busybox", "{{.Id}}")
    );

    let files = [
        ("Dockerfile", DOCKERFILE),
        ("app/main.sh", "echo hi\n"),
        ("app/lib/util.sh", "true\n"),
    ];
    // The same files, made on different days (both after the epoch).
    let (ctx_a, ctx_b) = (context(&files), context(&files));
    touch_all(ctx_a.path(), 1_750_000_000);
    touch_all(ctx_b.path(), 1_760_000_000);

    let epoch_arg = format!("SOURCE_DATE_EPOCH={EPOCH}");
    build_ok(
        &a,
        ctx_a.path(),
        &["--build-arg", &epoch_arg, "-t", "repro"],
    );
    berth_build(
        &b,
        ctx_b.path(),
        &["-t", "repro"],
        &[("SOURCE_DATE_EPOCH", EPOCH)],
    );
    let id = a.inspect("repro", "{{.Id}}");
    assert_eq!(b.inspect("repro", "{{.Id}}"), id, "the same image on both");
    assert_eq!(a.inspect("repro", "{{.Created}}"), EPOCH_RFC3339);
    assert_eq!(
        a.ok(&["run", "--rm", "repro", "cat", "/host", "/epoch"]),
        format!("berth-build\n{EPOCH}")
    );
    // Every step's history entry is at the epoch; the base's are as they were.
    let created = a.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedAt}}",
        "repro",
    ]);
    let at_epoch = created
        .lines()
        .filter(|l| l.starts_with("2023-11-1"))
        .count();
    assert_eq!(at_epoch, 5, "{created}");
    // No file in the new layers is newer than the epoch.
    let newest = a.ok(&[
        "run",
        "--rm",
        "repro",
        "sh",
        "-c",
        "stat -c %Y /made /app/main.sh /app/lib/util.sh /var/lib/x /w | sort -n | tail -1",
    ]);
    assert_eq!(newest, EPOCH);

    // Without the epoch the image is a different one (committed now).
    berth_build(&b, ctx_b.path(), &["-t", "now"], &[]);
    assert_ne!(b.inspect("now", "{{.Id}}"), id);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cache_from_reuses_the_steps_of_an_image_from_another_daemon() {
    if !opted_in() {
        return;
    }
    let a = Daemon::start();
    let b = Daemon::start();
    let df = "FROM busybox\nRUN head -c 8 /dev/urandom | od -An -tx1 > /rand\nCOPY f /f\nENV E=1\n";
    let ctx = context(&[("Dockerfile", df), ("f", "one\n")]);
    build_ok(&a, ctx.path(), &["-t", "cached:1"]);
    let id = a.inspect("cached:1", "{{.Id}}");
    let rand = a.ok(&["run", "--rm", "cached:1", "cat", "/rand"]);
    // B gets the image (and its base) the way a registry would give it: no build cache.
    let saved = a.docker(&["save", "busybox:latest", "cached:1"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let loaded = b.docker_input(&["load"], &saved.stdout);
    assert!(loaded.status.success(), "{}", stderr(&loaded));

    // Without --cache-from nothing is cached on B: the RUN runs (a new /rand).
    let plain = build_ok(&b, ctx.path(), &["-t", "plain"]);
    assert!(!plain.contains("Using cache"), "{plain}");
    let _ = b.ok(&["builder", "prune", "-f"]);
    // With it: every step from the image, which comes back whole.
    let out = build_ok(&b, ctx.path(), &["--cache-from", "cached:1", "-t", "again"]);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    assert_eq!(b.inspect("again", "{{.Id}}"), id);
    assert_eq!(b.ok(&["run", "--rm", "again", "cat", "/rand"]), rand);

    // berth build --cache-from: a changed file is built from its COPY on.
    std::fs::write(ctx.path().join("f"), "two\n").expect("write");
    let _ = b.ok(&["builder", "prune", "-f"]);
    let out = berth_build(
        &b,
        ctx.path(),
        &["--cache-from", "cached:1", "-t", "changed"],
        &[],
    );
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", "changed", "cat", "/rand", "/f"]),
        format!("{rand}\ntwo")
    );
}
