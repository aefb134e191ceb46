//! cgroup v2 device rules: the effective [`DeviceRule`] list compiled by hand into a small
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, loaded with the `bpf(2)` syscall and attached to the
//! cgroup directory (`BPF_F_ALLOW_MULTI`, so nested cgroups can attach their own). Updating attaches
//! the new program first and then detaches the old ones, so there is no window without rules.
//!
//! The program reads the kernel's `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32
//! minor; }` (type in the low 16 bits of `access_type`, access bits above) and tests the rules
//! last-to-first: the first match decides, as a later rule overrides an earlier one in v1.

use super::devices::{DeviceKind, DeviceRule, ACC_ALL};
use super::CgroupError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (class | operation | source).
const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

/// `BPF_DEVCG_DEV_*`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Compiles `rules` (in spec order; later rules win) into a program. Registers: r2 = device type,
/// r3 = requested access, r4 = major, r5 = minor, r6 scratch; r0 = 1 allows, 0 denies.
pub fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Each check jumps to the end of this rule's block when it does not match; the offset is
        // patched once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Char => block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)),
        }
        if rule.access != ACC_ALL {
            // allow: every requested bit must be in the rule; deny: any requested bit is.
            let (mask, jump) = if rule.allow {
                (!rule.access & ACC_ALL, JMP_JNE_K)
            } else {
                (rule.access, JMP_JEQ_K)
            };
            block.push(insn(ALU64_MOV_X, 6, 3, 0, 0));
            block.push(insn(ALU64_AND_K, 6, 0, 0, mask as i32));
            block.push(insn(jump, 6, 0, 0, 0));
        }
        for (reg, num) in [(4, rule.major), (5, rule.minor)] {
            if let Some(n) = num {
                block.push(insn(JMP_JNE_K, reg, 0, 0, n as i32));
            }
        }
        let unconditional = block.is_empty();
        let checks = block.len();
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate().take(checks) {
            if ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
        if unconditional {
            // Earlier rules can never be reached (the verifier refuses dead code).
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

// bpf(2) commands, program and attach types.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for `BPF_PROG_LOAD`.
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with `attr`; returns the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> nix::Result<i64> {
    // SAFETY: `attr` is a live, properly sized `#[repr(C)]` prefix of `union bpf_attr` for `cmd`,
    // and any pointers inside it point to buffers that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    nix::errno::Errno::result(rc)
}

fn fd_from(rc: i64) -> OwnedFd {
    // SAFETY: bpf(2) returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(rc as i32) }
}

/// Loads the program for `rules`, attaches it to cgroup `dir` and detaches the programs that were
/// attached there before.
pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let err = |what, source| CgroupError::Bpf {
        path: dir.to_path_buf(),
        what,
        source,
    };
    let prog = compile(rules);
    let license = c"Apache-2.0";
    let mut load = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    load.prog_name[..9].copy_from_slice(b"berth_dev");
    let prog_fd = match bpf(BPF_PROG_LOAD, &mut load) {
        Ok(fd) => fd_from(fd),
        Err(nix::Error::EINVAL) | Err(nix::Error::EACCES) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            load.log_level = 1;
            load.log_size = log.len() as u32;
            load.log_buf = log.as_mut_ptr() as u64;
            let result = bpf(BPF_PROG_LOAD, &mut load);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            return Err(CgroupError::BpfVerifier {
                path: dir.to_path_buf(),
                log: String::from_utf8_lossy(&log[..end]).trim().to_string(),
                errno: result.err().unwrap_or(nix::Error::EINVAL),
            });
        }
        Err(e) => return Err(err("load", e)),
    };

    let cgroup = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err("open the cgroup directory", e))?;
    let old = attached(&cgroup).map_err(|e| err("query attached programs", e))?;
    let mut attach = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| err("attach", e))?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
            Ok(fd) => fd_from(fd),
            Err(nix::Error::ENOENT) => continue,
            Err(e) => return Err(err("open an old program", e)),
        };
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        match bpf(BPF_PROG_DETACH, &mut detach) {
            Ok(_) | Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(err("detach an old program", e)),
        }
    }
    Ok(())
}

/// Ids of the device programs attached directly to `cgroup`.
fn attached(cgroup: &OwnedFd) -> nix::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut query = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut query)?;
    Ok(ids[..(query.prog_cnt as usize).min(ids.len())].to_vec())
}
