//! The signal state a container's process starts with is the kernel's default, as with runc: no
//! signal ignored (the runtime and the shim are Rust programs, which ignore SIGPIPE), none blocked.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use std::process::Stdio;

/// The `SigIgn:` and `SigBlk:` masks of a `/proc/self/status` dump.
fn masks(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| l.starts_with("SigIgn:") || l.starts_with("SigBlk:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

const DEFAULT: [&str; 2] = ["SigBlk: 0000000000000000", "SigIgn: 0000000000000000"];

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_init_and_execs_start_with_default_signal_dispositions() {
    root_test!();
    let b = Bundle::busybox("sigs", &["cat", "/proc/self/status"]);
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(masks(&stdout(&out)), DEFAULT, "the init's signal masks");

    let b = Bundle::busybox("sigsexec", &["sleep", "100"]);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = b
        .runtime(&["exec", &b.id, "--", "cat", "/proc/self/status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(masks(&stdout(&out)), DEFAULT, "an exec's signal masks");
    // What that means in practice: a pipe's writer ends when its reader does.
    let out = b
        .runtime(&["exec", &b.id, "--", "sh", "-c", "yes | head -n 2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "y\ny\n", "{}", stderr(&out));
}
