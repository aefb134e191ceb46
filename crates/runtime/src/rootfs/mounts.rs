//! The spec's mounts: the rootfs bind and `/` propagation first, then each mount in order (proc,
//! sysfs, tmpfs, devpts, mqueue, bind/rbind, any other file system; cgroup in [`super::cgroup`]).
//! Each destination is resolved inside the rootfs and mounted onto `/proc/self/fd/N`. A bind is a
//! clone of its source attached there, remounted (flags beyond `MS_BIND|MS_REC`) and given its
//! propagation through the clone's own descriptor, never by naming the destination again: a
//! container sharing a volume above it could have changed what that path names (CVE-05 with
//! `:ro`). A bind source in another process's mount namespace is cloned from there ([`foreign`]).
//! Destinations at or inside `/proc`, as written and as resolved, go through [`procfs::check_dest`].

use super::foreign::{self, Foreign};
use super::options::{self, MountOptions};
use super::procfs::{self, OnProc};
use super::resolve::{resolve, Create};
use super::{cgroup, mountinfo, Ctx, RootfsError};
use crate::sys::{fd_path, Sys};
use berth_oci::runtime::{Mount, Spec};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statfs::PROC_SUPER_MAGIC;
use nix::sys::statvfs::FsFlags;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub(crate) const KIND: &str = "mount destination";

/// The spec's `linux.rootfsPropagation` as mount flags (`None` when unset).
pub(crate) fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>, RootfsError> {
    let word = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    match word.as_deref() {
        None | Some("") => Ok(None),
        Some(w) => options::propagation(w)
            .map(Some)
            .ok_or_else(|| RootfsError::Invalid {
                dest: "/".into(),
                message: format!(
                    "linux.rootfsPropagation {w:?} is not one of private, rprivate, shared, \
                     rshared, slave, rslave, unbindable, runbindable"
                ),
            }),
    }
}

