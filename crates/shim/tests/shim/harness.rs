//! The shim tests' harness: busybox bundles, spawning shims from the `berth-shim` binary, reading
//! Docker-framed streams, and cleaning up (shim, container, cgroup) even when a test fails.

use berth_shim::protocol::ShimConfig;
use berth_shim::{ShimError, ShimHandle};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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

#[macro_export]
macro_rules! root_test {
    () => {
        if !$crate::harness::root_tests() {
            return;
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A busybox bundle, a state dir and a runtime root in one temp dir; kills and removes what a
/// test left behind on drop.
pub struct Setup {
    /// Holds the bundle, state dir, runtime root and log; removed on drop.
    pub _dir: tempfile::TempDir,
    pub id: String,
    pub config: Value,
    pub shim: ShimConfig,
    pub handle: Option<ShimHandle>,
}

impl Setup {
    pub fn new(name: &str, args: &[&str]) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("berth-shim-")
            .tempdir()
            .expect("create temp dir");
        let bundle = dir.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("create rootfs dirs");
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox not found: install Debian's busybox-static");
        std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        let list = std::process::Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        let id = format!(
            "shim-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut config = serde_json::to_value(berth_runtime::spec::default_spec()).unwrap();
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        config["process"]["terminal"] = Value::Bool(false);
        config["linux"]["cgroupsPath"] = Value::from(format!("/berth-{id}"));
        let shim = ShimConfig {
            id: id.clone(),
            bundle: bundle.clone(),
            state_dir: dir.path().join("state"),
            runtime_root: dir.path().join("rt"),
            log_path: Some(dir.path().join("ctr-json.log")),
            log_max_size: 0,
            log_max_file: 1,
            ..ShimConfig::default()
        };
        Setup {
            _dir: dir,
            id,
            config,
            shim,
            handle: None,
        }
    }

    pub fn tty(mut self) -> Setup {
        self.config["process"]["terminal"] = Value::Bool(true);
        self.shim.terminal = true;
        self
    }

    /// Drives the host's `runtime` (runc, crun) as an external runtime instead of the built-in
    /// one. The tests that call it run in the full suite only, where a missing runtime fails.
    pub fn external(mut self, runtime: &str) -> Setup {
        let out = std::process::Command::new("which")
            .arg(runtime)
            .output()
            .expect("which");
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && !path.is_empty(),
            "{runtime} is not installed: the external-runtime tests need it"
        );
        self.shim.runtime = Some(berth_shim::protocol::ExternalRuntime {
            path: path.into(),
            args: Vec::new(),
        });
        self
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.shim.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }

    /// Spawns the shim; keeps its handle for cleanup.
    pub fn try_spawn(&mut self) -> Result<ShimHandle, ShimError> {
        self.write_config();
        let h = berth_shim::spawn(&self.shim, &shim_exe())?;
        self.handle = Some(h.clone());
        Ok(h)
    }

    pub fn spawn(&mut self) -> ShimHandle {
        self.try_spawn().expect("spawn shim")
    }

    pub fn log_path(&self) -> PathBuf {
        self.shim.log_path.clone().unwrap()
    }

    /// The json-file log's entries.
    pub fn log_lines(&self, path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line is JSON"))
            .collect()
    }

    /// True when the runtime's state and the container's cgroup are gone.
    pub fn container_gone(&self) -> bool {
        let cg = berth_runtime::cgroups::Cgroup::new(
            Some(Path::new(&format!("/berth-{}", self.id))),
            &self.id,
        )
        .expect("cgroup handle");
        !self.shim.runtime_root.join(&self.id).exists() && !cg.exists()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            if h.pid > 0 && alive(h.pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(h.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        match &self.shim.runtime {
            None => {
                let _ = berth_runtime::container::delete(&self.shim.runtime_root, &self.id, true);
            }
            Some(rt) => {
                let _ = std::process::Command::new(&rt.path)
                    .arg("--root")
                    .arg(&self.shim.runtime_root)
                    .args(["delete", "--force", &self.id])
                    .output();
            }
        }
    }
}

/// The shim executable: `BERTH_SHIM_EXE` (e.g. a release build, or a `berth` binary that has
/// the `shim` command) or this crate's `berth-shim`.
pub fn shim_exe() -> PathBuf {
    std::env::var_os("BERTH_SHIM_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth-shim")))
}

/// A line of `/proc/<pid>/status`, e.g. `VmRSS`.
pub fn proc_status(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    berth_runtime::container::state::proc_stat(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X')
}

/// Polls `cond` every 10 ms for up to `secs` seconds.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads one stdcopy frame: (stream, payload), or None at EOF.
pub fn read_frame(r: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("read frame header: {e}"),
    }
    assert_eq!(&header[1..4], &[0, 0, 0], "bad frame header {header:?}");
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).expect("read frame payload");
    Some((header[0], data))
}

/// Reads frames to EOF: (stdout, stderr).
pub fn read_frames(r: &mut impl Read) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((stream, data)) = read_frame(r) {
        match stream {
            1 => out.extend(data),
            2 => err.extend(data),
            s => panic!("unexpected stream {s}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Reads a raw stream until `needle` shows up (or panics after `secs`).
pub fn read_until(r: &mut std::os::unix::net::UnixStream, needle: &str, secs: u64) -> String {
    r.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains(needle) {
        match r.read(&mut buf) {
            Ok(0) => panic!(
                "stream ended before {needle:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading for {needle:?}: {e}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
