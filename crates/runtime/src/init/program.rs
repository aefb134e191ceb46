//! The program a container process runs: found as runc finds it (Go's `exec.LookPath` inside the
//! container), the error kinds Docker gives a program that is missing (127) or cannot run (126), and
//! the environment it gets.

use super::cstring;
use crate::error::ErrorKind;
use crate::{Result, RuntimeError};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The error of a failed `execve` of `program`, with Docker's kinds: ENOENT is
/// [`ErrorKind::CommandNotFound`], EACCES, ENOEXEC and EISDIR [`ErrorKind::NotExecutable`].
pub fn exec_failed(program: &std::ffi::CStr, errno: nix::Error) -> RuntimeError {
    RuntimeError::failed(
        ErrorKind::of_exec_errno(errno),
        format!("exec {:?}: {}", program, errno.desc()),
    )
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

/// The process's environment for `execve`: `process.env` without the entries that have no `=`.
/// A bare `NAME` is what the docker CLI sends for `-e NAME` when NAME is unset on the client;
/// Docker keeps it in the config and runc leaves it out of the environment, and so does Berth.
pub fn environment(env: &[String]) -> Result<Vec<CString>> {
    env.iter()
        .filter(|kv| kv.contains('='))
        .map(|kv| cstring(kv.as_bytes(), "process.env"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_left_out_of_the_environment() {
        let env = ["A=1".to_string(), "UNSET".into(), "B=".into()];
        let got: Vec<String> = environment(&env)
            .unwrap()
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        assert_eq!(got, ["A=1", "B="]);
    }
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
}
