//! The five capability sets of `process.capabilities`: Docker's default set, translating the spec's
//! names to the kernel's, dropping the bounding set, and setting effective, permitted, inheritable
//! and ambient.
//!
//! Capabilities the running kernel does not know are skipped with one warning (as runc does), so a
//! spec written for a newer kernel still runs.

use super::kernel::Kernel;
use super::SecurityError;
use ::caps::{CapSet, CapsHashSet};
use berth_oci::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Docker's 14 default capabilities.
pub fn docker_default() -> Vec<Capability> {
    vec![
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
}

/// The spec's capability sets in the kernel's terms. `None` leaves a set as it is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub bounding: Option<CapsHashSet>,
    pub effective: Option<CapsHashSet>,
    pub permitted: Option<CapsHashSet>,
    pub inheritable: Option<CapsHashSet>,
    pub ambient: Option<CapsHashSet>,
}

impl Plan {
    /// Translates `caps`, keeping only the capabilities in `supported` (the kernel's).
    pub fn new(caps: &LinuxCapabilities, supported: &CapsHashSet) -> Result<Plan, SecurityError> {
        let mut unknown = Vec::new();
        let mut one = |set: &'static str, value: &Option<Capabilities>| {
            value
                .as_ref()
                .map(|v| translate(set, v, supported, &mut unknown))
                .transpose()
        };
        let plan = Plan {
            bounding: one("bounding", caps.bounding())?,
            effective: one("effective", caps.effective())?,
            permitted: one("permitted", caps.permitted())?,
            inheritable: one("inheritable", caps.inheritable())?,
            ambient: one("ambient", caps.ambient())?,
        };
        if !unknown.is_empty() {
            unknown.sort();
            unknown.dedup();
            eprintln!(
                "berth: warning: the kernel does not know capabilities {}; ignoring them",
                unknown.join(", ")
            );
        }
        Ok(plan)
    }

    /// Drops from the bounding set every capability the spec does not list. Needs CAP_SETPCAP,
    /// so it runs before the other sets are reduced.
    pub fn drop_bounding(&self, k: &impl Kernel) -> Result<(), SecurityError> {
        let Some(keep) = &self.bounding else {
            return Ok(());
        };
        let mut drop: Vec<_> = k
            .supported_caps()
            .into_iter()
            .filter(|c| !keep.contains(c))
            .collect();
        drop.sort_by_key(|c| c.index());
        for cap in drop {
            k.drop_bounding(cap).map_err(|e| cap_error("bounding", e))?;
        }
        Ok(())
    }

    /// Sets inheritable, effective, permitted, then raises ambient. The order keeps every
    /// intermediate state legal: inheritable may only grow within the old permitted set, and
    /// effective must stay within permitted.
    pub fn apply(&self, k: &impl Kernel) -> Result<(), SecurityError> {
        for (name, set, value) in [
            ("inheritable", CapSet::Inheritable, &self.inheritable),
            ("effective", CapSet::Effective, &self.effective),
            ("permitted", CapSet::Permitted, &self.permitted),
        ] {
            if let Some(value) = value {
                k.set_caps(set, value).map_err(|e| cap_error(name, e))?;
            }
        }
        if let Some(ambient) = &self.ambient {
            k.clear_ambient().map_err(|e| cap_error("ambient", e))?;
            let mut raise: Vec<_> = ambient.iter().copied().collect();
            raise.sort_by_key(|c| c.index());
            for cap in raise {
                // The kernel raises an ambient capability only when it is both permitted and
                // inheritable; runc and crun raise those and warn about the rest (the config
                // `runc spec` writes lists ambient ones without the inheritable set). A set the
                // spec leaves out stays as the runtime's: permitted full, inheritable empty.
                let permitted = self.permitted.as_ref().is_none_or(|s| s.contains(&cap));
                let inheritable = self.inheritable.as_ref().is_some_and(|s| s.contains(&cap));
                if !permitted || !inheritable {
                    eprintln!(
                        "warning: ambient capability {} is not both permitted and inheritable: not raised",
                        cap
                    );
                    continue;
                }
                k.raise_ambient(cap).map_err(|e| cap_error("ambient", e))?;
            }
        }
        Ok(())
    }
}

