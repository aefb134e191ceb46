//! Docker's seccomp profile format and its conversion into the OCI [`LinuxSeccomp`].
//!
//! Docker's profile is a superset of the OCI one: rules may be included or excluded by the
//! container's capabilities, by architecture (Go's `GOARCH` names such as `amd64`) and by a minimum
//! kernel version, and the architectures come as an `archMap` from a native architecture to its
//! sub-architectures. Conversion resolves all of that for one container (its capabilities, the host
//! architecture and kernel) and yields a plain OCI profile that [`super::seccomp`] loads.
//!
//! Conversion is pure: [`convert`] takes the target explicitly so unit tests need no host facts;
//! [`docker_default`] applies Docker's default profile (shipped with the crate as data) to the host.

use berth_oci::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSyscall,
};
use serde::Deserialize;

/// Docker's default seccomp profile, as published by Docker.
pub const DEFAULT_PROFILE_JSON: &str = include_str!("seccomp-default.json");

/// Why a Docker seccomp profile could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid docker seccomp profile: field `{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("invalid docker seccomp profile: `architectures` and `archMap` are both set; use one")]
    BothArchitectureForms,
    #[error("invalid docker seccomp profile: field `{field}`: kernel version {value:?} is not of the form MAJOR.MINOR")]
    KernelVersion { field: String, value: String },
}

/// A Docker seccomp profile (`moby/profiles/seccomp` format).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: LinuxSeccompAction,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<Arch>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default)]
    pub flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// One native architecture and the sub-architectures a filter for it must also cover.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// One rule: an action for some syscalls, optionally conditional on arguments and on the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// When a rule applies: architectures (`GOARCH` names), capabilities, minimum kernel `MAJOR.MINOR`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub caps: Vec<Capability>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// The container a profile is converted for.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Go's name of the architecture (`amd64`, `arm64`, ...).
    pub goarch: &'a str,
    /// The container's effective capabilities.
    pub caps: &'a [Capability],
    /// The kernel's `(major, minor)` version.
    pub kernel: (u32, u32),
}

impl Target<'_> {
    /// The seccomp architecture of `goarch`, if Berth knows it.
    fn native_arch(&self) -> Option<Arch> {
        Some(match self.goarch {
            "amd64" => Arch::ScmpArchX86_64,
            "386" => Arch::ScmpArchX86,
            "arm64" => Arch::ScmpArchAarch64,
            "arm" => Arch::ScmpArchArm,
            "ppc64le" => Arch::ScmpArchPpc64le,
            "s390x" => Arch::ScmpArchS390x,
            "riscv64" => Arch::ScmpArchRiscv64,
            "loong64" => Arch::ScmpArchLoongarch64,
            _ => return None,
        })
    }
}

/// Parses a Docker profile, naming the offending field on error.
pub fn parse(json: &str) -> Result<Profile, ProfileError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| ProfileError::Invalid {
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Converts `profile` into the OCI profile for `target`.
pub fn convert(profile: &Profile, target: &Target<'_>) -> Result<LinuxSeccomp, ProfileError> {
    let architectures = match (&profile.architectures, &profile.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            return Err(ProfileError::BothArchitectureForms)
        }
        (Some(a), _) if !a.is_empty() => a.clone(),
        (_, Some(map)) => {
            let native = target.native_arch();
            map.iter()
                .filter(|entry| Some(entry.architecture) == native)
                .flat_map(|entry| {
                    std::iter::once(entry.architecture)
                        .chain(entry.sub_architectures.iter().flatten().copied())
                })
                .collect()
        }
        _ => Vec::new(),
    };

    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        if !applies(rule, target, i)? {
            continue;
        }
        let mut names = rule.names.clone();
        if let Some(name) = &rule.name {
            names.push(name.clone());
        }
        let mut out = LinuxSyscall::default();
        out.set_names(names);
        out.set_action(rule.action);
        out.set_errno_ret(rule.errno_ret);
        out.set_args(rule.args.clone());
        syscalls.push(out);
    }

    let mut out = LinuxSeccomp::default();
    out.set_default_action(profile.default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!architectures.is_empty()).then_some(architectures));
    out.set_flags(profile.flags.clone());
    out.set_syscalls(Some(syscalls));
    Ok(out)
}

/// Whether rule number `index` applies to `target`.
fn applies(rule: &Rule, target: &Target<'_>, index: usize) -> Result<bool, ProfileError> {
    let has = |c: &Capability| target.caps.contains(c);
    let inc = &rule.includes;
    let exc = &rule.excludes;
    if exc.arches.iter().any(|a| a == target.goarch) || exc.caps.iter().any(has) {
        return Ok(false);
    }
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.goarch) {
        return Ok(false);
    }
    if !inc.caps.iter().all(has) {
        return Ok(false);
    }
    if let Some(min) = &inc.min_kernel {
        let field = format!("syscalls[{index}].includes.minKernel");
        if target.kernel < parse_kernel_version(min, &field)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Parses the leading `MAJOR.MINOR` of a kernel release such as `6.18.44-fc`.
pub fn parse_kernel_version(text: &str, field: &str) -> Result<(u32, u32), ProfileError> {
    let bad = || ProfileError::KernelVersion {
        field: field.to_string(),
        value: text.to_string(),
    };
    let mut parts = text.split(['.', '-', '+']);
    let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    Ok((major, minor))
}

/// Go's name for the architecture this binary was built for.
pub fn host_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The running kernel's `(major, minor)`; `(0, 0)` (so no minimum-kernel rule applies) if unknown.
pub fn host_kernel() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_kernel_version(&u.release().to_string_lossy(), "uname.release").ok())
        .unwrap_or((0, 0))
}

