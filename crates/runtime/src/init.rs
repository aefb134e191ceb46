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
use crate::error::ErrorKind;
use crate::namespaces::{self, Plan};
use crate::sys::{RealSys, Sys};
use crate::{hooks, rootfs, security, Result, RuntimeError};
use berth_oci::runtime::Spec;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::socket::{send, MsgFlags};
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One message on the parent↔child socketpair: a tag byte and a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// P→C: maps written and cgroup joined; payload: the state JSON for hooks.
    Go = b'G' as isize,
    /// C→P: run the prestart and createRuntime hooks now.
    Hooks = b'H' as isize,
    /// P→C: hooks done.
    HooksDone = b'D' as isize,
    /// C→P: the pty master (SCM_RIGHTS) for the parent to relay.
    Terminal = b'T' as isize,
    /// C→P: setup failed; payload: the [`ErrorKind`] tag byte, then the message
    /// ([`send_error`], [`reported_error`]).
    Error = b'E' as isize,
}

/// Sends `msg` with `payload`.
pub fn send_msg(sock: BorrowedFd<'_>, msg: Msg, payload: &[u8]) -> Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + 1);
    buf.push(msg as u8);
    buf.extend_from_slice(payload);
    send(sock.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)
        .map(drop)
        .map_err(|source| RuntimeError::Sys {
            what: "write to setup socket".into(),
            source,
        })
}

/// A received message: its tag, payload and the fd it carried.
pub type Received = (Msg, Vec<u8>, Option<OwnedFd>);

/// Receives one message; `None` at EOF (the peer closed its end).
pub fn recv_msg(sock: BorrowedFd<'_>) -> Result<Option<Received>> {
    let (fd, data) = console::recv_msg(sock)?;
    let Some((&tag, payload)) = data.split_first() else {
        return Ok(None);
    };
    let msg = [
        Msg::Go,
        Msg::Hooks,
        Msg::HooksDone,
        Msg::Terminal,
        Msg::Error,
    ]
    .into_iter()
    .find(|m| *m as u8 == tag)
    .ok_or_else(|| RuntimeError::Other(format!("setup socket: unknown message {tag:#x}")))?;
    Ok(Some((msg, payload.to_vec(), fd)))
}

/// Reports `err` to the parent as an `E` message: its kind's tag byte, then its message.
pub fn send_error(sock: BorrowedFd<'_>, err: &RuntimeError) -> Result<()> {
    let message = err.to_string();
    let mut payload = Vec::with_capacity(message.len() + 1);
    payload.push(err.kind().tag());
    payload.extend_from_slice(message.as_bytes());
    send_msg(sock, Msg::Error, &payload)
}

/// The error an `E` message's payload reports, with the kind the child gave it.
pub fn reported_error(payload: &[u8]) -> RuntimeError {
    match payload.split_first() {
        Some((&tag, message)) => {
            RuntimeError::failed(ErrorKind::from_tag(tag), String::from_utf8_lossy(message))
        }
        None => RuntimeError::Other("container setup failed without a message".into()),
    }
}

/// Waits for `want`, turning an `E` message or EOF into an error.
pub fn expect_msg(sock: BorrowedFd<'_>, want: Msg) -> Result<Vec<u8>> {
    match recv_msg(sock)? {
        Some((m, payload, _)) if m == want => Ok(payload),
        Some((Msg::Error, payload, _)) => Err(reported_error(&payload)),
        Some((m, ..)) => Err(RuntimeError::Other(format!(
            "setup socket: got {m:?}, want {want:?}"
        ))),
        None => Err(RuntimeError::Other(format!(
            "setup socket closed while waiting for {want:?}"
        ))),
    }
}

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