/// The kernel's name of `cap`, e.g. `CAP_SYS_ADMIN`.
pub fn kernel_name(cap: Capability) -> String {
    format!("CAP_{cap}")
}

fn translate(
    set: &'static str,
    value: &Capabilities,
    supported: &CapsHashSet,
    unknown: &mut Vec<String>,
) -> Result<CapsHashSet, SecurityError> {
    let mut out = CapsHashSet::new();
    for cap in value {
        let name = kernel_name(*cap);
        let kernel: ::caps::Capability =
            name.parse().map_err(|_| SecurityError::UnknownCapability {
                set,
                name: name.clone(),
            })?;
        if supported.contains(&kernel) {
            out.insert(kernel);
        } else {
            unknown.push(name);
        }
    }
    Ok(out)
}

fn cap_error(set: &'static str, message: String) -> SecurityError {
    SecurityError::Capabilities { set, message }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn caps_of(list: &[Capability]) -> Capabilities {
        list.iter().copied().collect()
    }

    #[test]
    fn docker_default_has_the_fourteen_capabilities() {
        let caps = docker_default();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&Capability::NetBindService));
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::NetAdmin));
    }

    #[test]
    fn plan_translates_names_and_skips_unsupported() {
        let mut spec = LinuxCapabilities::default();
        spec.set_bounding(Some(caps_of(&[Capability::Chown, Capability::Bpf])));
        spec.set_effective(Some(caps_of(&[Capability::Chown])));
        spec.set_ambient(None);
        let supported: CapsHashSet = [::caps::Capability::CAP_CHOWN].into_iter().collect();
        let plan = Plan::new(&spec, &supported).unwrap();
        let chown: CapsHashSet = [::caps::Capability::CAP_CHOWN].into_iter().collect();
        assert_eq!(plan.bounding, Some(chown.clone()));
        assert_eq!(plan.effective, Some(chown));
        assert_eq!(plan.ambient, None);
    }

    #[test]
    fn ambient_capabilities_outside_inheritable_are_not_raised() {
        // The process part of `runc spec`: bounding, effective, permitted and ambient, no
        // inheritable.
        let mut spec = LinuxCapabilities::default();
        let three = caps_of(&[
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ]);
        spec.set_bounding(Some(three.clone()));
        spec.set_effective(Some(three.clone()));
        spec.set_permitted(Some(three.clone()));
        spec.set_inheritable(None);
        spec.set_ambient(Some(three));
        let plan = Plan::new(&spec, &::caps::all()).unwrap();
        let k = crate::security::kernel::fake::Recording::new(1024);
        plan.apply(&k).unwrap();
        assert!(
            k.calls().iter().all(|c| !c.starts_with("raise_ambient")),
            "{:?}",
            k.calls()
        );
        // With them inheritable too, they are raised.
        let mut spec = spec.clone();
        spec.set_inheritable(Some(caps_of(&[Capability::Kill])));
        let plan = Plan::new(&spec, &::caps::all()).unwrap();
        let k = crate::security::kernel::fake::Recording::new(1024);
        plan.apply(&k).unwrap();
        let raised: Vec<String> = k
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("raise_ambient"))
            .collect();
        assert_eq!(raised, ["raise_ambient CAP_KILL"]);
    }

    #[test]
    fn every_oci_capability_has_a_kernel_name() {
        let all: Capabilities = serde_json::from_str(
            &serde_json::to_string(
                &::caps::all()
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut spec = LinuxCapabilities::default();
        spec.set_permitted(Some(all.clone()));
        let plan = Plan::new(&spec, &::caps::all()).unwrap();
        assert_eq!(plan.permitted.unwrap().len(), all.len());
    }
}
