//! Small file helpers shared by the v1 and v2 writers: every error names the file, and writes never
//! create files (a missing cgroup file means a missing controller or kernel feature).

use super::CgroupError;
use nix::unistd::Pid;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes `value` to an existing cgroup file in one `write`.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

/// An existing cgroup file kept open for several writes, each taken by the kernel on its own
/// (v1's `devices.allow` takes one rule per `write`).
pub(crate) struct Writer {
    path: PathBuf,
    file: std::fs::File,
}

impl Writer {
    pub(crate) fn open(path: &Path) -> Result<Writer, CgroupError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| CgroupError::Write {
                path: path.to_path_buf(),
                value: String::new(),
                source,
            })?;
        Ok(Writer {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes `value` in one `write`.
    pub(crate) fn write(&mut self, value: &str) -> Result<(), CgroupError> {
        self.file
            .write_all(value.as_bytes())
            .map_err(|source| CgroupError::Write {
                path: self.path.clone(),
                value: value.to_string(),
                source,
            })
    }
}

pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A trimmed one-line file, e.g. `cpuset.cpus`.
pub(crate) fn read_trimmed(path: &Path) -> Result<String, CgroupError> {
    Ok(read(path)?.trim().to_string())
}

pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read_trimmed(path)?;
    text.parse().map_err(|_| CgroupError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{text:?} is not a number"),
        ),
    })
}

/// The number after `key` in a flat keyed file (`key value` lines), e.g. `memory.events`.
pub(crate) fn read_key(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    Ok(read(path)?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    }))
}

/// Appends the pids in `dir/cgroup.procs` and in every descendant cgroup to `out`.
pub(crate) fn collect_pids(dir: &Path, out: &mut Vec<Pid>) -> Result<(), CgroupError> {
    for line in read(&dir.join("cgroup.procs"))?.lines() {
        if let Ok(pid) = line.trim().parse::<i32>() {
            out.push(Pid::from_raw(pid));
        }
    }
    for child in child_dirs(dir)? {
        collect_pids(&child, out)?;
    }
    Ok(())
}

fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

/// Removes cgroup `dir` and its child cgroups, bottom-up. A missing directory is success; a busy
/// one (tasks still exiting) is retried until `deadline`. The common case, a leaf, costs one
/// `rmdir`: children are listed only when the kernel says the directory is busy.
pub(crate) fn remove_tree(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    let mut listed = false;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // cgroupfs says EBUSY with child cgroups; a plain directory ENOTEMPTY.
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) && !listed =>
            {
                listed = true;
                for child in child_dirs(dir)? {
                    remove_tree(&child, deadline)?;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Polls `check` every 2 ms until it holds or `deadline` passes.
pub(crate) fn wait_until(
    deadline: Instant,
    what: &'static str,
    path: &Path,
    mut check: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    loop {
        if check()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::Timeout {
                what,
                path: path.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes `root/rel` one component at a time; returns the directories it created, outermost
/// first, so a failed create can remove exactly those.
pub(crate) fn mkdirs(root: &Path, rel: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut made = Vec::new();
    let mut dir = root.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match std::fs::create_dir(&dir) {
            Ok(()) => made.push(dir.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                remove_made(&made);
                return Err(CgroupError::Create { path: dir, source });
            }
        }
    }
    Ok(made)
}

/// Best-effort removal of directories `mkdirs` created, innermost first.
pub(crate) fn remove_made(made: &[PathBuf]) {
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}
