//! `process.rlimits`: validating them and setting them on the init process.
//!
//! Raising a hard limit needs CAP_SYS_RESOURCE, which hosts (and nested containers) may not have.
//! When a requested hard limit is above the current one and the kernel refuses with EPERM, the
//! limit is clamped to the current hard limit with one warning naming it, so a container asking for
//! more file descriptors than the host allows still starts; any other failure is an error.

use super::kernel::Kernel;
use super::SecurityError;
use berth_oci::runtime::{PosixRlimit, PosixRlimitType};
use nix::sys::resource::Resource;

/// The kernel resource of an OCI rlimit type.
fn resource(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// The spec's name of an rlimit type, e.g. `RLIMIT_NOFILE`.
fn name(typ: PosixRlimitType) -> String {
    serde_json::to_value(typ)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{typ:?}"))
}

/// Checks that no type appears twice and that no soft limit exceeds its hard limit.
pub(super) fn validate(rlimits: &[PosixRlimit]) -> Result<(), SecurityError> {
    for (index, limit) in rlimits.iter().enumerate() {
        if limit.soft() > limit.hard() {
            return Err(SecurityError::RlimitOrder {
                index,
                name: name(limit.typ()),
                soft: limit.soft(),
                hard: limit.hard(),
            });
        }
        if rlimits[..index].iter().any(|l| l.typ() == limit.typ()) {
            return Err(SecurityError::RlimitDuplicate {
                index,
                name: name(limit.typ()),
            });
        }
    }
    Ok(())
}

/// What to set for a requested limit, given the current hard limit and whether raising failed.
/// Returns `(soft, hard)`.
pub(super) fn clamp(soft: u64, hard: u64, current_hard: u64) -> (u64, u64) {
    let hard = hard.min(current_hard);
    (soft.min(hard), hard)
}

/// Sets every rlimit of the spec on the calling process, clamping as the module explains.
pub(super) fn apply(k: &impl Kernel, rlimits: &[PosixRlimit]) -> Result<(), SecurityError> {
    validate(rlimits)?;
    for limit in rlimits {
        let res = resource(limit.typ());
        let (soft, hard) = (limit.soft(), limit.hard());
        let err = |source| SecurityError::Rlimit {
            name: name(limit.typ()),
            soft,
            hard,
            source,
        };
        match k.setrlimit(res, soft, hard) {
            Ok(()) => {}
            Err(nix::Error::EPERM) => {
                let (_, current_hard) = k.getrlimit(res).map_err(err)?;
                if hard <= current_hard {
                    return Err(err(nix::Error::EPERM));
                }
                let (soft2, hard2) = clamp(soft, hard, current_hard);
                k.setrlimit(res, soft2, hard2).map_err(err)?;
                eprintln!(
                    "berth: warning: {} hard limit {hard} is above this host's {current_hard} \
                     (raising it needs CAP_SYS_RESOURCE); using soft {soft2}, hard {hard2}",
                    name(limit.typ())
                );
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn limit(typ: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        berth_oci::runtime::PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn names_are_the_spec_names() {
        assert_eq!(name(PosixRlimitType::RlimitNofile), "RLIMIT_NOFILE");
        assert_eq!(name(PosixRlimitType::RlimitRttime), "RLIMIT_RTTIME");
    }

    #[test]
    fn soft_above_hard_is_refused_naming_the_entry() {
        let err = validate(&[
            limit(PosixRlimitType::RlimitCore, 0, 0),
            limit(PosixRlimitType::RlimitNofile, 2048, 1024),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.rlimits[1]"), "{err}");
        assert!(err.contains("RLIMIT_NOFILE"), "{err}");
    }

    #[test]
    fn duplicates_are_refused() {
        let err = validate(&[
            limit(PosixRlimitType::RlimitNofile, 1, 1),
            limit(PosixRlimitType::RlimitNofile, 2, 2),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("process.rlimits[1]") && err.contains("twice"),
            "{err}"
        );
    }

    #[test]
    fn clamping_keeps_soft_within_hard() {
        assert_eq!(clamp(30000, 40000, 20000), (20000, 20000));
        assert_eq!(clamp(1024, 40000, 20000), (1024, 20000));
        assert_eq!(clamp(1024, 4096, 20000), (1024, 4096));
    }
}
