//! `exec`: runs one more process in a running container. The runtime joins the container's pid
//! namespace itself (that only affects children), forks once, and the child joins the others (user
//! first, mount last; or it chroots into the init's root when the container shares the runtime's
//! mount table) after the parent has moved it into the container's cgroup; then it gets its
//! terminal, applies the process config (user, caps, seccomp of the container) and execs. The child
//! is non-dumpable until exec, so the container cannot reach the runtime binary through
//! `/proc/<pid>/exe` while it is still the runtime.

use super::create::{clone_into, write_pid_file};
use super::run::{forwarded_signals, supervise};
use super::state::State;
use crate::cgroups::{self, SelfJoin};
use crate::console;
use crate::init::{self, Msg};
use crate::namespaces;
use crate::sys::RealSys;
use crate::{rootfs, security, Result, RuntimeError};
use berth_oci::runtime::{LinuxNamespaceType, Process};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: i32,
}

/// Runs the process; returns its exit code (0 at once when detached).
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let state = State::load(&opts.root, &opts.id)?;
    let status = state.status(&opts.root);
    if !status.can_exec() {
        return Err(RuntimeError::InvalidState {
            id: opts.id.clone(),
            state: status.to_string(),
            action: "exec",
        });
    }
    let process = &opts.process;
    let seccomp = state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone());
    security::validate(process, seccomp.as_ref())?;
    let filter = seccomp
        .as_ref()
        .map(|s| security::seccomp::cached(&opts.root, s))
        .transpose()?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(RuntimeError::invalid(
            "exec -t with -d needs --console-socket",
        ));
    }
    let cgroup = state.cgroup()?;
    let namespaces = namespaces::of_process(state.pid);
    let console_socket = match &opts.console_socket {
        Some(p) => Some(OwnedFd::from(
            std::os::unix::net::UnixStream::connect(p).map_err(|source| RuntimeError::Io {
                what: "connect console socket",
                path: p.clone(),
                source,
            })?,
        )),
        None => None,
    };
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| RuntimeError::Sys {
        what: "socketpair".into(),
        source,
    })?;
    // Non-dumpable before the fork: the child is in the container's pid namespace from its first
    // instruction, and must never expose /proc/<pid>/exe (the runtime binary) to the container.
    nix::sys::prctl::set_dumpable(false).map_err(|source| RuntimeError::Sys {
        what: "make the runtime non-dumpable".into(),
        source,
    })?;
    if let Some((_, path)) = namespaces
        .iter()
        .find(|(ns, _)| *ns == LinuxNamespaceType::Pid)
    {
        namespaces::join(LinuxNamespaceType::Pid, path)?;
    }
    let mask = forwarded_signals();
    if !opts.detach {
        mask.thread_block().map_err(|source| RuntimeError::Sys {
            what: "block signals".into(),
            source,
        })?;
    }
    let join: Vec<_> = namespaces
        .into_iter()
        .filter(|(ns, _)| *ns != LinuxNamespaceType::Pid)
        .collect();
    // As for the init (see cgroups::join): the process moves itself into the container's cgroup
    // through `tasks` files opened here (v1), or is cloned into it (v2), never waiting on the
    // kernel's global lock that a `cgroup.procs` write from here takes.
    let cgroup_join = SelfJoin::open(&cgroup).map_err(RuntimeError::from)?;
    let clone_target = cgroups::clone_target(&cgroup).map_err(RuntimeError::from)?;
    let parent_raw = parent_sock.as_raw_fd();
    let mut child = ExecChild {
        process,
        seccomp: filter.as_ref(),
        join: &join,
        chroot: rootfs::shared::applies(&state.config)
            .then(|| PathBuf::from(format!("/proc/{}/root", state.pid))),
        sync: child_sock,
        console_socket,
        preserve_fds: opts.preserve_fds,
        cgroup_join,
    };
    let (pid, in_cgroup) = clone_into(
        nix::sched::CloneFlags::empty(),
        clone_target.as_ref().map(|fd| fd.as_fd()),
        || {
            // SAFETY: closing the child's copy of the parent's end; the child never uses it.
            unsafe { libc::close(parent_raw) };
            child.main();
        },
    )?;
    // Our copies of the child's end, the console socket and the `tasks` files: the parent must
    // see EOF on the socket.
    drop(child);
    drop(clone_target);
    let fail = |e: RuntimeError| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        e
    };
    let sock = parent_sock.as_fd();
    if !in_cgroup && matches!(cgroup.hierarchy(), cgroups::Hierarchy::V2(_)) {
        // clone3 refused: the slow way.
        cgroup.add_process(pid).map_err(|e| fail(e.into()))?;
    }
    init::send_msg(sock, Msg::Go, &[]).map_err(fail)?;
    let mut terminal_fd = None;
    loop {
        match init::recv_msg(sock).map_err(fail)? {
            Some((Msg::Terminal, _, fd)) => terminal_fd = fd,
            Some((Msg::Error, payload, _)) => return Err(fail(init::reported_error(&payload))),
            Some((m, ..)) => {
                return Err(fail(RuntimeError::Other(format!(
                    "setup socket: unexpected {m:?}"
                ))))
            }
            None => break,
        }
    }
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    if opts.detach {
        return Ok(0);
    }
    supervise(pid, terminal_fd, &mask)
}

