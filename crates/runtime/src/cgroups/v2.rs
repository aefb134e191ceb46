//! cgroup v2: one directory in the unified hierarchy. Creating it (enabling controllers in every
//! ancestor's `cgroup.subtree_control`), writing `LinuxResources` in v2 terms (cpu.weight converted
//! from shares as runc does, cpu.max, memory.max/low/swap.max, io.weight, io.max, pids.max), device
//! rules as a BPF program, the `unified` map verbatim, and freezing via `cgroup.freeze`.

use super::devices;
use super::fs::{self, mkdirs, remove_made};
use super::{bpf, CgroupError, SETTLE_DEADLINE};
use berth_oci::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::path::Path;

/// Controllers every container's cgroup gets when the parent offers them (limits and statistics);
/// cpuset, hugetlb and others are enabled only when the resources use them.
const BASE_CONTROLLERS: &[&str] = &["cpu", "io", "memory", "pids"];

const DEFAULT_CPU_PERIOD: u64 = 100_000;

/// cpu.shares (2..262144) → cpu.weight (1..10000), the mapping runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9_999) / 262_142
}

/// blkio.weight (10..1000) → io.weight (1..10000), as runc maps it.
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    1 + (weight.saturating_sub(10) * 9_999) / 990
}

/// Writes a controller file; a missing file means the controller is not enabled here.
fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| match e {
        CgroupError::Write { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            let controller = file.split('.').next().unwrap_or(file);
            CgroupError::Unsupported {
                what: format!("{} ({value:?})", path.display()),
                hint: format!(
                    "the {controller} controller is not enabled for this cgroup (see the parent's cgroup.subtree_control)"
                ),
            }
        }
        e => e,
    })
}

