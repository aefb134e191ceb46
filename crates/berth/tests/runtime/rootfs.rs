//! Container-level root tests of the rootfs: the mount table, masked and read-only paths, the
//! read-only root, read-only binds, tmpfs options, /dev, and the refusal of a mount destination
//! that escapes the rootfs through a symlink.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use serde_json::{json, Value};
use std::path::Path;

/// Runs `bundle` and returns its stdout, failing the test with stderr when it does not exit 0.
fn run_ok(bundle: &Bundle) -> String {
    let out = bundle.run();
    assert!(
        out.status.success(),
        "container failed ({:?}): stdout {:?} stderr {:?}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn push_mount(bundle: &mut Bundle, mount: Value) {
    if let Some(mounts) = bundle.config["mounts"].as_array_mut() {
        mounts.push(mount);
    } else {
        bundle.config["mounts"] = json!([mount]);
    }
}

/// The `/proc/mounts` line of `target`, if mounted.
fn mount_line<'a>(mounts: &'a str, target: &str) -> Option<&'a str> {
    mounts
        .lines()
        .rfind(|l| l.split(' ').nth(1) == Some(target))
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn mount_table_is_as_the_spec_asks() {
    root_test!();
    let mut b = Bundle::busybox("mounts", &["cat", "/proc/mounts"]);
    push_mount(
        &mut b,
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "size=1m", "mode=1770"]}),
    );
    b.write_config();
    let mounts = run_ok(&b);
    let expect = [
        ("/", ""),
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/scratch", "tmpfs"),
    ];
    for (target, fstype) in expect {
        let line = mount_line(&mounts, target)
            .unwrap_or_else(|| panic!("{target} not mounted:\n{mounts}"));
        assert!(
            line.split(' ')
                .nth(2)
                .is_some_and(|t| fstype.is_empty() || t == fstype),
            "{line}"
        );
    }
    let opts = |t| {
        mount_line(&mounts, t)
            .and_then(|l| l.split(' ').nth(3))
            .unwrap_or_default()
            .to_owned()
    };
    let scratch = opts("/scratch");
    for o in ["nosuid", "nodev", "size=1024k", "mode=1770"] {
        assert!(
            scratch.split(',').any(|x| x == o),
            "/scratch lacks {o}: {scratch}"
        );
    }
    let shm = opts("/dev/shm");
    for o in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(shm.split(',').any(|x| x == o), "/dev/shm lacks {o}: {shm}");
    }
    assert!(
        opts("/sys").split(',').any(|x| x == "ro"),
        "sysfs is read-only"
    );
    assert!(
        opts("/dev/pts").contains("ptmxmode=666"),
        "devpts: {}",
        opts("/dev/pts")
    );
    // The host's own mounts are not visible.
    assert!(mount_line(&mounts, "/sys/fs/cgroup/../../../run").is_none());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn tmpfs_mode_and_size_apply() {
    root_test!();
    let mut b = Bundle::busybox(
        "tmpfs",
        &[
            "sh",
            "-c",
            "stat -c %a /scratch && df -k /scratch | tail -1",
        ],
    );
    push_mount(
        &mut b,
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
               "options": ["size=2m", "mode=710"]}),
    );
    b.write_config();
    let out = run_ok(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("710"));
    let size: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(size.get(1), Some(&"2048"), "df: {out}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn proc_kcore_is_masked_and_proc_sys_read_only() {
    root_test!();
    let mut b = Bundle::busybox(
        "masked",
        &[
            "sh",
            "-c",
            "if [ -e /proc/kcore ]; then wc -c < /proc/kcore; else echo 0; fi; \
             wc -c < /proc/version; \
             probe write /proc/sys/kernel/domainname; \
             ls -A /proc/acpi 2>/dev/null | wc -l",
        ],
    );
    b.config["linux"]["maskedPaths"] = json!([
        "/proc/kcore",
        "/proc/version",
        "/proc/acpi",
        "/proc/does-not-exist"
    ]);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    b.write_config();
    let out = run_ok(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().map(|l| l.trim()),
        Some("0"),
        "/proc/kcore reads empty: {out}"
    );
    assert_eq!(
        lines.get(1).map(|l| l.trim()),
        Some("0"),
        "/proc/version reads empty: {out}"
    );
    assert_eq!(
        lines.get(2),
        Some(&"errno=EROFS"),
        "/proc/sys is read-only: {out}"
    );
    assert_eq!(
        lines.get(3).map(|l| l.trim()),
        Some("0"),
        "/proc/acpi is empty: {out}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn readonly_rootfs_refuses_writes_but_tmpfs_mounts_stay_writable() {
    root_test!();
    let mut b = Bundle::busybox(
        "rofs",
        &[
            "sh",
            "-c",
            "probe write /newfile; probe write /tmp/x; probe write /dev/shm/x",
        ],
    );
    b.config["root"]["readonly"] = json!(true);
    b.write_config();
    let out = run_ok(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["errno=EROFS", "errno=EROFS", "ok"],
        "{out}"
    );
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn writable_rootfs_accepts_writes() {
    root_test!();
    let mut b = Bundle::busybox("rwfs", &["probe", "write", "/newfile"]);
    b.config["root"]["readonly"] = json!(false);
    b.write_config();
    assert_eq!(run_ok(&b).trim(), "ok");
    assert!(b.rootfs().join("newfile").exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn read_only_bind_refuses_writes() {
    root_test!();
    let host = tempfile::tempdir().expect("host dir");
    std::fs::write(host.path().join("file"), "hello\n").expect("write host file");
    let mut b = Bundle::busybox(
        "robind",
        &[
            "sh",
            "-c",
            "cat /data/file; probe write /data/new; probe write /rw/new",
        ],
    );
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": host.path(),
               "options": ["rbind", "ro", "nosuid", "nodev"]}),
    );
    let rw = tempfile::tempdir().expect("rw host dir");
    push_mount(
        &mut b,
        json!({"destination": "/rw", "type": "bind", "source": rw.path(), "options": ["bind"]}),
    );
    b.write_config();
    let out = run_ok(&b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["hello", "errno=EROFS", "ok"],
        "{out}"
    );
    assert!(!host.path().join("new").exists());
    assert!(rw.path().join("new").exists());
    // The host's directory stays writable.
    std::fs::write(host.path().join("after"), "").expect("host dir still writable");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn mount_destination_escaping_through_a_symlink_is_refused() {
    root_test!();
    let host = tempfile::tempdir().expect("host dir");
    let mut b = Bundle::busybox("escape", &["true"]);
    std::os::unix::fs::symlink(host.path(), b.rootfs().join("evil")).expect("symlink");
    push_mount(
        &mut b,
        json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.write_config();
    let out = b.run();
    assert!(
        !out.status.success(),
        "the escape must fail: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("mount destination \"/evil\" resolves outside the rootfs"),
        "stderr: {err}"
    );
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("host mountinfo");
    let host_path = host.path().display().to_string();
    assert!(
        !host_mounts
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(host_path.as_str())),
        "something got mounted on the host path"
    );
    assert_eq!(
        std::fs::read_dir(host.path())
            .expect("read host dir")
            .count(),
        0
    );
    assert!(!b
        .rootfs()
        .join("tmp")
        .join(
            Path::new(&host_path)
                .strip_prefix("/")
                .unwrap_or(Path::new(""))
        )
        .exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn dev_holds_exactly_the_default_devices_and_symlinks() {
    root_test!();
    let b = Bundle::busybox(
        "dev",
        &["sh", "-c", "ls -A /dev; stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done"],
    );
    let out = run_ok(&b);
    let mut lines = out.lines();
    let mut names: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.starts_with("/dev/"))
        .collect();
    names.sort_unstable();
    let mut expect = vec![
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    if Path::new("/proc/kcore").exists() {
        expect.push("core");
    }
    expect.sort_unstable();
    assert_eq!(names, expect, "{out}");
    let rest: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("/dev/"))
        .collect();
    assert_eq!(
        rest,
        [
            "/dev/null character special file 1:3 666",
            "/dev/zero character special file 1:5 666",
            "/dev/full character special file 1:7 666",
            "/dev/random character special file 1:8 666",
            "/dev/urandom character special file 1:9 666",
            "/dev/tty character special file 5:0 666",
            "/proc/self/fd",
            "/proc/self/fd/0",
            "/proc/self/fd/1",
            "/proc/self/fd/2",
            "pts/ptmx",
        ],
        "{out}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cgroup_mount_shows_the_containers_own_cgroups_read_only() {
    root_test!();
    let mut b = Bundle::busybox(
        "cgmount",
        &[
            "sh",
            "-c",
            "ls /sys/fs/cgroup; echo --; \
             cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || \
             cat /sys/fs/cgroup/memory.max; \
             probe write /sys/fs/cgroup/new",
        ],
    );
    b.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    // No cgroup namespace: the container's own cgroup directories are bound from the host.
    if let Some(ns) = b.config["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "cgroup");
    }
    b.write_config();
    let out = run_ok(&b);
    let (list, rest) = out.split_once("--\n").unwrap_or_else(|| panic!("{out}"));
    let v2_host = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("host mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    if !v2_host {
        for h in ["memory", "pids"] {
            assert!(
                list.lines().any(|l| l == h),
                "/sys/fs/cgroup lacks {h}: {list}"
            );
        }
    }
    assert_eq!(
        rest.lines().collect::<Vec<_>>(),
        ["67108864", "errno=EROFS"],
        "{out}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cgroup_mount_in_a_cgroup_namespace_is_rooted_at_the_container() {
    root_test!();
    let mut b = Bundle::busybox(
        "cgns",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || \
             cat /sys/fs/cgroup/memory.max; grep -c memory /proc/self/mountinfo",
        ],
    );
    b.config["linux"]["resources"] = json!({"memory": {"limit": 33554432}});
    if let Some(ns) = b.config["linux"]["namespaces"].as_array_mut() {
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    }
    b.write_config();
    let out = run_ok(&b);
    assert_eq!(out.lines().next(), Some("33554432"), "{out}");
}
