//! The two container escapes of the security review through the daemon and the real docker CLI:
//! CVE-01 (the shim, which containers are cloned from, runs from a sealed copy: no container can
//! write the host's binary through `/proc/<pid>/exe`) and CVE-02 (`-w /proc/self/fd/N`, for `run`
//! and `exec`, never leaves the process in a host directory).

use crate::harness::{code, opted_in, stderr, stdout, Daemon};
use crate::protected::assert_write_protected;
use std::path::PathBuf;

/// The shim binary the harness's daemon runs (the `berth-shim` beside `berth`, else `berth`).
fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM_BINARY") {
        return p.into();
    }
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let sibling = berth.with_file_name("berth-shim");
    if sibling.exists() {
        sibling
    } else {
        berth
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn shims_and_their_containers_run_from_a_sealed_copy() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = shim_binary();
    let before = std::fs::read(&host).expect("read the shim binary");
    d.ok(&["run", "-d", "--name", "sealed", "busybox", "sleep", "100"]);
    let pids = d.shim_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let exe = format!("/proc/{}/exe", pids[0]);
    assert_write_protected(&exe);

    // A container whose entrypoint is /proc/self/exe runs the sealed copy (its shim's executable),
    // which fails inside the container (no arguments); the host's binary stays as it was.
    let out = d.docker(&["run", "--rm", "--entrypoint", "/proc/self/exe", "busybox"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    d.ok(&["rm", "-f", "sealed"]);
    assert!(
        std::fs::read(&host).expect("read the shim binary") == before,
        "the shim binary on the host changed"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_working_dir_through_proc_self_fd_never_reaches_the_host() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "100"]);
    // From a cwd outside the container's root, `..` climbs to the host's root, whose device and
    // inode differ from the container's `/`; from inside, it stops at the container's root.
    let climb = "a=$(stat -c %d:%i /); for i in $(seq 40); do cd -P .. || exit 9; done; \
                 b=$(stat -c %d:%i .); [ \"$a\" = \"$b\" ] && echo inside || echo OUTSIDE";
    for n in 3..=20 {
        let wd = format!("/proc/self/fd/{n}");
        // Each run either fails before the process starts or has its cwd inside the container.
        for args in [
            vec!["run", "--rm", "-w", &wd, "busybox", "sh", "-c", climb],
            vec!["exec", "-w", &wd, "target", "sh", "-c", climb],
        ] {
            let out = d.docker(&args);
            assert!(
                !stdout(&out).contains("OUTSIDE"),
                "{} -w {wd}: the process started outside the container's root",
                args[0]
            );
            if code(&out) == 0 {
                assert_eq!(
                    stdout(&out),
                    "inside\n",
                    "{} -w {wd}: {}",
                    args[0],
                    stderr(&out)
                );
            }
        }
    }
    d.ok(&["rm", "-f", "target"]);
    // A relative one is refused at create, with Docker's words.
    let out = d.docker(&["run", "--rm", "-w", "rel/dir", "busybox", "pwd"]);
    assert_eq!(code(&out), 125, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("it needs to be an absolute path"),
        "{}",
        stderr(&out)
    );
}
