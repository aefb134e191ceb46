//! The security catalog's isolation defaults (ISO, issue 14) at the runtime level: each bundle's
//! `config.json` is what the daemon builds for `docker run` ([`docker_bundle`], through
//! `berth_daemon`'s own spec builder: Docker's capabilities, seccomp profile, masked and read-only
//! paths, mounts and device rules), run by `berth runtime` on a busybox rootfs with the probe.
//!
//! Covered elsewhere: ISO-04 (`docker/hostconfig.rs::security_and_process_options`), ISO-23
//! (`docker/lifecycle.rs::oom_kill_reports_137`); the daemon-level cases (ISO-02, 17, 18, 25, 26)
//! are in `docker/catalog_defaults.rs`.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use berth_daemon::containers::model::{Container, RunState};
use berth_daemon::containers::spec::{build, SpecPaths};
use std::os::unix::fs::PermissionsExt;

/// Docker's 14 default capabilities as a /proc/self/status mask.
pub const DOCKER_CAPS: &str = "00000000a80425fb";

/// A busybox bundle whose config is the daemon's spec for a container running `args`, as
/// `docker run` with the HostConfig and Config that `edit` sets up would have it.
pub fn docker_bundle(name: &str, args: &[&str], edit: impl FnOnce(&mut Container)) -> Bundle {
    let mut b = Bundle::busybox(name, args);
    // Like an image's /tmp; the probes of non-root users create files there.
    std::fs::set_permissions(
        b.rootfs().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .expect("chmod /tmp");
    let mut c = Container {
        id: format!("{:0>64x}", std::process::id()),
        name: b.id.clone(),
        created: 0,
        image_name: "busybox".into(),
        image_id: "sha256:0".into(),
        config: Default::default(),
        host_config: Default::default(),
        path: args[0].to_string(),
        args: args[1..].iter().map(|a| a.to_string()).collect(),
        state: RunState::default(),
        warnings: vec![],
        rootfs_mounts: vec![],
        settings: Default::default(),
    };
    edit(&mut c);
    // The engine reads the settings the API edge parses from Docker's request: parse them from
    // what `edit` set, as create does.
    c.settings = berth_daemon::server::container_request::settings(&c.config, &c.host_config)
        .expect("the test's HostConfig parses");
    let files = b.path().join("files");
    std::fs::create_dir(&files).expect("mkdir files");
    for f in ["hosts", "hostname", "resolv.conf"] {
        std::fs::write(files.join(f), format!("# {f}\n")).expect("write container file");
    }
    let paths = SpecPaths {
        rootfs: b.rootfs(),
        hosts: files.join("hosts"),
        hostname: files.join("hostname"),
        resolv_conf: files.join("resolv.conf"),
        cgroup: b.config["linux"]["cgroupsPath"]
            .as_str()
            .expect("cgroupsPath")
            .to_string(),
        netns: None,
        joins: Default::default(),
        userns: None,
    };
    let mut warnings = Vec::new();
    b.config = build(&c, &paths, &mut warnings).expect("the daemon's spec");
    b.write_config();
    b
}

/// Runs `b`, asserts exit 0 and returns its stdout lines.
pub fn run_lines(b: &Bundle) -> Vec<String> {
    let out = b.run();
    assert!(
        out.status.success(),
        "container failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

/// `sh -c script` in a container with Docker's defaults changed by `edit`; its stdout lines.
pub fn docker_sh(name: &str, script: &str, edit: impl FnOnce(&mut Container)) -> Vec<String> {
    run_lines(&docker_bundle(name, &["sh", "-c", script], edit))
}

/// The value of `field` (`CapEff:`) in the probe's `status` lines.
pub fn field(lines: &[String], field: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in {lines:?}"))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_01_the_default_capabilities_are_dockers_fourteen_and_nothing_inheritable() {
    root_test!();
    let lines = docker_sh("iso01", "probe status", |_| {});
    for f in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(field(&lines, f), DOCKER_CAPS, "{f} {lines:?}");
    }
    for f in ["CapInh:", "CapAmb:"] {
        assert_eq!(field(&lines, f), "0000000000000000", "{f} {lines:?}");
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_03_a_non_root_user_has_no_effective_capabilities() {
    root_test!();
    let script = "probe status; probe chown /tmp 0 0; probe bind 80; probe socket raw; \
                  probe chroot /tmp; probe mknod /tmp/null";
    let lines = docker_sh("iso03", script, |c| c.config.user = "1000".into());
    for f in ["CapEff:", "CapPrm:", "CapAmb:", "CapInh:"] {
        assert_eq!(field(&lines, f), "0000000000000000", "{f} {lines:?}");
    }
    assert_eq!(field(&lines, "CapBnd:"), DOCKER_CAPS, "{lines:?}");
    let results: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("errno=") || *l == "ok")
        .map(String::as_str)
        .collect();
    assert_eq!(
        results,
        [
            "errno=EPERM",
            "errno=EACCES",
            "errno=EPERM",
            "errno=EPERM",
            "errno=EPERM"
        ],
        "chown, bind :80, raw socket, chroot, mknod as uid 1000: {lines:?}"
    );
    // The same operations as root in the same defaults all work (the capabilities are there).
    let root = docker_sh("iso03-root", &script.replace("probe status; ", ""), |_| {});
    assert_eq!(root, ["ok"; 5], "as root: {root:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_05_an_unknown_syscall_gets_eperm_and_the_process_lives() {
    root_test!();
    let script = "probe syscall 1000; probe keyctl; echo alive";
    assert_eq!(
        docker_sh("iso05", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "alive"]
    );
    // Control: without the filter the kernel answers syscall 1000 itself.
    let unconfined = docker_sh("iso05-ctl", script, |c| {
        c.host_config.security_opt = Some(strings(&["seccomp=unconfined"]))
    });
    assert_eq!(unconfined[0], "errno=ENOSYS", "{unconfined:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_06_clone3_gets_enosys_without_cap_sys_admin() {
    root_test!();
    assert_eq!(docker_sh("iso06", "probe clone3", |_| {}), ["errno=ENOSYS"]);
    // With CAP_SYS_ADMIN added the profile lets clone3 through (ISO-10's cap-gated rules).
    let admin = docker_sh("iso06-admin", "probe clone3", |c| {
        c.host_config.cap_add = Some(strings(&["SYS_ADMIN"]))
    });
    assert_eq!(admin, ["ok"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_07_namespace_flags_in_clone_get_eperm_a_plain_fork_works() {
    root_test!();
    let lines = docker_sh(
        "iso07",
        "probe clone user; probe clone mnt; probe clone net; probe clone none",
        |_| {},
    );
    assert_eq!(lines, ["errno=EPERM", "errno=EPERM", "errno=EPERM", "ok"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_08_vsock_and_alg_sockets_get_eperm_inet_unix_netlink_work() {
    root_test!();
    let script = "probe socket 40 stream; probe socket 38 seqpacket; \
                  probe socket inet; probe socket unix; probe socket netlink";
    assert_eq!(
        docker_sh("iso08", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "ok", "ok", "ok"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_10_the_profile_follows_added_capabilities() {
    root_test!();
    // The time probes use invalid values: once seccomp and the capability let them through, the
    // kernel answers EINVAL and the clock is untouched.
    let time = "probe clock_settime; probe settimeofday; probe adjtimex set";
    assert_eq!(
        docker_sh("iso10-time-default", time, |_| {}),
        ["errno=EPERM"; 3]
    );
    let with_time = docker_sh("iso10-time", time, |c| {
        c.host_config.cap_add = Some(strings(&["SYS_TIME"]))
    });
    assert_eq!(with_time, ["errno=EINVAL"; 3]);
    let mount = "probe mount /tmp; probe unshare mnt";
    assert_eq!(
        docker_sh("iso10-mount-default", mount, |_| {}),
        ["errno=EPERM"; 2]
    );
    let with_admin = docker_sh("iso10-mount", mount, |c| {
        c.host_config.cap_add = Some(strings(&["SYS_ADMIN"]))
    });
    assert_eq!(with_admin, ["ok"; 2]);
}

/// Docker's masked paths (catalog Appendix A).
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// For each path: `<path> file <size> <major:minor>`, `<path> dir <entries> <write result>`,
/// or `<path> absent`.
fn describe(paths: &[&str]) -> String {
    let list = paths.join(" ");
    format!(
        "for p in {list}; do \
           if [ -d $p ]; then echo \"$p dir $(ls -A $p | wc -l) $(probe write $p/x)\"; \
           elif [ -e $p ]; then echo \"$p file $(wc -c < $p) $(stat -c %t:%T $p)\"; \
           else echo \"$p absent\"; fi; done"
    )
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_11_masked_paths_read_empty_and_privileged_unmasks_them() {
    root_test!();
    let mut paths: Vec<String> = MASKED.iter().map(|p| p.to_string()).collect();
    if let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") {
        for cpu in cpus.flatten() {
            let t = cpu.path().join("thermal_throttle");
            if t.exists() {
                paths.push(t.display().to_string());
            }
        }
    }
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let lines = docker_sh("iso11", &describe(&refs), |_| {});
    assert_eq!(lines.len(), refs.len(), "{lines:?}");
    for (line, path) in lines.iter().zip(&refs) {
        let words: Vec<&str> = line.split(' ').collect();
        let host_has = std::path::Path::new(path).exists();
        match words.get(1) {
            // A file: the /dev/null bind, empty.
            Some(&"file") => assert_eq!(words[2..], ["0", "1:3"], "{line}"),
            // A directory: an empty read-only tmpfs.
            Some(&"dir") => assert_eq!(words[2..], ["0", "errno=EROFS"], "{line}"),
            _ => assert!(
                !host_has,
                "{path} exists on the host but not masked: {line}"
            ),
        }
    }
    // Positive control: --privileged has no masks; /proc/interrupts shows the host's IRQs.
    let privileged = docker_sh("iso11-priv", "wc -c < /proc/interrupts", |c| {
        c.host_config.privileged = true
    });
    let host = std::fs::read_to_string("/proc/interrupts").expect("host /proc/interrupts");
    assert!(!host.is_empty());
    assert_ne!(privileged, ["0"], "privileged still masks /proc/interrupts");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_12_read_only_proc_paths_refuse_writes_with_erofs() {
    root_test!();
    // Opened for writing only (nothing is written, so a failure cannot trigger sysrq); for
    // /proc/bus, /proc/fs and /proc/irq the first file this host has there.
    let mut paths = vec!["/proc/sys/kernel/hostname".to_string()];
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        paths.push("/proc/sysrq-trigger".to_string());
    } else {
        eprintln!("ISO-12: this kernel has no /proc/sysrq-trigger (no CONFIG_MAGIC_SYSRQ)");
    }
    for dir in ["/proc/bus", "/proc/fs", "/proc/irq"] {
        match first_file(std::path::Path::new(dir), 4) {
            Some(f) => paths.push(f.display().to_string()),
            None => eprintln!("ISO-12: no file under {dir} on this host, not probed"),
        }
    }
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname");
    let script: Vec<String> = paths.iter().map(|p| format!("probe open {p} w")).collect();
    let lines = docker_sh("iso12", &script.join("; "), |_| {});
    assert_eq!(lines, vec!["errno=EROFS"; paths.len()], "{paths:?}");
    let after = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname");
    assert_eq!(before, after);
}

/// The first regular file below `dir` (depth first, in name order, at most `depth` levels).
fn first_file(dir: &std::path::Path, depth: u32) -> Option<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ty = e.file_type().ok()?;
        if ty.is_file() {
            return Some(e.path());
        }
        if ty.is_dir() && depth > 1 {
            if let Some(f) = first_file(&e.path(), depth - 1) {
                return Some(f);
            }
        }
    }
    None
}

/// The `/proc/self/mountinfo` line of `target` split in its fields (the last one mounted there).
fn mountinfo<'a>(text: &'a str, target: &str) -> Vec<&'a str> {
    text.lines()
        .rfind(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("{target} not mounted:\n{text}"))
        .split(' ')
        .collect()
}

/// Mount options (per-mount and super block) and type of a mountinfo line.
fn options_and_type(fields: &[&str]) -> (Vec<String>, String) {
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .expect("mountinfo separator");
    let mut opts: Vec<String> = fields[5].split(',').map(String::from).collect();
    opts.extend(fields[sep + 3].split(',').map(String::from));
    (opts, fields[sep + 1].to_string())
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_13_the_mount_table_is_dockers() {
    root_test!();
    let lines = docker_sh(
        "iso13",
        "stat -c %a /dev/shm; cat /proc/self/mountinfo",
        |_| {},
    );
    // tmpfs does not list its default mode 1777.
    assert_eq!(lines[0], "1777", "/dev/shm mode");
    let text = lines[1..].join("\n");
    let want: &[(&str, &str, &[&str])] = &[
        ("/proc", "proc", &["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", &["nosuid", "mode=755", "size=65536k"]),
        (
            "/dev/pts",
            "devpts",
            &["nosuid", "noexec", "ptmxmode=666", "mode=620", "gid=5"],
        ),
        ("/sys", "sysfs", &["ro", "nosuid", "noexec", "nodev"]),
        ("/dev/mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        (
            "/dev/shm",
            "tmpfs",
            &["nosuid", "noexec", "nodev", "size=65536k"],
        ),
    ];
    for (target, fstype, opts) in want {
        let (have, typ) = options_and_type(&mountinfo(&text, target));
        assert_eq!(typ, *fstype, "{target}");
        for o in *opts {
            assert!(have.iter().any(|h| h == o), "{target} lacks {o}: {have:?}");
        }
    }
    // Everything under /sys/fs/cgroup is read-only.
    let cgroup: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
        })
        .collect();
    assert!(!cgroup.is_empty(), "no cgroup mount:\n{text}");
    for l in &cgroup {
        let fields: Vec<&str> = l.split(' ').collect();
        assert!(fields[5].split(',').any(|o| o == "ro"), "{l}");
    }
    // Nothing else: the root, the three files the daemon binds, the masks.
    let allowed_prefix = ["/proc", "/dev", "/sys"];
    let files = ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"];
    for l in text.lines() {
        let p = l.split(' ').nth(4).unwrap_or_default();
        assert!(
            p == "/" || files.contains(&p) || allowed_prefix.iter().any(|a| p.starts_with(a)),
            "unexpected mount {p}:\n{text}"
        );
    }
    for f in files {
        mountinfo(&text, f);
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_14_dev_holds_only_the_default_nodes() {
    root_test!();
    let lines = docker_sh("iso14", "ls -A /dev", |_| {});
    let mut names: Vec<&str> = lines.iter().map(String::as_str).collect();
    names.sort_unstable();
    let mut expect = vec![
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    if std::path::Path::new("/proc/kcore").exists() {
        expect.push("core");
    }
    expect.sort_unstable();
    assert_eq!(names, expect);
}

/// `probe mknod` then `probe open` for each `(name, kind, major, minor, mode)`.
pub fn mknod_open_script(nodes: &[(&str, &str, u32, u32, &str)]) -> String {
    nodes
        .iter()
        .map(|(n, k, ma, mi, mode)| {
            format!("probe mknod /tmp/{n} {k} {ma} {mi}; probe open /tmp/{n} {mode}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_15_esc_08_device_nodes_can_be_made_but_not_opened() {
    root_test!();
    // The host's first block device from /proc/partitions (readable in any container).
    let partitions = std::fs::read_to_string("/proc/partitions").expect("/proc/partitions");
    let host_disk: Option<(u32, u32)> = partitions.lines().skip(2).find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        Some((w.first()?.parse().ok()?, w.get(1)?.parse().ok()?))
    });
    let mut nodes = vec![
        ("sda", "b", 8, 0, "rw"),
        ("mem", "c", 1, 1, "r"),
        ("fuse", "c", 10, 229, "rw"),
        ("kmsg", "c", 1, 11, "r"),
        ("port", "c", 1, 4, "r"),
    ];
    if let Some((ma, mi)) = host_disk {
        nodes.push(("hostdisk", "b", ma, mi, "rw"));
    }
    nodes.push(("null", "c", 1, 3, "rw"));
    let lines = docker_sh("iso15", &mknod_open_script(&nodes), |_| {});
    let mut want = Vec::new();
    for _ in 0..nodes.len() - 1 {
        want.extend(["ok", "errno=EPERM"]);
    }
    want.extend(["ok", "ok"]);
    assert_eq!(lines, want, "{nodes:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_20_no_new_privileges_keeps_a_setuid_binary_from_raising_the_user() {
    root_test!();
    let run = |name: &str, nnp: bool| {
        let b = docker_bundle(
            name,
            &["sh", "-c", "suid-probe euid; suid-probe status"],
            |c| {
                c.config.user = "1000".into();
                if nnp {
                    c.host_config.security_opt = Some(strings(&["no-new-privileges"]));
                }
            },
        );
        let suid = b.rootfs().join("bin/suid-probe");
        std::fs::copy(crate::harness::probe_path(), &suid).expect("copy probe");
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755))
            .expect("chmod setuid");
        run_lines(&b)
    };
    let with = run("iso20-nnp", true);
    assert_eq!(with[0], "euid=1000", "{with:?}");
    assert_eq!(field(&with, "NoNewPrivs:"), "1");
    assert_eq!(field(&with, "CapEff:"), "0000000000000000");
    // Control: without the option the setuid bit works (the bundle is not on a nosuid mount).
    let without = run("iso20-ctl", false);
    assert_eq!(without[0], "euid=0", "{without:?}");
    assert_eq!(field(&without, "CapEff:"), DOCKER_CAPS);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso_22_the_container_has_its_own_mnt_net_uts_pid_ipc_namespaces() {
    root_test!();
    let kinds = ["mnt", "net", "uts", "pid", "ipc", "user", "cgroup"];
    let script: Vec<String> = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect();
    let lines = docker_sh("iso22", &script.join("; "), |_| {});
    assert_eq!(lines.len(), kinds.len(), "{lines:?}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for (k, inside) in kinds.iter().zip(&lines) {
        // This test runs in the host's namespaces.
        let host = std::fs::read_link(format!("/proc/self/ns/{k}"))
            .expect("host namespace")
            .display()
            .to_string();
        // user: no userns-remap; cgroup: the host's on v1, a private one on v2.
        let shared = *k == "user" || (*k == "cgroup" && !v2);
        assert_eq!(
            &host == inside,
            shared,
            "{k}: host {host}, container {inside}"
        );
    }
}

/// Writes a version 2 `security.capability` xattr: `caps` in inheritable, effective bit set.
fn set_file_caps_ei(path: &std::path::Path, caps: u32) {
    let mut data = Vec::new();
    for word in [0x0200_0001u32, 0, caps, 0, 0] {
        data.extend_from_slice(&word.to_le_bytes());
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: both pointers are valid for the given lengths for the duration of the call.
    let rc = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            data.as_ptr().cast(),
            data.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve_10_nothing_is_inheritable_and_file_caps_grant_nothing() {
    root_test!();
    // A copy of the probe with cap_net_admin+ei (bit 12), run by uid 1000 in the init and in a
    // process exec'd into the container.
    let b = docker_bundle(
        "cve10",
        &[
            "sh",
            "-c",
            "grep CapInh /proc/1/status; fcap-probe status; fcap-probe link_add; sleep 100",
        ],
        |c| c.config.user = "1000".into(),
    );
    let fcap = b.rootfs().join("bin/fcap-probe");
    std::fs::copy(crate::harness::probe_path(), &fcap).expect("copy probe");
    set_file_caps_ei(&fcap, 1 << 12);
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = b.path().join("run.stdout");
    crate::harness::wait_for(10, "the init's probes", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("errno=") || t.contains("ok\n"))
    });
    let init: Vec<String> = std::fs::read_to_string(&log)
        .expect("init output")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(field(&init, "CapInh:"), "0000000000000000", "{init:?}");
    for f in ["CapEff:", "CapPrm:", "CapAmb:"] {
        assert_eq!(field(&init, f), "0000000000000000", "{f} {init:?}");
    }
    assert_eq!(
        init.last().map(String::as_str),
        Some("errno=EPERM"),
        "{init:?}"
    );
    let exec = b
        .runtime(&["exec", "--user", "1000", &b.id, "fcap-probe", "status"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runtime exec");
    assert!(exec.status.success(), "{}", stderr(&exec));
    let exec: Vec<String> = stdout(&exec).lines().map(String::from).collect();
    for f in ["CapInh:", "CapEff:", "CapAmb:"] {
        assert_eq!(field(&exec, f), "0000000000000000", "exec {f} {exec:?}");
    }
}
