//! Root tests of the rootfs against hostile images and specs (security catalog CVE-06..08 and the
//! cgroup v1 finding of issue 14): a `/proc` or `/dev` that is a symlink, mounts over or inside
//! `/proc`, masked and read-only paths on something that is not procfs, a `/dev/null` that is not
//! the null device, and the cgroup hierarchies a container without a cgroup namespace sees.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::path::Path;

/// Runs `b` and returns its output; `Ok` with stdout when it exited 0, else `Err` with stderr.
fn run(b: &Bundle) -> Result<String, String> {
    let out = b.run();
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(format!("{:?}: {}", out.status, stderr(&out)))
    }
}

fn push_mount(b: &mut Bundle, mount: Value) {
    if let Some(mounts) = b.config["mounts"].as_array_mut() {
        mounts.push(mount);
    }
}

/// Drops the spec's mounts at `dest`.
fn drop_mount(b: &mut Bundle, dest: &str) {
    if let Some(mounts) = b.config["mounts"].as_array_mut() {
        mounts.retain(|m| m["destination"] != dest);
    }
}

/// Replaces the rootfs directory `name` with a symlink to `target`.
fn replace_with_symlink(b: &Bundle, name: &str, target: &Path) {
    let path = b.rootfs().join(name);
    std::fs::remove_dir(&path).expect("remove the rootfs directory");
    symlink(target, &path).expect("make the symlink");
}

