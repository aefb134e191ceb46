//! A stopped container's file system put together for one copy, as Docker does for `docker cp`:
//! its rootfs with its own `/etc/resolv.conf`, `/etc/hostname` and `/etc/hosts` and the user's
//! binds and volumes on top (read-only ones read-only, the rootfs too under `--read-only`). The
//! caller has mounted the volumes and made them binds of their host paths. A tmpfs of a stopped
//! container has no content; what lies beneath it is the rootfs's, as in Docker.
//!
//! All of it happens in a private mount namespace of the copy's own thread (`unshare(CLONE_FS |
//! CLONE_NEWNS)`, then `/` made a slave), so nothing is ever visible on the host, and a daemon
//! that dies mid-copy leaves no mount behind: the namespace dies with it.
//!
//! The mountpoint race (moby GHSA-vp62-88p7-qqf5, runc CVE-2024-45310): a bind's destination may
//! lie inside a directory another, running, container shares and swaps for a symlink. So every
//! source is first cloned as a detached tree (`open_tree`), made private and read-only while
//! still detached, and then attached with `move_mount` onto an `O_PATH` descriptor of its
//! target; the target and each missing directory on the way are resolved with `RESOLVE_IN_ROOT`
//! from the root's descriptor and made with `mkdirat`/`openat(O_CREAT | O_EXCL | O_NOFOLLOW)`
//! relative to their parent's. A symlink swapped in at any moment is followed inside the
//! container's root or refused; nothing is created, and nothing mounted, outside the root and
//! the mounts' own sources.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};

use super::super::model::Container;
use super::super::settings::MountKind;
use super::super::Paths;
use super::resolve::{self, fd_path, ResolveError};
use super::sys;
use super::view::View;
use crate::error::DaemonError;

/// Why a stopped container's view could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("{what}: {source}")]
    Sys { what: String, source: Errno },
    /// Docker's words for a bind whose source is gone.
    #[error("invalid mount config for type \"bind\": bind source path does not exist: {0}")]
    MissingSource(String),
    #[error("mount destination {dest}: {source}")]
    Target { dest: String, source: ResolveError },
    #[error("mounting the rootfs: {0}")]
    Rootfs(#[from] berth_image::snapshot::SnapshotError),
    #[error("the container has no rootfs to mount")]
    NoRootfs,
    /// A mount the caller should have made a bind (a volume not mounted for the copy).
    #[error("docker cp of a stopped container cannot see a {0} mount that was not prepared")]
    Unsupported(&'static str),
}

impl From<AssembleError> for DaemonError {
    fn from(e: AssembleError) -> Self {
        match e {
            AssembleError::MissingSource(_) => DaemonError::InvalidArgument(e.to_string()),
            e => DaemonError::Internal(format!("preparing a container's files for a copy: {e}")),
        }
    }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(Errno) -> AssembleError {
    let what = what.into();
    move |source| AssembleError::Sys { what, source }
}

/// One mount of the view: a host path bound at a destination in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    destination: String,
    source: PathBuf,
    read_only: bool,
}

/// The mounts a stopped container's view has, in the order its start mounts them: a later one
/// at the same destination replaces an earlier one, and a parent comes before what is mounted
/// inside it (by depth, as Docker sorts them).
fn plan(paths: &Paths, c: &Container) -> Result<Vec<Planned>, AssembleError> {
    let mut out: Vec<Planned> = Vec::new();
    let mut push = |p: Planned| {
        out.retain(|q| q.destination != p.destination);
        out.push(p);
    };
    let data = paths.data_dir(&c.id);
    for (file, destination) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        let source = data.join(file);
        if source.exists() {
            push(Planned {
                destination: destination.into(),
                source,
                read_only: c.host_config.readonly_rootfs,
            });
        }
    }
    for m in &c.settings.mounts {
        if m.kind == MountKind::Bind {
            push(Planned {
                destination: m.destination.clone(),
                source: PathBuf::from(&m.source),
                read_only: m.read_only,
            });
        } else if m.kind != MountKind::Tmpfs {
            return Err(AssembleError::Unsupported(m.kind.as_str()));
        }
    }
    out.sort_by_key(|p| p.destination.split('/').filter(|c| !c.is_empty()).count());
    Ok(out)
}

