//! `berth-init [--] command [args...]`: a container's PID 1 for `--init`. It blocks every signal,
//! forks the command (in its own process group, given the terminal when there is one), then waits
//! for signals: SIGCHLD reaps every exited child (the command's and orphans re-parented to PID 1),
//! any other signal is forwarded to the command. It exits with the command's code, or 128 + the
//! signal that killed it; leftover processes die with the PID namespace.
//!
//! Blocking the signals matters: the kernel drops signals sent to a namespace's PID 1 that has no
//! handler for them, but a blocked signal stays pending and `sigwait` takes it.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

use nix::errno::Errno;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, getpid, setpgid, tcsetpgrp, ForkResult, Pid};

fn main() {
    let Some(cmd) = berth_init::command(std::env::args_os()) else {
        eprintln!("berth-init: usage: berth-init [--] command [args...]");
        std::process::exit(2);
    };
    let mut original = SigSet::empty();
    if let Err(e) = sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut original),
    ) {
        fail(&format!("blocking signals: {e}"), 1);
    }
    // SAFETY: this process is single-threaded, so the child may run any code after fork.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_command(cmd, &original),
        Ok(ForkResult::Parent { child }) => supervise(child),
        Err(e) => fail(&format!("forking the command: {e}"), 1),
    }
}

fn fail(message: &str, code: i32) -> ! {
    eprintln!("berth-init: {message}");
    std::process::exit(code)
}

/// In the child: a process group of its own (the terminal's foreground group when there is one),
/// the original signal mask, then exec.
fn run_command(cmd: Vec<OsString>, original: &SigSet) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Not a terminal (ENOTTY) or none attached (ENXIO) is the common case, not an error.
    let _ = tcsetpgrp(std::io::stdin(), getpid());
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(original), None) {
        fail(&format!("restoring the signal mask: {e}"), 1);
    }
    let name = cmd[0].to_string_lossy().into_owned();
    let args: Result<Vec<CString>, _> = cmd
        .into_iter()
        .map(|a| CString::new(a.into_vec()))
        .collect();
    let Ok(args) = args else {
        fail(
            &format!("exec {name}: an argument contains a NUL byte"),
            126,
        );
    };
    let err = match execvp(&args[0], &args) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    fail(
        &format!("exec {name}: {err}"),
        berth_init::exec_failure_code(err),
    )
}

/// In PID 1: forward signals to the command, reap every child, exit with the command's code.
fn supervise(child: Pid) -> ! {
    let all = SigSet::all();
    loop {
        match all.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(child) {
                    std::process::exit(code);
                }
            }
            Ok(sig) => match kill(child, sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => eprintln!("berth-init: forwarding {sig} to {child}: {e}"),
            },
            Err(e) => fail(&format!("waiting for signals: {e}"), 1),
        }
    }
}

/// Reaps every exited child; the command's exit code once it has ended.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return result,
            Ok(status) if status.pid() == Some(child) => {
                if let Some(code) = berth_init::exit_code(status) {
                    result = Some(code);
                }
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => fail(&format!("reaping children: {e}"), 1),
        }
    }
}
