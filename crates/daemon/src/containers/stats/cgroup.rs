//! Reading a container's usage counters from its cgroup, v1 or v2, into a [`Sample`] (CPU,
//! memory, pids, block I/O; the caller adds the host CPU time and the networks).
//!
//! v1 files: `cpuacct.usage`, `cpuacct.usage_percpu`, `cpuacct.stat` (user/system in clock ticks),
//! `cpu.stat` (throttling), `memory.{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes,stat}`,
//! `pids.{current,max}`, `blkio.throttle.io_service{_bytes,d}[_recursive]`.
//! v2 files: `cpu.stat` (microseconds), `memory.{current,max,stat}`, `memory.events` (`max` as
//! failcnt), `pids.{current,max}`, `io.stat`.
//!
//! A controller that is not mounted leaves its counters at zero; a file that exists but cannot be
//! read is an error (usually: the container just exited).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_runtime::cgroups::{Cgroup, Hierarchy};

use super::StatsError;
use super::{read_file, BlkioEntry, BlkioSample, CpuSample, MemorySample, PidsSample, Sample};

/// `USER_HZ`: the unit of `cpuacct.stat` and `/proc/stat`, 100 on every Linux ABI.
pub const CLOCK_TICKS: u64 = 100;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Reads every counter of `cg`; `machine_memory` caps an unlimited memory limit.
pub fn read(cg: &Cgroup, machine_memory: u64) -> Result<Sample, StatsError> {
    let v2 = matches!(cg.hierarchy(), Hierarchy::V2(_));
    let dir = |controller: &str| cg.controller_dir(controller).filter(|d| d.is_dir());
    let mut s = Sample::default();
    if v2 {
        let Some(d) = dir("memory").or_else(|| dir("cpu")) else {
            return Ok(s);
        };
        s.cpu = cpu_v2(&d)?;
        s.memory = memory_v2(&d, machine_memory)?;
        s.pids = pids(&d)?;
        s.blkio = io_v2(&d)?;
    } else {
        if let Some(d) = dir("cpuacct") {
            s.cpu = cpuacct_v1(&d)?;
        }
        if let Some(d) = dir("cpu") {
            throttling(&d.join("cpu.stat"), 1, &mut s.cpu)?;
        }
        if let Some(d) = dir("memory") {
            s.memory = memory_v1(&d, machine_memory)?;
        }
        if let Some(d) = dir("pids") {
            s.pids = pids(&d)?;
        }
        if let Some(d) = dir("blkio") {
            s.blkio = blkio_v1(&d)?;
        }
    }
    Ok(s)
}

fn parse_u64(path: &Path, text: &str) -> Result<u64, StatsError> {
    text.trim().parse().map_err(|_| StatsError::Parse {
        path: path.to_path_buf(),
        content: text.trim().to_string(),
    })
}

fn read_u64(path: &Path) -> Result<u64, StatsError> {
    parse_u64(path, &read_file(path)?)
}

