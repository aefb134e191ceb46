//! The process's privileges: capabilities, seccomp, rlimits, user and groups, no_new_privs,
//! oom_score_adj — everything between "namespaces and rootfs are ready" and "exec".
//!
//! [`prepare_exec`] is the one entry point of the init process; it applies the spec's settings in
//! the order the kernel demands. [`validate`] checks the same settings before any process exists,
//! so bad input fails `create` early with an error naming the field.
//!
//! Submodules: [`caps`] (capability sets, Docker's default set), [`seccomp`] (filters, Docker's
//! default profile through [`docker_profile`]), [`rlimits`], [`user`], [`lsm`].

pub mod caps;
pub mod docker_profile;
mod kernel;
mod lsm;
mod rlimits;
pub mod seccomp;
mod user;

use berth_oci::runtime::{LinuxSeccomp, Process};
use std::path::PathBuf;

pub use lsm::warn_unsupported_lsm;

/// Why the process's privileges could not be checked or set up.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("process.capabilities.{set}: unknown capability {name}")]
    UnknownCapability { set: &'static str, name: String },
    #[error("set the {set} capability set (process.capabilities.{set}): {message}")]
    Capabilities { set: &'static str, message: String },
    #[error("process.rlimits[{index}]: {name} soft limit {soft} is above its hard limit {hard}")]
    RlimitOrder {
        index: usize,
        name: String,
        soft: u64,
        hard: u64,
    },
    #[error("process.rlimits[{index}]: {name} is listed twice")]
    RlimitDuplicate { index: usize, name: String },
    #[error("set rlimit {name} (process.rlimits) to soft {soft}, hard {hard}: {source}")]
    Rlimit {
        name: String,
        soft: u64,
        hard: u64,
        #[source]
        source: nix::Error,
    },
    #[error("process.user.umask: {0:#o} is not a permission mask (0 to 0o777)")]
    Umask(u32),
    #[error("{what}: {source}")]
    User {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("set no_new_privs (process.noNewPrivileges): {0}")]
    NoNewPrivs(#[source] nix::Error),
    #[error("invalid {field}: {message}")]
    SeccompInvalid { field: String, message: String },
    #[error("seccomp (linux.seccomp): {what}: {message}")]
    Seccomp { what: String, message: String },
    #[error("process.oomScoreAdj: {0} is outside -1000..=1000")]
    OomScoreAdjRange(i32),
    #[error("write {value} to {path} (process.oomScoreAdj): {source}")]
    OomScoreAdj {
        value: i32,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks the process's security settings without touching the kernel, naming the offending
/// field. [`prepare_exec`] calls it too; the core may call it earlier, before forking.
pub fn validate(process: &Process, seccomp: Option<&LinuxSeccomp>) -> Result<(), SecurityError> {
    rlimits::validate(process.rlimits().as_deref().unwrap_or_default())?;
    user::validate(process.user())?;
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(SecurityError::OomScoreAdjRange(adj));
        }
    }
    if let Some(caps) = process.capabilities() {
        caps::Plan::new(caps, &::caps::all())?;
    }
    if let Some(seccomp) = seccomp {
        seccomp::validate(seccomp)?;
    }
    Ok(())
}

/// Everything between "namespaces and rootfs are ready" and "wait for start, then exec", in order:
/// rlimits, bounding-set drop, user/groups switch keeping capabilities, the capability sets
/// (inheritable, effective, permitted, then ambient), no_new_privs, seccomp.
///
/// Seccomp comes before the user switch and the capability drop when no_new_privileges is off,
/// since loading a filter then needs CAP_SYS_ADMIN; when it is on, the filter is loaded last, so
/// it constrains as little of Berth's own setup as possible. Either way the filter is in place
/// while the caller waits for `start`, so it must allow what that wait and `execve` need (every
/// realistic profile does).
///
/// The filter comes compiled ([`seccomp::cached`], in the runtime's parent before the clone).
pub fn prepare_exec(
    process: &Process,
    filter: Option<&seccomp::Program>,
) -> Result<(), SecurityError> {
    prepare_exec_with(&kernel::Real, process, filter)
}

/// [`prepare_exec`] through the kernel seam `k`.
fn prepare_exec_with(
    k: &impl kernel::Kernel,
    process: &Process,
    filter: Option<&seccomp::Program>,
) -> Result<(), SecurityError> {
    validate(process, None)?;
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    let load = |filter: &seccomp::Program| {
        k.load_seccomp(filter).map_err(|e| SecurityError::Seccomp {
            what: "load the filter into the kernel".into(),
            message: e.to_string(),
        })
    };

    rlimits::apply(k, process.rlimits().as_deref().unwrap_or_default())?;
    let plan = match process.capabilities() {
        Some(c) => caps::Plan::new(c, &k.supported_caps())?,
        None => caps::Plan::default(),
    };
    plan.drop_bounding(k)?;
    if let (Some(f), false) = (filter, no_new_privs) {
        load(f)?;
    }
    user::switch(k, process.user())?;
    plan.apply(k)?;
    if no_new_privs {
        k.set_no_new_privs().map_err(SecurityError::NoNewPrivs)?;
        if let Some(f) = filter {
            load(f)?;
        }
    }
    Ok(())
}

/// Writes `value` to `/proc/<pid>/oom_score_adj`.
pub fn set_oom_score_adj(pid: nix::unistd::Pid, value: i32) -> Result<(), SecurityError> {
    if !(-1000..=1000).contains(&value) {
        return Err(SecurityError::OomScoreAdjRange(value));
    }
    let path = PathBuf::from(format!("/proc/{pid}/oom_score_adj"));
    std::fs::write(&path, value.to_string()).map_err(|source| SecurityError::OomScoreAdj {
        value,
        path,
        source,
    })
}

/// Writes a debug line on stderr when `BERTH_DEBUG` is set (non-empty and not `0`).
fn debug(args: std::fmt::Arguments<'_>) {
    if std::env::var_os("BERTH_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("berth: debug: {args}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::kernel::fake::Recording;
    use super::*;

    fn process(json: serde_json::Value) -> Process {
        let mut base = serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}});
        if let (Some(b), Some(extra)) = (base.as_object_mut(), json.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn profile() -> seccomp::Program {
        let p: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        seccomp::program(&p).unwrap()
    }

    fn user_process(nnp: bool) -> Process {
        process(serde_json::json!({
            "user": {"uid": 1000, "gid": 100, "additionalGids": [10, 20], "umask": 0o22},
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"], "inheritable": [], "ambient": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
            "noNewPrivileges": nnp,
        }))
    }

    const SWITCH: [&str; 7] = [
        "setgroups [10, 20]",
        "setresgid 100",
        "set_keepcaps true",
        "setresuid 1000",
        "set_keepcaps false",
        "umask 22",
        "set_caps Inheritable ",
    ];

    #[test]
    fn with_no_new_privs_the_filter_is_loaded_last() {
        let k = Recording::new(20000);
        prepare_exec_with(&k, &user_process(true), Some(&profile())).unwrap();
        let mut want = vec!["setrlimit RLIMIT_NOFILE 1024 4096", "drop_bounding"];
        want.extend(SWITCH);
        want.extend([
            "set_caps Effective CAP_KILL",
            "set_caps Permitted CAP_KILL",
            // CAP_KILL is ambient in the spec but not inheritable: the kernel would refuse it,
            // so it is not raised (as runc and crun).
            "clear_ambient",
            "set_no_new_privs",
            "load_seccomp",
        ]);
        assert_eq!(k.calls(), want);
    }

    #[test]
    fn without_no_new_privs_the_filter_is_loaded_while_still_privileged() {
        let k = Recording::new(20000);
        prepare_exec_with(&k, &user_process(false), Some(&profile())).unwrap();
        let calls = k.calls();
        assert_eq!(
            calls[..3],
            [
                "setrlimit RLIMIT_NOFILE 1024 4096",
                "drop_bounding",
                "load_seccomp"
            ]
        );
        assert_eq!(calls[3..10], SWITCH);
        assert!(!calls.iter().any(|c| c == "set_no_new_privs"), "{calls:?}");
        assert_eq!(calls.iter().filter(|c| *c == "load_seccomp").count(), 1);
    }

    #[test]
    fn without_capabilities_in_the_spec_the_sets_are_left_alone() {
        let k = Recording::new(20000);
        prepare_exec_with(&k, &process(serde_json::json!({})), None).unwrap();
        let calls = k.calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("set_caps") || c == "drop_bounding"),
            "{calls:?}"
        );
        assert_eq!(calls[..2], ["setgroups []", "setresgid 0"]);
    }

    #[test]
    fn an_rlimit_above_the_hard_limit_is_clamped() {
        let k = Recording::new(20000);
        let p = process(serde_json::json!({
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 30000, "hard": 40000}]}));
        prepare_exec_with(&k, &p, None).unwrap();
        assert_eq!(
            k.calls()[..2],
            [
                "setrlimit RLIMIT_NOFILE 30000 40000",
                "setrlimit RLIMIT_NOFILE 20000 20000"
            ]
        );
    }

    #[test]
    fn a_bad_profile_fails_to_compile_naming_the_field() {
        let bad: LinuxSeccomp =
            serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap();
        let err = seccomp::program(&bad).unwrap_err();
        assert!(
            err.to_string().contains("linux.seccomp.defaultAction"),
            "{err}"
        );
    }

    #[test]
    fn oom_score_adj_is_range_checked() {
        let p = process(serde_json::json!({"oomScoreAdj": 1001}));
        let err = validate(&p, None).unwrap_err().to_string();
        assert!(err.contains("process.oomScoreAdj"), "{err}");
    }
}