fn assert_refused(result: Result<String, String>, words: &[&str]) {
    let err = match result {
        Ok(out) => panic!("the container ran: {out}"),
        Err(e) => e,
    };
    for w in words {
        assert!(err.contains(w), "error lacks {w:?}: {err}");
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_proc_symlink_in_the_image_is_refused() {
    root_test!();
    let b = Bundle::busybox("procsym", &["true"]);
    std::fs::create_dir(b.rootfs().join("fakeproc")).expect("mkdir fakeproc");
    replace_with_symlink(&b, "proc", Path::new("/fakeproc"));
    assert_refused(
        run(&b),
        &["/proc", "must be mounted on an ordinary directory"],
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_volume_over_proc_is_refused() {
    root_test!();
    let mut b = Bundle::busybox("procvol", &["true"]);
    let vol = b.path().join("vol");
    std::fs::create_dir(&vol).expect("mkdir vol");
    push_mount(
        &mut b,
        json!({"destination": "/proc", "type": "bind", "source": vol, "options": ["rbind"]}),
    );
    b.write_config();
    assert_refused(run(&b), &["/proc", "not of type proc"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_tmpfs_inside_proc_is_refused() {
    root_test!();
    let mut b = Bundle::busybox("procsys", &["true"]);
    push_mount(
        &mut b,
        json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}),
    );
    b.write_config();
    assert_refused(run(&b), &["/proc/sys", "inside /proc"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_mount_reaching_proc_through_a_symlink_is_refused() {
    root_test!();
    let mut b = Bundle::busybox("procvia", &["true"]);
    symlink("/proc/sys", b.rootfs().join("etc/s")).expect("symlink");
    push_mount(
        &mut b,
        json!({"destination": "/etc/s/kernel", "type": "tmpfs", "source": "tmpfs"}),
    );
    b.write_config();
    assert_refused(run(&b), &["/etc/s/kernel", "inside /proc"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_lxcfs_style_bind_over_proc_cpuinfo_is_allowed() {
    root_test!();
    let mut b = Bundle::busybox("cpuinfo", &["cat", "/proc/cpuinfo"]);
    let file = b.path().join("cpuinfo");
    std::fs::write(&file, "processor\t: emulated\n").expect("write cpuinfo");
    push_mount(
        &mut b,
        json!({"destination": "/proc/cpuinfo", "type": "bind", "source": file, "options": ["bind", "ro"]}),
    );
    b.write_config();
    assert_eq!(run(&b).expect("container runs"), "processor\t: emulated\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn readonly_paths_on_a_proc_that_is_not_procfs_are_refused() {
    root_test!();
    let mut b = Bundle::busybox("procplain", &["true"]);
    drop_mount(&mut b, "/proc");
    std::fs::create_dir_all(b.rootfs().join("proc/sys")).expect("mkdir proc/sys");
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.write_config();
    assert_refused(run(&b), &["/proc/sys", "not on procfs"]);
}

/// The bundle's `dev` directory bound over `/dev` (so the runtime makes no device nodes), its
/// `null` a symlink to `target`, and `/proc/version` masked.
fn with_fake_dev_null(name: &str, target: &str) -> Bundle {
    let mut b = Bundle::busybox(name, &["cat", "/proc/version"]);
    let dev = b.path().join("fakedev");
    std::fs::create_dir(&dev).expect("mkdir fakedev");
    symlink(target, dev.join("null")).expect("symlink null");
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    for m in mounts.iter_mut() {
        if m["destination"] == "/dev" {
            *m = json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["bind"]});
        }
    }
    b.config["linux"]["maskedPaths"] = json!(["/proc/version"]);
    // A writable root, so the init's own open of /dev/null (O_RDWR) does not stop it first.
    b.config["root"]["readonly"] = json!(false);
    b.write_config();
    b
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_masked_path_is_not_bound_from_a_dev_null_that_is_not_the_null_device() {
    root_test!();
    let b = with_fake_dev_null("fakenull", "/etc/secret");
    std::fs::write(b.rootfs().join("etc/secret"), "not the null device\n").expect("write");
    let result = run(&b);
    assert!(
        result.as_deref() != Ok("not the null device\n"),
        "/proc/version was masked with the file /dev/null points to"
    );
    assert_refused(result, &["/dev/null", "1:3"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn masked_paths_read_empty_through_the_verified_null_device() {
    root_test!();
    let mut b = Bundle::busybox("realnull", &["sh", "-c", "wc -c < /proc/version"]);
    b.config["linux"]["maskedPaths"] = json!(["/proc/version"]);
    b.write_config();
    assert_eq!(run(&b).expect("container runs").trim(), "0");
}

/// A host directory that must stay empty, and the image's `/dev` pointing at it by its host path.
fn dev_symlink_bundle(name: &str, target: &str) -> Bundle {
    let b = Bundle::busybox(name, &["sh", "-c", "stat -c %F /dev/null"]);
    replace_with_symlink(&b, "dev", Path::new(target));
    b
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("read canary dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "files made outside the rootfs: {left:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_dev_symlink_to_a_host_directory_creates_nothing_there() {
    root_test!();
    let canary = tempfile::Builder::new()
        .prefix("berth-canary-")
        .tempdir()
        .expect("canary dir");
    let b = dev_symlink_bundle("devhost", &canary.path().display().to_string());
    let result = run(&b);
    assert_empty(canary.path());
    if let Ok(out) = &result {
        assert_eq!(out.trim(), "character special file");
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_dev_symlink_climbing_out_of_the_rootfs_creates_nothing_outside() {
    root_test!();
    let b = dev_symlink_bundle("devup", "..");
    let result = run(&b);
    for name in ["null", "zero", "pts", "shm", "ptmx"] {
        assert!(
            !b.path().join(name).exists(),
            "{name} made in the bundle dir, outside the rootfs"
        );
    }
    assert!(result.is_err(), "the container ran: {result:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_dev_symlink_inside_the_rootfs_is_refused_or_a_fresh_tmpfs() {
    root_test!();
    let b = Bundle::busybox(
        "devin",
        &["sh", "-c", "stat -f -c %T /dev/; stat -c %F /dev/null"],
    );
    std::fs::create_dir_all(b.rootfs().join("tmp/x")).expect("mkdir tmp/x");
    replace_with_symlink(&b, "dev", Path::new("/tmp/x"));
    match run(&b) {
        Err(e) => assert!(e.contains("/dev"), "{e}"),
        Ok(out) => assert_eq!(out, "tmpfs\ncharacter special file\n"),
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn without_a_cgroup_namespace_every_cgroup_mount_is_the_containers_own_cgroup() {
    root_test!();
    let mut b = Bundle::busybox("cgown", &["cat", "/proc/self/mountinfo"]);
    if let Some(ns) = b.config["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "cgroup");
    }
    b.write_config();
    let own = format!("/berth-test/{}", b.id);
    let mountinfo = run(&b).expect("container runs");
    let cgroup_mounts: Vec<&str> = mountinfo
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, r)| r.starts_with("cgroup ") || r.starts_with("cgroup2 "))
        })
        .collect();
    assert!(!cgroup_mounts.is_empty(), "no cgroup mounts:\n{mountinfo}");
    for line in cgroup_mounts {
        let root = line.split(' ').nth(3).unwrap_or_default();
        assert_eq!(
            root, own,
            "a cgroup mount shows more than the container's cgroup: {line}"
        );
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn in_a_cgroup_namespace_no_hierarchy_shows_a_host_root_cgroup() {
    root_test!();
    // A v1 hierarchy's root alone has release_agent; a cgroup2 root alone lacks cgroup.events.
    let script = "for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do \
                  [ -e \"$d/release_agent\" ] && echo \"host root: $d\"; \
                  [ -e \"$d/cgroup.controllers\" ] && [ ! -e \"$d/cgroup.events\" ] \
                  && echo \"host root: $d\"; done; echo checked";
    let mut b = Bundle::busybox("cgnsroot", &["sh", "-c", script]);
    if let Some(ns) = b.config["linux"]["namespaces"].as_array_mut() {
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    b.write_config();
    assert_eq!(run(&b).expect("container runs"), "checked\n");
}

/// The catalog's CVE-07 as written: the image's own /dev (no tmpfs) with `null` a symlink to
/// core_pattern. The runtime replaces it with a fresh node, so the mask is the null device.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_image_dev_null_symlink_is_replaced_by_the_null_device() {
    root_test!();
    let mut b = Bundle::busybox(
        "imgnull",
        &[
            "sh",
            "-c",
            "stat -c '%t:%T %F' /dev/null; wc -c < /proc/version",
        ],
    );
    drop_mount(&mut b, "/dev");
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null"))
        .expect("symlink dev/null");
    b.config["linux"]["maskedPaths"] = json!(["/proc/version"]);
    b.write_config();
    assert_eq!(
        run(&b).expect("container runs"),
        "1:3 character special file\n0\n"
    );
}
