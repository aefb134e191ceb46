//! Device nodes and /dev symlinks: the default devices (null, zero, full, random, urandom, tty)
//! plus the spec's `linux.devices`, made with `mknod` (or, in a user namespace where `mknod` is
//! refused, bind-mounted from the host), the `/dev/fd`, `stdin`, `stdout`, `stderr`, `core` and
//! `ptmx` symlinks, and the console.

use super::mounts::resolve_at;
use super::resolve::{resolve, Create};
use super::{Ctx, RootfsError};
use crate::sys::{fd_path, Sys};
use berth_oci::runtime::{LinuxDeviceType, Spec};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

const KIND: &str = "device";

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets, as `(path, major, minor)`: character devices, mode 0666.
const DEFAULTS: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The /dev symlinks, as `(name, target)`; `core` is added when the host has /proc/kcore.
const SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The spec's devices followed by the defaults it does not name.
pub(crate) fn list(spec: &Spec) -> Result<Vec<Device>, RootfsError> {
    let mut out = Vec::new();
    let spec_devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for d in spec_devices.into_iter().flatten() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::Device {
                    path: d.path().clone(),
                    what: "type \"a\" is only valid in cgroup rules; use c, b, u or p".into(),
                    source: Errno::EINVAL,
                })
            }
        };
        let number = |n: i64, what: &str| {
            u64::try_from(n).map_err(|_| RootfsError::Device {
                path: d.path().clone(),
                what: format!("{what} number {n} is negative"),
                source: Errno::EINVAL,
            })
        };
        out.push(Device {
            path: d.path().clone(),
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    for (path, major, minor) in DEFAULTS {
        if !out.iter().any(|d| d.path == Path::new(path)) {
            out.push(Device {
                path: PathBuf::from(path),
                kind: SFlag::S_IFCHR,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            });
        }
    }
    Ok(out)
}

/// Creates the devices and /dev symlinks, unless the spec bind-mounts the host's /dev.
pub(crate) fn create(ctx: &Ctx<'_>, spec: &Spec) -> Result<(), RootfsError> {
    let host_dev = spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    if host_dev {
        return Ok(());
    }
    // The nodes and links go into the rootfs's own /dev, never through a symlink in its place.
    let rule = "device nodes must be made in";
    super::procfs::ordinary_dir(ctx.sys, ctx.root(), Path::new("/dev"), rule)?;
    for d in list(spec)? {
        node(ctx, &d)?;
    }
    symlinks(ctx)
}

fn node(ctx: &Ctx<'_>, d: &Device) -> Result<(), RootfsError> {
    let fail = |what: &str, source: Errno| RootfsError::Device {
        path: d.path.clone(),
        what: what.into(),
        source,
    };
    let (Some(parent), Some(name)) = (d.path.parent(), d.path.file_name()) else {
        return Err(fail("the path has no file name", Errno::EINVAL));
    };
    let name = Path::new(name);
    if ctx.ns.user {
        // mknod is refused in a user namespace: bind the host's node onto an empty file.
        let target = resolve_at(ctx, &d.path, Create::File)?;
        return ctx
            .sys
            .mount(
                Some(&d.path),
                &fd_path(&target),
                None,
                MsFlags::MS_BIND,
                None,
            )
            .map_err(|e| fail("bind the host's device", e));
    }
    let dir = resolve(ctx.sys, ctx.root(), KIND, parent, Create::Dir)?
        .ok_or_else(|| fail("find the parent directory", Errno::ENOENT))?;
    let dir = dir.as_fd();
    match ctx.sys.unlinkat(dir, name, false) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(fail("remove what is in the way", e)),
    }
    let mode = Mode::from_bits_truncate(d.mode);
    ctx.sys
        .mknodat(dir, name, d.kind, mode, makedev(d.major, d.minor))
        .map_err(|e| fail("mknod", e))?;
    // mknod applies the umask: set the mode the spec asked for.
    ctx.sys
        .fchmodat(dir, name, mode)
        .map_err(|e| fail("chmod", e))?;
    ctx.sys
        .fchownat(dir, name, d.uid, d.gid)
        .map_err(|e| fail("chown", e))
}

fn symlinks(ctx: &Ctx<'_>) -> Result<(), RootfsError> {
    let dev_path = Path::new("/dev");
    let dev =
        resolve(ctx.sys, ctx.root(), KIND, dev_path, Create::Dir)?.ok_or(RootfsError::Device {
            path: dev_path.into(),
            what: "open".into(),
            source: Errno::ENOENT,
        })?;
    let mut links: Vec<(&str, &str)> = SYMLINKS.to_vec();
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        link(ctx.sys, dev.as_fd(), name, target)?;
    }
    // /dev/ptmx must be the devpts instance's multiplexer, whatever the image holds.
    match ctx.sys.unlinkat(dev.as_fd(), Path::new("ptmx"), false) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(RootfsError::Device {
                path: "/dev/ptmx".into(),
                what: "remove".into(),
                source,
            })
        }
    }
    link(ctx.sys, dev.as_fd(), "ptmx", "pts/ptmx")
}

fn link(sys: &dyn Sys, dev: BorrowedFd<'_>, name: &str, target: &str) -> Result<(), RootfsError> {
    match sys.symlinkat(Path::new(target), dev, Path::new(name)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(RootfsError::Device {
            path: Path::new("/dev").join(name),
            what: format!("link to {target}"),
            source,
        }),
    }
}

/// Binds the terminal `slave` onto `/dev/console` in the rootfs opened as `root`.
pub(crate) fn bind_console(
    sys: &dyn Sys,
    root: BorrowedFd<'_>,
    slave: &Path,
) -> Result<(), RootfsError> {
    let console = Path::new("/dev/console");
    let fail = |what: &str, source: Errno| RootfsError::Device {
        path: console.into(),
        what: what.into(),
        source,
    };
    let target = resolve(sys, root, KIND, console, Create::File)?
        .ok_or_else(|| fail("create", Errno::ENOENT))?;
    sys.mount(Some(slave), &fd_path(&target), None, MsFlags::MS_BIND, None)
        .map_err(|e| fail(&format!("bind the terminal {}", slave.display()), e))
}
