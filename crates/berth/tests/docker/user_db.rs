//! The container's `/etc/passwd` and `/etc/group` are read by the daemon (user lookup on start,
//! exec and `cp -a`): a FIFO there fails the operation at once with a clear error instead of
//! hanging it with the container's lock held, and a huge file is refused without being read into
//! the daemon's memory.

use std::time::Duration;

use crate::bounded::{daemon_pid, docker_within, release_fifo, status_kib};
use std::process::Output;

use crate::harness::{code, opted_in, stderr, stdout, Daemon};

/// What the CLI printed (an exec's failure comes back on its output stream, as Docker's does).
fn said(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// What one operation may take; the old blocking open never returned.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_fifo_passwd_fails_promptly_and_the_daemon_stays_responsive() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "udfifo", "busybox", "sleep", "600"]);
    d.ok(&[
        "exec",
        "udfifo",
        "sh",
        "-c",
        "rm /etc/passwd && mkfifo /etc/passwd",
    ]);
    let pid = d.inspect("udfifo", "{{.State.Pid}}");
    let fifo = format!("/proc/{pid}/root/etc/passwd");
    let unblock = || release_fifo(&fifo);

    // exec as a named user: the lookup reads /etc/passwd.
    let out = docker_within(
        &d,
        &["exec", "-u", "nobody", "udfifo", "id"],
        b"",
        DEADLINE,
        unblock,
    );
    assert_ne!(code(&out), 0);
    assert!(
        said(&out).contains("/etc/passwd") && said(&out).contains("not a regular file"),
        "{}",
        said(&out)
    );
    // cp -a gives files the container user's ids, from the same lookup.
    let src = d.dir.path().join("udsrc");
    std::fs::write(&src, b"x").expect("src");
    let src = src.to_str().expect("utf-8");
    let out = docker_within(
        &d,
        &["cp", "-a", src, "udfifo:/tmp/"],
        b"",
        DEADLINE,
        || release_fifo(&fifo),
    );
    assert_ne!(code(&out), 0);
    assert!(said(&out).contains("not a regular file"), "{}", said(&out));
    // The container's lock is free: other verbs on it and the daemon answer.
    docker_within(&d, &["ps"], b"", DEADLINE, || release_fifo(&fifo));
    for verb in ["pause", "unpause"] {
        let out = docker_within(&d, &[verb, "udfifo"], b"", DEADLINE, || release_fifo(&fifo));
        assert_eq!(code(&out), 0, "{verb}: {}", stderr(&out));
    }

    // An image whose /etc/passwd is a FIFO: `run -u name` fails at start, promptly.
    d.ok(&["commit", "udfifo", "udfifo:img"]);
    let out = docker_within(
        &d,
        &[
            "run",
            "--name",
            "udfifo2",
            "-u",
            "nobody",
            "udfifo:img",
            "true",
        ],
        b"",
        DEADLINE,
        || {},
    );
    assert_ne!(code(&out), 0);
    assert!(said(&out).contains("not a regular file"), "{}", said(&out));
    let out = docker_within(&d, &["rm", "-f", "udfifo", "udfifo2"], b"", DEADLINE, || {});
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_huge_group_file_is_refused_unread() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "udhuge", "busybox", "sleep", "600"]);
    // 1 GiB, sparse: no disk, and no memory unless someone reads it.
    d.ok(&["exec", "udhuge", "truncate", "-s", "1G", "/etc/group"]);
    let pid = daemon_pid(&d);
    let before = status_kib(pid, "VmHWM");
    let out = docker_within(
        &d,
        &["exec", "-u", "nobody", "udhuge", "id"],
        b"",
        DEADLINE,
        || {},
    );
    assert_ne!(code(&out), 0);
    assert!(
        said(&out).contains("/etc/group") && said(&out).contains("larger than"),
        "{}",
        said(&out)
    );
    let grown = status_kib(pid, "VmHWM").saturating_sub(before);
    assert!(
        grown < 128 * 1024,
        "the daemon's peak resident set grew by {grown} KiB"
    );
    // A group file of ordinary size works again (copied in: every exec reads the file).
    let group = d.dir.path().join("group");
    std::fs::write(&group, "nogroup:x:65534:\n").expect("group");
    d.ok(&["cp", group.to_str().expect("utf-8"), "udhuge:/etc/group"]);
    assert_eq!(
        d.ok(&["exec", "-u", "nobody", "udhuge", "id", "-u"]),
        "65534"
    );
}
