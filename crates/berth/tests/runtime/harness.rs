//! The test harness: busybox bundles, the probe, running `berth runtime` and cleaning up.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
pub fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

/// Skips the calling test unless root tests are opted in.
#[macro_export]
macro_rules! root_test {
    () => {
        if !$crate::harness::root_tests() {
            return;
        }
    };
}

pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

fn busybox_path() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install Debian's busybox-static");
}

/// The probe, compiled once per test run with `cc -static`.
pub fn probe_path() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtime/probe.c");
        let out =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("probe-{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run cc to build the probe");
        assert!(status.success(), "building the probe failed");
        out
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique container id for this process and test.
pub fn unique_id(name: &str) -> String {
    format!(
        "bt-{}-{}-{}",
        name,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A busybox bundle with its own state root. Deletes its container on drop.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub config: Value,
}

impl Bundle {
    /// A bundle from `berth runtime spec`, with busybox and the probe in its rootfs, running `args`.
    pub fn busybox(name: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .expect("create bundle dir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("create rootfs dirs");
        }
        std::fs::copy(busybox_path(), rootfs.join("bin/busybox")).expect("copy busybox");
        std::fs::copy(probe_path(), rootfs.join("bin/probe")).expect("copy probe");
        let list = Command::new(busybox_path())
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .expect("write passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
            .expect("write group");
        let out = Command::new(berth_bin())
            .args(["runtime", "spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("run berth runtime spec");
        assert!(
            out.status.success(),
            "berth runtime spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text =
            std::fs::read_to_string(dir.path().join("config.json")).expect("read config.json");
        let mut config: Value = serde_json::from_str(&text).expect("parse config.json");
        let id = unique_id(name);
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        config["process"]["terminal"] = Value::Bool(false);
        config["linux"]["cgroupsPath"] = Value::from(format!("/berth-test/{id}"));
        let bundle = Bundle { dir, id, config };
        bundle.write_config();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The `--root` state directory of this bundle's runtime calls.
    pub fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes `self.config` to `config.json`; call after changing it.
    pub fn write_config(&self) {
        let text = serde_json::to_vec_pretty(&self.config).expect("serialize config");
        std::fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }

    /// A `berth runtime --root <state>` command with `args` appended.
    pub fn runtime(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_bin());
        cmd.arg("runtime")
            .arg("--root")
            .arg(self.state_root())
            .args(args);
        cmd
    }

    /// `berth runtime run --bundle <dir> <id>` in the foreground; stdin is empty.
    pub fn run(&self) -> Output {
        self.runtime(&["run", "--bundle"])
            .arg(self.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .expect("run berth runtime run")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self
            .runtime(&["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        remove_shared_cgroup_parent();
    }
}

/// Removes the `/berth-test` parent cgroup that every bundle's cgroup lives under, in each hierarchy,
/// once it is empty: a bundle still running in a parallel test keeps it (rmdir fails, and is ignored).
fn remove_shared_cgroup_parent() {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let _ = std::fs::remove_dir(h.path().join("berth-test"));
    }
}

/// Output as text, for assertions.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits for `cond` to hold, polling every 10 ms, up to `secs` seconds.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

impl Bundle {
    /// `berth runtime <verb> <id>` (plus `extra`), returning its output.
    pub fn verb(&self, verb: &str, extra: &[&str]) -> Output {
        self.runtime(&[verb])
            .args(extra)
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .expect("run berth runtime")
    }

    /// `berth runtime create --bundle <dir> <id>` (plus `extra` flags); asserts success.
    pub fn create(&self, extra: &[&str]) {
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        let out = self.detached(&args);
        assert!(out.status.success(), "create failed: {}", stderr(&out));
    }

    /// Runs `berth runtime <args> --bundle <dir> <id>` for a command that leaves the container
    /// behind (`create`, `run -d`): the container inherits its stdio, so stdout and stderr go to
    /// files (a pipe would stay open as long as the container lives); returns them as output.
    pub fn detached(&self, args: &[&str]) -> Output {
        let out_path = self.path().join(format!("{}.stdout", args[0]));
        let err_path = self.path().join(format!("{}.stderr", args[0]));
        let status = self
            .runtime(args)
            .arg("--bundle")
            .arg(self.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("create stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("create stderr file"))
            .status()
            .expect("run berth runtime");
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// The OCI state JSON, or None when `state` fails (no such container).
    pub fn state(&self) -> Option<Value> {
        let out = self.verb("state", &[]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("state prints JSON"))
    }

    /// The container's status (`created`, `running`, ...), or None when it does not exist.
    pub fn status(&self) -> Option<String> {
        self.state()
            .map(|s| s["status"].as_str().unwrap_or_default().to_string())
    }

    /// Waits until the status is `want`.
    pub fn wait_status(&self, want: &str) {
        wait_for(10, &format!("{} to be {want}", self.id), || {
            self.status().as_deref() == Some(want)
        });
    }

    /// Asserts that nothing of the container is left: no state dir, no cgroup directory.
    pub fn assert_gone(&self) {
        assert!(
            !self.state_root().join(&self.id).exists(),
            "state dir of {} left behind",
            self.id
        );
        let left = cgroup_dirs(&self.id);
        assert!(left.is_empty(), "cgroup dirs left behind: {left:?}");
    }

    /// Makes the bundle dir traversable by unprivileged (e.g. user-namespaced) processes.
    pub fn open_up(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod bundle");
    }
}

/// The cgroup directories of container `id` under the harness's `/berth-test` parent, on any
/// v1 controller or the unified mount.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let p = e.path().join("berth-test").join(id);
            if p.exists() {
                found.push(p);
            }
        }
    }
    let p = Path::new("/sys/fs/cgroup/berth-test").join(id);
    if p.exists() {
        found.push(p);
    }
    found
}