fn sys_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
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
    for (ns, path) in &args.plan.join {
        namespaces::join(*ns, path)?;
    }
    namespaces::unshare_now(args.plan.unshare_flags)?;
    if args.plan.new_user {
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
    let env: Vec<CString> = process
        .env()
        .iter()
        .flatten()
        .map(|a| cstring(a.as_bytes(), "process.env"))
        .collect::<Result<_>>()?;
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

/// The error of a failed `execve` of `program`, with Docker's kinds: ENOENT is
/// [`ErrorKind::CommandNotFound`], EACCES, ENOEXEC and EISDIR [`ErrorKind::NotExecutable`].
pub fn exec_failed(program: &std::ffi::CStr, errno: nix::Error) -> RuntimeError {
    RuntimeError::failed(
        ErrorKind::of_exec_errno(errno),
        format!("exec {:?}: {}", program, errno.desc()),
    )
}

/// Ends the setup conversation while the socket's `OwnedFd` lives on (borrowed by the caller):
/// shutting the socket down makes the peer see EOF, and a later error report fails harmlessly
/// (EPIPE). Nothing is opened by path: at this point the paths are the container's.
pub fn close_sync(sync: &OwnedFd) -> Result<()> {
    nix::sys::socket::shutdown(sync.as_raw_fd(), nix::sys::socket::Shutdown::Both)
        .map_err(sys_err("close setup socket"))
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

fn cstring(bytes: &[u8], field: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| RuntimeError::invalid(format!("{field}: contains a NUL byte")))
}

/// Finds `args[0]` as runc does (Go's `exec.LookPath`), inside the container, before the parent
/// is told the container is ready, so that a command that cannot run fails `create` with a kind:
/// a name without a slash is looked up in the process's `PATH` (entries that are not executable
/// files are skipped), a path is checked as it is. Missing is [`ErrorKind::CommandNotFound`]
/// (Docker exits 127), a directory or a file without execute permission for us
/// [`ErrorKind::NotExecutable`] (126); the messages are runc's, which the docker CLI reads.
pub fn resolve_program(args: &[String], env: &[String]) -> Result<CString> {
    let name = args.first().map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(RuntimeError::invalid(
            "process.args: no program to run (args[0] is missing or empty)",
        ));
    }
    if name.contains('/') {
        return match executable(Path::new(name)) {
            Ok(()) => cstring(name.as_bytes(), "process.args[0]"),
            Err(errno @ (nix::Error::ENOENT | nix::Error::ENOTDIR)) => Err(RuntimeError::failed(
                ErrorKind::of_exec_errno(errno),
                format!(
                    "exec: {name:?}: stat {name}: {}",
                    errno.desc().to_lowercase()
                ),
            )),
            Err(errno) => Err(RuntimeError::failed(
                ErrorKind::of_exec_errno(errno),
                format!("exec: {name:?}: {}", errno.desc().to_lowercase()),
            )),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = PathBuf::from(dir).join(name);
        if executable(&candidate).is_ok() {
            return cstring(candidate.as_os_str().as_bytes(), "process.args[0]");
        }
    }
    Err(RuntimeError::failed(
        ErrorKind::CommandNotFound,
        format!("exec: {name:?}: executable file not found in $PATH"),
    ))
}

/// Whether `execve` could run `path`: it exists, is not a directory, and we may execute it
/// (`access(X_OK)`, which also refuses a file on a `noexec` mount). The errno says why not.
fn executable(path: &Path) -> std::result::Result<(), nix::Error> {
    let st = nix::sys::stat::stat(path)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(nix::Error::EISDIR);
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
}

/// Closes every descriptor above stdio except the preserved ones (`3..3+preserve_fds`) and `keep`.
/// Runs in the process that will become the container's, before anything the container controls
/// (its cwd, its mounts, its program) is used: an inherited descriptor of a host directory (the
/// cgroup directory opened for `clone3`, anything of the shim's) would let `cwd` or the program
/// reach the host through `/proc/self/fd/N` (CVE-2024-21626).
pub fn close_other_fds(preserve_fds: i32, keep: &[RawFd]) -> Result<()> {
    let first = 3 + preserve_fds.max(0);
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first as libc::c_uint;
    for fd in keep {
        let fd = fd as libc::c_uint;
        if fd > from {
            close_range(from, fd - 1)?;
        }
        from = fd + 1;
    }
    close_range(from, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> Result<()> {
    // SAFETY: close_range closes descriptors of this process only; the caller keeps every
    // descriptor an owned object still refers to out of the range (or never uses it again: the
    // process is the container's from here on, and std objects of the parent are not used).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    if rc < 0 {
        return Err(sys_err("close the runtime's descriptors")(
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// Changes to the process's working directory and makes sure it lies inside the container's root:
/// a cwd reached through a magic link (`/proc/self/fd/N`, `/proc/<pid>/cwd`) can be a directory
/// outside it, from which `..` walks the host (CVE-2024-21626). The kernel reports such a cwd as
/// unreachable: `getcwd` fails (ENOENT) or answers a path that does not start with `/`.
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).map_err(sys_err(format!("chdir to process.cwd {}", cwd.display())))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: getcwd writes at most `buf.len()` bytes into our buffer. The raw syscall (not libc's
    // wrapper) so the kernel's "(unreachable)" answer is seen as it is.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let inside = rc > 0 && buf.first() == Some(&b'/');
    if !inside {
        return Err(RuntimeError::Other(format!(
            "process.cwd {}: the working directory is outside the container's root; refusing to \
             start (possible container breakout)",
            cwd.display()
        )));
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec, so nothing of the runtime leaks.
pub fn mark_cloexec(first: i32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on our own descriptors.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(sys_err("mark descriptors close-on-exec")(nix::Error::last()));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            resolve_program(&["sh".into()], &env)
                .unwrap()
                .to_str()
                .unwrap(),
            "/bin/sh"
        );
        assert_eq!(
            resolve_program(&["/bin/sh".into()], &env)
                .unwrap()
                .to_str()
                .unwrap(),
            "/bin/sh"
        );
        let kind = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            resolve_program(&args, &env).map_err(|e| (e.kind(), e.to_string()))
        };
        assert_eq!(
            kind(&["no-such-program"]).unwrap_err(),
            (
                ErrorKind::CommandNotFound,
                "exec: \"no-such-program\": executable file not found in $PATH".into()
            )
        );
        assert_eq!(
            kind(&["/no/such/program"]).unwrap_err(),
            (
                ErrorKind::CommandNotFound,
                "exec: \"/no/such/program\": stat /no/such/program: no such file or directory"
                    .into()
            )
        );
        assert_eq!(
            kind(&["/etc"]).unwrap_err(),
            (
                ErrorKind::NotExecutable,
                "exec: \"/etc\": is a directory".into()
            )
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let plain = plain.to_str().unwrap();
        let (k, message) = kind(&[plain]).unwrap_err();
        assert_eq!(k, ErrorKind::NotExecutable, "{message}");
        assert!(message.ends_with(": permission denied"), "{message}");
        assert_eq!(kind(&[""]).unwrap_err().0, ErrorKind::InvalidArgument);
        // A directory of the same name earlier in PATH is skipped, as runc does.
        std::fs::create_dir(dir.path().join("sh")).unwrap();
        let env = vec![format!("PATH={}:/bin", dir.path().display())];
        assert_eq!(
            resolve_program(&["sh".into()], &env)
                .unwrap()
                .to_str()
                .unwrap(),
            "/bin/sh"
        );
    }

    #[test]
    fn a_failed_execve_has_dockers_kinds() {
        let program = CString::new("/bin/x").unwrap();
        let e = exec_failed(&program, nix::Error::ENOENT);
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
        assert_eq!(e.to_string(), "exec \"/bin/x\": No such file or directory");
        for errno in [nix::Error::EACCES, nix::Error::ENOEXEC, nix::Error::EISDIR] {
            assert_eq!(
                exec_failed(&program, errno).kind(),
                ErrorKind::NotExecutable
            );
        }
    }

    #[test]
    fn messages_round_trip() {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send_msg(a.as_fd(), Msg::Go, b"{}").unwrap();
        assert_eq!(expect_msg(b.as_fd(), Msg::Go).unwrap(), b"{}");
        send_error(a.as_fd(), &RuntimeError::Other("boom".into())).unwrap();
        let e = expect_msg(b.as_fd(), Msg::Go).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (ErrorKind::System, "boom".into())
        );
        drop(a);
        assert!(recv_msg(b.as_fd()).unwrap().is_none());
    }

    /// What the setup process reports reaches the parent with its kind, for every kind.
    #[test]
    fn error_kinds_survive_the_setup_socket() {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (child, parent) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let missing = resolve_program(&["no-such-program".into()], &[]).unwrap_err();
        send_error(child.as_fd(), &missing).unwrap();
        let got = expect_msg(parent.as_fd(), Msg::Go).unwrap_err();
        assert_eq!(got.kind(), ErrorKind::CommandNotFound);
        assert_eq!(got.to_string(), missing.to_string());
        for kind in ErrorKind::ALL {
            send_error(child.as_fd(), &RuntimeError::failed(kind, "what failed")).unwrap();
            let Some((Msg::Error, payload, None)) = recv_msg(parent.as_fd()).unwrap() else {
                panic!("expected an E message");
            };
            let got = reported_error(&payload);
            assert_eq!((got.kind(), got.to_string()), (kind, "what failed".into()));
        }
        // The kind is its own byte: a message that starts like a tag is not read as one.
        send_error(child.as_fd(), &RuntimeError::Other("Conflicting".into())).unwrap();
        let got = expect_msg(parent.as_fd(), Msg::HooksDone).unwrap_err();
        assert_eq!(
            (got.kind(), got.to_string()),
            (ErrorKind::System, "Conflicting".into())
        );
        assert_eq!(reported_error(b"").kind(), ErrorKind::System);
    }
}
