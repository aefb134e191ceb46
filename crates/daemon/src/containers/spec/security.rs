//! Capabilities and seccomp as Docker sets them: the default 14 capabilities adjusted by `CapAdd` /
//! `CapDrop` (`ALL` allowed in both, names with or without `CAP_`), every capability when
//! privileged; Docker's default seccomp profile unless unconfined or privileged, or the profile
//! given (Docker's JSON format) converted for this host.

use berth_oci::runtime::Capability;
use berth_runtime::security::{caps, docker_profile};
use serde_json::Value;

use super::SpecError;
use crate::containers::settings::Seccomp;

/// Every capability the kernel defines (Linux 6.x).
const ALL_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `NET_ADMIN` / `cap_net_admin` / `CAP_NET_ADMIN` → `CAP_NET_ADMIN`.
fn normalize(name: &str) -> Result<String, SpecError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok("ALL".to_string());
    }
    if !ALL_CAPS.contains(&bare) {
        return Err(SpecError::Invalid(format!(
            "unknown capability: \"{name}\""
        )));
    }
    Ok(format!("CAP_{bare}"))
}

fn default_names() -> Vec<String> {
    caps::docker_default()
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// The daemon's own capability bounding set (`CapBnd` of /proc/self/status; bit n is capability
/// n, the order of [`ALL_CAPS`]). A privileged container gets every capability the daemon can
/// grant: asking for one outside this set makes capset fail (as on hosts that withhold some).
fn own_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The container's capability names (`CAP_...`).
pub fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SpecError> {
    if privileged {
        let bounding = own_bounding_set();
        return Ok(ALL_CAPS
            .iter()
            .enumerate()
            .filter(|(bit, _)| bounding.is_none_or(|set| set & (1u64 << bit) != 0))
            .map(|(_, c)| format!("CAP_{c}"))
            .collect());
    }
    let add: Vec<String> = add.iter().map(|c| normalize(c)).collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize(c))
        .collect::<Result<_, _>>()?;
    let mut set = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        default_names()
    };
    if add.iter().any(|c| c == "ALL") {
        // Every capability the daemon can grant (as privileged): capset fails on one outside
        // its bounding set.
        let bounding = own_bounding_set();
        set = ALL_CAPS
            .iter()
            .enumerate()
            .filter(|(bit, _)| bounding.is_none_or(|b| b & (1u64 << bit) != 0))
            .map(|(_, c)| format!("CAP_{c}"))
            .collect();
    }
    for c in add.iter().filter(|c| *c != "ALL") {
        if !set.contains(c) {
            set.push(c.clone());
        }
    }
    set.retain(|c| !drop.contains(c) || add.contains(c));
    Ok(set)
}

/// The `linux.seccomp` of the container; `None` when unconfined.
pub fn seccomp(
    setting: &Seccomp,
    cap_names: &[String],
    privileged: bool,
) -> Result<Option<Value>, SpecError> {
    let profile = match setting {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default if privileged => return Ok(None),
        Seccomp::Default => None,
        Seccomp::Profile(json) => Some(json),
    };
    let caps: Vec<Capability> = cap_names
        .iter()
        .filter_map(|c| serde_json::from_value(Value::String(c.clone())).ok())
        .collect();
    let profile = match profile {
        None => docker_profile::docker_default(&caps),
        Some(json) => {
            let p = docker_profile::parse(json)
                .map_err(|e| SpecError::Invalid(format!("decoding seccomp profile failed: {e}")))?;
            let target = docker_profile::Target {
                goarch: docker_profile::host_goarch(),
                caps: &caps,
                kernel: docker_profile::host_kernel(),
            };
            docker_profile::convert(&p, &target)
                .map_err(|e| SpecError::Invalid(format!("decoding seccomp profile failed: {e}")))?
        }
    };
    serde_json::to_value(profile)
        .map(Some)
        .map_err(|e| SpecError::Invalid(format!("encoding the seccomp profile: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn caps_like_docker() {
        let d = capabilities(&[], &[], false).unwrap();
        assert_eq!(d.len(), 14);
        assert!(d.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(&s(&["NET_ADMIN"]), &s(&["chown"]), false).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let only = capabilities(&s(&["KILL"]), &s(&["ALL"]), false).unwrap();
        assert_eq!(only, s(&["CAP_KILL"]));
        let bounding = own_bounding_set().map_or(ALL_CAPS.len(), |b| b.count_ones() as usize);
        assert_eq!(
            capabilities(&s(&["ALL"]), &[], false).unwrap().len(),
            bounding
        );
        assert!(capabilities(&s(&["BOGUS"]), &[], false).is_err());
    }

    #[test]
    fn seccomp_settings() {
        assert!(seccomp(&Seccomp::Unconfined, &[], false).unwrap().is_none());
        assert!(seccomp(&Seccomp::Default, &[], true).unwrap().is_none());
        let d = seccomp(&Seccomp::Default, &s(&["CAP_CHOWN"]), false)
            .unwrap()
            .unwrap();
        assert_eq!(d["defaultAction"], "SCMP_ACT_ERRNO");
    }
}
