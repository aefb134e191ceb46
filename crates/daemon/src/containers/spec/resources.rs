//! `HostConfig` resources → `linux.resources` and `linux.devices`: memory and swap, CPU shares,
//! quota/period, `NanoCpus`, cpusets, the pids limit, and the device cgroup (Docker's default allow
//! list plus `--device`; privileged: every host device ([`super::devices`]) and a rule allowing
//! all, `--device` adding only nodes at another path).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_api::container::HostConfig;
use serde_json::{json, Map, Value};

use super::SpecError;

/// Where the host's devices are, for a privileged container.
const HOST_DEV: &str = "/dev";

/// The CFS period `NanoCpus` is expressed in, as Docker uses.
const NANO_CPU_PERIOD: i64 = 100_000;

/// Docker's default device allow list (`type`, `major`, `minor`, `access`; -1 = any).
const DEFAULT_ALLOWED: &[(&str, i64, i64, &str)] = &[
    ("c", -1, -1, "m"),
    ("b", -1, -1, "m"),
    ("c", 1, 3, "rwm"),    // /dev/null
    ("c", 1, 8, "rwm"),    // /dev/random
    ("c", 1, 7, "rwm"),    // /dev/full
    ("c", 5, 0, "rwm"),    // /dev/tty
    ("c", 1, 5, "rwm"),    // /dev/zero
    ("c", 1, 9, "rwm"),    // /dev/urandom
    ("c", 5, 1, "rwm"),    // /dev/console
    ("c", 136, -1, "rwm"), // /dev/pts/*
    ("c", 5, 2, "rwm"),    // /dev/ptmx
    ("c", 10, 200, "rwm"), // /dev/net/tun
];

fn rule(kind: &str, major: i64, minor: i64, access: &str) -> Value {
    let mut r = Map::new();
    r.insert("allow".into(), json!(true));
    r.insert("type".into(), json!(kind));
    if major >= 0 {
        r.insert("major".into(), json!(major));
    }
    if minor >= 0 {
        r.insert("minor".into(), json!(minor));
    }
    r.insert("access".into(), json!(access));
    Value::Object(r)
}

/// Whether the memory cgroup accounts swap (v1 `memory.memsw.*`); without it Docker drops the swap
/// limit with a warning.
fn swap_accounting() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || std::path::Path::new("/sys/fs/cgroup/memory.swap.max").exists()
        || std::path::Path::new("/sys/fs/cgroup/unified/memory.swap.max").exists()
}

