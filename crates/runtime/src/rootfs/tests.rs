//! Unit tests of the rootfs setup against [`RecordingSys`] on a temp-dir rootfs (no root needed).

use super::*;
use crate::sys::fake::{Call, RecordingSys};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::SFlag;
use serde_json::json;
use std::os::unix::fs::symlink;

/// A temp dir with a small rootfs under `rootfs/`.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in [
            "rootfs/proc",
            "rootfs/sys",
            "rootfs/dev",
            "rootfs/etc",
            "rootfs/tmp",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Fixture { dir }
    }

    pub(super) fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub(super) fn sys(&self) -> RecordingSys {
        RecordingSys::with_root(&self.rootfs())
    }
}

/// A spec from `value` over a minimal base; the container gets a mount namespace of its own
/// unless `value` lists `linux.namespaces` itself.
pub(super) fn spec(value: serde_json::Value) -> Spec {
    let mut base = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "mounts": []});
    if let (Some(b), Some(v)) = (base.as_object_mut(), value.as_object()) {
        b.extend(v.clone());
    }
    let linux = &mut base["linux"];
    if linux.get("namespaces").is_none() {
        linux["namespaces"] = json!([{"type": "mount"}]);
    }
    serde_json::from_value(base).expect("valid spec")
}

pub(super) fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        source: source.map(str::to_owned),
        target: target.to_owned(),
        fstype: fstype.map(str::to_owned),
        flags,
        data: data.map(str::to_owned),
    }
}

#[test]
fn prepare_makes_root_rslave_binds_rootfs_and_mounts_in_spec_order() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "gid=5", "mode=0620"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}
        ]
    }));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    let mounts = sys.mounts();
    let nsn = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    assert_eq!(
        mounts[..7],
        [
            mount(None, "/", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None),
            mount(
                Some("/"),
                "/",
                Some("bind"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None
            ),
            mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), None),
            mount(
                Some("tmpfs"),
                "/dev",
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                Some("mode=755,size=65536k")
            ),
            mount(
                Some("devpts"),
                "/dev/pts",
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,gid=5,mode=0620,ptmxmode=0666")
            ),
            // No new network namespace: sysfs is read-only.
            mount(
                Some("sysfs"),
                "/sys",
                Some("sysfs"),
                nsn | MsFlags::MS_RDONLY,
                None
            ),
            mount(
                Some("mqueue"),
                "/dev/mqueue",
                Some("mqueue"),
                MsFlags::empty(),
                None
            ),
        ]
    );
    assert_eq!(
        mounts.len(),
        7,
        "devices are made with mknod, not mounted: {mounts:#?}"
    );
}

#[test]
fn sysfs_is_writable_with_a_new_network_namespace() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({
        "linux": {"namespaces": [{"type": "mount"}, {"type": "network"}]},
        "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs"}]
    }));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert_eq!(
        sys.mounts()[2],
        mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None)
    );
}

#[test]
fn sysfs_is_writable_with_a_network_namespace_joined_by_path() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({
        "linux": {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}]},
        "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs"}]
    }));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert_eq!(
        sys.mounts()[2],
        mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None)
    );
}

#[test]
fn default_devices_and_dev_symlinks_are_created() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"linux": {"devices": [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 432, "uid": 7, "gid": 8}
    ]}}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    let nodes: Vec<(String, u32, u64)> = sys
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Mknod {
                path,
                kind,
                mode,
                dev,
            } if kind == SFlag::S_IFCHR => Some((path, mode, dev)),
            _ => None,
        })
        .collect();
    let dev = nix::sys::stat::makedev;
    assert_eq!(
        nodes,
        [
            ("/dev/fuse".to_owned(), 0o660, dev(10, 229)),
            ("/dev/null".to_owned(), 0o666, dev(1, 3)),
            ("/dev/zero".to_owned(), 0o666, dev(1, 5)),
            ("/dev/full".to_owned(), 0o666, dev(1, 7)),
            ("/dev/random".to_owned(), 0o666, dev(1, 8)),
            ("/dev/urandom".to_owned(), 0o666, dev(1, 9)),
            ("/dev/tty".to_owned(), 0o666, dev(5, 0)),
        ]
    );
    assert!(sys.calls().contains(&Call::Chown {
        path: "/dev/fuse".into(),
        uid: 7,
        gid: 8
    }));
    assert!(sys.calls().contains(&Call::Chmod {
        path: "/dev/null".into(),
        mode: 0o666
    }));
    let dev_dir = fx.rootfs().join("dev");
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        assert_eq!(
            std::fs::read_link(dev_dir.join(name)).expect("dev symlink"),
            Path::new(target),
            "/dev/{name}"
        );
    }
}

#[test]
fn user_namespace_binds_host_devices_instead_of_mknod() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}]}}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert!(!sys.calls().iter().any(|c| matches!(c, Call::Mknod { .. })));
    assert!(sys.mounts().contains(&mount(
        Some("/dev/null"),
        "/dev/null",
        None,
        MsFlags::MS_BIND,
        None
    )));
    assert!(fx.rootfs().join("dev/tty").is_file());
}

