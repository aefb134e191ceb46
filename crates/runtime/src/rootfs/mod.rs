//! The container's root filesystem: rootfs propagation, the spec's mounts (every destination resolved
//! inside the rootfs), default devices and /dev symlinks, `pivot_root` with the old root detached,
//! masked and read-only paths, and the read-only root.
//!
//! # Lifecycle (called by the container's init, in its new mount namespace, in this order)
//! 1. [`prepare`]: make `/` rslave (or `linux.rootfsPropagation`), bind the rootfs on itself, mount
//!    the spec's mounts in order, create the default and spec devices and the /dev symlinks.
//! 2. [`bind_console`] when the process has a terminal.
//! 3. [`pivot`]: `pivot_root` into the rootfs and detach the old root (or MS_MOVE + chroot);
//!    [`chroot`] when the container has no mount namespace of its own.
//! 4. [`finish`]: readonly paths, masked paths, read-only root, then `linux.rootfsPropagation`
//!    on the new root (the pivot itself needs a non-shared, bindable root).
//!
//! `/proc` stays the container's procfs throughout ([`procfs`]): proc, sysfs and `/dev` go on
//! ordinary directories, nothing but procfs covers `/proc` and nothing covers a file inside it
//! but a short allow-list, and what is masked, made read-only or written under `/proc` is checked
//! with `fstatfs` to be procfs. Masked files get the container's `/dev/null` only once it is
//! verified (by `fstat` of the fd the bind is made from) to be the null device, char 1:3.
//!
//! Without a mount namespace of its own (none listed in `linux.namespaces`, as the spec allows),
//! the container shares the runtime's mount table: [`shared`] binds the rootfs privately on itself
//! before the init is cloned, everything is mounted below that bind, the init chroots, and
//! `delete` detaches the bind with all below it. The host's `/` is never touched.
//!
//! Every syscall goes through [`Sys`], so all of this is unit-tested with
//! [`crate::sys::fake::RecordingSys`]. Every path inside the container is resolved by
//! [`resolve`] (an fd walk) and mounted onto `/proc/self/fd/N`, never onto a joined string.

mod cgroup;
mod devices;
mod foreign;
pub mod mountinfo;
mod mounts;
pub mod options;
mod paths;
mod pivot;
pub mod procfs;
mod resolve;
pub mod shared;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_procfs;
#[cfg(test)]
mod tests_propagation;
#[cfg(test)]
mod tests_race;

use crate::sys::Sys;
use berth_oci::runtime::{LinuxNamespaceType, Spec};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use pivot::{chroot, pivot};

/// What went wrong while setting up the root filesystem; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(
        "{kind} {path:?} resolves outside the rootfs through symlink {link:?} -> {target:?}: \
         refusing to follow it (use a real directory inside the rootfs)"
    )]
    Escape {
        kind: &'static str,
        path: PathBuf,
        link: PathBuf,
        target: PathBuf,
    },
    #[error("{kind} {path:?}: {what} inside the rootfs: {source}")]
    Resolve {
        kind: &'static str,
        path: PathBuf,
        what: String,
        #[source]
        source: Errno,
    },
    #[error("mount destination {dest:?}: {what}: {source}")]
    Mount {
        dest: PathBuf,
        what: String,
        #[source]
        source: Errno,
    },
    #[error("mount destination {dest:?}: {message}")]
    Invalid { dest: PathBuf, message: String },
    #[error("device {path:?}: {what}: {source}")]
    Device {
        path: PathBuf,
        what: String,
        #[source]
        source: Errno,
    },
    #[error(
        "{kind} {path:?} is not on procfs (file system magic {magic}): something is mounted over \
         /proc there; refusing to use it"
    )]
    NotProcfs {
        kind: &'static str,
        path: PathBuf,
        magic: String,
    },
    #[error(
        "/dev/null in the container is {found}, not the null device (char 1:3): refusing to \
         mask paths with it"
    )]
    NotNullDevice { found: String },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: Errno,
    },
}

/// Facts about the spec that decide how things are mounted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Namespaces {
    /// The container has a mount namespace of its own (new or joined by path); without one it
    /// shares the runtime's mount table (see [`shared`]).
    pub mount: bool,
    pub user: bool,
    /// A network namespace of its own: new, or joined by path (one its caller made for it, as
    /// the daemon does for a container on a network). Without one, sysfs is read-only.
    pub net: bool,
    pub cgroup: bool,
}

impl Namespaces {
    /// Which namespaces the container gets of its own (a namespace joined by path counts as not
    /// its own, except the user and network namespaces: the user namespace's restrictions apply
    /// either way, and a network namespace given by path is the one made for the container).
    pub fn of(spec: &Spec) -> Namespaces {
        let mut ns = Namespaces::default();
        let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        for n in list.into_iter().flatten() {
            match n.typ() {
                LinuxNamespaceType::Mount => ns.mount = true,
                LinuxNamespaceType::User => ns.user = true,
                LinuxNamespaceType::Network => ns.net = true,
                LinuxNamespaceType::Cgroup => ns.cgroup = true,
                _ => {}
            }
        }
        ns
    }
}

/// The open rootfs and what mounting needs to know.
pub(crate) struct Ctx<'a> {
    pub sys: &'a dyn Sys,
    /// The rootfs as the kernel names it (symlinks of the host path resolved).
    pub rootfs_real: PathBuf,
    pub root: OwnedFd,
    pub ns: Namespaces,
}

impl Ctx<'_> {
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Opens `path` as an `O_PATH` directory fd.
pub(crate) fn open_dir(sys: &dyn Sys, path: &Path) -> Result<OwnedFd, RootfsError> {
    sys.open(path, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|source| RootfsError::Sys {
            what: format!("open directory {}", path.display()),
            source,
        })
}

/// Sets up the rootfs at `rootfs` (absolute, on the host) in the init's mount namespace: root
/// propagation, the rootfs bind, the spec's mounts in order, devices and /dev symlinks. Without a
/// mount namespace of its own, the runtime has already bound the rootfs ([`shared::bind`]) and
/// the mounts go below that bind, in the runtime's mount table.
pub fn prepare(spec: &Spec, rootfs: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let ns = Namespaces::of(spec);
    if ns.mount {
        mounts::prepare_root(spec, rootfs, sys)?;
    } else {
        // Still refuse a bad word before anything is mounted.
        mounts::root_propagation(spec)?;
    }
    let ctx = Ctx {
        sys,
        rootfs_real: std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf()),
        root: open_dir(sys, rootfs)?,
        ns,
    };
    for m in spec.mounts().iter().flatten() {
        mounts::mount(&ctx, m)?;
    }
    devices::create(&ctx, spec)?;
    Ok(())
}

/// Binds the terminal's slave `slave` (a host path such as `/dev/pts/3`) onto `/dev/console`.
pub fn bind_console(rootfs: &Path, slave: &Path, sys: &dyn Sys) -> Result<(), RootfsError> {
    let root = open_dir(sys, rootfs)?;
    devices::bind_console(sys, root.as_fd(), slave)
}

/// Runs after [`pivot`] (or [`chroot`]): readonly paths, masked paths, the read-only root, and
/// `linux.rootfsPropagation` on the new root.
pub fn finish(spec: &Spec, sys: &dyn Sys) -> Result<(), RootfsError> {
    paths::finish(spec, Path::new("/"), sys)?;
    mounts::apply_root_propagation(spec, Path::new("/"), sys)
}
