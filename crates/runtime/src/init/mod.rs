//! The setup process: the one child that `create` clones, and that becomes the container's PID 1 by
//! `execve`. It runs single-threaded (a clone of a single-threaded runtime) and talks to its parent
//! over a `SOCK_SEQPACKET` socketpair ([`Msg`]); it reports a failure as an `E` message and exits.
//!
//! The whole sequence, parent (P, in the runtime's namespaces) and child (C):
//!  1. P: load and validate the spec, make the state dir, create the cgroup with its limits, make
//!     the exec fifo and open it `O_PATH`, connect the console socket, join a pid namespace by
//!     path, become non-dumpable (inherited by the child: no process of the container can open
//!     `/proc/<pid>/exe`, the runtime binary, before the exec), open the cgroup's way in
//!     ([`crate::cgroups::join`]: v1 `tasks` files, v2 the directory), then `clone` the one child
//!     with the new namespaces' flags (user included, cgroup not); on v2 `clone3` with
//!     `CLONE_INTO_CGROUP` puts it in its cgroup at birth.
//!  2. C: on v1, write `0` to each inherited `tasks` file (moves itself into the cgroup) and close
//!     them; unblock signals (`run` blocked them to forward them), stay non-dumpable, wait for `G`.
//!  3. P (meanwhile): write the uid/gid maps (new user namespace); on v2 only if `clone3` was
//!     refused, move the child in through `cgroup.procs`; set its oom_score_adj; send `G` with the
//!     state JSON for the hooks.
//!
//!     Why the child moves itself: a write to `cgroup.procs` takes the kernel's global
//!     `cgroup_threadgroup_rwsem` for writing, and the first taking after a quiet spell waits for
//!     an RCU grace period (5–20 ms here, most of a start). A thread moving only itself (`0` into
//!     v1's `tasks`) skips that lock, and `CLONE_INTO_CGROUP` takes only its read side. The files
//!     are opened by P because the kernel checks the opener's credentials: C may already be an
//!     unmapped uid of a new user namespace. C is single-threaded, so its one thread is the
//!     whole process. Before the join C has only run the few instructions after `clone` (its
//!     pages are P's, copied on write), so everything that must be accounted or limited —
//!     memory touched during setup, pids, device access for `mknod`, the cgroup namespace's root —
//!     happens inside the cgroup, as when P moved it in before `G`.
//!  4. C: join namespaces by path (user first, mount last), unshare the rest when a user namespace
//!     was joined, become root of a new user namespace, unshare the cgroup namespace (now that it
//!     is in its cgroup), bring `lo` up in a network namespace of its own, set hostname and
//!     domainname.
//!  5. C: `rootfs::prepare` (propagation, bind rootfs, the spec's mounts, devices, /dev links).
//!     Without a mount namespace of its own, P bound the rootfs in step 1 (`rootfs::shared`) and
//!     C mounts below that bind in the shared mount table, then enters with chroot in step 9.
//!  6. C: with `process.terminal`: open a pty in the container's devpts, bind its slave on
//!     /dev/console, send the master to the console socket (or to P with `T`, for `run` to relay).
//!  7. C: ask P for the runtime-namespace hooks with `H`; P runs prestart and createRuntime, `D`.
//!  8. C: createContainer hooks (container namespaces, before pivot_root).
//!  9. C: `rootfs::pivot`, sysctls (while /proc/sys is still writable), then `rootfs::finish`
//!     (masked/read-only paths, read-only root); the pty slave becomes stdio and controlling tty; chdir to `process.cwd`; resolve
//!     the program in the process's `PATH`; mark every fd above stdio (and preserved fds) CLOEXEC.
//! 10. C: `security::prepare_exec` (rlimits, bounding set, user, caps, no_new_privs, seccomp).
//! 11. C: close the socketpair: P sees EOF with C alive, saves `state.json` (created) and returns.
//! 12. C: open the exec fifo for writing through `/proc/self/fd`, which blocks until `start` opens
//!     it for reading; write one byte; run startContainer hooks; `execve`.

use crate::cgroups::SelfJoin;
use crate::console::{self, Pty};
use crate::namespaces::{self, Plan};
use crate::sys::{RealSys, Sys};
use crate::{hooks, rootfs, security, Result, RuntimeError};
use berth_oci::runtime::Spec;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

