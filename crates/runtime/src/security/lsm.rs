//! `process.apparmorProfile` and `process.selinuxLabel`: Berth applies neither yet, and says so.
//!
//! On a host without the LSM the fields are ignored with a warning (as Docker does where AppArmor
//! is absent); on a host with it, the warning says the profile is not applied, so nobody believes
//! a container is confined when it is not.

use berth_oci::runtime::Process;
use std::path::Path;

/// Warns on stderr for each LSM field of `process` that Berth does not apply.
pub fn warn_unsupported_lsm(process: &Process) {
    let checks = [
        (
            "apparmorProfile",
            process.apparmor_profile(),
            "AppArmor",
            apparmor_enabled(),
        ),
        (
            "selinuxLabel",
            process.selinux_label(),
            "SELinux",
            Path::new("/sys/fs/selinux/enforce").exists(),
        ),
    ];
    for (field, value, lsm, present) in checks {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if present {
            eprintln!(
                "berth: warning: process.{field} {value:?} is not applied: berth does not support {lsm} yet"
            );
        } else {
            eprintln!(
                "berth: warning: process.{field} {value:?} is ignored: this host has no {lsm}"
            );
        }
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}
