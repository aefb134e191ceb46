//! Unit tests of keeping `/proc` procfs and `/dev` the rootfs's own (security catalog CVE-06..09):
//! the ordinary-directory rule, mounts at and inside `/proc`, masked and read-only paths that are
//! not on procfs, the verified null device, and the procfs write helper. Against [`RecordingSys`]
//! on a temp-dir rootfs, except the one root test at the end.

use super::tests::{spec, Fixture};
use super::*;
use crate::sys::fake::{Call, RecordingSys};
use crate::sys::RealSys;
use nix::sys::statfs::PROC_SUPER_MAGIC;
use serde_json::json;
use std::os::unix::fs::symlink;

/// The mount targets recorded after the two of `prepare_root` (propagation of `/`, rootfs bind).
fn spec_mount_targets(sys: &RecordingSys) -> Vec<String> {
    sys.mounts()
        .iter()
        .skip(2)
        .filter_map(|c| c.mount_target().map(str::to_owned))
        .collect()
}

fn prepare_err(fx: &Fixture, sys: &RecordingSys, mounts: serde_json::Value) -> String {
    let s = spec(json!({ "mounts": mounts }));
    match prepare(&s, &fx.rootfs(), sys) {
        Ok(()) => panic!("prepare accepted {mounts}: {:#?}", sys.mounts()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn proc_in_the_image_must_be_an_ordinary_directory() {
    let fx = Fixture::new();
    std::fs::remove_dir(fx.rootfs().join("proc")).expect("rmdir proc");
    std::fs::create_dir(fx.rootfs().join("fakeproc")).expect("mkdir fakeproc");
    symlink("/fakeproc", fx.rootfs().join("proc")).expect("symlink proc");
    let sys = fx.sys();
    let err = prepare_err(
        &fx,
        &sys,
        json!([{"destination": "/proc", "type": "proc", "source": "proc"}]),
    );
    assert!(
        err.contains("filesystem \"proc\" must be mounted on an ordinary directory")
            && err.contains("is a symlink"),
        "{err}"
    );
    assert!(spec_mount_targets(&sys).is_empty());
}

#[test]
fn a_dev_symlink_is_refused_before_any_device_is_made() {
    for mounts in [
        json!([{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]),
        json!([]),
    ] {
        let fx = Fixture::new();
        std::fs::remove_dir(fx.rootfs().join("dev")).expect("rmdir dev");
        std::fs::create_dir_all(fx.rootfs().join("tmp/x")).expect("mkdir tmp/x");
        symlink("/tmp/x", fx.rootfs().join("dev")).expect("symlink dev");
        let sys = fx.sys();
        let err = prepare_err(&fx, &sys, mounts);
        assert!(
            err.contains("an ordinary directory, but /dev in the rootfs is a symlink"),
            "{err}"
        );
        assert!(spec_mount_targets(&sys).is_empty());
        assert!(!sys.calls().iter().any(|c| matches!(
            c,
            Call::Mknod { .. } | Call::Symlink { .. } | Call::Unlink(_)
        )));
    }
}

#[test]
fn a_dev_pts_symlink_is_refused() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.rootfs().join("run/pts")).expect("mkdir run/pts");
    symlink("/run/pts", fx.rootfs().join("dev/pts")).expect("symlink dev/pts");
    let sys = fx.sys();
    let err = prepare_err(
        &fx,
        &sys,
        json!([{"destination": "/dev/pts", "type": "devpts", "source": "devpts"}]),
    );
    assert!(
        err.contains("filesystem \"devpts\" must be mounted on an ordinary directory"),
        "{err}"
    );
    assert!(spec_mount_targets(&sys).is_empty());
}

#[test]
fn only_procfs_may_be_mounted_on_proc() {
    let fx = Fixture::new();
    let vol = fx.rootfs().with_file_name("vol");
    std::fs::create_dir(&vol).expect("mkdir vol");
    for mount in [
        json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
        json!({"destination": "/proc/", "type": "bind", "source": vol, "options": ["rbind"]}),
        json!({"destination": "/tmp/../proc", "type": "bind", "source": vol, "options": ["rbind"]}),
    ] {
        let sys = fx.sys();
        let err = prepare_err(&fx, &sys, json!([mount]));
        assert!(err.contains("not of type proc"), "{err}");
        assert!(spec_mount_targets(&sys).is_empty(), "{mount}");
    }
    // A fresh proc, and a bind of the host's procfs, may go there.
    for mount in [
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}),
    ] {
        let sys = fx.sys();
        let s = spec(json!({ "mounts": [mount] }));
        prepare(&s, &fx.rootfs(), &sys).expect("procfs on /proc");
        assert_eq!(spec_mount_targets(&sys), ["/proc"]);
    }
}