/// Makes `/` rslave (or the spec's `linux.rootfsPropagation`) so nothing mounted for the container
/// reaches the host, makes the rootfs's parent mount private when propagation is shared (so
/// `pivot_root` can work), and binds the rootfs on itself. An unbindable propagation waits for
/// [`apply_root_propagation`]: the rootfs could not be bound out of an unbindable `/`.
pub(crate) fn prepare_root(spec: &Spec, rootfs: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let flags = match root_propagation(spec)? {
        Some(f) if !f.contains(MsFlags::MS_UNBINDABLE) => f,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    sys.mount(None, Path::new("/"), None, flags, None)
        .map_err(|source| RootfsError::Sys {
            what: format!("set the propagation of / to {flags:?}"),
            source,
        })?;
    if flags.contains(MsFlags::MS_SHARED) {
        make_parent_private(rootfs, sys)?;
    }
    sys.mount(
        Some(rootfs),
        rootfs,
        Some("bind"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|source| RootfsError::Sys {
        what: format!("bind the rootfs {} on itself", rootfs.display()),
        source,
    })
}

/// Once inside, gives the new root mount (`root`, `/` outside unit tests) the propagation the
/// spec asks for: `pivot_root` needed it non-shared and binding it needed it bindable. Only the
/// root mount itself, since [`prepare_root`] already applied the word recursively to what is
/// below (and a mount's own propagation option must win there); an unbindable word is applied
/// as given, as it was held back before. Nothing when the word is unset.
pub(crate) fn apply_root_propagation(
    spec: &Spec,
    root: &Path,
    sys: &dyn Sys,
) -> Result<(), RootfsError> {
    let Some(mut flags) = root_propagation(spec)? else {
        return Ok(());
    };
    if !flags.contains(MsFlags::MS_UNBINDABLE) {
        flags.remove(MsFlags::MS_REC);
    }
    sys.mount(None, root, None, flags, None)
        .map_err(|source| RootfsError::Sys {
            what: format!("set the propagation of the container's root to {flags:?}"),
            source,
        })
}

/// `pivot_root` refuses a new root whose parent mount is shared.
fn make_parent_private(rootfs: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let infos = mountinfo::read().map_err(|e| RootfsError::Sys {
        what: "read /proc/self/mountinfo".into(),
        source: io_errno(&e),
    })?;
    let parent = infos
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count());
    if let Some(p) = parent.filter(|p| p.optional.iter().any(|o| o.starts_with("shared:"))) {
        sys.mount(None, &p.mount_point, None, MsFlags::MS_PRIVATE, None)
            .map_err(|source| RootfsError::Sys {
                what: format!(
                    "make the rootfs's parent mount {} private",
                    p.mount_point.display()
                ),
                source,
            })?;
    }
    Ok(())
}

/// Mounts one entry of the spec's `mounts`.
pub(crate) fn mount(ctx: &Ctx<'_>, m: &Mount) -> Result<(), RootfsError> {
    let dest = m.destination().as_path();
    let typ = m.typ().as_deref().unwrap_or_default();
    let mut opts = options::parse(m.options().as_deref().unwrap_or_default());
    if typ == "bind" {
        opts.flags.insert(MsFlags::MS_BIND);
    }
    if opts.data.iter().any(|d| d == "idmap" || d == "ridmap") {
        return Err(RootfsError::Invalid {
            dest: dest.to_path_buf(),
            message: "id-mapped mounts are not supported; remove the idmap option".into(),
        });
    }
    // Never through a symlink the image put there (runc's rule; /dev for CVE-2026-41579, and
    // /dev/pts, where the init opens the console's ptmx by its host path).
    let dev = ["/dev", "/dev/pts"]
        .map(Path::new)
        .contains(&procfs::clean(dest).as_path());
    if typ == "proc" || typ == "sysfs" || dev {
        let what = if opts.is_bind() { "bind" } else { typ };
        let rule = format!("filesystem {what:?} must be mounted on");
        procfs::ordinary_dir(ctx.sys, ctx.root(), dest, &rule)?;
    }
    let made = if opts.is_bind() {
        let source = m.source().as_deref().ok_or_else(|| RootfsError::Invalid {
            dest: dest.to_path_buf(),
            message: "a bind mount needs a source".into(),
        })?;
        Made::Tree(bind(ctx, dest, source, &opts)?)
    } else if typ == "cgroup" {
        return cgroup::mount(ctx, dest, &opts);
    } else {
        if typ.is_empty() {
            return Err(RootfsError::Invalid {
                dest: dest.to_path_buf(),
                message: "the mount has no type and is not a bind mount".into(),
            });
        }
        filesystem(ctx, m, dest, typ, opts.clone())?
    };
    propagate(ctx, dest, &made, &opts)
}

/// The mount just made at a destination, for what follows it (propagation).
enum Made {
    /// A bind: the descriptor of the new mount itself ([`Sys::clone_tree_at`]).
    Tree(OwnedFd),
    /// A file system mounted onto the destination, which resolved to this path in the rootfs.
    At(PathBuf),
}

/// A file-system mount (proc, sysfs, tmpfs, devpts, mqueue, overlay, ...).
fn filesystem(
    ctx: &Ctx<'_>,
    m: &Mount,
    dest: &Path,
    typ: &str,
    mut opts: MountOptions,
) -> Result<Made, RootfsError> {
    match typ {
        "devpts" => {
            opts.data_default("newinstance", None);
            opts.data_default("ptmxmode", Some("0666"));
        }
        // Without its own network namespace the container sees the host's /sys/class/net.
        "sysfs" if !ctx.ns.net => opts.flags.insert(MsFlags::MS_RDONLY),
        _ => {}
    }
    let on_proc = if typ == "proc" {
        OnProc::Procfs
    } else {
        OnProc::Other
    };
    let target = resolve_mount_at(ctx, dest, Create::Dir, on_proc)?;
    let at = in_root(ctx, dest, &target)?;
    let source = m
        .source()
        .as_deref()
        .unwrap_or_else(|| Path::new(typ))
        .to_path_buf();
    let data = opts.data();
    let res = ctx.sys.mount(
        Some(&source),
        &fd_path(&target),
        Some(typ),
        opts.flags,
        data.as_deref(),
    );
    match (res, typ) {
        (Ok(()), _) => Ok(Made::At(at)),
        // In a user namespace without its own network (sysfs) or ipc (mqueue) namespace, the
        // kernel refuses a fresh mount: bind the host's instead, as runc does.
        (Err(Errno::EPERM), "sysfs" | "mqueue") if ctx.ns.user => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let mut flags = opts.flags;
            flags.insert(MsFlags::MS_BIND | MsFlags::MS_REC);
            let tree = bind(
                ctx,
                dest,
                Path::new(host),
                &options::MountOptions { flags, ..opts },
            )?;
            Ok(Made::Tree(tree))
        }
        (Err(source), _) => Err(RootfsError::Mount {
            dest: dest.to_path_buf(),
            what: format!("mount {typ} (flags {:?}, data {:?})", opts.flags, data),
            source,
        }),
    }
}

