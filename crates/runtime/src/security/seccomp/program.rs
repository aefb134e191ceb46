//! A compiled seccomp filter: the classic BPF program libseccomp generates for a profile, and the
//! kernel flags to load it with. The runtime's parent compiles it (or finds it in the
//! [`super::cache`]) before it clones the init, so the init's only seccomp work is one `seccomp(2)`
//! call, and a profile that does not compile fails `create` before any process exists.

use berth_oci::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};

/// Size of one `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k).
const INSN: usize = 8;
/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// A loadable filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// `struct sock_filter`s in host byte order, as libseccomp exports them.
    bpf: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` for `seccomp(SECCOMP_SET_MODE_FILTER, ...)`.
    flags: libc::c_ulong,
}

impl Program {
    /// Wraps an exported program; refuses one that is empty, ragged or too long for the kernel.
    pub fn from_bpf(bpf: Vec<u8>, seccomp: &LinuxSeccomp) -> Result<Program, String> {
        if bpf.is_empty() || bpf.len() % INSN != 0 {
            return Err(format!(
                "{} bytes is not a whole number of BPF instructions",
                bpf.len()
            ));
        }
        if bpf.len() / INSN > MAX_INSNS {
            return Err(format!(
                "{} instructions is more than the kernel's limit of {MAX_INSNS}",
                bpf.len() / INSN
            ));
        }
        Ok(Program {
            bpf,
            flags: load_flags(seccomp),
        })
    }

    /// The program's bytes (as exported).
    pub fn bpf(&self) -> &[u8] {
        &self.bpf
    }

    /// Loads the filter into the calling thread (no_new_privs is the caller's business, as
    /// with libseccomp's `NNP` attribute off).
    pub fn load(&self) -> Result<(), nix::Error> {
        let insns: Vec<libc::sock_filter> = self
            .bpf
            .chunks_exact(INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let prog = libc::sock_fprog {
            // `from_bpf` keeps the length at most MAX_INSNS.
            len: insns.len() as libc::c_ushort,
            filter: insns.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `insns`, which outlive the call; the kernel copies the
        // program and does not keep the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = nix::Error::last();
        if err != nix::Error::ENOSYS || self.flags != 0 {
            return Err(err);
        }
        // A kernel before seccomp(2) (3.17) still takes flag-less filters through prctl.
        // SAFETY: as above; PR_SET_SECCOMP reads the program once.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(nix::Error::last())
        }
    }
}

/// The kernel flags of the profile's `flags`. `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` only
/// means something with a notify listener, which Berth refuses, so it is dropped.
fn load_flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        })
        .fold(0, |acc, f| acc | f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ragged_empty_and_oversized_programs_are_refused() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert!(Program::from_bpf(Vec::new(), &p).is_err());
        assert!(Program::from_bpf(vec![0; 12], &p).is_err());
        assert!(Program::from_bpf(vec![0; (MAX_INSNS + 1) * INSN], &p).is_err());
        assert!(Program::from_bpf(vec![0; 16], &p).is_ok());
    }

    #[test]
    fn flags_map_to_the_kernel_flags() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
        );
        let prog = Program::from_bpf(vec![0; 8], &p).unwrap();
        assert_eq!(
            prog.flags,
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
    }
}