/// A limit file: a number, or `max` (v2) for none, given as 0.
fn read_limit(path: &Path) -> Result<u64, StatsError> {
    let text = read_file(path)?;
    if text.trim() == "max" {
        return Ok(0);
    }
    parse_u64(path, &text)
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`); lines that are not are skipped.
pub fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn keyed_file(path: &Path) -> Result<BTreeMap<String, u64>, StatsError> {
    Ok(flat_keyed(&read_file(path)?))
}

/// The cgroup's limit, or the host's memory when that is lower (an unlimited v1 cgroup reports
/// a huge number, v2 `max`).
fn cap_limit(limit: u64, machine_memory: u64) -> u64 {
    if machine_memory > 0 && (limit == 0 || limit > machine_memory) {
        machine_memory
    } else {
        limit
    }
}

fn cpuacct_v1(d: &Path) -> Result<CpuSample, StatsError> {
    let percpu_path = d.join("cpuacct.usage_percpu");
    let percpu = read_file(&percpu_path)?
        .split_whitespace()
        .map(|v| parse_u64(&percpu_path, v))
        .collect::<Result<Vec<u64>, _>>()?;
    let stat = keyed_file(&d.join("cpuacct.stat"))?;
    let ticks = |k: &str| stat.get(k).copied().unwrap_or(0) * NANOS_PER_SEC / CLOCK_TICKS;
    Ok(CpuSample {
        total: read_u64(&d.join("cpuacct.usage"))?,
        kernel: ticks("system"),
        user: ticks("user"),
        percpu,
        ..CpuSample::default()
    })
}

/// Throttling counters of a `cpu.stat`; `time_unit` turns its time into nanoseconds (1 on v1,
/// where `throttled_time` is in ns; 1000 on v2, where `throttled_usec` is in µs).
fn throttling(path: &Path, time_unit: u64, cpu: &mut CpuSample) -> Result<(), StatsError> {
    if !path.exists() {
        return Ok(());
    }
    let stat = keyed_file(path)?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    cpu.periods = get("nr_periods");
    cpu.throttled_periods = get("nr_throttled");
    cpu.throttled_time = if time_unit == 1 {
        get("throttled_time")
    } else {
        get("throttled_usec") * time_unit
    };
    Ok(())
}

fn cpu_v2(d: &Path) -> Result<CpuSample, StatsError> {
    let path = d.join("cpu.stat");
    let stat = keyed_file(&path)?;
    let usec = |k: &str| stat.get(k).copied().unwrap_or(0) * 1000;
    let mut cpu = CpuSample {
        total: usec("usage_usec"),
        kernel: usec("system_usec"),
        user: usec("user_usec"),
        ..CpuSample::default()
    };
    throttling(&path, 1000, &mut cpu)?;
    Ok(cpu)
}

fn memory_v1(d: &Path, machine_memory: u64) -> Result<MemorySample, StatsError> {
    Ok(MemorySample {
        usage: read_u64(&d.join("memory.usage_in_bytes"))?,
        max_usage: read_u64(&d.join("memory.max_usage_in_bytes"))?,
        failcnt: read_u64(&d.join("memory.failcnt"))?,
        limit: cap_limit(read_u64(&d.join("memory.limit_in_bytes"))?, machine_memory),
        stats: keyed_file(&d.join("memory.stat"))?,
    })
}

fn memory_v2(d: &Path, machine_memory: u64) -> Result<MemorySample, StatsError> {
    if !d.join("memory.current").exists() {
        // The memory controller is not enabled for this subtree.
        return Ok(MemorySample::default());
    }
    let events = d.join("memory.events");
    let failcnt = if events.exists() {
        keyed_file(&events)?.get("max").copied().unwrap_or(0)
    } else {
        0
    };
    Ok(MemorySample {
        usage: read_u64(&d.join("memory.current"))?,
        max_usage: 0,
        failcnt,
        limit: cap_limit(read_limit(&d.join("memory.max"))?, machine_memory),
        stats: keyed_file(&d.join("memory.stat"))?,
    })
}

fn pids(d: &Path) -> Result<PidsSample, StatsError> {
    let current = d.join("pids.current");
    if !current.exists() {
        return Ok(PidsSample::default());
    }
    Ok(PidsSample {
        current: read_u64(&current)?,
        limit: read_limit(&d.join("pids.max"))?,
    })
}

/// The first of `names` that exists in `d`.
fn first_existing(d: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| d.join(n)).find(|p| p.exists())
}

fn blkio_v1(d: &Path) -> Result<BlkioSample, StatsError> {
    let list = |names: &[&str]| -> Result<Vec<BlkioEntry>, StatsError> {
        match first_existing(d, names) {
            Some(p) => Ok(blkio_entries(&read_file(&p)?)),
            None => Ok(Vec::new()),
        }
    };
    Ok(BlkioSample {
        service_bytes: list(&[
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
        ])?,
        serviced: list(&[
            "blkio.throttle.io_serviced_recursive",
            "blkio.throttle.io_serviced",
        ])?,
    })
}

/// v1 blkio lines `MAJOR:MINOR Op value`; the device-less `Total` line is dropped.
pub fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn io_v2(d: &Path) -> Result<BlkioSample, StatsError> {
    let path = d.join("io.stat");
    if !path.exists() {
        return Ok(BlkioSample::default());
    }
    Ok(io_stat(&read_file(&path)?))
}

/// v2 `io.stat` lines `MAJOR:MINOR rbytes=N wbytes=N rios=N wios=N ...` as v1-style entries
/// with `read`/`write` operations.
pub fn io_stat(text: &str) -> BlkioSample {
    let mut s = BlkioSample::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut s.service_bytes, "read"),
                "wbytes" => (&mut s.service_bytes, "write"),
                "rios" => (&mut s.serviced, "read"),
                "wios" => (&mut s.serviced, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_blkio_parsers() {
        let m = flat_keyed("cache 4096\nrss 8192\ntotal_inactive_file 12\nbad\n");
        assert_eq!(m["rss"], 8192);
        assert_eq!(m["total_inactive_file"], 12);
        assert_eq!(m.len(), 3);
        let e = blkio_entries("8:0 Read 100\n8:0 Write 50\n8:0 Total 150\nTotal 150\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[1].major, e[1].minor, e[1].op.as_str(), e[1].value),
            (8, 0, "Write", 50)
        );
        let s = io_stat("8:16 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(s.service_bytes.len(), 2);
        assert_eq!(s.service_bytes[1].op, "write");
        assert_eq!(s.service_bytes[1].value, 8192);
        assert_eq!(s.serviced[0].value, 1);
    }

    #[test]
    fn limits_are_capped_by_the_host() {
        assert_eq!(cap_limit(9_223_372_036_854_771_712, 2 << 30), 2 << 30);
        assert_eq!(cap_limit(0, 2 << 30), 2 << 30);
        assert_eq!(cap_limit(64 << 20, 2 << 30), 64 << 20);
    }

    #[test]
    fn reads_a_v2_directory() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("berth/x");
        std::fs::create_dir_all(&d).unwrap();
        let w = |n: &str, t: &str| std::fs::write(d.join(n), t).unwrap();
        w("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n");
        w("memory.current", "1048576\n");
        w("memory.max", "max\n");
        w("memory.stat", "anon 4096\ninactive_file 100\n");
        w("pids.current", "2\n");
        w("pids.max", "max\n");
        let cg = Cgroup::with_root(Hierarchy::V2(root.path().to_path_buf()), None, "x").unwrap();
        let s = read(&cg, 1 << 30).unwrap();
        assert_eq!(s.cpu.total, 1_500_000);
        assert_eq!(s.memory.limit, 1 << 30);
        assert_eq!(s.pids.current, 2);
        let cpu = cpu_v2(&d).unwrap();
        assert_eq!(
            (cpu.total, cpu.user, cpu.kernel),
            (1_500_000, 1_000_000, 500_000)
        );
        assert_eq!(
            (cpu.periods, cpu.throttled_periods, cpu.throttled_time),
            (3, 1, 7000)
        );
        let m = memory_v2(&d, 1 << 30).unwrap();
        assert_eq!(
            (m.usage, m.limit, m.stats["inactive_file"]),
            (1 << 20, 1 << 30, 100)
        );
        let p = pids(&d).unwrap();
        assert_eq!((p.current, p.limit), (2, 0));
        assert_eq!(io_v2(&d).unwrap(), BlkioSample::default());
    }
}