/// Makes `root/rel`, enables controllers down the path, writes devices and `resources`; removes
/// the directories it made when anything fails.
pub fn create(
    root: &Path,
    rel: &Path,
    resources: Option<&LinuxResources>,
) -> Result<(), CgroupError> {
    let made = mkdirs(root, rel)?;
    let dir = root.join(rel);
    let result = (|| {
        let wanted = controllers_for(resources);
        let mut parent = root.to_path_buf();
        for c in rel.components() {
            enable_controllers(&parent, &wanted)?;
            parent.push(c);
        }
        let rules = devices::effective(resources.and_then(|r| r.devices().as_deref()))?;
        bpf::apply(&dir, &rules)?;
        match resources {
            Some(r) => apply(&dir, r, false),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        remove_made(&made);
    }
    result
}

/// The controllers a container with `resources` needs.
pub(crate) fn controllers_for(resources: Option<&LinuxResources>) -> Vec<String> {
    let mut wanted: Vec<String> = BASE_CONTROLLERS.iter().map(|c| c.to_string()).collect();
    if let Some(r) = resources {
        let cpu = r.cpu().as_ref();
        if cpu.is_some_and(|c| c.cpus().is_some() || c.mems().is_some()) {
            wanted.push("cpuset".into());
        }
        if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
            wanted.push("hugetlb".into());
        }
        for key in r.unified().iter().flat_map(|u| u.keys()) {
            if let Some((prefix, _)) = key.split_once('.') {
                if prefix != "cgroup" && !wanted.iter().any(|w| w == prefix) {
                    wanted.push(prefix.to_string());
                }
            }
        }
    }
    wanted
}

/// Enables in `dir/cgroup.subtree_control` those `wanted` controllers that `dir` has and that are
/// not enabled yet. Best effort: a controller the kernel refuses stays off, and writing a limit
/// for it later reports that.
pub(crate) fn enable_controllers(dir: &Path, wanted: &[String]) -> Result<(), CgroupError> {
    let available = fs::read(&dir.join("cgroup.controllers"))?;
    let enabled = fs::read(&dir.join("cgroup.subtree_control"))?;
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| wanted.iter().any(|w| w == c) && !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let control = dir.join("cgroup.subtree_control");
    if fs::write(&control, &missing.join(" ")).is_err() {
        for c in &missing {
            let _ = fs::write(&control, c);
        }
    }
    Ok(())
}

/// Writes `r` into cgroup `dir`; devices only when `devices_too` (update) and the spec has them,
/// as create writes them itself.
pub fn apply(dir: &Path, r: &LinuxResources, devices_too: bool) -> Result<(), CgroupError> {
    if devices_too {
        if let Some(spec) = r.devices() {
            bpf::apply(dir, &devices::effective(Some(spec))?)?;
        }
    }
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        let value = match p.limit() {
            l if l > 0 => l.to_string(),
            _ => "max".to_string(),
        };
        write(dir, "pids.max", &value)?;
    }
    if let Some(b) = r.block_io() {
        block_io(dir, b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        let value = match h.limit() {
            l if l >= 0 => l.to_string(),
            _ => "max".to_string(),
        };
        write(dir, &format!("hugetlb.{}.max", h.page_size()), &value)?;
    }
    if r.network().is_some() {
        return Err(CgroupError::Unsupported {
            what: "linux.resources.network".into(),
            hint: "cgroup v2 has no net_cls/net_prio controllers; remove the field".into(),
        });
    }
    let mut unified: Vec<_> = r.unified().iter().flatten().collect();
    unified.sort();
    for (key, value) in unified {
        write(dir, key, value)?;
    }
    Ok(())
}

/// -1 → `max`, a positive value as is.
fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().filter(|l| *l != 0);
    if let Some(swap) = m.swap().filter(|s| *s != 0) {
        let value = match limit {
            Some(l) if swap > 0 && l > 0 => (swap - l).to_string(),
            _ => "max".to_string(),
        };
        if !dir.join("memory.swap.max").exists() && dir.join("memory.max").exists() {
            return Err(CgroupError::Unsupported {
                what: "linux.resources.memory.swap".into(),
                hint: "memory.swap.max is missing: the kernel has no swap accounting — remove the swap limit".into(),
            });
        }
        write(dir, "memory.swap.max", &value)?;
    }
    if let Some(l) = limit {
        write(dir, "memory.max", &limit_value(l))?;
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write(dir, "memory.low", &limit_value(r))?;
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(dir, "cpu.weight", &shares_to_weight(s).to_string())?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        // cpu.max holds both; keep the current half that the spec leaves out.
        let current = fs::read_trimmed(&dir.join("cpu.max")).unwrap_or_default();
        let mut parts = current.split_whitespace();
        let (cur_quota, cur_period) = (parts.next(), parts.next());
        let quota = match quota {
            Some(q) => limit_value(q),
            None => cur_quota.unwrap_or("max").to_string(),
        };
        let period = period
            .or_else(|| cur_period.and_then(|p| p.parse().ok()))
            .unwrap_or(DEFAULT_CPU_PERIOD);
        write(dir, "cpu.max", &format!("{quota} {period}"))?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string())?;
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(CgroupError::Unsupported {
            what: "linux.resources.cpu.realtimeRuntime/realtimePeriod".into(),
            hint: "cgroup v2 has no realtime cpu limits; remove them".into(),
        });
    }
    for (file, value) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            write(dir, file, v)?;
        }
    }
    Ok(())
}

fn block_io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // BFQ takes blkio-style weights (1..1000) as they are; io.weight wants 1..10000.
    let bfq = dir.join("io.bfq.weight").exists();
    let (file, convert): (&str, fn(u64) -> u64) = if bfq {
        ("io.bfq.weight", |w| w)
    } else {
        ("io.weight", blkio_to_io_weight)
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(dir, file, &convert(w.into()).to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let line = format!("{}:{} {}", d.major(), d.minor(), convert(w.into()));
            write(dir, file, &line)?;
        }
    }
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

/// Writes `cgroup.freeze` and waits until `cgroup.events` reports the new state.
pub fn set_frozen(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let deadline = std::time::Instant::now() + SETTLE_DEADLINE;
    fs::wait_until(deadline, "cgroup.events to report the freeze", dir, || {
        Ok(is_frozen(dir)? == frozen)
    })
}

pub fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    Ok(fs::read_key(&dir.join("cgroup.events"), "frozen")? == Some(1))
}
