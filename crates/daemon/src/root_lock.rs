//! One daemon per data root: an exclusive `flock` on `<data-root>/berth.lock`, held for the
//! daemon's life (the kernel drops it when the process dies, kill -9 included). Two daemons on one
//! data root would each open the SQLite stores and the snapshots and undo each other's work; the
//! pid file alone could not stop that (it lives in the exec root, which the second daemon may
//! not share, and checking it then writing it races). `berth daemon --check` takes the same lock,
//! so it never reads stores a daemon is writing.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::DaemonError;

/// The lock file's name in the data root.
const LOCK_FILE: &str = "berth.lock";

/// The held lock; released when dropped.
pub struct RootLock {
    _file: Flock<File>,
}

impl RootLock {
    /// Takes the data root's lock, or says which process holds it.
    pub fn take(data_root: &Path) -> Result<RootLock, DaemonError> {
        std::fs::create_dir_all(data_root)
            .map_err(|e| DaemonError::io("creating directory", data_root, e))?;
        let path = data_root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| DaemonError::io("opening", &path, e))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(DaemonError::Unavailable(format!(
                    "data root {} is in use by another berth daemon{who}: stop it, or give this \
                     daemon its own --data-root",
                    data_root.display()
                )));
            }
            Err((_, errno)) => {
                return Err(DaemonError::io("locking", &path, errno.into()));
            }
        };
        // Who holds it, for the next one's message (advisory only).
        let _ = lock.set_len(0);
        let _ = lock.rewind();
        let _ = writeln!(*lock, "{}", std::process::id());
        Ok(RootLock { _file: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holders_pid_and_succeeds_once_released() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = RootLock::take(dir.path()).expect("first lock");
        // flock locks belong to the open file description: a second open in this process
        // conflicts as a second daemon's would.
        let err = RootLock::take(dir.path())
            .err()
            .expect("second lock refused");
        let msg = err.to_string();
        assert!(msg.contains("in use by another berth daemon"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        RootLock::take(dir.path()).expect("lock after release");
    }
}