mod fds;
mod program;
mod sync;

pub use fds::{close_other_fds, enter_cwd, mark_cloexec};
pub use program::{environment, exec_failed, resolve_program};
pub use sync::{
    close_sync, expect_msg, recv_msg, reported_error, send_error, send_msg, Msg, Received,
};

/// Everything the child needs, prepared by the parent before `clone`.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    /// The child's end of the socketpair.
    pub sync: OwnedFd,
    /// A connected `--console-socket`.
    pub console_socket: Option<OwnedFd>,
    /// The exec fifo, opened `O_PATH`.
    pub fifo: OwnedFd,
    pub no_pivot: bool,
    /// Descriptors 3..3+n passed to the container (`--preserve-fds`).
    pub preserve_fds: i32,
    /// cgroup v1: the `tasks` files the init writes itself into (step 2).
    pub cgroup_join: Option<SelfJoin>,
    /// `linux.seccomp`, compiled (step 10 loads it).
    pub seccomp: Option<&'a security::seccomp::Program>,
}

/// The child's entry point after `clone`; never returns.
pub fn child_main(mut args: InitArgs<'_>) -> ! {
    let err = match setup(&mut args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The socket may be closed already (after step 11): then stderr is all we have.
    if send_error(args.sync.as_fd(), &err).is_err() {
        eprintln!("berth init: {err}");
    }
    std::process::exit(1)
}

pub(crate) fn sys_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Sys { what, source }
}

/// Steps 2 to 12; returns only when something failed (else it has exec'ed).
fn setup(args: &mut InitArgs<'_>) -> Result<std::convert::Infallible> {
    // 2. Into the cgroup first: everything after this is accounted and limited there.
    if let Some(join) = args.cgroup_join.take() {
        join.join()?;
    }
    // Nothing of the runtime's may stay open where the container's code or its cwd can reach it
    // (CVE-2024-21626): only stdio, the preserved fds and the three we still need.
    let keep = [
        Some(args.sync.as_raw_fd()),
        Some(args.fifo.as_raw_fd()),
        args.console_socket.as_ref().map(|s| s.as_raw_fd()),
    ];
    close_other_fds(
        args.preserve_fds,
        &keep.into_iter().flatten().collect::<Vec<_>>(),
    )?;
    let args = &*args;
    let spec = args.spec;
    let sys = RealSys;
    let sync = args.sync.as_fd();
    // The parent blocked signals to forward them; the container must start with none blocked.
    crate::signals::reset_dispositions();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(sys_err("unblock signals"))?;
    nix::sys::prctl::set_dumpable(false).map_err(sys_err("make setup process non-dumpable"))?;
    let state_json = expect_msg(sync, Msg::Go)?;

    // 4. Namespaces.
    namespaces::join_all(&args.plan.join)?;
    namespaces::unshare_now(args.plan.unshare_flags)?;
    // In a user namespace of its own or joined (as runc does): root there, so what the setup
    // makes is owned by an id the namespace maps.
    let joined_user = args
        .plan
        .join
        .iter()
        .any(|(ns, _)| *ns == berth_oci::runtime::LinuxNamespaceType::User);
    if args.plan.new_user || joined_user {
        let root = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root, root, root)
            .map_err(sys_err("become gid 0 in the user namespace"))?;
        let root = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(root, root, root)
            .map_err(sys_err("become uid 0 in the user namespace"))?;
    }
    if args.plan.new_cgroup {
        namespaces::unshare_now(nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
    }
    if args.plan.new_net() {
        namespaces::loopback_up().map_err(sys_err("bring lo up in the new network namespace"))?;
    }
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sys.sethostname(name)
            .map_err(sys_err(format!("set hostname {name:?}")))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys.setdomainname(name)
            .map_err(sys_err(format!("set domainname {name:?}")))?;
    }

    // 5. Mounts.
    rootfs::prepare(spec, args.rootfs, &sys)?;

    // 6. Terminal.
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Other("spec has no process".into()))?;
    let pty = if process.terminal().unwrap_or(false) {
        Some(open_console(args, &sys)?)
    } else {
        None
    };

    // 7, 8. Hooks before pivot_root.
    if let Some(h) = spec.hooks() {
        let runtime_side = h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty());
        if runtime_side {
            send_msg(sync, Msg::Hooks, &[])?;
            expect_msg(sync, Msg::HooksDone)?;
        }
        hooks::run(
            "createContainer",
            h.create_container().as_ref(),
            &state_json,
        )?;
    }

    // 9. Into the rootfs.
    if rootfs::shared::applies(spec) {
        rootfs::chroot(args.rootfs, &sys)?;
    } else {
        rootfs::pivot(args.rootfs, args.no_pivot, &sys)?;
    }
    // Sysctls go through the container's /proc/sys, before `finish` makes it read-only.
    write_sysctls(spec, &sys)?;
    rootfs::finish(spec, &sys)?;
    if let Some(pty) = pty {
        let slave = console::open_peer(pty.master.as_fd())?;
        drop(pty);
        console::make_stdio(slave)?;
    }
    enter_cwd(process.cwd())?;
    let argv: Vec<CString> = process
        .args()
        .iter()
        .flatten()
        .map(|a| cstring(a.as_bytes(), "process.args"))
        .collect::<Result<_>>()?;
    let env = environment(process.env().as_deref().unwrap_or_default())?;
    let program = resolve_program(
        process.args().as_deref().unwrap_or_default(),
        process.env().as_deref().unwrap_or_default(),
    )?;
    mark_cloexec(3 + args.preserve_fds.max(0))?;

    // 10. Privileges.
    security::prepare_exec(process, args.seccomp)?;

    // 11. Ready: the parent sees EOF.
    close_sync(&args.sync)?;

    // 12. Wait for start, then exec.
    wait_for_start(args.fifo.as_fd())?;
    if let Some(h) = spec.hooks() {
        hooks::run("startContainer", h.start_container().as_ref(), &state_json)?;
    }
    let err = nix::unistd::execve(&program, &argv, &env).err();
    Err(exec_failed(
        &program,
        err.unwrap_or(nix::Error::UnknownErrno),
    ))
}