#[test]
fn host_dev_bind_skips_device_creation() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(json!({"mounts": [
        {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert!(!sys.calls().iter().any(|c| matches!(c, Call::Mknod { .. })));
}

#[test]
fn read_only_bind_is_remounted_and_propagation_applied_after() {
    let fx = Fixture::new();
    let src = fx.dir.path().join("data");
    std::fs::create_dir(&src).expect("mkdir source");
    std::fs::write(fx.dir.path().join("hosts"), "").expect("write file source");
    let sys = fx.sys();
    let s = spec(json!({"mounts": [
        {"destination": "/data", "type": "bind", "source": src,
         "options": ["rbind", "ro", "nosuid", "rprivate"]},
        {"destination": "/etc/hosts", "source": fx.dir.path().join("hosts"), "options": ["bind"]}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    let src = src.display().to_string();
    let mounts = sys.mounts();
    // Cloned from the source and attached; the remount and the propagation change go to that
    // mount through its own descriptor (recorded at the target, where the kernel finds it).
    let clone = Call::CloneTree {
        path: src.clone(),
        recursive: true,
    };
    assert!(sys.calls().contains(&clone), "{:#?}", sys.calls());
    assert_eq!(
        mounts[2..5],
        [
            Call::AttachTree {
                target: "/data".into()
            },
            mount(
                None,
                "/data",
                None,
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None
            ),
            mount(
                None,
                "/data",
                None,
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                None
            ),
        ]
    );
    assert_eq!(mounts[5].mount_target(), Some("/etc/hosts"));
    assert!(
        fx.rootfs().join("etc/hosts").is_file(),
        "file bind target is a file"
    );
    assert!(fx.rootfs().join("data").is_dir());
}

#[test]
fn remount_is_retried_with_the_mounts_own_flags_when_the_kernel_refuses() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let refused = std::rc::Rc::new(std::cell::Cell::new(false));
    let once = refused.clone();
    sys.fail_when(move |c| match c {
        Call::Mount { flags, .. } if flags.contains(MsFlags::MS_REMOUNT) && !once.get() => {
            once.set(true);
            Some(Errno::EPERM)
        }
        _ => None,
    });
    let s = spec(json!({"mounts": [
        {"destination": "/p", "type": "bind", "source": "/proc", "options": ["bind", "ro"]}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    assert!(refused.get());
    let remounts: Vec<_> = sys
        .mounts()
        .into_iter()
        .filter(|c| matches!(c, Call::Mount { flags, .. } if flags.contains(MsFlags::MS_REMOUNT)))
        .collect();
    assert_eq!(remounts.len(), 2, "{remounts:#?}");
    let Call::Mount { flags, .. } = &remounts[1] else {
        panic!()
    };
    assert!(flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT | MsFlags::MS_BIND));
}

#[test]
fn locked_flags_map_statvfs_to_mount_flags() {
    use nix::sys::statvfs::FsFlags;
    let fs = FsFlags::ST_NOSUID | FsFlags::ST_NOEXEC | FsFlags::ST_RDONLY | FsFlags::ST_RELATIME;
    assert_eq!(
        mounts::locked_flags(fs),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
    );
}

#[test]
fn destination_symlink_escaping_the_rootfs_is_refused_and_nothing_mounted() {
    let fx = Fixture::new();
    let host_dir = fx.dir.path().join("host-dir");
    std::fs::create_dir(&host_dir).expect("mkdir host dir");
    symlink(&host_dir, fx.rootfs().join("evil")).expect("absolute symlink");
    symlink("../../../../../../host-dir", fx.rootfs().join("climb")).expect("relative symlink");
    for dest in ["/evil", "/evil/sub", "/climb", "/etc/../climb/x"] {
        let sys = fx.sys();
        let s = spec(json!({"mounts": [
            {"destination": dest, "type": "tmpfs", "source": "tmpfs"}
        ]}));
        let err = prepare(&s, &fx.rootfs(), &sys).expect_err(dest);
        let msg = err.to_string();
        assert!(matches!(err, RootfsError::Escape { .. }), "{dest}: {msg}");
        assert!(
            msg.starts_with(&format!(
                "mount destination {dest:?} resolves outside the rootfs"
            )),
            "{msg}"
        );
        assert_eq!(
            sys.mounts().len(),
            2,
            "only / and the rootfs bind: {:#?}",
            sys.mounts()
        );
        assert_eq!(
            std::fs::read_dir(&host_dir).expect("read host dir").count(),
            0
        );
    }
    assert!(
        !fx.rootfs().join("tmp/host-dir").exists(),
        "nothing created through the link"
    );
}

#[test]
fn symlinks_inside_the_rootfs_are_followed_within_it() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.rootfs().join("run")).expect("mkdir run");
    std::fs::create_dir_all(fx.rootfs().join("var")).expect("mkdir var");
    symlink("/run", fx.rootfs().join("var/run")).expect("absolute in-root symlink");
    symlink("../tmp", fx.rootfs().join("etc/t")).expect("relative in-root symlink");
    let sock = fx.dir.path().join("sock");
    std::fs::write(&sock, "").expect("source file");
    let sys = fx.sys();
    let s = spec(json!({"mounts": [
        {"destination": "/var/run/x.sock", "type": "bind", "source": sock, "options": ["bind"]},
        {"destination": "/etc/t", "type": "tmpfs", "source": "tmpfs"}
    ]}));
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    let targets: Vec<_> = sys
        .mounts()
        .iter()
        .filter_map(|c| c.mount_target().map(str::to_owned))
        .collect();
    assert_eq!(targets[2..], ["/run/x.sock", "/tmp"]);
    assert!(fx.rootfs().join("run/x.sock").is_file());
}

#[test]
fn cgroup_mount_binds_or_mounts_every_hierarchy() {
    let fx = Fixture::new();
    let sys = fx.sys();
    let s = spec(
        json!({"mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup",
        "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}]}),
    );
    prepare(&s, &fx.rootfs(), &sys).expect("prepare");
    let targets: Vec<_> = sys
        .mounts()
        .iter()
        .filter_map(|c| c.mount_target().map(str::to_owned))
        .collect();
    assert!(
        targets[2..].iter().all(|t| t.starts_with("/sys/fs/cgroup")),
        "{targets:?}"
    );
}

#[test]
fn finish_masks_files_and_dirs_and_makes_paths_and_root_read_only() {
    let fx = Fixture::new();
    let root = fx.rootfs();
    std::fs::create_dir_all(root.join("proc/acpi")).expect("mkdir");
    std::fs::create_dir_all(root.join("proc/sys")).expect("mkdir");
    std::fs::write(root.join("proc/kcore"), "secret").expect("write");
    // As after pivot_root: the container's /dev/null is the null device.
    symlink("/dev/null", root.join("dev/null")).expect("symlink dev/null");
    let sys = fx.sys();
    sys.pretend_fs(Path::new("/proc"), nix::sys::statfs::PROC_SUPER_MAGIC);
    let s = spec(json!({
        "root": {"path": "rootfs", "readonly": true},
        "linux": {
            "maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/missing"],
            "readonlyPaths": ["/proc/sys", "/proc/missing-too"]
        }
    }));
    paths::finish(&s, &root, &sys).expect("finish");
    let mounts = sys.mounts();
    let remount = MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    assert!(sys.calls().contains(&Call::CloneTree {
        path: "/proc/sys".into(),
        recursive: true
    }));
    assert_eq!(
        mounts[0],
        Call::AttachTree {
            target: "/proc/sys".into()
        }
    );
    let Call::Mount { target, flags, .. } = &mounts[1] else {
        panic!()
    };
    assert_eq!((target.as_str(), *flags & remount), ("/proc/sys", remount));
    assert_eq!(
        mounts[2],
        mount(
            Some("/dev/null"),
            "/proc/kcore",
            None,
            MsFlags::MS_BIND,
            None
        )
    );
    assert_eq!(
        mounts[3],
        mount(
            Some("tmpfs"),
            "/proc/acpi",
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None
        )
    );
    let Call::Mount { target, flags, .. } = &mounts[4] else {
        panic!()
    };
    assert_eq!((target.as_str(), *flags & remount), ("/", remount));
    assert_eq!(mounts.len(), 5, "missing paths are skipped: {mounts:#?}");
}

#[test]
fn pivot_detaches_the_old_root() {
    let fx = Fixture::new();
    let sys = fx.sys();
    pivot(&fx.rootfs(), false, &sys).expect("pivot");
    let calls = sys.calls();
    assert_eq!(calls[0], Call::Fchdir("/".into()));
    assert_eq!(
        calls[1..],
        [
            Call::PivotRoot {
                new_root: ".".into(),
                put_old: ".".into()
            },
            Call::Fchdir("/".into()),
            mount(None, ".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None),
            Call::Umount2 {
                target: ".".into(),
                flags: MntFlags::MNT_DETACH
            },
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn no_pivot_moves_and_chroots() {
    let fx = Fixture::new();
    let sys = fx.sys();
    pivot(&fx.rootfs(), true, &sys).expect("pivot");
    assert_eq!(
        sys.calls(),
        [
            Call::Chdir("/".into()),
            mount(Some("/"), "/", None, MsFlags::MS_MOVE, None),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn console_is_bound_over_dev_console() {
    let fx = Fixture::new();
    let sys = fx.sys();
    bind_console(&fx.rootfs(), Path::new("/dev/pts/7"), &sys).expect("console");
    assert_eq!(
        sys.mounts(),
        [mount(
            Some("/dev/pts/7"),
            "/dev/console",
            None,
            MsFlags::MS_BIND,
            None
        )]
    );
}

#[test]
fn errors_name_the_destination() {
    let fx = Fixture::new();
    let sys = fx.sys();
    sys.fail_when(|c| (c.mount_target() == Some("/proc")).then_some(Errno::EBUSY));
    let s = spec(json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}));
    let err = prepare(&s, &fx.rootfs(), &sys).expect_err("mount fails");
    assert!(
        err.to_string()
            .starts_with("mount destination \"/proc\": mount proc"),
        "{err}"
    );
}
