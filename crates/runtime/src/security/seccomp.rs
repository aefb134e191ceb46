//! `linux.seccomp`: validating a profile and compiling it with libseccomp into a loadable
//! [`Program`] (BPF), kept in a [`cache`] under the state root so each profile compiles once.
//!
//! Rules follow runc's reading of the spec: syscall names the kernel or libseccomp does not know
//! are skipped (profiles list syscalls of every architecture and kernel); a rule whose action
//! equals the default action is redundant and skipped; argument conditions on distinct arguments
//! are ANDed in one rule, while several conditions on the same argument become one rule each
//! (ORed). `SCMP_CMP_MASKED_EQ` uses `value` as the mask and `valueTwo` as the expected result.
//! `SCMP_ACT_NOTIFY` needs a seccomp agent, which Berth does not support: it is refused.
//!
//! Loading does not set no_new_privs (libseccomp would by default): [`super::prepare_exec`]
//! decides that from the spec, and loads the filter while the process still has CAP_SYS_ADMIN
//! when no_new_privs is off.

mod cache;
mod program;

pub use cache::cached;
pub use program::Program;

use super::SecurityError;
use berth_oci::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

pub use super::docker_profile::docker_default;

/// The errno of `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` when the profile gives none.
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

fn invalid(field: String, message: impl Into<String>) -> SecurityError {
    SecurityError::SeccompInvalid {
        field,
        message: message.into(),
    }
}

fn lib_error(what: String) -> impl FnOnce(libseccomp::error::SeccompError) -> SecurityError {
    move |source| SecurityError::Seccomp {
        what,
        message: source.to_string(),
    }
}

/// Checks everything about `seccomp` that does not need the kernel, naming the offending field.
pub fn validate(seccomp: &LinuxSeccomp) -> Result<(), SecurityError> {
    action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction".into(),
    )?;
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        action(
            rule.action(),
            rule.errno_ret(),
            format!("linux.seccomp.syscalls[{i}].action"),
        )?;
        for (j, a) in rule.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(invalid(
                    format!("linux.seccomp.syscalls[{i}].args[{j}].index"),
                    format!("{} is not a syscall argument (0 to 5)", a.index()),
                ));
            }
        }
    }
    Ok(())
}

/// The libseccomp action of an OCI action; `field` names it in errors.
fn action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: String,
) -> Result<ScmpAction, SecurityError> {
    let ret = errno_ret.unwrap_or(DEFAULT_ERRNO);
    let ret16 = u16::try_from(ret).map_err(|_| {
        invalid(
            field.replace("action", "errnoRet"),
            format!("{ret} is above {}", u16::MAX),
        )
    })?;
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret16)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(invalid(
                field,
                "SCMP_ACT_NOTIFY needs a seccomp agent, which berth does not support; \
                 use another action",
            ))
        }
    })
}

fn arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn compare(a: &LinuxSeccompArg) -> ScmpArgCompare {
    // `index` is checked by `validate` to be at most 5.
    let index = a.index() as u32;
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(a.value()),
                a.value_two().unwrap_or(0),
            )
        }
    };
    ScmpArgCompare::new(index, op, a.value())
}

/// Compiles `seccomp` into a libseccomp filter, without loading it.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext, SecurityError> {
    validate(seccomp)?;
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction".into(),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib_error("create the filter".into()))?;
    ctx.set_ctl_nnp(false).map_err(lib_error(
        "clear the filter's no_new_privs attribute".into(),
    ))?;
    for a in seccomp.architectures().iter().flatten() {
        ctx.add_arch(arch(*a))
            .map_err(lib_error(format!("add architecture {a}")))?;
    }
    for flag in seccomp.flags().iter().flatten() {
        let what = format!("set flag {flag}");
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        }
        .map_err(lib_error(what))?;
    }
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let act = action(
            rule.action(),
            rule.errno_ret(),
            format!("linux.seccomp.syscalls[{i}].action"),
        )?;
        if act == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
        let args = rule.args().as_deref().unwrap_or_default();
        let repeated = args
            .iter()
            .enumerate()
            .any(|(j, a)| args[..j].iter().any(|b| b.index() == a.index()));
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                super::debug(format_args!(
                    "seccomp: skipping unknown syscall {name:?} (linux.seccomp.syscalls[{i}])"
                ));
                continue;
            };
            let what = || format!("add the rule for {name:?} (linux.seccomp.syscalls[{i}])");
            if conds.is_empty() {
                ctx.add_rule(act, syscall).map_err(lib_error(what()))?;
            } else if repeated {
                for c in &conds {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                        .map_err(lib_error(what()))?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &conds)
                    .map_err(lib_error(what()))?;
            }
        }
    }
    Ok(ctx)
}

