//! The pure parts of `berth-init` (Berth's `--init`, Docker's `/sbin/docker-init`): reading its
//! command line and turning the command's wait status into the init's own exit code. The process
//! work (fork, exec, signal forwarding, reaping) lives in the binary, `src/main.rs`.

use std::ffi::OsString;

use nix::sys::wait::WaitStatus;

/// The command to run: the arguments after the program name, without a leading `--`.
/// `None` when there is no command.
pub fn command(args: impl IntoIterator<Item = OsString>) -> Option<Vec<OsString>> {
    let mut args: Vec<OsString> = args.into_iter().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    (!args.is_empty()).then_some(args)
}

/// The init's exit code for the command's wait status: its own code, or 128 + the signal that
/// killed it. `None` for states that are not an end (stopped, continued).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The exit code for a command that could not be executed, as a shell reports it: 127 when it
/// does not exist, 126 when it exists but cannot be run.
pub fn exec_failure_code(errno: nix::errno::Errno) -> i32 {
    match errno {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => 127,
        _ => 126,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_skips_program_name_and_separator() {
        assert_eq!(
            command(os(&["docker-init", "--", "sh", "-c", "x"])),
            Some(os(&["sh", "-c", "x"]))
        );
        assert_eq!(command(os(&["docker-init", "ps"])), Some(os(&["ps"])));
        assert_eq!(command(os(&["docker-init", "--", "--"])), Some(os(&["--"])));
        assert_eq!(command(os(&["docker-init", "--"])), None);
        assert_eq!(command(os(&["docker-init"])), None);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        let pid = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, true)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::Stopped(pid, Signal::SIGSTOP)), None);
        assert_eq!(exec_failure_code(nix::errno::Errno::ENOENT), 127);
        assert_eq!(exec_failure_code(nix::errno::Errno::EACCES), 126);
    }
}
