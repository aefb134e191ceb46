//! The container's exit status: derived from the init's wait status, and kept in `exit.json`
//! (written atomically: temp file, then rename) for a daemon that was not there to hear it.
//!
//! No fsync: the file lives in the exec root (tmpfs in production), whose contents mean nothing
//! after a reboot (every container is gone then), and a rename is atomic for readers and survives
//! a killed daemon or shim as it is. Two fsyncs on a disk-backed exec root cost the exit path a
//! couple of milliseconds, and a disk flush, for nothing.

use crate::protocol::{ExitStatus, EXIT_FILE};
use nix::sys::wait::WaitStatus;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `exit.json` could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("exit status {path}: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("exit status {path}: corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The exit status of a wait status (None for stops and continues).
pub fn from_wait(status: WaitStatus, oom_killed: bool) -> Option<ExitStatus> {
    let (exit_code, signal) = match status {
        WaitStatus::Exited(_, code) => (code, None),
        WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, Some(sig as i32)),
        _ => return None,
    };
    Some(ExitStatus {
        exit_code,
        signal,
        oom_killed,
        finished_at: berth_runtime::container::state::now_rfc3339(),
    })
}

/// Writes `<state_dir>/exit.json` atomically.
pub fn write(state_dir: &Path, status: &ExitStatus) -> Result<(), ExitFileError> {
    let path = state_dir.join(EXIT_FILE);
    let tmp = state_dir.join(".exit.json.tmp");
    let io = |what, p: &Path| {
        let path = p.to_path_buf();
        move |source| ExitFileError::Io { what, path, source }
    };
    let text = serde_json::to_vec(status).map_err(|source| ExitFileError::Corrupt {
        path: path.clone(),
        source,
    })?;
    let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(&text).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("rename to", &path))?;
    Ok(())
}

/// Reads `<state_dir>/exit.json`; None when there is none.
pub fn read(state_dir: &Path) -> Result<Option<ExitStatus>, ExitFileError> {
    let path = state_dir.join(EXIT_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ExitFileError::Io {
                what: "read",
                path,
                source,
            })
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| ExitFileError::Corrupt { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn codes_follow_docker() {
        let pid = Pid::from_raw(1);
        let e = from_wait(WaitStatus::Exited(pid, 3), false).unwrap();
        assert_eq!((e.exit_code, e.signal), (3, None));
        let k = from_wait(WaitStatus::Signaled(pid, Signal::SIGKILL, false), true).unwrap();
        assert_eq!((k.exit_code, k.signal, k.oom_killed), (137, Some(9), true));
        assert!(from_wait(WaitStatus::StillAlive, false).is_none());
    }

    #[test]
    fn exit_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let e = from_wait(WaitStatus::Exited(Pid::from_raw(1), 0), false).unwrap();
        write(dir.path(), &e).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(e));
        std::fs::write(dir.path().join(EXIT_FILE), "{").unwrap();
        assert!(matches!(
            read(dir.path()),
            Err(ExitFileError::Corrupt { .. })
        ));
    }
}
