//! The two container escapes of the security review, as the catalog describes them:
//! - CVE-01 (runc CVE-2019-5736): a container process that is still the runtime, or that execs
//!   `/proc/self/exe`, must never give the container a writable way to the host's runtime binary;
//! - CVE-02 (runc CVE-2024-21626): no descriptor of the runtime's reaches the container, and a cwd
//!   through `/proc/self/fd/N` never puts the process in a host directory.

use crate::harness::{berth_bin, stderr, stdout, Bundle};
use crate::protected::assert_write_protected;
use crate::root_test;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

/// Size, modification time and first bytes of a file: a write through `/proc/<pid>/exe` changes
/// at least one of them.
fn fingerprint(path: &Path) -> (u64, std::time::SystemTime, Vec<u8>) {
    let meta = std::fs::metadata(path).unwrap();
    let mut head = vec![0u8; 1 << 16];
    let n = std::fs::File::open(path).unwrap().read(&mut head).unwrap();
    head.truncate(n);
    (meta.len(), meta.modified().unwrap(), head)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_init_runs_from_a_sealed_copy_of_the_runtime() {
    root_test!();
    let b = Bundle::busybox("sealed", &["true"]);
    let before = fingerprint(Path::new(berth_bin()));
    b.create(&[]);
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    // Parked on the exec fifo, the init is still a clone of the runtime process.
    assert_write_protected(&format!("/proc/{pid}/exe"));
    assert!(b.verb("delete", &["--force"]).status.success());
    assert_eq!(fingerprint(Path::new(berth_bin())), before);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn exec_of_proc_self_exe_runs_a_sealed_copy_inside_the_container() {
    root_test!();
    let mut b = Bundle::busybox("selfexe", &["sleep", "100"]);
    b.config["root"]["readonly"] = false.into();
    b.write_config();
    copy_shared_libraries(Path::new(berth_bin()), &b.rootfs());
    let before = fingerprint(Path::new(berth_bin()));
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The exec'd process names the runtime's own executable: the runtime runs in the container,
    // from its sealed copy, and can only write the container's files.
    let out = b
        .runtime(&[
            "exec",
            &b.id,
            "--",
            "/proc/self/exe",
            "runtime",
            "spec",
            "--bundle",
            "/tmp",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.rootfs().join("tmp/config.json").is_file());
    assert_eq!(fingerprint(Path::new(berth_bin())), before);
}

/// Copies the shared libraries `exe` needs (and its loader) into `rootfs` at their host paths, so
/// the host's executable can run inside the container.
fn copy_shared_libraries(exe: &Path, rootfs: &Path) {
    let out = std::process::Command::new("ldd").arg(exe).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        if let Some(lib) = path {
            let dest = rootfs.join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(lib, &dest).unwrap();
        }
    }
}

/// Runs `berth runtime <args>` with a descriptor of `dir` at fd 7 and no close-on-exec, as a
/// careless caller (or a shim's own open files) would hand it down.
fn with_dir_at_fd7(b: &Bundle, dir: &Path, args: &[&str]) -> std::process::Output {
    let fd = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let raw = fd.as_raw_fd();
    let out_path = b.path().join("fd7.stdout");
    let err_path = b.path().join("fd7.stderr");
    let mut cmd = b.runtime(args);
    cmd.arg("--bundle")
        .arg(b.path())
        .arg(&b.id)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    // SAFETY: between fork and exec only dup2 runs (async-signal-safe); it puts the directory at
    // fd 7 without close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    drop(fd);
    std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

/// A host directory with a canary file that no container may read.
fn canary_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-canary-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("secret"), "host canary\n").unwrap();
    dir
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_created_container_holds_no_descriptor_of_the_runtime() {
    root_test!();
    let b = Bundle::busybox("fdleak", &["true"]);
    let canary = canary_dir();
    let out = with_dir_at_fd7(&b, canary.path(), &["create"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    let fifo = b.state_root().join(&b.id).join("exec.fifo");
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let entry = entry.unwrap();
        let n: i32 = entry.file_name().to_string_lossy().parse().unwrap();
        let target = std::fs::read_link(entry.path()).unwrap();
        let t = target.to_string_lossy();
        // stdio (the files `detached` gave), the setup socket, the exec fifo: nothing else.
        let allowed = n <= 2 || t.starts_with("socket:") || target == fifo || t == "/dev/null";
        assert!(allowed, "the created container holds fd {n} -> {t}");
    }
    assert!(b.verb("delete", &["--force"]).status.success());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_cwd_through_a_leaked_descriptor_never_reaches_the_host() {
    root_test!();
    let canary = canary_dir();
    for n in 3..=12 {
        let mut b = Bundle::busybox("fdcwd", &["cat", "secret"]);
        b.config["process"]["cwd"] = format!("/proc/self/fd/{n}").into();
        b.write_config();
        let out = with_dir_at_fd7(&b, canary.path(), &["run"]);
        let (out_text, err_text) = (stdout(&out), stderr(&out));
        assert!(
            !out_text.contains("host canary"),
            "cwd /proc/self/fd/{n} reached the host directory: {out_text}"
        );
        if n == 7 {
            assert!(!out.status.success(), "cwd through fd 7 was accepted");
            assert!(
                err_text.contains("outside the container's root")
                    || err_text.contains("process.cwd"),
                "fd {n}: {err_text}"
            );
        }
    }
}

/// The review's confirmed case: on a cgroup v2 host the runtime opens the container's cgroup
/// directory for `clone3(CLONE_INTO_CGROUP)`; before the fix the init inherited it, and a cwd of
/// `/proc/self/fd/N` put the process in the host's cgroup tree. This host is cgroup v1, so the
/// test runs the runtime in a private mount namespace with only cgroup2 mounted (torn down with
/// the namespace).
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_cwd_through_the_cgroup_v2_descriptor_never_reaches_the_host() {
    root_test!();
    for n in 3..=10 {
        let mut b = Bundle::busybox(
            "v2cwd",
            &[
                "sh",
                "-c",
                "[ -e cgroup.procs ] && echo HOST-CGROUP-DIR; true",
            ],
        );
        b.config["process"]["cwd"] = format!("/proc/self/fd/{n}").into();
        b.write_config();
        let cgroup = b.config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap()
            .to_string();
        let script = format!(
            "umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || exit 99; \
             \"$0\" runtime --root \"$1\" run --bundle \"$2\" \"$3\"; rc=$?; \
             rmdir /sys/fs/cgroup{cgroup} /sys/fs/cgroup/berth-test 2>/dev/null; exit $rc"
        );
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(berth_bin())
            .arg(b.state_root())
            .arg(b.path())
            .arg(&b.id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(99),
            "cgroup2 mount: {}",
            stderr(&out)
        );
        assert!(
            !stdout(&out).contains("HOST-CGROUP-DIR"),
            "cwd /proc/self/fd/{n} is the host's cgroup directory"
        );
    }
}
