//! The build context against Berth: `berth build` leaves `.dockerignore`d files out before it
//! sends anything (a 9 GiB sparse file there, ignored, costs nothing), with
//! `NAME.Dockerfile.dockerignore` beside a Dockerfile named by `-f` taking precedence; and a
//! context over the daemon's limit (8 GiB, or daemon.json's `build-context-limit`) is refused
//! with a clear error, no image and no context left.

use std::path::Path;
use std::time::Duration;

use crate::bounded::daemon_pid;
use crate::build::{build, context};
use crate::build_secrets::berth;
use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

/// A sparse file of 9 GiB (no blocks on disk), over the daemon's 8 GiB context limit.
fn huge(path: &Path) {
    let f = std::fs::File::create(path).expect("create");
    f.set_len(9 << 30).expect("set_len");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ignored_files_stay_home_and_a_huge_context_is_refused() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        (".dockerignore", "big.img\n"),
        ("app.txt", "app\n"),
        ("app.Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        ("app.Dockerfile.dockerignore", "big.img\napp.txt\n"),
    ]);
    huge(&ctx.path().join("big.img"));

    let out = berth(&d, ctx.path(), &["-t", "small"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let ls = d.ok(&["run", "--rm", "small", "ls", "-a", "/ctx"]);
    assert!(ls.contains("app.txt") && !ls.contains("big.img"), "{ls}");
    // The Dockerfile's own ignore file wins over the context's.
    let file = ctx.path().join("app.Dockerfile");
    let out = berth(
        &d,
        ctx.path(),
        &["-f", file.to_str().expect("utf-8"), "-t", "own"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let ls = d.ok(&["run", "--rm", "own", "ls", "-a", "/ctx"]);
    assert!(!ls.contains("app.txt") && !ls.contains("big.img"), "{ls}");

    // Not ignored: the daemon refuses the context as soon as the file's header says its size,
    // through berth build and through the docker CLI alike.
    std::fs::write(ctx.path().join(".dockerignore"), "").expect("write");
    let want = "the build context is larger than 8 GiB, the most this daemon takes";
    let out = berth(&d, ctx.path(), &["-t", "huge"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains(want), "{}", stderr(&out));
    let out = build(&d, ctx.path(), &["-t", "huge"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains(want), "{}", stderr(&out));
    assert_ne!(code(&d.docker(&["image", "inspect", "huge"])), 0);
    let builder = d.data_root().join("builder");
    let contexts: Vec<String> = std::fs::read_dir(&builder)
        .expect("builder dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("context-"))
        .collect();
    assert!(contexts.is_empty(), "{contexts:?}");
}

/// daemon.json's `build-context-limit` sets the limit, and a `SIGHUP` reloads it.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_context_limit_comes_from_daemon_json() {
    if !opted_in() {
        return;
    }
    let conf_dir = tempfile::tempdir().expect("config dir");
    let conf = conf_dir.path().join("daemon.json");
    std::fs::write(&conf, r#"{"build-context-limit": "1m"}"#).expect("daemon.json");
    let conf_arg = conf.display().to_string();
    let d = Daemon::start_with(&["--config-file", &conf_arg]);
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY big /big\n")]);
    std::fs::write(ctx.path().join("big"), vec![7u8; 2 << 20]).expect("write");
    let out = berth(&d, ctx.path(), &["-t", "limited"]);
    assert_ne!(code(&out), 0);
    let want = "the build context is larger than 1 MiB, the most this daemon takes";
    assert!(stderr(&out).contains(want), "{}", stderr(&out));

    std::fs::write(&conf, r#"{"build-context-limit": "4MiB"}"#).expect("daemon.json");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon_pid(&d)),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
    eventually(Duration::from_secs(10), "the new limit", || {
        berth(&d, ctx.path(), &["-t", "limited"]).status.success()
    });
    assert_eq!(
        d.ok(&["run", "--rm", "limited", "wc", "-c", "/big"]),
        format!("{} /big", 2 << 20)
    );
}
