//! Bad input: each refusal names the field, exits non-zero and leaves no state dir, cgroup or
//! mount behind.

use crate::harness::{stderr, Bundle};
use crate::root_test;

/// Runs `b`, asserts failure whose stderr contains every one of `words`, and that nothing is left.
fn refused(b: &Bundle, words: &[&str]) {
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = b.run();
    assert!(!out.status.success(), "ran anyway");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    b.assert_gone();
    let rootfs = b.rootfs();
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts_after.contains(rootfs.to_str().unwrap()),
        "mount left behind"
    );
    assert!(mounts_after.lines().count() <= mounts_before.lines().count() + 2);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn malformed_config() {
    root_test!();
    let b = Bundle::busybox("malformed", &["true"]);
    std::fs::write(
        b.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": [",
    )
    .unwrap();
    refused(&b, &["config.json"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn missing_rootfs() {
    root_test!();
    let mut b = Bundle::busybox("norootfs", &["true"]);
    b.config["root"]["path"] = "no-such-rootfs".into();
    b.write_config();
    refused(&b, &["root.path", "no-such-rootfs"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn unknown_namespace_type() {
    root_test!();
    let mut b = Bundle::busybox("badns", &["true"]);
    b.config["linux"]["namespaces"][0]["type"] = "bogus".into();
    b.write_config();
    refused(&b, &["linux.namespaces[0].type"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn invalid_cgroup_value() {
    root_test!();
    let mut b = Bundle::busybox("badcg", &["true"]);
    b.config["linux"]["resources"]["cpu"] = serde_json::json!({"cpus": "not-a-list"});
    b.write_config();
    refused(&b, &["linux.resources.cpu.cpus"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn mount_destination_escaping_through_a_symlink() {
    root_test!();
    let mut b = Bundle::busybox("escape", &["true"]);
    std::os::unix::fs::symlink("../../../../../../../../tmp", b.rootfs().join("escape")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts
        .push(serde_json::json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
    b.write_config();
    refused(&b, &["/escape"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn missing_program() {
    root_test!();
    let b = Bundle::busybox("noprog", &["no-such-program"]);
    refused(
        &b,
        &["exec: \"no-such-program\": executable file not found in $PATH"],
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn errors_go_to_the_json_log_and_unknown_ids_are_named() {
    root_test!();
    let mut b = Bundle::busybox("jsonlog", &["true"]);
    b.config["linux"]["namespaces"][0]["type"] = "bogus".into();
    b.write_config();
    let log = b.path().join("runtime.log");
    let out = b
        .runtime(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
            "--bundle",
        ])
        .arg(b.path())
        .arg(&b.id)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(entry["level"], "error");
    assert!(
        entry["msg"]
            .as_str()
            .unwrap()
            .contains("linux.namespaces[0].type"),
        "{line}"
    );

    let state = b.verb("state", &[]);
    assert_eq!(state.status.code(), Some(1));
    assert!(stderr(&state).contains(&b.id), "{}", stderr(&state));
    assert!(!b.verb("delete", &[]).status.success());
    assert!(b.verb("delete", &["--force"]).status.success());
    b.assert_gone();
}
