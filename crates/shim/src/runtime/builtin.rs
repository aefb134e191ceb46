//! The built-in runtime (`berth_runtime`), called in-process: the container's init is cloned
//! from the shim, so it is the shim's child from the start, and its pty master comes back
//! directly (no console socket).

use super::ExecRequest;
use crate::io::ProcIo;
use crate::protocol::{ErrorKind, ErrorReply, ShimConfig};
use berth_oci::runtime::LinuxResources;
use berth_runtime::cgroups::Cgroup;
use berth_runtime::container::{self, CreateOptions, ExecOptions};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::path::PathBuf;

/// A container of the built-in runtime.
pub struct Builtin {
    root: PathBuf,
    id: String,
    state: Box<container::State>,
}

impl Builtin {
    pub(super) fn create(cfg: &ShimConfig) -> Result<(Builtin, ProcIo), ErrorReply> {
        let opts = CreateOptions {
            root: cfg.runtime_root.clone(),
            id: cfg.id.clone(),
            bundle: cfg.bundle.clone(),
            relay_terminal: cfg.terminal,
            ..CreateOptions::default()
        };
        let (state, io) = if cfg.terminal {
            let created = container::create(&opts)?;
            let Some(master) = created.terminal else {
                let _ = container::delete(&cfg.runtime_root, &cfg.id, true);
                return Err(ErrorReply::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "shim: --terminal given but process.terminal is false in {}",
                        cfg.bundle.join("config.json").display()
                    ),
                ));
            };
            (created.state, ProcIo::terminal(master, cfg.stdin)?)
        } else {
            let (io, child) = ProcIo::pipes(cfg.stdin)?;
            let created = crate::io::with_stdio(&child, || container::create(&opts))??;
            (created.state, io)
        };
        let b = Builtin {
            root: cfg.runtime_root.clone(),
            id: cfg.id.clone(),
            state: Box::new(state),
        };
        Ok((b, io))
    }

    pub(super) fn init_pid(&self) -> Pid {
        self.state.init_pid()
    }

    pub(super) fn start(&self) -> Result<(), ErrorReply> {
        container::start(&self.root, &self.id)
            .map(drop)
            .map_err(ErrorReply::from)
    }

    pub(super) fn paused(&self) -> bool {
        self.state.status(&self.root) == container::Status::Paused
    }

    pub(super) fn kill(&self, signal: Signal, all: bool) -> Result<(), ErrorReply> {
        container::kill(&self.root, &self.id, signal, all).map_err(ErrorReply::from)
    }

    pub(super) fn pause(&self, freeze: bool) -> Result<(), ErrorReply> {
        container::pause(&self.root, &self.id, freeze).map_err(ErrorReply::from)
    }

    pub(super) fn update(&self, resources: &LinuxResources) -> Result<(), ErrorReply> {
        container::update(&self.root, &self.id, resources).map_err(ErrorReply::from)
    }

    pub(super) fn exec(&self, req: &ExecRequest<'_>) -> Result<(), ErrorReply> {
        let opts = ExecOptions {
            root: self.root.clone(),
            id: self.id.clone(),
            process: req.process.clone(),
            console_socket: req.console_socket.map(PathBuf::from),
            pid_file: Some(req.pid_file.to_path_buf()),
            detach: true,
            preserve_fds: 0,
        };
        container::exec(&opts).map(drop).map_err(ErrorReply::from)
    }

    pub(super) fn cgroup(&self) -> Option<Cgroup> {
        self.state.cgroup().ok()
    }

    pub(super) fn delete(&self) -> Result<(), ErrorReply> {
        container::delete(&self.root, &self.id, true).map_err(ErrorReply::from)
    }
}
