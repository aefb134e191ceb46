//! Validating `linux.resources` before anything is written: each refusal names the spec field and
//! the value, e.g. `linux.resources.cpu.shares: 1 below minimum 2`.

use super::devices::DeviceRule;
use super::CgroupError;
use berth_oci::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

const CPU_SHARES: (u64, u64) = (2, 262_144);
const CPU_PERIOD: (u64, u64) = (1_000, 1_000_000);
const CPU_QUOTA_MIN: i64 = 1_000;
const BLKIO_WEIGHT: (u16, u16) = (10, 1_000);

fn invalid(field: &str, message: String) -> CgroupError {
    CgroupError::Invalid {
        field: format!("linux.resources.{field}"),
        message,
    }
}

/// Checks every value of `r` that Berth writes; the first bad one is the error.
pub fn resources(r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c)?;
    }
    if let Some(p) = r.pids() {
        at_least_minus_one("pids.limit", p.limit())?;
    }
    if let Some(b) = r.block_io() {
        block_io(b)?;
    }
    for (i, rule) in r.devices().iter().flatten().enumerate() {
        DeviceRule::from_spec(rule, i)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        if size.is_empty() || !size.ends_with('B') || size.contains('/') {
            return Err(invalid(
                &format!("hugepageLimits[{i}].pageSize"),
                format!("{size:?} is invalid: use a size like 2MB or 1GB"),
            ));
        }
        at_least_minus_one(&format!("hugepageLimits[{i}].limit"), h.limit())?;
    }
    for key in r.unified().iter().flat_map(|u| u.keys()) {
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(invalid(
                "unified",
                format!("{key:?} is not a cgroup file name"),
            ));
        }
    }
    for (i, p) in r
        .network()
        .iter()
        .flat_map(|n| n.priorities().iter().flatten())
        .enumerate()
    {
        let name = p.name();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
            return Err(invalid(
                &format!("network.priorities[{i}].name"),
                format!("{name:?} is not an interface name"),
            ));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid(
            "rdma",
            "rdma limits are not supported by berth; remove the field".into(),
        ));
    }
    Ok(())
}

/// -1 means unlimited, 0 unset; anything below -1 is an error.
fn at_least_minus_one(field: &str, v: i64) -> Result<(), CgroupError> {
    if v < -1 {
        return Err(invalid(
            field,
            format!("{v} is invalid: use a positive value, or -1 for unlimited"),
        ));
    }
    Ok(())
}

fn memory(m: &LinuxMemory) -> Result<(), CgroupError> {
    for (field, v) in [
        ("memory.limit", m.limit()),
        ("memory.reservation", m.reservation()),
        ("memory.swap", m.swap()),
    ] {
        if let Some(v) = v {
            at_least_minus_one(field, v)?;
        }
    }
    if let Some(swap) = m.swap().filter(|s| *s > 0) {
        match m.limit() {
            Some(limit) if limit > 0 && swap < limit => {
                return Err(invalid(
                    "memory.swap",
                    format!("{swap} below memory limit {limit}: swap is memory plus swap, so it must be at least the limit"),
                ))
            }
            Some(limit) if limit > 0 => {}
            _ => {
                return Err(invalid(
                    "memory.swap",
                    format!("{swap} needs linux.resources.memory.limit to be set too"),
                ))
            }
        }
    }
    if let Some(s) = m.swappiness().filter(|s| *s > 100) {
        return Err(invalid(
            "memory.swappiness",
            format!("{s} above maximum 100"),
        ));
    }
    Ok(())
}

fn range_u64(field: &str, v: u64, (min, max): (u64, u64)) -> Result<(), CgroupError> {
    if v < min {
        return Err(invalid(field, format!("{v} below minimum {min}")));
    }
    if v > max {
        return Err(invalid(field, format!("{v} above maximum {max}")));
    }
    Ok(())
}

fn cpu(c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        range_u64("cpu.shares", s, CPU_SHARES)?;
    }
    if let Some(p) = c.period().filter(|p| *p != 0) {
        range_u64("cpu.period", p, CPU_PERIOD)?;
    }
    if let Some(q) = c.quota().filter(|q| *q != 0 && *q != -1) {
        if q < -1 {
            at_least_minus_one("cpu.quota", q)?;
        }
        if q < CPU_QUOTA_MIN {
            return Err(invalid(
                "cpu.quota",
                format!("{q} below minimum {CPU_QUOTA_MIN}"),
            ));
        }
    }
    if let Some(i) = c.idle().filter(|i| *i != 0 && *i != 1) {
        return Err(invalid("cpu.idle", format!("{i} is invalid: use 0 or 1")));
    }
    if let Some(cpus) = c.cpus() {
        cpu_list("cpu.cpus", cpus)?;
    }
    if let Some(mems) = c.mems() {
        cpu_list("cpu.mems", mems)?;
    }
    Ok(())
}

/// A kernel list like `0-3,5`; empty means unset.
fn cpu_list(field: &str, list: &str) -> Result<(), CgroupError> {
    let bad = || invalid(field, format!("{list:?} is invalid: use a list like 0-3,5"));
    if list.trim().is_empty() {
        return Ok(());
    }
    for part in list.trim().split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u32 = lo.parse().map_err(|_| bad())?;
        let hi: u32 = hi.parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
    }
    Ok(())
}

fn block_io(b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let weight = |field: &str, w: Option<u16>| match w.filter(|w| *w != 0) {
        Some(w) => range_u64(
            field,
            w.into(),
            (BLKIO_WEIGHT.0.into(), BLKIO_WEIGHT.1.into()),
        ),
        None => Ok(()),
    };
    weight("blockIO.weight", b.weight())?;
    weight("blockIO.leafWeight", b.leaf_weight())?;
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        weight(&format!("blockIO.weightDevice[{i}].weight"), d.weight())?;
        weight(
            &format!("blockIO.weightDevice[{i}].leafWeight"),
            d.leaf_weight(),
        )?;
        device_number(&format!("blockIO.weightDevice[{i}]"), d.major(), d.minor())?;
    }
    for (name, list) in [
        ("throttleReadBpsDevice", b.throttle_read_bps_device()),
        ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
        ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
        ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
    ] {
        for (i, d) in list.iter().flatten().enumerate() {
            device_number(&format!("blockIO.{name}[{i}]"), d.major(), d.minor())?;
        }
    }
    Ok(())
}

fn device_number(field: &str, major: i64, minor: i64) -> Result<(), CgroupError> {
    if major < 0 || minor < 0 || major > u32::MAX.into() || minor > u32::MAX.into() {
        return Err(invalid(field, format!("device {major}:{minor} is invalid")));
    }
    Ok(())
}

/// `field` under `linux.resources`, for callers outside this module.
pub(crate) fn invalid_field(field: &str, message: String) -> CgroupError {
    invalid(field, message)
}
