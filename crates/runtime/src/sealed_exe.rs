//! The runtime's own executable, sealed against the container (the runc CVE-2019-5736 class).
//!
//! Every process that clones into a container — the container's init and each exec — is a copy of
//! the runtime process until its final `execve`. If the container makes that `execve` run
//! `/proc/self/exe` (as its entrypoint, a `#!` line or an ELF interpreter), the runtime's executable
//! runs inside the container, dumpable again after the exec; a racer there opens it through
//! `/proc/<pid>/exe` and, once it is no longer busy, writes the host's binary. Berth's runtime is the
//! daemon's binary (or the shim's), so that would be the whole host.
//!
//! So the processes that clone into containers run from a protected view of their executable: the
//! shim (the daemon makes one view at start and execs every shim from it, see [`SealedExe`]; a shim
//! started by other means re-execs itself through [`reexec_sealed`]), and `berth runtime
//! create|run|exec` (which re-exec themselves through [`reexec_sealed`]). The view is, as runc
//! settled on:
//! - first choice, the binary seen through a private read-only overlayfs mount that is attached to
//!   no mount namespace (`fsopen`/`fsmount`; its lower layers are the binary's directory and an
//!   empty tmpfs). An overlay without an upper layer cannot be made writable by remounting, and it
//!   costs a few syscalls, where a copy costs ~4 ms per MB on this kind of VM;
//! - else (no overlayfs, no mount API, an unprivileged caller) a sealed memfd copy, which can be
//!   neither written nor resized by anyone.
//!
//! Either way the worst a container can reach through `/proc/<pid>/exe` is a read-only view that
//! goes away with its last user.

use crate::{Result, RuntimeError};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The seals a runtime copy carries: no writes, no resizing, no changes to the seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// `MFD_EXEC` (Linux 6.3): an executable memfd even where `vm.memfd_noexec` defaults to no-exec.
const MFD_EXEC: libc::c_uint = 0x10;

/// Set across the re-exec so a copy that somehow is not sealed fails instead of looping.
const REEXEC_MARK: &str = "_BERTH_SEALED_REEXEC";

fn sys_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Sys { what, source }
}

/// `OVERLAYFS_SUPER_MAGIC` (linux/magic.h).
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// A protected view of an executable (a read-only private overlay, or a sealed memfd copy), for
/// spawning processes from it.
#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
}

impl SealedExe {
    /// A protected view of the executable at `path`: through a private read-only overlay when the
    /// kernel allows it, else a sealed memfd copy.
    pub fn of(path: &Path) -> Result<SealedExe> {
        match overlay_view(path) {
            Ok(fd) => Ok(SealedExe { fd }),
            Err(_) => SealedExe::copy_of(path),
        }
    }

    /// Copies the executable at `path` into a new memfd and seals it.
    pub fn copy_of(path: &Path) -> Result<SealedExe> {
        let mut src = File::open(path).map_err(|source| RuntimeError::Io {
            what: "open the executable to seal",
            path: path.to_path_buf(),
            source,
        })?;
        let fd = memfd(path)?;
        let mut dst = File::from(fd);
        std::io::copy(&mut src, &mut dst).map_err(|source| RuntimeError::Io {
            what: "copy the executable into a sealed memfd",
            path: path.to_path_buf(),
            source,
        })?;
        let fd = OwnedFd::from(dst);
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_ADD_SEALS(seal_flags()))
            .map_err(sys_err(format!("seal the copy of {}", path.display())))?;
        Ok(SealedExe { fd })
    }

    /// A path that execs the copy from this process or a child forked from it (before its exec,
    /// the child still holds the descriptor even though it is close-on-exec).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

