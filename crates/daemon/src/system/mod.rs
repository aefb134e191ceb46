//! The system service: facts about this daemon and its host that `/version`, `/info` and
//! `/system/df` report (engine ID, kernel, OS, CPUs, memory, cgroup version, paths). Read once at
//! start-up where they cannot change. [`disk_usage`]: what images and containers take on disk.

pub mod disk_usage;

use std::path::{Path, PathBuf};

use crate::config::DaemonConfig;
use crate::error::DaemonError;

/// Berth's own version.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Host and daemon facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// A stable engine ID, kept in the data root.
    pub engine_id: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    /// `x86_64`, `aarch64`, ...
    pub architecture: String,
    pub ncpu: u64,
    pub mem_total: u64,
    pub hostname: String,
    /// `1` or `2`.
    pub cgroup_version: String,
    pub data_root: PathBuf,
}

/// The system subsystem of the engine.
#[derive(Debug, Clone)]
pub struct SystemService {
    host: HostInfo,
}

impl SystemService {
    /// Gathers the host facts; creates the engine ID on first start.
    pub fn open(config: &DaemonConfig) -> Result<Self, DaemonError> {
        let uts =
            nix::sys::utsname::uname().map_err(|e| DaemonError::Internal(format!("uname: {e}")))?;
        let (operating_system, os_version) = os_release();
        let host = HostInfo {
            engine_id: engine_id(&config.data_root.join("engine-id"))?,
            kernel_version: uts.release().to_string_lossy().into_owned(),
            operating_system,
            os_version,
            architecture: uts.machine().to_string_lossy().into_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            mem_total: mem_total(),
            hostname: uts.nodename().to_string_lossy().into_owned(),
            cgroup_version: if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                "2".to_string()
            } else {
                "1".to_string()
            },
            data_root: config.data_root.clone(),
        };
        Ok(SystemService { host })
    }

    pub fn host(&self) -> &HostInfo {
        &self.host
    }

    /// `linux/amd64`-style architecture name Docker reports (`amd64`, `arm64`).
    pub fn go_arch(&self) -> &'static str {
        match self.host.architecture.as_str() {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "armv7l" => "arm",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            "ppc64le" => "ppc64le",
            _ => "unknown",
        }
    }
}

/// Reads or creates the engine ID (a random 64-hex string).
fn engine_id(path: &Path) -> Result<String, DaemonError> {
    if let Ok(id) = std::fs::read_to_string(path) {
        let id = id.trim().to_string();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let id = berth_api::id::new_id().map_err(|e| DaemonError::Internal(e.to_string()))?;
    std::fs::write(path, &id).map_err(|e| DaemonError::io("writing engine id", path, e))?;
    Ok(id)
}

/// `PRETTY_NAME` and `VERSION_ID` of /etc/os-release.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let name = field("PRETTY_NAME");
    (
        if name.is_empty() {
            "Linux".to_string()
        } else {
            name
        },
        field("VERSION_ID"),
    )
}

/// Total memory in bytes, from /proc/meminfo.
fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