struct ExecChild<'a> {
    process: &'a Process,
    seccomp: Option<&'a security::seccomp::Program>,
    join: &'a [(LinuxNamespaceType, PathBuf)],
    /// The init's root (`/proc/<pid>/root`) to chroot into, for a container that shares the
    /// runtime's mount table (joining a mount namespace would set the root otherwise).
    chroot: Option<PathBuf>,
    sync: OwnedFd,
    console_socket: Option<OwnedFd>,
    preserve_fds: i32,
    /// The v1 `tasks` files the child writes itself into, first thing.
    cgroup_join: Option<SelfJoin>,
}

impl ExecChild<'_> {
    fn main(&mut self) -> ! {
        let err = match self.setup() {
            Ok(()) => RuntimeError::Other("exec returned".into()),
            Err(e) => e,
        };
        if init::send_error(self.sync.as_fd(), &err).is_err() {
            eprintln!("berth exec: {err}");
        }
        std::process::exit(1)
    }

    fn setup(&mut self) -> Result<()> {
        if let Some(join) = self.cgroup_join.take() {
            join.join()?;
        }
        // Only stdio, the preserved fds and our two sockets stay open (see init::close_other_fds).
        let keep = [
            Some(self.sync.as_raw_fd()),
            self.console_socket.as_ref().map(|s| s.as_raw_fd()),
        ];
        init::close_other_fds(
            self.preserve_fds,
            &keep.into_iter().flatten().collect::<Vec<_>>(),
        )?;
        let sys = |what: &'static str| {
            move |source| RuntimeError::Sys {
                what: what.into(),
                source,
            }
        };
        crate::signals::reset_dispositions();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
            .map_err(sys("unblock signals"))?;
        nix::sys::prctl::set_dumpable(false).map_err(sys("make exec process non-dumpable"))?;
        init::expect_msg(self.sync.as_fd(), Msg::Go)?;
        namespaces::join_all(self.join)?;
        if let Some(root) = &self.chroot {
            rootfs::chroot(root, &RealSys)?;
        }
        let p = self.process;
        if p.terminal().unwrap_or(false) {
            let pty = console::Pty::open(Path::new("/dev/ptmx"))?;
            if let Some(size) = p.console_size() {
                console::set_size(
                    pty.master.as_fd(),
                    size.height() as u16,
                    size.width() as u16,
                )?;
            }
            match &self.console_socket {
                Some(s) => console::send_fd(
                    s.as_fd(),
                    pty.master.as_fd(),
                    &format!("/dev/pts/{}", pty.number),
                )?,
                None => console::send_fd_tagged(
                    self.sync.as_fd(),
                    pty.master.as_fd(),
                    Msg::Terminal as u8,
                )?,
            }
            let slave = console::open_peer(pty.master.as_fd())?;
            drop(pty);
            console::make_stdio(slave)?;
        }
        init::enter_cwd(p.cwd())?;
        let cstrings = |v: &Option<Vec<String>>, field: &str| -> Result<Vec<CString>> {
            v.iter()
                .flatten()
                .map(|a| {
                    CString::new(a.as_bytes())
                        .map_err(|_| RuntimeError::invalid(format!("{field}: NUL byte")))
                })
                .collect()
        };
        let argv = cstrings(p.args(), "process.args")?;
        let env = init::environment(p.env().as_deref().unwrap_or_default())?;
        let program = init::resolve_program(
            p.args().as_deref().unwrap_or_default(),
            p.env().as_deref().unwrap_or_default(),
        )?;
        init::mark_cloexec(3 + self.preserve_fds.max(0))?;
        security::prepare_exec(p, self.seccomp)?;
        init::close_sync(&self.sync)?;
        let err = nix::unistd::execve(&program, &argv, &env).err();
        Err(init::exec_failed(
            &program,
            err.unwrap_or(nix::Error::UnknownErrno),
        ))
    }
}