/// `linux.resources` and `linux.devices` for `host`; pushes warnings for limits dropped.
pub fn resources(
    host: &HostConfig,
    warnings: &mut Vec<String>,
) -> Result<(Value, Vec<Value>), SpecError> {
    let mut res = Map::new();
    let mut memory = Map::new();
    if let Some(limit) = host.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(limit));
        let swap = match host.memory_swap {
            Some(-1) => Some(-1),
            Some(s) if s > 0 => Some(s),
            _ => Some(limit * 2),
        };
        if swap_accounting() {
            memory.insert("swap".into(), json!(swap));
        } else if host.memory_swap.is_some_and(|s| s != 0) {
            warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".to_string());
        }
    }
    if let Some(r) = host.memory_reservation.filter(|m| *m > 0) {
        memory.insert("reservation".into(), json!(r));
    }
    if let Some(s) = host.memory_swappiness.filter(|s| *s >= 0) {
        memory.insert("swappiness".into(), json!(s));
    }
    if host.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        res.insert("memory".into(), Value::Object(memory));
    }
    let mut cpu = Map::new();
    if let Some(s) = host.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    match host.nano_cpus.filter(|n| *n > 0) {
        Some(nano) => {
            if host.cpu_quota.is_some_and(|q| q > 0) || host.cpu_period.is_some_and(|p| p > 0) {
                return Err(SpecError::Invalid(
                    "conflicting options: Nano CPUs and CPU Period cannot both be set".to_string(),
                ));
            }
            cpu.insert("period".into(), json!(NANO_CPU_PERIOD));
            cpu.insert(
                "quota".into(),
                json!(nano * NANO_CPU_PERIOD / 1_000_000_000),
            );
        }
        None => {
            if let Some(q) = host.cpu_quota.filter(|q| *q > 0) {
                cpu.insert("quota".into(), json!(q));
            }
            if let Some(p) = host.cpu_period.filter(|p| *p > 0) {
                cpu.insert("period".into(), json!(p));
            }
        }
    }
    if let Some(c) = host.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = host.cpuset_mems.as_ref().filter(|c| !c.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = host.pids_limit.filter(|p| *p != 0) {
        res.insert("pids".into(), json!({"limit": p}));
    }
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    let mut devices = Vec::new();
    if host.privileged {
        // Every host device, and one rule allowing every device (Docker's privileged mode).
        rules = vec![json!({"allow": true, "access": "rwm"})];
        devices = super::devices::host_devices(Path::new(HOST_DEV))?;
    } else {
        rules.extend(
            DEFAULT_ALLOWED
                .iter()
                .map(|(t, ma, mi, a)| rule(t, *ma, *mi, a)),
        );
    }
    for d in host.devices.iter().flatten() {
        // Privileged: a device at its host path is there already, and the rule allows all.
        let dest_same = d.path_in_container.is_empty() || d.path_in_container == d.path_on_host;
        if host.privileged && dest_same {
            continue;
        }
        let meta = std::fs::metadata(&d.path_on_host).map_err(|e| {
            SpecError::Invalid(format!(
                "error gathering device information while adding custom device {:?}: {e}",
                d.path_on_host
            ))
        })?;
        let kind = if meta.file_type().is_char_device() {
            "c"
        } else if meta.file_type().is_block_device() {
            "b"
        } else {
            return Err(SpecError::Invalid(format!(
                "error gathering device information while adding custom device {:?}: not a device node",
                d.path_on_host
            )));
        };
        let rdev = meta.rdev();
        let (major, minor) = (
            nix::sys::stat::major(rdev) as i64,
            nix::sys::stat::minor(rdev) as i64,
        );
        let dest = if d.path_in_container.is_empty() {
            d.path_on_host.clone()
        } else {
            d.path_in_container.clone()
        };
        let access = if d.cgroup_permissions.is_empty() || host.privileged {
            "rwm"
        } else {
            d.cgroup_permissions.as_str()
        };
        devices.push(
            json!({"path": dest, "type": kind, "major": major, "minor": minor,
                            "fileMode": meta.mode() & 0o7777, "uid": 0, "gid": 0}),
        );
        if !host.privileged {
            rules.push(rule(kind, major, minor, access));
        }
    }
    res.insert("devices".into(), Value::Array(rules));
    Ok((Value::Object(res), devices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_translate() {
        let host = HostConfig {
            memory: Some(8 << 20),
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            pids_limit: Some(10),
            ..Default::default()
        };
        let mut w = Vec::new();
        let (r, devices) = resources(&host, &mut w).unwrap();
        assert_eq!(r["memory"]["limit"], json!(8 << 20));
        assert_eq!(r["cpu"]["quota"], json!(150_000));
        assert_eq!(r["cpu"]["period"], json!(100_000));
        assert_eq!(r["cpu"]["shares"], json!(512));
        assert_eq!(r["pids"]["limit"], json!(10));
        assert!(devices.is_empty());
        assert_eq!(r["devices"][0]["allow"], json!(false));
    }

    #[test]
    fn nano_cpus_conflict_with_quota() {
        let host = HostConfig {
            nano_cpus: Some(1),
            cpu_quota: Some(1000),
            ..Default::default()
        };
        assert!(resources(&host, &mut Vec::new()).is_err());
    }

    #[test]
    fn privileged_gets_every_host_device_and_an_allow_all_rule() {
        let host = HostConfig {
            privileged: true,
            devices: Some(vec![
                berth_api::container::DeviceMapping {
                    path_on_host: "/dev/null".into(),
                    path_in_container: "/dev/null".into(),
                    cgroup_permissions: "r".into(),
                },
                berth_api::container::DeviceMapping {
                    path_on_host: "/dev/zero".into(),
                    path_in_container: "/dev/myzero".into(),
                    cgroup_permissions: "r".into(),
                },
            ]),
            ..Default::default()
        };
        let (r, devices) = resources(&host, &mut Vec::new()).unwrap();
        assert_eq!(r["devices"], json!([{"allow": true, "access": "rwm"}]));
        let at = |p: &str| devices.iter().filter(|d| d["path"] == p).count();
        assert_eq!(at("/dev/null"), 1, "{devices:?}");
        assert_eq!(at("/dev/zero"), 1, "{devices:?}");
        assert_eq!(at("/dev/myzero"), 1, "{devices:?}");
    }

    #[test]
    fn devices_are_looked_up() {
        let host = HostConfig {
            devices: Some(vec![berth_api::container::DeviceMapping {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/mynull".into(),
                cgroup_permissions: "rw".into(),
            }]),
            ..Default::default()
        };
        let (r, devices) = resources(&host, &mut Vec::new()).unwrap();
        assert_eq!(devices[0]["path"], "/dev/mynull");
        assert_eq!(devices[0]["major"], 1);
        assert_eq!(
            r["devices"].as_array().unwrap().last().unwrap()["access"],
            "rw"
        );
    }
}