/// Docker's default profile converted for a container with `caps` on this host.
pub fn docker_default(caps: &[Capability]) -> LinuxSeccomp {
    let target = Target {
        goarch: host_goarch(),
        caps,
        kernel: host_kernel(),
    };
    default_for(&target)
}

/// Docker's default profile converted for `target`.
pub fn default_for(target: &Target<'_>) -> LinuxSeccomp {
    // The profile is compiled into the binary and covered by unit tests, so it always converts.
    let converted = parse(DEFAULT_PROFILE_JSON).and_then(|p| convert(&p, target));
    match converted {
        Ok(seccomp) => seccomp,
        Err(e) => unreachable!("the built-in docker seccomp profile is valid: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::security::caps;
    use berth_oci::runtime::LinuxSeccompOperator;

    fn amd64(caps: &[Capability], kernel: (u32, u32)) -> LinuxSeccomp {
        default_for(&Target {
            goarch: "amd64",
            caps,
            kernel,
        })
    }

    /// The rules naming `name`.
    fn rules<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    fn allowed_unconditionally(s: &LinuxSeccomp, name: &str) -> bool {
        rules(s, name).iter().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow
                && r.args().as_ref().is_none_or(|a| a.is_empty())
        })
    }

    #[test]
    fn default_profile_allows_read_and_refuses_mount_and_kexec_with_eperm() {
        let s = amd64(&caps::docker_default(), (6, 18));
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(libc::EPERM as u32));
        assert!(allowed_unconditionally(&s, "read"));
        assert!(allowed_unconditionally(&s, "execve"));
        for refused in [
            "mount",
            "umount2",
            "kexec_load",
            "unshare",
            "keyctl",
            "setns",
            "bpf",
        ] {
            assert!(rules(&s, refused).is_empty(), "{refused} has a rule");
        }
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // Arch-specific rules: amd64 gets arch_prctl, not the arm or s390 ones.
        assert!(allowed_unconditionally(&s, "arch_prctl"));
        assert!(rules(&s, "breakpoint").is_empty());
        assert!(rules(&s, "s390_runtime_instr").is_empty());
    }

    #[test]
    fn default_profile_restricts_clone_flags_without_sys_admin() {
        let s = amd64(&caps::docker_default(), (6, 18));
        assert!(!allowed_unconditionally(&s, "clone"));
        let clone = rules(&s, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        let args = clone[0].args().clone().unwrap_or_default();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        // clone3's flags live in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
        let clone3 = rules(&s, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));
    }

    #[test]
    fn sys_admin_unlocks_mount_and_plain_clone() {
        let mut caps = caps::docker_default();
        caps.push(Capability::SysAdmin);
        let s = amd64(&caps, (6, 18));
        assert!(allowed_unconditionally(&s, "mount"));
        assert!(allowed_unconditionally(&s, "clone"));
        assert!(rules(&s, "clone3")
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
        assert!(
            rules(&s, "kexec_load").is_empty(),
            "kexec needs CAP_SYS_BOOT"
        );
    }

    #[test]
    fn ptrace_needs_kernel_4_8_or_sys_ptrace() {
        let caps = caps::docker_default();
        assert!(allowed_unconditionally(&amd64(&caps, (6, 18)), "ptrace"));
        assert!(allowed_unconditionally(&amd64(&caps, (4, 8)), "ptrace"));
        assert!(!allowed_unconditionally(&amd64(&caps, (4, 4)), "ptrace"));
        let mut caps = caps;
        caps.push(Capability::SysPtrace);
        assert!(allowed_unconditionally(&amd64(&caps, (4, 4)), "ptrace"));
    }

    #[test]
    fn arm64_gets_its_own_architectures_and_rules() {
        let s = default_for(&Target {
            goarch: "arm64",
            caps: &caps::docker_default(),
            kernel: (6, 1),
        });
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(rules(&s, "arch_prctl").is_empty());
        assert!(allowed_unconditionally(&s, "breakpoint"));
    }

    #[test]
    fn converted_profile_round_trips_through_config_json() {
        let s = docker_default(&caps::docker_default());
        let json = serde_json::to_string(&s).unwrap();
        let back: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(json.contains("\"SCMP_ARCH_X86_64\"") || host_goarch() != "amd64");
    }

    #[test]
    fn invalid_profiles_name_the_field() {
        let err = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["open"],"action":"SCMP_ACT_ALLOW"},
                {"names":["close"],"action":"SCMP_ACT_BOGUS"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("syscalls[3].action"), "{err}");

        let err = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_NOPE"}]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syscalls[0].args[0].op"), "{err}");

        let p = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"four"}}]}"#).unwrap();
        let target = Target {
            goarch: "amd64",
            caps: &[],
            kernel: (6, 1),
        };
        let err = convert(&p, &target).unwrap_err().to_string();
        assert!(err.contains("syscalls[0].includes.minKernel"), "{err}");

        let p = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).unwrap();
        assert!(matches!(
            convert(&p, &target),
            Err(ProfileError::BothArchitectureForms)
        ));
    }

    #[test]
    fn kernel_versions_parse_from_uname_releases() {
        assert_eq!(
            parse_kernel_version("6.18.44-fc-v595", "f").unwrap(),
            (6, 18)
        );
        assert_eq!(parse_kernel_version("4.8", "f").unwrap(), (4, 8));
        assert_eq!(parse_kernel_version("5.10+", "f").unwrap(), (5, 10));
        assert!(parse_kernel_version("6", "f").is_err());
    }
}
