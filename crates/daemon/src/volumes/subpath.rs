//! `volume-subpath` (`--mount type=volume,src=V,dst=/d,volume-subpath=sub/dir`, API 1.45+): the
//! container sees one directory or file inside its volume instead of the volume's root, as in
//! Docker 26+.
//!
//! - [`check`] is the request's lexical rule (Go's `filepath.IsLocal`): relative, not empty, and
//!   never climbing out with `..` (`a/../b` is fine);
//! - [`open`] resolves it inside the mounted volume with `openat2(RESOLVE_BENEATH)`: a symlink
//!   that stays inside the volume is followed, one that leads out (an absolute target, too many
//!   `..`) is refused as Docker refuses it ("path concatenation escapes the base directory"),
//!   and a path that is not there is Docker's "cannot access path" (404); nothing is created;
//! - [`SubpathMount::bind`] pins what was resolved: a bind of the opened descriptor onto a
//!   temporary mount point (dockerd's `safepath.Join`), which the runtime's spec then binds.
//!   A container sharing the volume that swaps a component for a symlink after the check
//!   changes nothing: the bind is of the file the descriptor holds. The temporary mount is
//!   detached and removed when the guard drops (after the runtime made its own bind), and a
//!   leftover from a daemon killed in between is swept by [`sweep`].

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use crate::error::DaemonError;

/// The prefix of the temporary mount points in a container's bundle.
const PREFIX: &str = "subpath-";

/// Whether `subpath` is a relative path that stays inside its base lexically (Go's
/// `filepath.IsLocal` on Unix).
pub fn check(subpath: &str) -> bool {
    if subpath.is_empty() || subpath.starts_with('/') {
        return false;
    }
    let mut depth: usize = 0;
    for part in subpath.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

fn not_accessible(volume: &Path, subpath: &str, e: Errno) -> DaemonError {
    let path = volume.join(subpath);
    DaemonError::NotFound(format!(
        "cannot access path {}: lstat {}: {}",
        path.display(),
        path.display(),
        e.desc().to_lowercase()
    ))
}

/// Opens `subpath` inside the volume whose files are at `volume`, with `flags` (`O_PATH` to pin
/// it, `O_RDONLY | O_DIRECTORY` to read it); see the module docs for what is refused.
pub fn open(volume: &Path, subpath: &str, flags: OFlag) -> Result<OwnedFd, DaemonError> {
    if !check(subpath) {
        return Err(DaemonError::InvalidArgument(
            "subpath must be a relative path within the volume".into(),
        ));
    }
    let base = nix::fcntl::open(
        volume,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| DaemonError::NotFound(format!("cannot access path {}: {e}", volume.display())))?;
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(&base, subpath, how).map_err(|e| match e {
        Errno::EXDEV => DaemonError::InvalidArgument(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {subpath}",
            volume.display()
        )),
        Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP => not_accessible(volume, subpath, e),
        e => DaemonError::Internal(format!(
            "opening {subpath} in volume {}: {e}",
            volume.display()
        )),
    })
}

/// A bind of a resolved subpath onto a temporary mount point; detached and removed on drop.
#[derive(Debug)]
pub struct SubpathMount {
    path: PathBuf,
}

impl SubpathMount {
    /// Resolves `subpath` in `volume` ([`open`]) and binds what it found onto `at` (made here,
    /// a directory or an empty file like its target; it must not exist).
    pub fn bind(volume: &Path, subpath: &str, at: &Path) -> Result<SubpathMount, DaemonError> {
        let fd = open(volume, subpath, OFlag::O_PATH)?;
        let st = nix::sys::stat::fstat(fd.as_fd())
            .map_err(|e| DaemonError::Internal(format!("stat of subpath {subpath}: {e}")))?;
        let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
        let made = if is_dir {
            std::fs::create_dir(at)
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(at)
                .map(drop)
        };
        made.map_err(|e| DaemonError::io("creating the mount point", at, e))?;
        // From here on the guard removes `at` whatever happens.
        let guard = SubpathMount {
            path: at.to_path_buf(),
        };
        let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
        nix::mount::mount(
            Some(source.as_str()),
            at,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            DaemonError::Internal(format!(
                "failed to mount resolved path {subpath} of {}: {e}",
                volume.display()
            ))
        })?;
        Ok(guard)
    }

    /// The temporary mount point: the path the runtime binds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SubpathMount {
    fn drop(&mut self) {
        release(&self.path);
    }
}

/// Detaches whatever is mounted at `path` and removes it.
fn release(path: &Path) {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "detaching a subpath mount"),
    }
    let removed = std::fs::remove_dir(path).or_else(|_| std::fs::remove_file(path));
    if let Err(e) = removed {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "removing a subpath mount point");
        }
    }
}

/// The temporary mount point of mount number `index` in directory `dir`.
pub fn mount_point(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{PREFIX}{index}"))
}

/// Detaches and removes the temporary mount points a daemon killed during a start left in
/// `dir`.
pub fn sweep(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(PREFIX) {
            release(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rule_is_gos_is_local() {
        for ok in ["a", "a/b", "a/../b", ".", "a/", "./a", "a//b", "a/b/.."] {
            assert!(check(ok), "{ok}");
        }
        for bad in ["", "/a", "..", "../a", "a/../..", "a/../../b", "./.."] {
            assert!(!check(bad), "{bad}");
        }
    }

    #[test]
    fn resolved_inside_the_volume_only() {
        let tmp = tempfile::tempdir().unwrap();
        let vol = tmp.path().join("vol");
        std::fs::create_dir_all(vol.join("sub/dir")).unwrap();
        std::fs::write(vol.join("sub/file"), "x").unwrap();
        std::os::unix::fs::symlink("sub/dir", vol.join("inside")).unwrap();
        std::os::unix::fs::symlink("/etc", vol.join("absolute")).unwrap();
        std::os::unix::fs::symlink("../..", vol.join("sub/climb")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        for ok in ["sub/dir", "sub/file", "inside", "sub/../sub/dir", "."] {
            assert!(open(&vol, ok, OFlag::O_PATH).is_ok(), "{ok}");
        }
        for escape in ["absolute", "sub/climb", "sub/climb/outside"] {
            let e = open(&vol, escape, OFlag::O_PATH).unwrap_err();
            assert_eq!(
                e.kind(),
                crate::error::ErrorKind::InvalidArgument,
                "{escape}: {e}"
            );
            assert!(
                e.to_string()
                    .starts_with("path concatenation escapes the base directory"),
                "{e}"
            );
        }
        let e = open(&vol, "sub/missing", OFlag::O_PATH).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!(
                "cannot access path {0}: lstat {0}: no such file or directory",
                vol.join("sub/missing").display()
            )
        );
        assert_eq!(
            open(&vol, "../vol", OFlag::O_PATH).unwrap_err().kind(),
            crate::error::ErrorKind::InvalidArgument
        );
    }
}
