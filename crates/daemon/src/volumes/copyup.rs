//! Copy-up: creating a container whose volume is empty copies what its image has at the
//! mount's destination into the volume — files, directories, symlinks, hard links, device nodes
//! and FIFOs, with their owners, modes, xattrs and times, and the directory's own owner and mode
//! — as Docker does (unless the mount says `nocopy`). A volume that holds anything is left alone.
//!
//! Both trees are walked by descriptor, never by joining paths: the destination is resolved in
//! the rootfs with `openat2(RESOLVE_IN_ROOT)` (an image's symlinks stay inside the image), and
//! below it every entry is opened relative to its directory with `O_NOFOLLOW`. On the volume's
//! side every file is made relative to its directory, new (`O_EXCL`, `mkdirat`), so a symlink a
//! container sharing the volume plants meanwhile is never followed out of the volume.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};
use xattr::FileExt;

use super::local::{entries, has_entries, open_dir, open_subdir, MAX_DEPTH};
use crate::error::DaemonError;

/// Why a copy-up failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyUpError {
    #[error("copying {path} of the image into the volume: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: Errno,
    },
    #[error("copying the image into the volume: {0} is nested more than {MAX_DEPTH} levels deep")]
    TooDeep(PathBuf),
}

impl From<CopyUpError> for DaemonError {
    fn from(e: CopyUpError) -> Self {
        DaemonError::Internal(e.to_string())
    }
}

/// Copies the directory at `destination` in the mounted `rootfs` into the empty directory
/// `volume`. Returns whether it copied: nothing when the image has no directory there or the
/// volume is not empty.
pub fn copy_up(rootfs: &Path, destination: &str, volume: &Path) -> Result<bool, CopyUpError> {
    let dst = open_dir(volume).map_err(|source| CopyUpError::Io {
        what: "opening the volume",
        path: volume.to_path_buf(),
        source,
    })?;
    copy_up_into(rootfs, destination, dst, volume)
}

/// [`copy_up`] into the directory open at `dst` (a volume's root or a directory inside it, as a
/// mount's subpath resolved it); `volume` names it in errors.
pub fn copy_up_into(
    rootfs: &Path,
    destination: &str,
    dst: OwnedFd,
    volume: &Path,
) -> Result<bool, CopyUpError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| CopyUpError::Io { what, path, source }
    };
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io("opening the rootfs", Path::new("/")))?;
    let rel = destination.trim_start_matches('/');
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let src = match openat2(&root, if rel.is_empty() { "." } else { rel }, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(io("opening", Path::new(destination))(e)),
    };
    if has_entries(&dst).map_err(io("listing the volume", volume))? {
        return Ok(false);
    }
    let mut copier = Copier {
        volume: dst
            .try_clone()
            .map_err(|_| io("duplicating", volume)(Errno::EBADF))?,
        links: HashMap::new(),
    };
    let top = PathBuf::from(destination);
    copier.copy_dir(&src, &dst, &top, Path::new(""), 0)?;
    let st = nix::sys::stat::fstat(&src).map_err(io("reading", &top))?;
    copy_attrs(&src, &dst, &st, &top)?;
    Ok(true)
}