/// A bind mount of the host path `source` at `dest`, remounted when it has flags beyond the bind;
/// answers the descriptor of the new mount.
///
/// The source is opened once (following its symlinks, as `mount(2)` would), cloned from that
/// descriptor and attached onto the resolved destination; the remount, and the propagation
/// change after it, go through the clone's own descriptor. Naming the mount again by its path
/// instead would let a container that shares a volume above the destination swap a directory
/// of that path for a symlink between the bind and the remount, and the read-only flag would go
/// to another of this container's mounts while the bind stayed writable (CVE-05 with `:ro`).
pub(crate) fn bind(
    ctx: &Ctx<'_>,
    dest: &Path,
    source: &Path,
    opts: &MountOptions,
) -> Result<OwnedFd, RootfsError> {
    let fail = |what: String| {
        let dest = dest.to_path_buf();
        move |source: Errno| RootfsError::Mount { dest, what, source }
    };
    let recursive = opts.flags.contains(MsFlags::MS_REC);
    let tree = match Foreign::parse(source).filter(Foreign::elsewhere) {
        // A source in another mount namespace: cloned over there (see `foreign`).
        Some(f) => {
            let meta = std::fs::metadata(source).map_err(|e| RootfsError::Mount {
                dest: dest.to_path_buf(),
                what: format!("bind source {}", source.display()),
                source: io_errno(&e),
            })?;
            let create = if meta.is_dir() {
                Create::Dir
            } else {
                Create::File
            };
            let target = resolve_mount_at(ctx, dest, create, procfs_source(ctx, source))?;
            foreign::bind(ctx.sys, dest, &f, target.as_fd(), recursive)?
        }
        None => {
            let what = format!("bind source {}", source.display());
            let src = ctx
                .sys
                .open(source, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(fail(what.clone()))?;
            let stat = ctx
                .sys
                .fstatat(src.as_fd(), Path::new(""))
                .map_err(fail(what))?;
            let create = if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
                Create::Dir
            } else {
                Create::File
            };
            let target = resolve_mount_at(ctx, dest, create, procfs_fd(ctx, src.as_fd()))?;
            let tree = ctx
                .sys
                .clone_tree_at(src.as_fd(), recursive)
                .map_err(fail(format!("bind {}", source.display())))?;
            ctx.sys
                .attach_tree(tree.as_fd(), target.as_fd())
                .map_err(fail(format!("bind {}", source.display())))?;
            tree
        }
    };
    let rest = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !rest.is_empty() {
        remount_path(ctx.sys, &fd_path(&tree), rest, false)
            .map_err(fail(format!("remount with {rest:?}")))?;
    }
    Ok(tree)
}

/// Remounts the bind mount at `target` (a path or `/proc/self/fd/N`); see [`remount`].
pub(crate) fn remount_path(
    sys: &dyn Sys,
    target: &Path,
    flags: MsFlags,
    keep: bool,
) -> Result<(), Errno> {
    let base = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let locked = || sys.statvfs_flags(target).map(locked_flags);
    let first = if keep { base | locked()? } else { base };
    match sys.mount(None, target, None, first, None) {
        Err(Errno::EPERM) if !keep => sys.mount(None, target, None, base | locked()?, None),
        other => other,
    }
}

