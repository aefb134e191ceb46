//! The container's mount table: a container without a mount namespace of its own shares the
//! runtime's (chrooted into its rootfs, its mounts below a bind that `delete` and a failed
//! `create` take away), and `linux.rootfsPropagation` is what the container's root mount has.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use serde_json::{json, Value};
use std::process::Stdio;

/// Host mount points at or below the bundle's rootfs.
fn host_mounts_below(b: &Bundle) -> Vec<String> {
    let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
    let rootfs = rootfs.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| *p == rootfs || p.starts_with(&format!("{rootfs}/")))
        .map(str::to_owned)
        .collect()
}

/// Drops the mount namespace from the bundle's namespaces.
fn without_mount_namespace(b: &mut Bundle) {
    let list = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|n| n["type"] != "mount");
    b.write_config();
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn without_a_mount_namespace_the_container_shares_the_mount_table_inside_its_rootfs() {
    root_test!();
    let mut b = Bundle::busybox("nomnt", &["sleep", "100"]);
    without_mount_namespace(&mut b);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state = b.state().expect("state");
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap(),
        "the container inherits the runtime's mount namespace"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        std::fs::canonicalize(b.rootfs()).unwrap(),
        "the init is chrooted into its rootfs"
    );
    let mounts = host_mounts_below(&b);
    assert!(
        mounts.iter().any(|m| m.ends_with("/rootfs/proc")),
        "the spec's mounts are below the rootfs: {mounts:?}"
    );
    // exec enters the same root.
    let out = b
        .runtime(&["exec", &b.id, "--", "cat", "/etc/group"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "root:x:0:\nnogroup:x:65534:\n");

    let out = b.verb("delete", &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_gone();
    assert_eq!(host_mounts_below(&b), Vec::<String>::new(), "mounts left");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn without_a_mount_namespace_a_failed_create_leaves_no_mount() {
    root_test!();
    let mut b = Bundle::busybox("nomntfail", &["true"]);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/bad", "type": "bind",
        "source": "/nonexistent-berth-source", "options": ["bind"]}));
    without_mount_namespace(&mut b);
    let out = b.run();
    assert!(!out.status.success(), "ran anyway");
    assert!(stderr(&out).contains("/bad"), "{}", stderr(&out));
    b.assert_gone();
    assert_eq!(host_mounts_below(&b), Vec::<String>::new(), "mounts left");
}

/// Runs `script` with CAP_SYS_ADMIN and no seccomp, `linux.rootfsPropagation` set to `word`;
/// `/t` and `/m` exist in the rootfs.
fn with_propagation(word: &str, script: &str) -> String {
    let mut b = Bundle::busybox(&format!("prop-{word}"), &["sh", "-c", script]);
    for d in ["t", "m"] {
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    b.config["linux"]["rootfsPropagation"] = word.into();
    b.config["linux"]["seccomp"] = Value::Null;
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push("CAP_SYS_ADMIN".into());
    }
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{word}: {}", stderr(&out));
    stdout(&out)
}

/// Binds `/` on `/t`, mounts a tmpfs on `/m` and says whether the bind shows it.
const EXPOSED: &str = "mount -o rbind / /t && mount -t tmpfs tmpfs /m && touch /m/x && \
    if [ -e /t/m/x ]; then echo exposed; else echo hidden; fi";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn shared_rootfs_propagation_reaches_binds_of_the_root() {
    root_test!();
    assert_eq!(with_propagation("shared", EXPOSED), "exposed\n");
    assert_eq!(with_propagation("private", EXPOSED), "hidden\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn unbindable_rootfs_propagation_refuses_a_bind_of_the_root() {
    root_test!();
    let out = with_propagation(
        "unbindable",
        "if mount -o rbind / /t 2>/dev/null; then echo bound; else echo refused; fi",
    );
    assert_eq!(out, "refused\n");
}