/// The walk's state: the volume's root (for hard links) and the files already copied, by inode.
struct Copier {
    volume: OwnedFd,
    /// (device, inode) of a source with several links → its copy, relative to the volume.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copier {
    /// Copies the entries of `src` into `dst`; `shown` names `src` in errors, `rel` is `dst`
    /// relative to the volume.
    fn copy_dir(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        shown: &Path,
        rel: &Path,
        depth: usize,
    ) -> Result<(), CopyUpError> {
        if depth > MAX_DEPTH {
            return Err(CopyUpError::TooDeep(shown.to_path_buf()));
        }
        let names = entries(src).map_err(|source| CopyUpError::Io {
            what: "listing",
            path: shown.to_path_buf(),
            source,
        })?;
        for name in names {
            let path = shown.join(&name);
            self.copy_entry(src, dst, &name, &path, &rel.join(&name), depth)?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        name: &OsString,
        shown: &Path,
        rel: &Path,
        depth: usize,
    ) -> Result<(), CopyUpError> {
        let io = |what| {
            let path = shown.to_path_buf();
            move |source| CopyUpError::Io { what, path, source }
        };
        let name = name.as_os_str();
        let st = nix::sys::stat::fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(io("reading"))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                return self.link(first, dst, name).map_err(io("linking"));
            }
        }
        match kind {
            SFlag::S_IFDIR => {
                nix::sys::stat::mkdirat(dst, name, Mode::from_bits_truncate(0o700))
                    .map_err(io("creating"))?;
                let sub_src = open_subdir(src, &name.to_os_string()).map_err(io("opening"))?;
                let sub_dst = open_subdir(dst, &name.to_os_string()).map_err(io("opening"))?;
                self.copy_dir(&sub_src, &sub_dst, shown, rel, depth + 1)?;
                copy_attrs(&sub_src, &sub_dst, &st, shown)?;
            }
            SFlag::S_IFREG => {
                let from = nix::fcntl::openat(
                    src,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io("opening"))?;
                let to = nix::fcntl::openat(
                    dst,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(io("creating"))?;
                let dup = |fd: &OwnedFd| fd.try_clone().map(File::from);
                let copied = dup(&from).and_then(|mut r| {
                    let mut w = dup(&to)?;
                    std::io::copy(&mut r, &mut w)
                });
                copied.map_err(|e| {
                    io("copying")(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
                })?;
                copy_attrs(&from, &to, &st, shown)?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(src, name).map_err(io("reading the link"))?;
                nix::unistd::symlinkat(target.as_os_str(), dst, name).map_err(io("creating"))?;
                nix::unistd::fchownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(io("changing the owner of"))?;
                let (atime, mtime) = times(&st);
                let _ = nix::sys::stat::utimensat(
                    dst,
                    name,
                    &atime,
                    &mtime,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
                nix::sys::stat::mknodat(dst, name, kind, perm, st.st_rdev)
                    .map_err(io("creating"))?;
                nix::unistd::fchownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(io("changing the owner of"))?;
                nix::sys::stat::fchmodat(
                    dst,
                    name,
                    perm,
                    nix::sys::stat::FchmodatFlags::NoFollowSymlink,
                )
                .map_err(io("changing the mode of"))?;
            }
            // Sockets are not copied (as Docker's copy skips them).
            _ => return Ok(()),
        }
        if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
            self.links.insert((st.st_dev, st.st_ino), rel.to_path_buf());
        }
        Ok(())
    }

    /// Makes `name` in `dst` a hard link to the copy at `first` (relative to the volume), whose
    /// directory is opened inside the volume without following any symlink.
    fn link(&self, first: &Path, dst: &OwnedFd, name: &std::ffi::OsStr) -> nix::Result<()> {
        let parent = first.parent().unwrap_or(Path::new(""));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let dir = openat2(&self.volume, parent, how)?;
        let Some(base) = first.file_name() else {
            return Err(Errno::EINVAL);
        };
        nix::unistd::linkat(&dir, base, dst, name, AtFlags::empty())
    }
}

/// The access and modification times of `st`.
fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Gives the open file or directory `to` the owner, xattrs, mode and times of `from` (described
/// by `st`, shown as `shown`). Owner first: a chown clears the set-id bits and file
/// capabilities. An xattr the volume's file system refuses is skipped, as Docker does.
fn copy_attrs(
    from: &OwnedFd,
    to: &OwnedFd,
    st: &FileStat,
    shown: &Path,
) -> Result<(), CopyUpError> {
    let io = |what| {
        let path = shown.to_path_buf();
        move |source| CopyUpError::Io { what, path, source }
    };
    nix::unistd::fchown(
        to,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(io("changing the owner of"))?;
    copy_xattrs(from, to);
    nix::sys::stat::fchmod(to, Mode::from_bits_truncate(st.st_mode & 0o7777))
        .map_err(io("changing the mode of"))?;
    let (atime, mtime) = times(st);
    nix::sys::stat::futimens(to, &atime, &mtime).map_err(io("setting the times of"))?;
    Ok(())
}

/// Copies the extended attributes of `from` to `to`, skipping overlayfs's own (which never show
/// through a mounted overlay anyway) and any the target refuses.
fn copy_xattrs(from: &OwnedFd, to: &OwnedFd) {
    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let (from, to) = (File::from(from), File::from(to));
    let Ok(names) = from.list_xattr() else {
        return;
    };
    for name in names {
        let internal = name
            .to_str()
            .is_some_and(|n| n.starts_with("trusted.overlay.") || n.starts_with("user.overlay."));
        if internal {
            continue;
        }
        if let Ok(Some(value)) = from.get_xattr(&name) {
            if let Err(e) = to.set_xattr(&name, &value) {
                tracing::debug!(xattr = ?name, error = %e, "copy-up: xattr not kept");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_links_modes_and_times_and_only_into_an_empty_volume() {
        let rootfs = tempfile::tempdir().unwrap();
        let r = rootfs.path();
        std::fs::create_dir_all(r.join("data/sub")).unwrap();
        std::fs::write(r.join("data/sub/f"), b"hello").unwrap();
        std::fs::set_permissions(r.join("data/sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::fs::set_permissions(r.join("data"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::hard_link(r.join("data/sub/f"), r.join("data/hard")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("data/abs")).unwrap();
        let xattr_ok = xattr::set(r.join("data/sub/f"), "user.berth", b"yes").is_ok();
        let vol = tempfile::tempdir().unwrap();
        assert!(copy_up(r, "/data", vol.path()).unwrap());
        let v = vol.path();
        assert_eq!(std::fs::read(v.join("sub/f")).unwrap(), b"hello");
        let md = std::fs::metadata(v.join("sub/f")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o640);
        let src_md = std::fs::metadata(r.join("data/sub/f")).unwrap();
        assert_eq!(md.mtime(), src_md.mtime());
        assert_eq!(md.ino(), std::fs::metadata(v.join("hard")).unwrap().ino());
        assert_eq!(
            std::fs::read_link(v.join("abs")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(
            std::fs::metadata(v).unwrap().permissions().mode() & 0o7777,
            0o750
        );
        if xattr_ok {
            assert_eq!(
                xattr::get(v.join("sub/f"), "user.berth")
                    .unwrap()
                    .as_deref(),
                Some(&b"yes"[..])
            );
        }
        // Not empty any more: nothing is copied again.
        std::fs::remove_file(v.join("sub/f")).unwrap();
        assert!(!copy_up(r, "/data", v).unwrap());
        assert!(!v.join("sub/f").exists());
    }

    #[test]
    fn a_missing_or_non_directory_destination_copies_nothing() {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::write(rootfs.path().join("file"), b"x").unwrap();
        let vol = tempfile::tempdir().unwrap();
        assert!(!copy_up(rootfs.path(), "/missing", vol.path()).unwrap());
        assert!(!copy_up(rootfs.path(), "/file", vol.path()).unwrap());
    }

    #[test]
    fn symlinks_in_the_image_resolve_inside_it() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"host").unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        let r = rootfs.path();
        // `/data` is a symlink to the host's directory by absolute path, and `/up` climbs out.
        std::os::unix::fs::symlink(outside.path(), r.join("data")).unwrap();
        std::os::unix::fs::symlink("../../../../../../..", r.join("up")).unwrap();
        let vol = tempfile::tempdir().unwrap();
        assert!(!copy_up(r, "/data", vol.path()).unwrap());
        assert!(copy_up(r, "/up", vol.path()).unwrap());
        // `/up` resolved to the rootfs itself: its entries, never the host's.
        assert!(vol
            .path()
            .join("data")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!vol.path().join("secret").exists());
    }
}
