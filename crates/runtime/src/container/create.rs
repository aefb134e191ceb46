//! `create`: the parent's side of the setup (see [`crate::init`] for the whole sequence). Anything
//! made before a failure (state dir, fifo, cgroup, the child and its mounts) is undone by
//! [`Rollback`], so a failed create leaves nothing behind.

use super::state::{now_rfc3339, proc_stat, validate_id, State, EXEC_FIFO};
use crate::cgroups::{self, Cgroup, SelfJoin};
use crate::init::{self, InitArgs, Msg};
use crate::namespaces;
use crate::sys::RealSys;
use crate::{hooks, rootfs, security, spec, Result, RuntimeError};
use nix::fcntl::OFlag;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The options of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// `run` in the foreground without a console socket: the pty master comes back to the caller.
    pub relay_terminal: bool,
}

/// A created container: its state and, when relaying, the pty master.
pub struct Created {
    pub state: State,
    pub terminal: Option<OwnedFd>,
}

/// Undoes a partial create on drop unless disarmed.
struct Rollback {
    dir: PathBuf,
    cgroup: Option<Cgroup>,
    child: Option<Pid>,
    /// The rootfs bind in the shared mount table and its mount id (no mount namespace).
    shared_root: Option<(PathBuf, u64)>,
    armed: bool,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            // The child's mounts live in its own mount namespace: they go with it.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some((rootfs, id)) = &self.shared_root {
            if let Err(e) = rootfs::shared::release(rootfs, *id, &RealSys) {
                eprintln!("warning: roll back rootfs bind: {e}");
            }
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.destroy() {
                eprintln!("warning: roll back cgroup: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.to_path_buf();
    move |source| RuntimeError::Io { what, path, source }
}

/// Creates the container: on success its init is parked on the exec fifo.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    validate_id(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle).map_err(io("open bundle", &opts.bundle))?;
    let spec = spec::load(&bundle)?;
    let rootfs = std::fs::canonicalize(spec::rootfs_path(&spec, &bundle))
        .map_err(io("open rootfs", &bundle))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::invalid("spec has no process"))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.relay_terminal {
        return Err(RuntimeError::invalid(
            "process.terminal is set: pass --console-socket (or run in the foreground)",
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(RuntimeError::invalid(
            "--console-socket given but process.terminal is false",
        ));
    }
    let linux = spec.linux().as_ref();
    let seccomp = linux.and_then(|l| l.seccomp().as_ref());
    security::validate(process, seccomp)?;
    security::warn_unsupported_lsm(process);
    let filter = seccomp
        .map(|s| security::seccomp::cached(&opts.root, s))
        .transpose()?;
    let plan = namespaces::plan(&spec);

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&opts.root)
        .map_err(io("create state root", &opts.root))?;
    let dir = State::dir(&opts.root, &opts.id);
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RuntimeError::AlreadyExists(opts.id.clone()))
        }
        Err(e) => return Err(io("create state dir", &dir)(e)),
    }
    let mut rollback = Rollback {
        dir: dir.clone(),
        cgroup: None,
        child: None,
        shared_root: None,
        armed: true,
    };

    let cgroup = Cgroup::new(linux.and_then(|l| l.cgroups_path().as_deref()), &opts.id)?;
    cgroup.create(linux.and_then(|l| l.resources().as_ref()))?;
    rollback.cgroup = Some(cgroup.clone());

    if rootfs::shared::applies(&spec) {
        let id = rootfs::shared::bind(&rootfs, &RealSys)?;
        rollback.shared_root = Some((rootfs.clone(), id));
        rootfs::shared::save(&dir, id).map_err(io("record the rootfs bind in", &dir))?;
    }

    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622)).map_err(|source| {
        RuntimeError::Sys {
            what: format!("mkfifo {}", fifo_path.display()),
            source,
        }
    })?;
    // mkfifo honours the umask: set the mode the init (maybe another uid) needs explicitly.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(io("chmod", &fifo_path))?;
    let fifo = nix::fcntl::open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|source| RuntimeError::Sys {
            what: format!("open {}", fifo_path.display()),
            source,
        })?;
    let console_socket = match &opts.console_socket {
        Some(p) => Some(OwnedFd::from(
            std::os::unix::net::UnixStream::connect(p).map_err(io("connect console socket", p))?,
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
    if let Some(path) = &plan.pid_path {
        namespaces::join(berth_oci::runtime::LinuxNamespaceType::Pid, path)?;
    }
    // The child inherits non-dumpability at clone, so no process of a joined pid namespace can
    // open its /proc/<pid>/exe (the runtime binary) before it execs; the runtime loses nothing.
    nix::sys::prctl::set_dumpable(false).map_err(|source| RuntimeError::Sys {
        what: "make the runtime non-dumpable".into(),
        source,
    })?;

    // The init's way into its cgroup without the kernel's slow global lock (see cgroups::join):
    // on v1 it moves itself through `tasks` files opened here, on v2 it is cloned into it.
    let cgroup_join = SelfJoin::open(&cgroup)?;
    let clone_target = cgroups::clone_target(&cgroup)?;
    let args = InitArgs {
        spec: &spec,
        rootfs: &rootfs,
        plan: &plan,
        sync: child_sock,
        console_socket,
        fifo,
        no_pivot: opts.no_pivot,
        preserve_fds: opts.preserve_fds,
        cgroup_join,
        seccomp: filter.as_ref(),
    };
    let parent_raw = parent_sock.as_raw_fd();
    // Namespaces the new user namespace does not own: the init is born in them (see namespaces).
    let entered = namespaces::enter(&plan.parent_join)?;
    let cloned = clone_into(
        plan.clone_flags,
        clone_target.as_ref().map(|fd| fd.as_fd()),
        || {
            // SAFETY: the child closes its copy of the parent's end, so it sees EOF if the parent
            // dies; nothing in the child uses that descriptor.
            unsafe { libc::close(parent_raw) };
            init::child_main(args);
        },
    );
    let left = entered.leave();
    let (pid, in_cgroup) = cloned?;
    if let Err(e) = left {
        rollback.child = Some(pid);
        return Err(e);
    }
    rollback.child = Some(pid);
    // The child's end, console socket, fifo and `tasks` files were moved into the closure and
    // are closed now.
    drop(clone_target);
    let sock = parent_sock.as_fd();

    if plan.new_user {
        namespaces::write_id_maps(&spec, pid.as_raw())?;
    }
    if !in_cgroup && matches!(cgroup.hierarchy(), cgroups::Hierarchy::V2(_)) {
        // clone3 refused: the slow way.
        cgroup.add_process(pid)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(pid, adj)?;
    }
    let start_time = proc_stat(pid.as_raw()).map(|(_, t)| t).unwrap_or_default();
    let state = State {
        oci_version: spec.version().clone(),
        id: opts.id.clone(),
        pid: pid.as_raw(),
        start_time,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: now_rfc3339(),
        owner: nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        config: spec.clone(),
    };
    // The runtime environment exists now (lifecycle step 2): the spec calls that `created`, and
    // so does the state that prestart, createRuntime and createContainer hooks read.
    let hook_state = serde_json::to_vec(&state.oci(super::Status::Created))
        .map_err(|e| RuntimeError::Other(format!("encode state: {e}")))?;
    if let Err(e) = init::send_msg(sock, Msg::Go, &hook_state) {
        // The init can fail before the go-ahead (joining its cgroup); its report is then queued.
        return Err(match init::recv_msg(sock) {
            Ok(Some((Msg::Error, payload, _))) => init::reported_error(&payload),
            _ => e,
        });
    }

    let mut terminal = None;
    loop {
        match init::recv_msg(sock)? {
            Some((Msg::Hooks, ..)) => {
                let h = spec.hooks().as_ref();
                hooks::run(
                    "prestart",
                    h.and_then(|h| h.prestart().as_ref()),
                    &hook_state,
                )?;
                hooks::run(
                    "createRuntime",
                    h.and_then(|h| h.create_runtime().as_ref()),
                    &hook_state,
                )?;
                init::send_msg(sock, Msg::HooksDone, &[])?;
            }
            Some((Msg::Terminal, _, fd)) => terminal = fd,
            Some((Msg::Error, payload, _)) => return Err(init::reported_error(&payload)),
            Some((m, ..)) => {
                return Err(RuntimeError::Other(format!(
                    "setup socket: unexpected {m:?}"
                )))
            }
            None => break,
        }
    }
    if !state.init_alive() {
        return Err(RuntimeError::Other(format!(
            "init of {} exited during setup",
            opts.id
        )));
    }
    state.save(&opts.root)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    rollback.armed = false;
    Ok(Created { state, terminal })
}

/// `clone3`'s argument block (linux/sched.h, `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clones one child with `flags` (fork semantics: same stack, copied memory); the child runs
/// `child`, which must not return. With `cgroup` (a cgroup v2 directory) the child starts in that cgroup
/// (`clone3` with `CLONE_INTO_CGROUP`). Returns whether it did; when the kernel refuses that
/// (no `clone3`, a seccomp filter, a cgroup that takes no processes), it falls back to `clone`
/// and the caller moves the child in itself (where the refusal gets a proper error).
pub(crate) fn clone_into(
    flags: nix::sched::CloneFlags,
    cgroup: Option<BorrowedFd<'_>>,
    child: impl FnOnce(),
) -> Result<(Pid, bool)> {
    let mut rc = -1;
    let mut into = false;
    if let Some(fd) = cgroup {
        let args = CloneArgs {
            flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: fd.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: as for `clone` below (a single-threaded caller, fork semantics with stack 0
        // and stack_size 0); `args` lives across the call and its size is passed with it.
        rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        into = rc >= 0;
    }
    if rc < 0 {
        // SAFETY: the runtime is single-threaded (the whole crate's contract), so the child is a
        // consistent copy of this one thread, as after fork(2). With a null stack the child
        // continues on a copy of ours; it only runs `child`, which ends in execve or exit.
        rc = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags.bits() | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match rc {
        -1 => Err(RuntimeError::Sys {
            what: format!("clone the init with {flags:?}"),
            source: nix::Error::last(),
        }),
        0 => {
            child();
            std::process::exit(127)
        }
        pid => Ok((Pid::from_raw(pid as i32), into)),
    }
}

/// Writes `pid` to `path` atomically (temp file + rename), as engines read it at any time.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(io("write pid file", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename pid file to", path))
}