/// The per-mount flags of a mount (from `statvfs`) that a remount must repeat to keep them.
pub(crate) fn locked_flags(fs: FsFlags) -> MsFlags {
    const MAP: &[(FsFlags, MsFlags)] = &[
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    MAP.iter()
        .filter(|(st, _)| fs.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms)
}

/// Applies the mount's propagation words to the mount just made at `dest`: a bind through its
/// own descriptor; a file system (which Docker's specs never give propagation words) by resolving
/// `dest` again, refused when it no longer resolves where the file system was mounted (runc's
/// check).
fn propagate(
    ctx: &Ctx<'_>,
    dest: &Path,
    made: &Made,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    for flag in &opts.propagation {
        let again;
        let target = match made {
            Made::Tree(tree) => fd_path(tree),
            Made::At(at) => {
                again = resolve_mount_at(ctx, dest, Create::Nothing, OnProc::Procfs)?;
                let now = in_root(ctx, dest, &again)?;
                if now != *at {
                    return Err(RootfsError::Invalid {
                        dest: dest.to_path_buf(),
                        message: format!(
                            "mounted at {} but resolves to {} now; refusing to change the \
                             propagation of another mount",
                            at.display(),
                            now.display()
                        ),
                    });
                }
                fd_path(&again)
            }
        };
        ctx.sys
            .mount(None, &target, None, *flag, None)
            .map_err(|source| RootfsError::Mount {
                dest: dest.to_path_buf(),
                what: format!("set propagation {flag:?}"),
                source,
            })?;
    }
    Ok(())
}

/// Whether the bind source `source` (a host path) is procfs: only such a bind may cover `/proc`.
fn procfs_source(ctx: &Ctx<'_>, source: &Path) -> OnProc {
    match ctx.sys.open(source, OFlag::O_PATH, Mode::empty()) {
        Ok(fd) => procfs_fd(ctx, fd.as_fd()),
        Err(_) => OnProc::Other,
    }
}

/// Whether the open bind source `fd` is procfs.
fn procfs_fd(ctx: &Ctx<'_>, fd: BorrowedFd<'_>) -> OnProc {
    match ctx.sys.fstatfs_type(fd) {
        Ok(fs) if fs == PROC_SUPER_MAGIC => OnProc::Procfs,
        _ => OnProc::Other,
    }
}

/// Resolves the mount destination `dest` inside the rootfs; with `Create::Nothing` a missing path
/// is an error. Nothing but procfs may be mounted at `/proc` and nothing inside it (see
/// [`procfs::check_dest`]): callers that mount procfs there use [`resolve_mount_at`].
pub(crate) fn resolve_at(
    ctx: &Ctx<'_>,
    dest: &Path,
    create: Create,
) -> Result<OwnedFd, RootfsError> {
    resolve_mount_at(ctx, dest, create, OnProc::Other)
}

/// [`resolve_at`], saying what the mount puts on `/proc` if `dest` is there. The destination is
/// checked as written before anything is created, and again where it resolved.
pub(crate) fn resolve_mount_at(
    ctx: &Ctx<'_>,
    dest: &Path,
    create: Create,
    on_proc: OnProc,
) -> Result<OwnedFd, RootfsError> {
    procfs::check_dest(dest, &procfs::clean(dest), on_proc)?;
    let fd = resolve(ctx.sys, ctx.root(), KIND, dest, create)?.ok_or(RootfsError::Resolve {
        kind: KIND,
        path: dest.to_path_buf(),
        what: "find the mount point".into(),
        source: Errno::ENOENT,
    })?;
    let at = in_root(ctx, dest, &fd)?;
    procfs::check_dest(dest, &at, on_proc)?;
    Ok(fd)
}

/// Where the resolved `fd` lies inside the rootfs (as the container will name it). Defence in
/// depth: a path outside the rootfs on the host is refused.
fn in_root(ctx: &Ctx<'_>, dest: &Path, fd: &OwnedFd) -> Result<PathBuf, RootfsError> {
    let real = std::fs::read_link(fd_path(fd)).map_err(|e| RootfsError::Resolve {
        kind: KIND,
        path: dest.to_path_buf(),
        what: "read where the mount point resolved".into(),
        source: io_errno(&e),
    })?;
    match real.strip_prefix(&ctx.rootfs_real) {
        Ok(rest) => Ok(Path::new("/").join(rest)),
        Err(_) => Err(RootfsError::Invalid {
            dest: dest.to_path_buf(),
            message: format!(
                "resolved to {} outside the rootfs {}; refusing to mount there",
                real.display(),
                ctx.rootfs_real.display()
            ),
        }),
    }
}

/// The errno of an I/O error (EIO when it has none).
pub(crate) fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
