//! `berth shim`: the small per-container monitor process, its protocol and the daemon's client.
//!
//! The daemon execs one shim per container ([`client::spawn`]); the shim leaves the daemon's
//! session ([`daemonize`]), creates the container with its runtime ([`runtime`]: the built-in
//! one in-process, or an external runc-compatible executable such as runc or crun) so that the
//! container's init is its child, and serves a line protocol on `<state-dir>/shim.sock`
//! ([`protocol`], which documents the whole contract) from one single-threaded poll loop
//! ([`server`]): start, state, signals, resize, attach and exec streams ([`io`], [`exec`]), the
//! json-file log ([`log`]) and the exit status ([`exit`]). It outlives a daemon restart;
//! [`client::recover`] finds it again.
//!
//! Memory: the shim reads through one 16 KiB buffer, holds at most one chunk per connection, and
//! allocates nothing per byte; `berth-shim` is linked static and non-PIE (`build.rs`: no loader,
//! no shared libraries, no relocated data), and after setup and after each request the shim gives
//! back the code pages, free heap and stack it will not need again ([`memory`]). Measured with
//! `VmRSS` (release build, kernel 6.18, the `reports_its_memory*` root tests): about 1.0 MB beside
//! an idle running container (RssAnon 0.16 MB) and 1.6 MB while streaming output, down from
//! 3.6 MB and 3.8 MB dynamically linked; the multi-call `berth` binary (11 MB) sits at about 7 MB
//! in the same kind of loop. So the daemon execs `berth-shim` (same arguments, see [`protocol`]).
//!
//! The shim runs from a sealed in-memory copy of its executable (`berth_runtime::sealed_exe`): the
//! daemon execs every shim from one such copy, and a shim started otherwise re-execs itself through
//! one before anything else, so no container process can write the host's binary.
//!
//! Wiring into the multi-call binary: before any argument parsing, when `argv[1] == "shim"`, call
//! `std::process::exit(berth_shim::main(std::env::args_os().skip(2)))`; nothing may open a file
//! before that (the ready pipe is fd 3).

pub mod client;
pub mod daemonize;
pub mod exec;
pub mod exit;
pub mod io;
pub mod log;
pub mod memory;
pub mod protocol;
pub mod runtime;
pub mod server;

pub use client::{recover, spawn, Recovered, ShimError, ShimHandle};
pub use protocol::{ErrorKind, ErrorReply, ExitStatus, ShimConfig};

use std::path::{Path, PathBuf};

/// Runs the shim with its command line (a leading `shim` is skipped); returns the exit code of
/// the process. Only the detached shim returns from here; the intermediate process exits inside.
pub fn main<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    // Containers are cloned from the shim: it must run from a sealed copy of its executable
    // (the daemon execs it from one; anything else re-execs here, fd 3 staying open).
    let sealed = berth_runtime::sealed_exe::reexec_sealed();
    // Run from a sealed copy, the kernel names the process after its fd (`25`).
    let _ = nix::sys::prctl::set_name(c"berth-shim");
    let ready = daemonize::Ready::take();
    if let Err(e) = sealed {
        let e = ErrorReply::new(e.kind(), format!("shim: {e}"));
        eprintln!("{e}");
        ready.fail(&e);
        return 1;
    }
    let cfg = match protocol::ShimConfig::from_args(args) {
        Ok(cfg) => absolute(cfg),
        Err(e) => Err(ErrorReply::new(ErrorKind::InvalidArgument, e.to_string())),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            ready.fail(&e);
            return 2;
        }
    };
    if let Err(e) = daemonize::detach().and_then(|()| daemonize::settle(&cfg.state_dir)) {
        eprintln!("{e}");
        ready.fail(&ErrorReply::new(
            ErrorKind::of_errno(e.source),
            e.to_string(),
        ));
        return 1;
    }
    if let Err(e) = server::blocked_signals().thread_block() {
        let e = ErrorReply::new(ErrorKind::of_errno(e), format!("shim: block signals: {e}"));
        eprintln!("{e}");
        ready.fail(&e);
        return 1;
    }
    match server::Shim::create(cfg) {
        Ok(shim) => {
            ready.ok(std::process::id());
            shim.run()
        }
        Err(e) => {
            eprintln!("{e}");
            ready.fail(&e);
            1
        }
    }
}

/// Makes the paths absolute (the shim works in its state dir), creating the state dir.
fn absolute(mut cfg: protocol::ShimConfig) -> Result<protocol::ShimConfig, ErrorReply> {
    let io = |what: String| {
        move |e: std::io::Error| ErrorReply::new(ErrorKind::of_io(&e), format!("{what}: {e}"))
    };
    let cwd = std::env::current_dir().map_err(io("shim: current dir".into()))?;
    let abs = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    std::fs::create_dir_all(&cfg.state_dir).map_err(io(format!(
        "shim: create state dir {}",
        cfg.state_dir.display()
    )))?;
    cfg.state_dir = abs(&cfg.state_dir);
    cfg.bundle = abs(&cfg.bundle);
    cfg.runtime_root = abs(&cfg.runtime_root);
    cfg.log_path = cfg.log_path.as_deref().map(abs);
    Ok(cfg)
}
