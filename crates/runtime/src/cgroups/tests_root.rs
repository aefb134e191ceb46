//! Root tests on this host's real cgroup hierarchies: the cgroup2 mount (the unified hierarchy of
//! a hybrid host, or `/sys/fs/cgroup` on a v2 host) and, where mounted, the v1 controllers. Opted in
//! with `BERTH_ROOT_TESTS=1`; opted in without root they fail.

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

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

/// A unique cgroups path for this process and test.
fn unique_path() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/berth-unit-{}-{n}/c", std::process::id()))
}

/// Kills the child and removes the cgroup and its parent when the test ends, even on failure.
struct Guard {
    cg: Cgroup,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.destroy();
        for dir in self.cg.dirs() {
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// A shell that waits for one line on stdin before running `script`, so it can be moved into the
/// cgroup first.
fn gated_shell(script: &str) -> Child {
    Command::new("/bin/sh")
        .args(["-c", &format!("read x; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

fn release(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write stdin");
    BufReader::new(child.stdout.take().expect("stdout"))
}

fn read_line(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("read line");
    line.trim().to_string()
}

fn v2_root() -> PathBuf {
    let mounts = detect::mounts().expect("mountinfo");
    mounts
        .v2
        .first()
        .cloned()
        .expect("this host has a cgroup2 mount")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn v2_create_add_freeze_devices_kill_destroy() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::with_root(Hierarchy::V2(v2_root()), Some(&path), "c").expect("cgroup");
    let mut g = Guard {
        cg: cg.clone(),
        child: None,
    };
    cg.create(None)
        .expect("create with the default device program");
    assert!(cg.exists());

    let child = g.child.insert(gated_shell(
        ": </dev/null && echo null-ok; (: </dev/kmsg) 2>/dev/null && echo kmsg-ok || echo kmsg-denied; exec sleep 60",
    ));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    cg.add_process(pid).expect("add process");
    assert_eq!(cg.pids().expect("pids"), vec![pid]);

    cg.freeze().expect("freeze");
    assert!(cg.is_frozen().expect("is_frozen"));
    cg.thaw().expect("thaw");
    assert!(!cg.is_frozen().expect("is_frozen"));

    let mut out = release(child);
    assert_eq!(read_line(&mut out), "null-ok");
    assert_eq!(
        read_line(&mut out),
        "kmsg-denied",
        "the device program must refuse /dev/kmsg"
    );

    // Replacing the rules: allow everything, then the same shell can open /dev/kmsg.
    let all: LinuxResources =
        serde_json::from_str(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#).expect("json");
    cg.update(&all).expect("update devices");

    cg.kill_all(Signal::SIGKILL).expect("kill all");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    cg.destroy().expect("destroy");
    assert!(!cg.exists());
    cg.destroy().expect("destroy is idempotent");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn v2_updated_device_rules_replace_the_old_program() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::with_root(Hierarchy::V2(v2_root()), Some(&path), "c").expect("cgroup");
    let mut g = Guard {
        cg: cg.clone(),
        child: None,
    };
    cg.create(None).expect("create");
    let all: LinuxResources =
        serde_json::from_str(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#).expect("json");
    cg.update(&all).expect("update devices");
    let child = g.child.insert(gated_shell(
        "(: </dev/kmsg) 2>/dev/null && echo kmsg-ok || echo kmsg-denied",
    ));
    cg.add_process(nix::unistd::Pid::from_raw(child.id() as i32))
        .expect("add");
    let mut out = release(child);
    assert_eq!(
        read_line(&mut out),
        "kmsg-ok",
        "only the new allow-all program may be attached"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn host_hierarchy_create_limits_pids_and_destroy() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::new(Some(&path), "c").expect("cgroup");
    let mut g = Guard {
        cg: cg.clone(),
        child: None,
    };
    let r: LinuxResources = serde_json::from_str(
        r#"{"memory": {"limit": 67108864}, "pids": {"limit": 16}, "cpu": {"shares": 512}}"#,
    )
    .expect("json");
    cg.create(Some(&r)).expect("create");
    let read = |ctrl: &str, file: &str| {
        let dir = cg.controller_dir(ctrl).expect("controller");
        std::fs::read_to_string(dir.join(file))
            .expect("read")
            .trim()
            .to_string()
    };
    match cg.hierarchy() {
        Hierarchy::V1(_) => {
            assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
            assert_eq!(read("cpu", "cpu.shares"), "512");
        }
        Hierarchy::V2(_) => {
            assert_eq!(read("memory", "memory.max"), "67108864");
            assert_eq!(read("cpu", "cpu.weight"), "20");
        }
    }
    assert_eq!(read("pids", "pids.max"), "16");

    let child = g.child.insert(gated_shell("exec sleep 60"));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    cg.add_process(pid).expect("add");
    assert_eq!(cg.pids().expect("pids"), vec![pid]);
    cg.freeze().expect("freeze");
    assert!(cg.is_frozen().expect("frozen"));
    cg.thaw().expect("thaw");
    assert_eq!(cg.oom_kills().expect("oom kills"), 0);
    cg.kill_all(Signal::SIGKILL).expect("kill all");
    child.wait().expect("wait");
    cg.destroy().expect("destroy");
    assert!(!cg.exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn host_hierarchy_invalid_value_leaves_no_cgroup() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::new(Some(&path), "c").expect("cgroup");
    let _g = Guard {
        cg: cg.clone(),
        child: None,
    };
    // Valid for the validator, refused by the kernel: a cpuset outside the machine.
    let r: LinuxResources = serde_json::from_str(r#"{"cpu": {"cpus": "4000"}}"#).expect("json");
    let err = cg.create(Some(&r)).expect_err("cpu 4000 does not exist");
    assert!(err.to_string().contains("cpuset.cpus"), "{err}");
    assert!(!cg.exists(), "a failed create must remove the cgroup");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn host_hierarchy_counts_oom_kills() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::new(Some(&path), "c").expect("cgroup");
    let mut g = Guard {
        cg: cg.clone(),
        child: None,
    };
    let r: LinuxResources =
        serde_json::from_str(r#"{"memory": {"limit": 16777216}}"#).expect("json");
    cg.create(Some(&r)).expect("create");
    // dd fills a 64 MiB buffer from /dev/zero: four times the limit.
    let child = g.child.insert(gated_shell(
        "exec dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null",
    ));
    cg.add_process(nix::unistd::Pid::from_raw(child.id() as i32))
        .expect("add");
    release(child);
    let status = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the hog must be OOM-killed: {status:?}"
    );
    assert_eq!(cg.oom_kills().expect("oom kills"), 1);
    assert!(cg.memory_usage().expect("usage") < 16 * 1024 * 1024);
}

/// A clone of this process that waits in `pause` until killed (tests only: the closure may run
/// next to the harness's threads, so it makes raw syscalls only).
struct Paused(nix::unistd::Pid);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

/// Polls until `pid` is listed in `dir/cgroup.procs`, or fails after a deadline.
fn wait_listed(dir: &Path, pid: nix::unistd::Pid) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let file = dir.join("cgroup.procs");
    loop {
        let text = std::fs::read_to_string(&file).expect("read cgroup.procs");
        if text.lines().any(|l| l.trim() == pid.to_string()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} never appeared in {}: {text:?}",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn v1_init_joins_itself_through_tasks_files() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::new(Some(&path), "c").expect("cgroup");
    let _g = Guard {
        cg: cg.clone(),
        child: None,
    };
    cg.create(None).expect("create");
    let Some(join) = SelfJoin::open(&cg).expect("open tasks files") else {
        assert!(matches!(cg.hierarchy(), Hierarchy::V2(_)));
        eprintln!("host uses cgroup v2: self-join not used");
        return;
    };
    let (pid, _) =
        crate::container::create::clone_into(nix::sched::CloneFlags::empty(), None, || {
            let code = if join.join().is_ok() { 0 } else { 1 };
            // SAFETY: raw syscalls only in the clone of a multi-threaded test process.
            unsafe {
                if code == 0 {
                    libc::pause();
                }
                libc::_exit(code)
            }
        })
        .expect("clone");
    let _child = Paused(pid);
    for dir in cg.dirs() {
        wait_listed(&dir, pid);
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn v2_clone_into_cgroup_starts_the_child_there() {
    if !root_tests() {
        return;
    }
    let path = unique_path();
    let cg = Cgroup::with_root(Hierarchy::V2(v2_root()), Some(&path), "c").expect("cgroup");
    let _g = Guard {
        cg: cg.clone(),
        child: None,
    };
    cg.create(None).expect("create");
    let fd = clone_target(&cg).expect("open dir").expect("a v2 target");
    let (pid, into) = crate::container::create::clone_into(
        nix::sched::CloneFlags::empty(),
        Some(std::os::fd::AsFd::as_fd(&fd)),
        || {
            // SAFETY: raw syscalls only in the clone of a multi-threaded test process.
            unsafe {
                libc::pause();
                libc::_exit(0)
            }
        },
    )
    .expect("clone");
    let _child = Paused(pid);
    assert!(into, "clone3(CLONE_INTO_CGROUP) should work on kernel 5.7+");
    // In the cgroup at once: no writer, no polling needed.
    let procs = std::fs::read_to_string(cg.dirs()[0].join("cgroup.procs")).expect("read");
    assert_eq!(procs.trim(), pid.to_string());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read");
    assert!(
        own.lines()
            .any(|l| l == format!("0::/{}", path.display().to_string().trim_start_matches('/'))),
        "{own}"
    );
}