impl AsFd for SealedExe {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Opens `path` (`O_PATH`) through a new read-only overlayfs mount of its directory that belongs
/// to no mount namespace: nothing can write the file through it, and no remount can change that
/// (an overlay without an upper layer is read-only by construction).
fn overlay_view(path: &Path) -> std::io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let real = std::fs::canonicalize(path)?;
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(std::io::Error::other("executable has no directory"));
    };
    let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOSUID;
    // The second lower layer overlayfs requires without an upper one: an empty private tmpfs.
    let tmpfs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_create(&tmpfs)?;
    let empty = rustix::mount::fsmount(&tmpfs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    let lower = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let overlay = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let layers = format!(
        "/proc/self/fd/{}:/proc/self/fd/{}",
        lower.as_raw_fd(),
        empty.as_raw_fd()
    );
    rustix::mount::fsconfig_set_string(&overlay, "lowerdir", layers.as_str())?;
    rustix::mount::fsconfig_create(&overlay)?;
    let mnt = rustix::mount::fsmount(&overlay, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    let exe = rustix::fs::openat(&mnt, name, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    Ok(exe)
}

fn seal_flags() -> nix::fcntl::SealFlag {
    nix::fcntl::SealFlag::from_bits_truncate(SEALS)
}

fn memfd(path: &Path) -> Result<OwnedFd> {
    let name = path
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_else(|| b"berth".to_vec());
    let name = CString::new(name).unwrap_or_else(|_| c"berth".to_owned());
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: memfd_create takes a valid NUL-terminated name and flags; it returns a new fd
        // that nothing else owns, which we wrap at once.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = nix::Error::last();
        // Kernels before 6.3 refuse MFD_EXEC; they make every memfd executable anyway.
        if err != nix::Error::EINVAL {
            return Err(sys_err("memfd_create for the sealed executable")(err));
        }
    }
    Err(sys_err("memfd_create for the sealed executable")(
        nix::Error::EINVAL,
    ))
}

/// Whether this process runs from a protected view of its executable: a sealed memfd (its
/// `/proc/self/exe` carries [`SEALS`]) or a file on a read-only overlayfs mount.
pub fn is_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    // F_GET_SEALS fails with EINVAL on anything but a memfd (or hugetlbfs/shmem file).
    if nix::fcntl::fcntl(&exe, nix::fcntl::FcntlArg::F_GET_SEALS)
        .is_ok_and(|seals| seals & SEALS == SEALS)
    {
        return true;
    }
    // `f_type` is i64 here, narrower on other architectures.
    #[allow(clippy::unnecessary_cast)]
    let overlay = rustix::fs::fstatfs(&exe).is_ok_and(|s| s.f_type as i64 == OVERLAYFS_MAGIC);
    let read_only = rustix::fs::fstatvfs(&exe)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    overlay && read_only
}

/// Makes sure this process runs from a protected view of its executable: returns at once if it
/// does, else makes one of `/proc/self/exe` ([`SealedExe::of`]) and execs it with the same
/// arguments and environment
/// (descriptors without close-on-exec stay open). Returns only when already sealed, or with the
/// error that prevented the re-exec. Call it first thing, before the process has threads.
pub fn reexec_sealed() -> Result<()> {
    if is_sealed() {
        std::env::remove_var(REEXEC_MARK);
        return Ok(());
    }
    if std::env::var_os(REEXEC_MARK).is_some() {
        return Err(RuntimeError::Other(
            "re-executed from a sealed copy of the runtime, but /proc/self/exe is not sealed: \
             refusing to run containers from an unprotected binary"
                .into(),
        ));
    }
    let copy = SealedExe::of(Path::new("/proc/self/exe"))?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<_>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != REEXEC_MARK)
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            c_string(kv.as_bytes())
        })
        .collect::<Result<_>>()?;
    env.push(c_string(format!("{REEXEC_MARK}=1").as_bytes())?);
    let err = nix::unistd::fexecve(copy.as_fd(), &argv, &env).err();
    Err(RuntimeError::Sys {
        what: "re-exec from the sealed copy of the runtime".into(),
        source: err.unwrap_or(nix::Error::UnknownErrno),
    })
}

fn c_string(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes)
        .map_err(|_| RuntimeError::Other("argument or environment contains a NUL byte".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_copy_is_sealed_and_refuses_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exe");
        std::fs::write(&path, b"#!/bin/sh\necho hello\n").expect("write");
        let copy = SealedExe::copy_of(&path).expect("sealed copy");
        let seals = nix::fcntl::fcntl(&copy, nix::fcntl::FcntlArg::F_GET_SEALS).expect("seals");
        assert_eq!(seals & SEALS, SEALS);
        // Through the path, as a container would reach it through /proc/<pid>/exe.
        let mut content = String::new();
        File::open(copy.path())
            .and_then(|mut f| f.read_to_string(&mut content))
            .expect("read the copy");
        assert_eq!(content, "#!/bin/sh\necho hello\n");
        let write = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path())
            .and_then(|mut f| f.write_all(b"evil"));
        assert!(write.is_err(), "a sealed copy took a write");
        let grow = std::fs::OpenOptions::new()
            .append(true)
            .open(copy.path())
            .and_then(|mut f| f.write_all(b"evil"));
        assert!(grow.is_err(), "a sealed copy grew");
        assert_eq!(
            std::fs::read(&path).expect("original"),
            b"#!/bin/sh\necho hello\n"
        );
    }

    #[test]
    fn an_overlay_view_refuses_writes() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: a private overlay mount needs root (CAP_SYS_ADMIN)");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("exe");
        std::fs::write(&path, b"content").expect("write");
        let view = SealedExe::of(&path).expect("protected view");
        let mut content = Vec::new();
        File::open(view.path())
            .and_then(|mut f| f.read_to_end(&mut content))
            .expect("read the view");
        assert_eq!(content, b"content");
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(view.path())
            .expect_err("the view opened for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }

    #[test]
    fn a_test_binary_is_not_sealed() {
        assert!(!is_sealed());
    }
}
