//! `--pid`, `--ipc`, `--uts`, `--cgroupns` and `--userns` as Docker has them (issue #15): each
//! was accepted and ignored. Namespaces are compared by their `/proc/.../ns/*` links.

use crate::harness::{code, stderr, Daemon};

/// The namespace `kind` of this (host) process.
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("host namespace")
        .display()
        .to_string()
}

/// A fresh container's namespace `kind`, run with `flags`.
fn run_ns(d: &Daemon, flags: &[&str], kind: &str) -> String {
    let path = format!("/proc/self/ns/{kind}");
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "readlink", &path]);
    d.ok(&args)
}

/// The security a container runs with: bounding set, seccomp mode, whether /proc/interrupts is masked.
fn security(d: &Daemon, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        "busybox",
        "sh",
        "-c",
        "grep -E '^(CapBnd|Seccomp):' /proc/self/status; wc -c < /proc/interrupts",
    ]);
    d.ok(&args)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn pid_host_and_container_modes() {
    if !crate::harness::opted_in() {
        return;
    }
    let d = Daemon::start();
    assert_eq!(run_ns(&d, &["--pid", "host"], "pid"), host_ns("pid"));
    assert_ne!(run_ns(&d, &[], "pid"), host_ns("pid"));
    // The host's processes are visible, the default security is kept.
    let ps = d.ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "busybox",
        "cat",
        "/proc/1/comm",
    ]);
    assert_eq!(ps, std::fs::read_to_string("/proc/1/comm").unwrap().trim());
    assert_eq!(security(&d, &["--pid", "host"]), security(&d, &[]));
    assert!(security(&d, &[]).ends_with("\n0"), "{}", security(&d, &[]));

    d.ok(&[
        "run",
        "-d",
        "--name",
        "pid-donor",
        "busybox",
        "sleep",
        "100",
    ]);
    let donor_id = d.inspect("pid-donor", "{{.Id}}");
    let donor_ns = d.ok(&["exec", "pid-donor", "readlink", "/proc/self/ns/pid"]);
    d.ok(&[
        "create",
        "--name",
        "pid-joiner",
        "--pid",
        "container:pid-donor",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; ps -o comm | grep -c sleep",
    ]);
    // Docker records the donor by ID.
    assert_eq!(
        d.inspect("pid-joiner", "{{.HostConfig.PidMode}}"),
        format!("container:{donor_id}")
    );
    let out = d.ok(&["start", "-a", "pid-joiner"]);
    assert_eq!(
        out,
        format!("{donor_ns}\n1"),
        "the joiner sees the donor's sleep"
    );

    let ghost = d.docker(&["create", "--pid", "container:ghost", "busybox", "true"]);
    assert_ne!(code(&ghost), 0);
    assert!(
        stderr(&ghost).contains("No such container: ghost"),
        "{}",
        stderr(&ghost)
    );
    d.ok(&["create", "--name", "pid-idle", "busybox", "true"]);
    let idle_id = d.inspect("pid-idle", "{{.Id}}");
    d.ok(&[
        "create",
        "--name",
        "pid-late",
        "--pid",
        "container:pid-idle",
        "busybox",
        "true",
    ]);
    let late = d.docker(&["start", "pid-late"]);
    assert_ne!(code(&late), 0);
    assert!(
        stderr(&late).contains(&format!(
            "failed to join PID namespace: container {idle_id} is not running"
        )),
        "{}",
        stderr(&late)
    );
    d.ok(&[
        "rm",
        "-f",
        "pid-donor",
        "pid-joiner",
        "pid-idle",
        "pid-late",
    ]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ipc_modes_and_a_shared_dev_shm() {
    if !crate::harness::opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["create", "--name", "ipc-default", "busybox", "true"]);
    assert_eq!(
        d.inspect("ipc-default", "{{.HostConfig.IpcMode}}"),
        "private"
    );
    assert_ne!(run_ns(&d, &[], "ipc"), host_ns("ipc"));
    assert_eq!(run_ns(&d, &["--ipc", "host"], "ipc"), host_ns("ipc"));
    // host: the host's /dev/shm.
    let marker = format!("berth-ipc-{}", std::process::id());
    let host_file = std::path::Path::new("/dev/shm").join(&marker);
    std::fs::write(&host_file, "from the host").unwrap();
    let seen = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "host",
        "busybox",
        "cat",
        &format!("/dev/shm/{marker}"),
    ]);
    let _ = std::fs::remove_file(&host_file);
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "from the host");
    // none: no /dev/shm at all.
    let mounts = d.ok(&[
        "run",
        "--rm",
        "--ipc",
        "none",
        "busybox",
        "cat",
        "/proc/mounts",
    ]);
    assert!(!mounts.contains(" /dev/shm "), "{mounts}");

    // container:<x>: the donor's namespace and /dev/shm.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ipc-donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo shared > /dev/shm/note; sleep 100",
    ]);
    let donor_ns = d.ok(&["exec", "ipc-donor", "readlink", "/proc/self/ns/ipc"]);
    crate::harness::eventually(
        std::time::Duration::from_secs(10),
        "the donor's note",
        || {
            d.docker(&["exec", "ipc-donor", "test", "-f", "/dev/shm/note"])
                .status
                .success()
        },
    );
    let joined = d.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:ipc-donor",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; cat /dev/shm/note; echo back > /dev/shm/reply",
    ]);
    assert_eq!(joined, format!("{donor_ns}\nshared"));
    assert_eq!(
        d.ok(&["exec", "ipc-donor", "cat", "/dev/shm/reply"]),
        "back"
    );

    // A private donor is not shared (Docker's words).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ipc-private",
        "busybox",
        "sleep",
        "100",
    ]);
    let refused = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "container:ipc-private",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&refused), 0);
    assert!(
        stderr(&refused)
            .contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
        "{}",
        stderr(&refused)
    );
    let bad = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"IpcMode":"shared"}}"#),
    );
    assert_eq!(bad.0, 400, "{}", bad.1);
    assert!(bad.1.contains("invalid IPC mode: shared"), "{}", bad.1);
    d.ok(&["rm", "-f", "ipc-default", "ipc-donor", "ipc-private"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn uts_cgroupns_and_userns_modes() {
    if !crate::harness::opted_in() {
        return;
    }
    let d = Daemon::start();
    let host_name = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert_eq!(run_ns(&d, &["--uts", "host"], "uts"), host_ns("uts"));
    assert_eq!(
        d.ok(&["run", "--rm", "--uts", "host", "busybox", "hostname"]),
        host_name
    );
    assert_ne!(run_ns(&d, &[], "uts"), host_ns("uts"));
    let both = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Hostname":"mine","HostConfig":{"UTSMode":"host"}}"#),
    );
    assert_eq!(both.0, 400, "{}", both.1);
    assert!(
        both.1
            .contains("conflicting options: hostname and the UTS mode"),
        "{}",
        both.1
    );

    // cgroup v1 here: Docker's default is the host's cgroup namespace.
    d.ok(&["create", "--name", "cg-default", "busybox", "true"]);
    let default_mode = d.inspect("cg-default", "{{.HostConfig.CgroupnsMode}}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(default_mode, if v2 { "private" } else { "host" });
    assert_eq!(
        run_ns(&d, &["--cgroupns", "host"], "cgroup"),
        host_ns("cgroup")
    );
    assert_ne!(
        run_ns(&d, &["--cgroupns", "private"], "cgroup"),
        host_ns("cgroup")
    );

    // userns: `host` (or empty); any other mode is refused with dockerd's words.
    assert_eq!(run_ns(&d, &["--userns", "host"], "user"), host_ns("user"));
    let remap = d.curl(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"UsernsMode":"private"}}"#),
    );
    assert_eq!(remap.0, 400, "{}", remap.1);
    assert!(
        remap.1.contains("invalid UsernsMode: private"),
        "{}",
        remap.1
    );
    d.ok(&["rm", "cg-default"]);
}
