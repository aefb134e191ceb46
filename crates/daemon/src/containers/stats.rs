//! `stats`: one resource-usage [`Sample`] of a running container, read from its cgroup (CPU,
//! memory, pids, block I/O; v1 or v2, found through the runtime's [`Cgroup`] path logic) and from
//! `/proc` (the host's CPU time for percentages, the container's network interfaces).
//!
//! A sample is a point in time; rates (CPU %) come from two samples, which the caller pairs (the
//! API sends the previous one as `precpu_stats`). A container that is not running has no sample
//! ([`ContainerService::stats_sample`] answers `None`), as Docker answers zero counters for it.
//!
//! Readers: [`cgroup`] (the controllers' files, v1 and v2) and [`procfs`] (`/proc/stat`,
//! `/proc/<pid>/net/dev`). Both are plain parsers over text, unit tested without root.

pub mod cgroup;
pub mod procfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_runtime::cgroups::Cgroup;

use super::state::Status;
use super::{ContainerService, Entry};
use crate::error::DaemonError;

/// Why a sample could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("cgroup of container {id}: {source}")]
    Cgroup {
        id: String,
        #[source]
        source: berth_runtime::cgroups::CgroupError,
    },
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<String, StatsError> {
    std::fs::read_to_string(path).map_err(|source| StatsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Resource usage of one container at one moment; counters are cumulative since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix nanoseconds when it was read.
    pub read_nanos: i64,
    pub cpu: CpuSample,
    pub memory: MemorySample,
    pub pids: PidsSample,
    pub blkio: BlkioSample,
    /// Interface name → counters; empty for host and no networking.
    pub networks: BTreeMap<String, NetCounters>,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuSample {
    pub total: u64,
    pub kernel: u64,
    pub user: u64,
    /// Per CPU (cgroup v1 only).
    pub percpu: Vec<u64>,
    /// The host's CPU time, all CPUs together.
    pub system: u64,
    pub online_cpus: u32,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySample {
    pub usage: u64,
    pub max_usage: u64,
    pub failcnt: u64,
    /// The cgroup limit, or the host's memory when that is lower (no limit set).
    pub limit: u64,
    /// `memory.stat`, key by key.
    pub stats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsSample {
    pub current: u64,
    /// 0 when unlimited.
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioSample {
    /// Bytes per device and operation.
    pub service_bytes: Vec<BlkioEntry>,
    /// Operations per device and operation.
    pub serviced: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// What a sample needs to know about the container, taken from its record.
struct Source {
    id: String,
    pid: i32,
    /// Whether its interfaces are its own (not the host's, and networking not disabled).
    own_network: bool,
}

impl Source {
    fn read(&self, machine_memory: u64) -> Result<Sample, StatsError> {
        let cg = Cgroup::new(None, &self.id).map_err(|source| StatsError::Cgroup {
            id: self.id.clone(),
            source,
        })?;
        let host = procfs::host_cpu(Path::new("/proc/stat"))?;
        let mut sample = cgroup::read(&cg, machine_memory)?;
        sample.read_nanos = crate::containers::now_nanos();
        sample.cpu.system = host.total_nanos;
        sample.cpu.online_cpus = host.online_cpus;
        if self.own_network && self.pid > 0 {
            let dev = PathBuf::from(format!("/proc/{}/net/dev", self.pid));
            sample.networks = procfs::net_dev(&dev)?;
        }
        Ok(sample)
    }
}

impl ContainerService {
    /// One sample of the container behind `entry`; `None` when it is not running (or stopped
    /// while being read). `machine_memory` caps the memory limit of unlimited containers.
    pub async fn stats_sample(
        &self,
        entry: &Entry,
        machine_memory: u64,
    ) -> Result<Option<Sample>, DaemonError> {
        let c = entry.snapshot();
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Ok(None);
        }
        let mode = c.host_config.network_mode.as_deref().unwrap_or("");
        let source = Source {
            id: c.id.clone(),
            pid: i32::try_from(c.state.pid).unwrap_or(0),
            own_network: mode != "host" && c.config.network_disabled != Some(true),
        };
        let read = tokio::task::spawn_blocking(move || source.read(machine_memory))
            .await
            .map_err(|e| DaemonError::Internal(format!("stats of container {}: {e}", c.id)))?;
        match read {
            Ok(sample) => Ok(Some(sample)),
            // The container exited between the status check and the reads (its cgroup or
            // process may be gone before its record says so).
            Err(StatsError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(_) if !entry.snapshot().state.status.is_active() => Ok(None),
            Err(e) => Err(DaemonError::Internal(format!(
                "stats of container {}: {e}",
                c.id
            ))),
        }
    }
}
