//! The seam through which the security setup reaches the kernel: one method per privileged call
//! that [`super::prepare_exec`] makes, thin and policy-free. [`Real`] calls the kernel; the
//! recording fake of the unit tests logs each call in order (and fails the ones a test asks to),
//! so the order of the setup and the rlimit clamping are tested without root.

use super::seccomp::Program;
use ::caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use nix::sys::resource::Resource;
use nix::unistd::{Gid, Uid};

/// The privileged calls of the security setup. Errors are the kernel's (capability and seccomp
/// calls come through libraries that only give a message).
pub(super) trait Kernel {
    fn setrlimit(&self, res: Resource, soft: u64, hard: u64) -> Result<(), Errno>;
    fn getrlimit(&self, res: Resource) -> Result<(u64, u64), Errno>;
    /// The capabilities the running kernel knows.
    fn supported_caps(&self) -> CapsHashSet;
    fn drop_bounding(&self, cap: Capability) -> Result<(), String>;
    /// Sets the effective, permitted or inheritable set.
    fn set_caps(&self, set: CapSet, value: &CapsHashSet) -> Result<(), String>;
    fn clear_ambient(&self) -> Result<(), String>;
    fn raise_ambient(&self, cap: Capability) -> Result<(), String>;
    fn setgroups_denied(&self) -> bool;
    fn setgroups(&self, gids: &[Gid]) -> Result<(), Errno>;
    fn setresgid(&self, gid: Gid) -> Result<(), Errno>;
    fn setresuid(&self, uid: Uid) -> Result<(), Errno>;
    fn set_keepcaps(&self, keep: bool) -> Result<(), Errno>;
    fn umask(&self, mask: u32);
    fn set_no_new_privs(&self) -> Result<(), Errno>;
    fn load_seccomp(&self, program: &Program) -> Result<(), Errno>;
}

/// The kernel itself.
pub(super) struct Real;

impl Kernel for Real {
    fn setrlimit(&self, res: Resource, soft: u64, hard: u64) -> Result<(), Errno> {
        nix::sys::resource::setrlimit(res, soft, hard)
    }
    fn getrlimit(&self, res: Resource) -> Result<(u64, u64), Errno> {
        nix::sys::resource::getrlimit(res)
    }
    fn supported_caps(&self) -> CapsHashSet {
        ::caps::runtime::thread_all_supported()
    }
    fn drop_bounding(&self, cap: Capability) -> Result<(), String> {
        ::caps::drop(None, CapSet::Bounding, cap).map_err(|e| e.to_string())
    }
    fn set_caps(&self, set: CapSet, value: &CapsHashSet) -> Result<(), String> {
        ::caps::set(None, set, value).map_err(|e| e.to_string())
    }
    fn clear_ambient(&self) -> Result<(), String> {
        ::caps::clear(None, CapSet::Ambient).map_err(|e| e.to_string())
    }
    fn raise_ambient(&self, cap: Capability) -> Result<(), String> {
        ::caps::raise(None, CapSet::Ambient, cap).map_err(|e| e.to_string())
    }
    fn setgroups_denied(&self) -> bool {
        std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
    }
    fn setgroups(&self, gids: &[Gid]) -> Result<(), Errno> {
        nix::unistd::setgroups(gids)
    }
    fn setresgid(&self, gid: Gid) -> Result<(), Errno> {
        nix::unistd::setresgid(gid, gid, gid)
    }
    fn setresuid(&self, uid: Uid) -> Result<(), Errno> {
        nix::unistd::setresuid(uid, uid, uid)
    }
    fn set_keepcaps(&self, keep: bool) -> Result<(), Errno> {
        nix::sys::prctl::set_keepcaps(keep)
    }
    fn umask(&self, mask: u32) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    fn set_no_new_privs(&self) -> Result<(), Errno> {
        nix::sys::prctl::set_no_new_privs()
    }
    fn load_seccomp(&self, program: &Program) -> Result<(), Errno> {
        program.load()
    }
}

/// A recording fake for unit tests.
#[cfg(test)]
pub(super) mod fake {
    use super::*;
    use std::cell::RefCell;

    /// Records every call as a line of text; `setrlimit` above `hard_limit` fails with EPERM
    /// (as without CAP_SYS_RESOURCE).
    pub struct Recording {
        pub calls: RefCell<Vec<String>>,
        pub hard_limit: u64,
    }

    impl Recording {
        pub fn new(hard_limit: u64) -> Recording {
            Recording {
                calls: RefCell::new(Vec::new()),
                hard_limit,
            }
        }
        fn log(&self, call: String) {
            self.calls.borrow_mut().push(call);
        }
        /// The calls so far, with the per-capability bounding drops folded into one line.
        pub fn calls(&self) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for c in self.calls.borrow().iter() {
                if c.starts_with("drop_bounding")
                    && out.last().is_some_and(|l| l == "drop_bounding")
                {
                    continue;
                }
                out.push(if c.starts_with("drop_bounding") {
                    "drop_bounding".into()
                } else {
                    c.clone()
                });
            }
            out
        }
    }

    fn sorted(value: &CapsHashSet) -> String {
        let mut v: Vec<String> = value.iter().map(|c| c.to_string()).collect();
        v.sort();
        v.join(",")
    }

    impl Kernel for Recording {
        fn setrlimit(&self, res: Resource, soft: u64, hard: u64) -> Result<(), Errno> {
            self.log(format!("setrlimit {res:?} {soft} {hard}"));
            if hard > self.hard_limit {
                return Err(Errno::EPERM);
            }
            Ok(())
        }
        fn getrlimit(&self, _res: Resource) -> Result<(u64, u64), Errno> {
            Ok((self.hard_limit, self.hard_limit))
        }
        fn supported_caps(&self) -> CapsHashSet {
            ::caps::all()
        }
        fn drop_bounding(&self, cap: Capability) -> Result<(), String> {
            self.log(format!("drop_bounding {cap}"));
            Ok(())
        }
        fn set_caps(&self, set: CapSet, value: &CapsHashSet) -> Result<(), String> {
            self.log(format!("set_caps {set:?} {}", sorted(value)));
            Ok(())
        }
        fn clear_ambient(&self) -> Result<(), String> {
            self.log("clear_ambient".into());
            Ok(())
        }
        fn raise_ambient(&self, cap: Capability) -> Result<(), String> {
            self.log(format!("raise_ambient {cap}"));
            Ok(())
        }
        fn setgroups_denied(&self) -> bool {
            false
        }
        fn setgroups(&self, gids: &[Gid]) -> Result<(), Errno> {
            let raw: Vec<u32> = gids.iter().map(|g| g.as_raw()).collect();
            self.log(format!("setgroups {raw:?}"));
            Ok(())
        }
        fn setresgid(&self, gid: Gid) -> Result<(), Errno> {
            self.log(format!("setresgid {gid}"));
            Ok(())
        }
        fn setresuid(&self, uid: Uid) -> Result<(), Errno> {
            self.log(format!("setresuid {uid}"));
            Ok(())
        }
        fn set_keepcaps(&self, keep: bool) -> Result<(), Errno> {
            self.log(format!("set_keepcaps {keep}"));
            Ok(())
        }
        fn umask(&self, mask: u32) {
            self.log(format!("umask {mask:o}"));
        }
        fn set_no_new_privs(&self) -> Result<(), Errno> {
            self.log("set_no_new_privs".into());
            Ok(())
        }
        fn load_seccomp(&self, _program: &Program) -> Result<(), Errno> {
            self.log("load_seccomp".into());
            Ok(())
        }
    }
}