fn open_console(args: &InitArgs<'_>, sys: &dyn Sys) -> Result<Pty> {
    let pts = args.rootfs.join("dev/pts");
    let ptmx = pts.join("ptmx");
    let pty = Pty::open(if ptmx.exists() {
        &ptmx
    } else {
        Path::new("/dev/ptmx")
    })?;
    rootfs::bind_console(args.rootfs, &pty.slave_path(&pts), sys)?;
    if let Some(size) = args.spec.process().as_ref().and_then(|p| p.console_size()) {
        console::set_size(
            pty.master.as_fd(),
            size.height() as u16,
            size.width() as u16,
        )?;
    }
    let name = format!("/dev/pts/{}", pty.number);
    match &args.console_socket {
        Some(sock) => console::send_fd(sock.as_fd(), pty.master.as_fd(), &name)?,
        None => {
            console::send_fd_tagged(args.sync.as_fd(), pty.master.as_fd(), Msg::Terminal as u8)?
        }
    }
    Ok(pty)
}

pub(crate) fn cstring(bytes: &[u8], field: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| RuntimeError::invalid(format!("{field}: contains a NUL byte")))
}

/// Blocks until `start` opens the exec fifo, then writes the byte it waits for.
fn wait_for_start(fifo: BorrowedFd<'_>) -> Result<()> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let fd = nix::fcntl::open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open exec fifo"))?;
    nix::unistd::write(&fd, b"0").map_err(sys_err("write exec fifo"))?;
    Ok(())
}

fn write_sysctls(spec: &Spec, sys: &dyn Sys) -> Result<()> {
    let sysctls = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default();
    for (key, value) in sysctls {
        if key.is_empty()
            || key.starts_with('/')
            || key.split(['.', '/']).any(|c| c.is_empty() || c == "..")
        {
            return Err(RuntimeError::Other(format!(
                "linux.sysctl: invalid key {key:?}"
            )));
        }
        // `net.ipv4.ip_forward` or `net/ipv4/ip_forward` (the latter allows dots in names).
        let rel = if key.contains('/') {
            key.clone()
        } else {
            key.replace('.', "/")
        };
        // Through the procfs helper: a mount over /proc/sys (CVE-2025-52881 class) is refused,
        // never written.
        let path = PathBuf::from("/proc/sys").join(rel);
        rootfs::procfs::write(sys, &path, value.as_bytes())?;
    }
    Ok(())
}