/// Compiles `seccomp` into the BPF program libseccomp would load (no cache).
pub fn program(seccomp: &LinuxSeccomp) -> Result<Program, SecurityError> {
    use std::io::{Read, Seek};
    let ctx = compile(seccomp)?;
    let export = |what: &str, e: std::io::Error| SecurityError::Seccomp {
        what: format!("export the compiled filter: {what}"),
        message: e.to_string(),
    };
    let fd =
        nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| export("memfd_create", e.into()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .map_err(lib_error("export the compiled filter".into()))?;
    let mut bpf = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bpf))
        .map_err(|e| export("read back", e))?;
    Program::from_bpf(bpf, seccomp).map_err(|message| SecurityError::Seccomp {
        what: "export the compiled filter".into(),
        message,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::security::caps;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    /// libseccomp's human-readable form of the compiled filter, for the x86_64 part only.
    fn pfc(seccomp: &LinuxSeccomp) -> String {
        use std::io::{Read, Seek};
        let ctx = compile(seccomp).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        ctx.export_pfc(&file).unwrap();
        file.rewind().unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let start = text.find("# filter for arch x86_64").unwrap_or(0);
        let rest = &text[start + 1..];
        let end = rest
            .find("# filter for arch")
            .map_or(text.len(), |e| start + 1 + e);
        text[start..end].to_string()
    }

    fn err(seccomp: &LinuxSeccomp) -> String {
        match compile(seccomp) {
            Ok(_) => panic!("compiled"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn docker_default_compiles_to_the_expected_filter() {
        let text = pfc(&docker_default(&caps::docker_default()));
        assert!(text.contains("\"read\""), "{text}");
        assert!(!text.contains("\"kexec_load\""));
        assert!(!text.contains("\"mount\""));
        assert!(!text.contains("\"keyctl\""));
        let clone = text.find("\"clone\"").expect("a clone rule");
        assert!(text[clone..].contains("& 0x7e020000 == 0"), "{text}");
        assert!(
            text.contains("action ERRNO(38)"),
            "clone3 returns ENOSYS: {text}"
        );
        assert!(
            text.contains("action ERRNO(1)"),
            "the default is EPERM: {text}"
        );
    }

    #[test]
    fn unknown_syscalls_are_skipped_and_redundant_rules_dropped() {
        let text = pfc(&profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["no_such_syscall","getcwd"],"action":"SCMP_ACT_ALLOW"},
                {"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ));
        assert!(text.contains("\"getcwd\""), "{text}");
        assert!(!text.contains("\"uname\""), "{text}");
    }

    #[test]
    fn conditions_on_one_argument_are_ored_and_masked_eq_uses_value_two() {
        let text = pfc(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[
                    {"index":0,"value":7,"op":"SCMP_CMP_EQ"},
                    {"index":0,"value":9,"op":"SCMP_CMP_EQ"}]},
                {"names":["clone"],"action":"SCMP_ACT_KILL_PROCESS","args":[
                    {"index":0,"value":240,"valueTwo":16,"op":"SCMP_CMP_MASKED_EQ"},
                    {"index":1,"value":0,"op":"SCMP_CMP_NE"}]}]}"#,
        ));
        assert!(text.contains("== 7") && text.contains("== 9"), "{text}");
        assert!(text.contains("action ERRNO(13)"), "{text}");
        assert!(text.contains("& 0x000000f0 == 16"), "{text}");
        assert!(text.contains("action KILL_PROCESS"), "{text}");
    }

    #[test]
    fn notify_is_refused_naming_the_field() {
        let e = err(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["getcwd"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ));
        assert!(e.contains("linux.seccomp.syscalls[1].action"), "{e}");
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
        let e = err(&profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#));
        assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    }

    #[test]
    fn bad_errno_and_argument_index_are_refused_naming_the_field() {
        let e = err(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
        ));
        assert!(e.contains("linux.seccomp.syscalls[0].errnoRet"), "{e}");
        let e = err(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[
                    {"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
        ));
        assert!(e.contains("linux.seccomp.syscalls[0].args[0].index"), "{e}");
    }

    #[test]
    fn flags_and_architectures_are_accepted() {
        let text = pfc(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_LOG"}]}"#,
        ));
        assert!(text.contains("action LOG"), "{text}");
    }
}