#[test]
fn nothing_is_mounted_inside_proc_but_the_allow_list() {
    let fx = Fixture::new();
    let err = prepare_err(
        &fx,
        &fx.sys(),
        json!([{"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}]),
    );
    assert!(
        err.contains("cannot be mounted because it is inside /proc"),
        "{err}"
    );
    assert!(
        !fx.rootfs().join("proc/sys").exists(),
        "refused before the mount point was made"
    );

    std::fs::create_dir_all(fx.rootfs().join("proc/sys")).expect("mkdir proc/sys");
    symlink("/proc/sys", fx.rootfs().join("etc/s")).expect("symlink");
    let sys = fx.sys();
    let err = prepare_err(
        &fx,
        &sys,
        json!([{"destination": "/etc/s/kernel", "type": "tmpfs", "source": "tmpfs"}]),
    );
    assert!(
        err.contains("\"/etc/s/kernel\": resolves to /proc/sys/kernel, which cannot be mounted")
            && err.contains("inside /proc"),
        "{err}"
    );
    assert!(spec_mount_targets(&sys).is_empty());

    let file = fx.rootfs().with_file_name("meminfo");
    std::fs::write(&file, "MemTotal: 1 kB\n").expect("write");
    let sys = fx.sys();
    let s = spec(json!({"mounts": [
        {"destination": "/proc/meminfo", "type": "bind", "source": file, "options": ["bind", "ro"]}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("an allowed overmount");
    assert_eq!(spec_mount_targets(&sys)[0], "/proc/meminfo");
}

#[test]
fn masked_and_readonly_paths_under_proc_must_be_on_procfs() {
    for (key, kind) in [
        ("maskedPaths", "masked path"),
        ("readonlyPaths", "readonly path"),
    ] {
        let fx = Fixture::new();
        let root = fx.rootfs();
        std::fs::create_dir_all(root.join("proc/sys")).expect("mkdir");
        let sys = fx.sys();
        let s = spec(json!({"linux": { key: ["/proc/sys"] }}));
        let err = paths::finish(&s, &root, &sys).expect_err("not procfs");
        assert!(
            err.to_string()
                .starts_with(&format!("{kind} \"/proc/sys\" is not on procfs")),
            "{err}"
        );
        assert!(sys.mounts().is_empty(), "{:#?}", sys.mounts());
    }
}

#[test]
fn a_dev_null_that_is_not_the_null_device_masks_nothing() {
    for (make, found) in [
        (
            (|p: &Path| std::fs::write(p, "x").expect("write")) as fn(&Path),
            "is a regular file",
        ),
        (
            |p: &Path| symlink("../etc/secret", p).expect("symlink"),
            "is a regular file",
        ),
        (
            |p: &Path| std::fs::create_dir(p).expect("mkdir"),
            "is a directory",
        ),
    ] {
        let fx = Fixture::new();
        let root = fx.rootfs();
        std::fs::write(root.join("etc/secret"), "secret").expect("write");
        std::fs::write(root.join("proc/version"), "host").expect("write");
        make(&root.join("dev/null"));
        let sys = fx.sys();
        sys.pretend_fs(Path::new("/proc"), PROC_SUPER_MAGIC);
        let s = spec(json!({"linux": {"maskedPaths": ["/proc/version"]}}));
        let err = paths::finish(&s, &root, &sys).expect_err("not the null device");
        assert!(
            err.to_string().starts_with(&format!(
                "/dev/null in the container {found}, not the null device (char 1:3)"
            )),
            "{err}"
        );
        assert!(sys.mounts().is_empty(), "{:#?}", sys.mounts());
    }
}

#[test]
fn procfs_write_refuses_a_file_that_is_not_on_procfs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("domainname");
    std::fs::write(&file, "before").expect("write");
    let sys = RecordingSys::new();
    let err = procfs::write(&sys, &file, b"after").expect_err("not procfs");
    assert!(err.to_string().contains("is not on procfs"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "before");

    sys.pretend_fs(dir.path(), PROC_SUPER_MAGIC);
    procfs::write(&sys, &file, b"later!").expect("write to a pretend procfs");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "later!");
}

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

/// CVE-09: in a mount namespace of its own (one thread's), a tmpfs over `/proc/sys` holds a fake
/// `kernel/domainname`; the helper refuses it, and writes the real procfs `thread-self/comm`.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn procfs_write_refuses_a_tmpfs_over_proc_sys() {
    if !root_tests() {
        return;
    }
    let thread = std::thread::spawn(|| {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount ns");
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, private, None::<&str>).expect("make / private");
        mount(
            Some("tmpfs"),
            "/proc/sys",
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .expect("tmpfs over /proc/sys");
        std::fs::create_dir("/proc/sys/kernel").expect("mkdir in the tmpfs");
        std::fs::write("/proc/sys/kernel/domainname", "fake").expect("write the fake");
        let refused = procfs::write(&RealSys, Path::new("/proc/sys/kernel/domainname"), b"x");
        let written = procfs::write(&RealSys, Path::new("/proc/thread-self/comm"), b"procfs-ok");
        let comm = std::fs::read_to_string("/proc/thread-self/comm");
        (
            refused.map_err(|e| e.to_string()),
            written.map_err(|e| e.to_string()),
            comm.ok(),
        )
    });
    let (refused, written, comm) = thread.join().expect("the test thread");
    let err = refused.expect_err("a tmpfs is not procfs");
    assert!(
        err.starts_with("procfs file \"/proc/sys/kernel/domainname\" is not on procfs"),
        "{err}"
    );
    written.expect("the real procfs is written");
    assert_eq!(comm.as_deref(), Some("procfs-ok\n"));
}