/// Puts `c`'s view together in a private mount namespace of the calling thread, which must end
/// with the copy (see [`super::view::run`]).
pub fn assemble(paths: &Paths, c: &Container) -> Result<View, AssembleError> {
    let rootfs = paths.rootfs(&c.id);
    // Asked before the unshare: /proc/self is the whole process, whose namespace is the host's.
    let mounted = super::super::start::rootfs_is_mounted(&rootfs);
    let planned = plan(paths, c)?;
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(sys_err("unsharing the copy's mount namespace"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(sys_err("making / a slave in the copy's namespace"))?;
    // Sources are cloned before anything is mounted, so no mount of the view hides one.
    let mut trees = Vec::with_capacity(planned.len());
    for p in planned {
        let tree = sys::clone_tree(&p.source).map_err(|e| match e {
            Errno::ENOENT => AssembleError::MissingSource(p.source.display().to_string()),
            e => AssembleError::Sys {
                what: format!("cloning the mount {}", p.source.display()),
                source: e,
            },
        })?;
        sys::make_private(tree.as_fd(), p.read_only)
            .map_err(sys_err(format!("making {} private", p.source.display())))?;
        let st = fstat(tree.as_fd()).map_err(sys_err(format!("stat of {}", p.source.display())))?;
        trees.push((p, tree, resolve::is_type(&st, SFlag::S_IFDIR)));
    }
    if !mounted {
        if c.rootfs_mounts.is_empty() {
            return Err(AssembleError::NoRootfs);
        }
        std::fs::create_dir_all(&rootfs).map_err(|e| AssembleError::Sys {
            what: format!("creating {}", rootfs.display()),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        berth_image::snapshot::mount_all(&c.rootfs_mounts, &rootfs)?;
    }
    let root = resolve::open_root(&rootfs).map_err(|e| AssembleError::Target {
        dest: "/".into(),
        source: e,
    })?;
    let view = View::assembled(root, rootfs);
    for (p, tree, is_dir) in trees {
        let target = mount_target(&view.root, &p.destination, is_dir).map_err(|source| {
            AssembleError::Target {
                dest: p.destination.clone(),
                source,
            }
        })?;
        sys::attach(tree.as_fd(), target.as_fd()).map_err(sys_err(format!(
            "mounting {} on {}",
            p.source.display(),
            p.destination
        )))?;
    }
    if c.host_config.readonly_rootfs {
        // Last, so the mount targets above could be made.
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(
            None::<&str>,
            &fd_path(&view.root),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(sys_err("making the rootfs read-only"))?;
    }
    Ok(view)
}

/// An `O_PATH` descriptor of mount destination `dest` inside `root`, made when missing (a
/// directory, or an empty file for a file's bind, as Docker does), every step confined to the
/// root (see the module docs).
fn mount_target(root: &OwnedFd, dest: &str, is_dir: bool) -> Result<OwnedFd, ResolveError> {
    let abs = resolve::absolute(dest);
    match resolve::open_in_root(root, &abs, OFlag::O_PATH) {
        Err(ResolveError::NotFound(_)) => {}
        other => return other,
    }
    let parts: Vec<&str> = abs.split('/').filter(|p| !p.is_empty()).collect();
    for i in 0..parts.len() {
        let prefix = format!("/{}", parts[..=i].join("/"));
        match resolve::open_in_root(root, &prefix, OFlag::O_PATH) {
            Err(ResolveError::NotFound(_)) => {}
            other => {
                other?;
                continue;
            }
        }
        let parent = format!("/{}", parts[..i].join("/"));
        let parent = resolve::open_in_root(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let name = Path::new(parts[i]);
        let made = if i + 1 == parts.len() && !is_dir {
            openat(
                parent.as_fd(),
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o755),
            )
            .map(drop)
        } else {
            mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755))
        };
        match made {
            // Made meanwhile (or a symlink now): the next lookup says what it is.
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(source) => {
                return Err(ResolveError::Io {
                    path: prefix,
                    source,
                })
            }
        }
    }
    resolve::open_in_root(root, &abs, OFlag::O_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(dir: &Path) -> OwnedFd {
        resolve::open_root(dir).unwrap()
    }

    #[test]
    fn mount_targets_are_made_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root_dir.join("v")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // A symlink out of the root on the way: followed inside it.
        std::os::unix::fs::symlink(&outside, root_dir.join("v/x")).unwrap();
        let root = root_of(&root_dir);
        let fd = mount_target(&root, "/v/x/mnt", true);
        let inside = root_dir
            .join(outside.strip_prefix("/").unwrap())
            .join("mnt");
        // The link names a directory missing inside the root: refused, or made inside.
        match fd {
            Ok(_) => assert!(inside.is_dir()),
            Err(e) => assert!(matches!(e, ResolveError::NotFound(_)), "{e}"),
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);

        let fd = mount_target(&root, "/a/b/file", false).unwrap();
        let st = fstat(fd.as_fd()).unwrap();
        assert!(resolve::is_type(&st, SFlag::S_IFREG));
        assert!(root_dir.join("a/b/file").is_file());
        let fd = mount_target(&root, "/a/b/c/", true).unwrap();
        assert!(resolve::is_type(
            &fstat(fd.as_fd()).unwrap(),
            SFlag::S_IFDIR
        ));
    }

    #[test]
    fn later_mounts_replace_earlier_ones_at_a_destination() {
        use super::super::super::settings::Mount;
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            data: dir.path().join("data"),
            exec: dir.path().join("exec"),
            runtime_root: dir.path().join("rt"),
            shims: dir.path().join("s"),
            remap: None,
        };
        // From JSON, so fields added to a mount later take their defaults here.
        let mount = |kind: &str, src: &str, dest: &str, ro: bool| -> Mount {
            serde_json::from_value(serde_json::json!({
                "kind": kind, "source": src, "destination": dest, "read_only": ro, "options": [],
            }))
            .unwrap()
        };
        let mut c = Container {
            id: "0123456789abcdef".repeat(4),
            name: "t".into(),
            created: 0,
            image_name: "busybox".into(),
            image_id: "sha256:x".into(),
            config: Default::default(),
            host_config: Default::default(),
            path: "sh".into(),
            args: vec![],
            state: Default::default(),
            warnings: vec![],
            rootfs_mounts: vec![],
            settings: Default::default(),
        };
        c.settings.mounts = vec![
            mount("bind", "/a", "/m", false),
            mount("bind", "/b", "/n", true),
            mount("tmpfs", "", "/t", false),
            mount("bind", "/c", "/m", true),
            mount("bind", "/d", "/a/b", false),
            mount("bind", "/e", "/a", false),
        ];
        let p = plan(&paths, &c).unwrap();
        let got: Vec<(&str, &str, bool)> = p
            .iter()
            .map(|p| {
                (
                    p.destination.as_str(),
                    p.source.to_str().unwrap(),
                    p.read_only,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/n", "/b", true),
                ("/m", "/c", true),
                ("/a", "/e", false),
                ("/a/b", "/d", false)
            ]
        );
    }
}
