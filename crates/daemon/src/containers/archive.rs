//! `docker cp`: stat a path in a container, read it as a tar, extract a tar into a directory
//! (`HEAD|GET|PUT /containers/{id}/archive`).
//!
//! A copy sees exactly what the container sees at a path: its rootfs with its bind mounts,
//! volumes and tmpfs mounts on top ([`view`]). How, and why so:
//! - A running container is read and written through its own mount namespace, its init's
//!   `/proc/<pid>/root` (the init held by a pidfd, so a dead or reused pid is noticed): the mounts
//!   are the very ones it runs with, a tmpfs's content included, and nothing is mounted for the
//!   copy. Docker instead re-creates the mounts beside the container, and so misses its tmpfs.
//! - A stopped container has no mount namespace; as Docker does, its mounts are made on its
//!   rootfs for the length of the copy — in a private mount namespace of the copy's own thread
//!   ([`assemble`]), so they are never visible on the host and die with the daemon, and each
//!   attached to a descriptor of its target resolved inside the root (the mountpoint race of
//!   moby GHSA-vp62-88p7-qqf5 cannot steer one out). Its volumes are mounted by the volume
//!   service for the copy, under a reference of the copy's own, and unmounted after it.
//!
//! The verb lock is held throughout, so the container is neither started nor removed under us,
//! as Docker holds the container lock. Paths are resolved fd-relative inside the view's root
//! ([`resolve`], `openat2` with `RESOLVE_IN_ROOT`); extraction is the image crate's layer applier
//! aimed at the destination directory's descriptor, so no entry of the tar (`..`, absolute names,
//! symlink or hard-link tricks) writes outside it. A write is refused where the container could
//! not write: the destination's mount is read-only (Docker's "container rootfs is marked
//! read-only" on the root mount, "mounted volume is marked read-only" on another), decided on the
//! directory the path resolved to, so a symlink in a volume pointing into a read-only rootfs is
//! refused too. Unlike Docker, a writable tmpfs of a `--read-only` running container takes
//! writes, as it does from inside.

mod assemble;
pub(crate) mod resolve;
mod sys;
pub(crate) mod tarball;
mod view;

use std::io::{Read, Write};

use berth_image::layer::{ApplyOptions, LayerError, WhiteoutMode};
use nix::fcntl::OFlag;
use tokio::sync::oneshot;

pub use resolve::PathStat;
use resolve::ResolveError;
use view::View;

use super::settings::MountKind;
use super::ContainerService;
use crate::error::DaemonError;
use crate::volumes::subpath::SubpathMount;

/// How much of a refused upload is read before answering.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Options of [`ContainerService::extract_to_dir`] (Docker's query flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory and the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Give the files the container user's uid/gid (from its passwd and group) instead of the tar's.
    pub copy_uid_gid: bool,
}

/// Docker's error for a path missing in a container.
fn not_found(path: &str, name: &str) -> DaemonError {
    DaemonError::NotFound(format!(
        "Could not find the file {path} in container {name}"
    ))
}

fn resolve_error(e: ResolveError, path: &str, name: &str) -> DaemonError {
    match e {
        ResolveError::NotFound(_) => not_found(path, name),
        ResolveError::NotADirectory(_) => {
            DaemonError::InvalidArgument(format!("{path} in container {name}: not a directory"))
        }
        ResolveError::Io { .. } => DaemonError::Internal(e.to_string()),
    }
}

impl ContainerService {
    /// Runs `f` with a view of the container's file system ([`view::run`], on a thread of its
    /// own), holding the verb lock. Without a live view, the container's volumes are mounted for
    /// the copy under a reference of its own (and unmounted after it) and seen as binds.
    async fn with_view<T: Send + 'static>(
        &self,
        name_or_id: &str,
        f: impl FnOnce(&View, &super::model::Container) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let mut c = entry.snapshot();
        let paths = self.paths().clone();
        let live = if c.state.status.is_active() {
            let (root, id) = (paths.runtime_root.clone(), c.id.clone());
            let shim_dir = paths.shim_dir(&c.id);
            tokio::task::spawn_blocking(move || view::live(&root, &shim_dir, &id))
                .await
                .map_err(DaemonError::join)?
        } else {
            None
        };
        let reference = super::model::new_id()?;
        let (mounted, pinned) = match live {
            Some(_) => (Vec::new(), Vec::new()),
            None => self.mount_copy_volumes(&mut c, &reference).await?,
        };
        let answer = view::run(paths, c, live, f).await;
        drop(pinned);
        self.unmount_copy_volumes(&mounted, &reference).await;
        answer.map_err(|_| {
            DaemonError::Internal("the copy's thread ended without an answer".into())
        })?
    }

    /// Mounts `c`'s volumes under `reference` and makes each mount a bind of the volume's host
    /// path (of its subpath, pinned by a temporary mount in the data dir that a restore sweeps);
    /// returns the names mounted and the pins. On failure the ones mounted are unmounted again.
    async fn mount_copy_volumes(
        &self,
        c: &mut super::model::Container,
        reference: &str,
    ) -> Result<(Vec<String>, Vec<SubpathMount>), DaemonError> {
        let mut mounted = Vec::new();
        let mut pinned = Vec::new();
        for (index, m) in c
            .settings
            .mounts
            .iter_mut()
            .filter(|m| m.kind == MountKind::Volume)
            .enumerate()
        {
            let at = self
                .paths()
                .data
                .join(format!("archive-{reference}-sub{index}"));
            let path = match self.inner.volumes.mount(&m.source, reference).await {
                Ok(volume) => {
                    mounted.push(m.source.clone());
                    super::volumes::pin_subpath(m, volume, at, &mut pinned).await
                }
                Err(e) => Err(e),
            };
            match path {
                Ok(path) => {
                    m.kind = MountKind::Bind;
                    m.source = path.display().to_string();
                    m.options.clear();
                    m.create_source = false;
                }
                Err(e) => {
                    self.unmount_copy_volumes(&mounted, reference).await;
                    return Err(e);
                }
            }
        }
        Ok((mounted, pinned))
    }

    async fn unmount_copy_volumes(&self, names: &[String], reference: &str) {
        for name in names {
            if let Err(e) = self.inner.volumes.unmount(name, reference).await {
                tracing::warn!(volume = %name, error = %e, "unmounting a volume after a copy");
            }
        }
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn stat_path(&self, name_or_id: &str, path: &str) -> Result<PathStat, DaemonError> {
        let (path, name) = (path.to_string(), name_or_id.to_string());
        self.with_view(name_or_id, move |view, _| {
            resolve::stat_path(&view.root, &path)
                .map(|(_, st)| st)
                .map_err(|e| resolve_error(e, &path, &name))
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=`: sends the stat on `ready`, then writes the tar to
    /// `out`. An error before `ready` is sent is the request's error; after, the stream's.
    pub async fn archive_path(
        &self,
        name_or_id: &str,
        path: &str,
        ready: oneshot::Sender<PathStat>,
        out: impl Write + Send + 'static,
    ) -> Result<(), DaemonError> {
        let (path, name) = (path.to_string(), name_or_id.to_string());
        let map = self.remap().map(|r| r.map.clone());
        let c = self
            .with_view(name_or_id, move |view, c| {
                let (resolved, st) = resolve::stat_path(&view.root, &path)
                    .map_err(|e| resolve_error(e, &path, &name))?;
                let top = st.name.clone();
                if ready.send(st).is_err() {
                    return Ok(c.clone()); // the client went away
                }
                tarball::write_tar(&resolved, &top, out, map.as_ref()).map_err(|e| {
                    DaemonError::Internal(format!("archiving {path} of container {}: {e}", c.id))
                })?;
                Ok(c.clone())
            })
            .await?;
        self.event(&c, "archive-path", &[]);
        Ok(())
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `body` into directory `path`.
    pub async fn extract_to_dir(
        &self,
        name_or_id: &str,
        path: &str,
        opts: ExtractOptions,
        body: impl Read + Send + 'static,
    ) -> Result<(), DaemonError> {
        let (path, name) = (path.to_string(), name_or_id.to_string());
        let map = self.remap().map(|r| r.map.clone());
        let c = self
            .with_view(name_or_id, move |view, c| {
                let abs = resolve::absolute(&path);
                let dir = resolve::open_in_root(&view.root, &abs, OFlag::O_PATH)
                    .map_err(|e| resolve_error(e, &path, &name))?;
                let st = nix::sys::stat::fstat(&dir)
                    .map_err(|e| DaemonError::Internal(format!("stat of {path}: {e}")))?;
                if !resolve::is_type(&st, nix::sys::stat::SFlag::S_IFDIR) {
                    return Err(DaemonError::InvalidArgument(
                        "extraction point is not a directory".into(),
                    ));
                }
                if resolve::on_kernel_fs(&dir) {
                    return Err(DaemonError::InvalidArgument(format!(
                        "{path} in container {name} is on a kernel file system: not copied into"
                    )));
                }
                let mut body = body;
                if let Err(e) = view.check_writable(&dir, c.host_config.readonly_rootfs) {
                    // Read what the client still sends (bounded), so it sees our answer and not
                    // a broken pipe.
                    let _ = std::io::copy(&mut body.take(DRAIN_LIMIT), &mut std::io::sink());
                    return Err(e);
                }
                // The applier opens its target by path: the descriptor's /proc link names the
                // directory already resolved, whatever happens to the path meanwhile.
                // A user's tar, not a layer: `.wh.` names are files like any other.
                let mut apply_opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
                apply_opts.no_overwrite_dir_non_dir = opts.no_overwrite_dir_non_dir;
                if opts.copy_uid_gid {
                    // The container user's ids, from the container's own passwd and group.
                    let root = resolve::fd_path(&view.root);
                    let id = super::spec::user::resolve(&root, &c.config.user, &[])?;
                    apply_opts.owner = Some((id.uid, id.gid));
                }
                // A remapped container's files are owned in its range ([`crate::userns`]).
                if let Some(map) = map {
                    if let Some((uid, gid)) = apply_opts.owner {
                        apply_opts.owner = Some(
                            map.to_host(uid, gid, &path)
                                .map_err(|e| DaemonError::InvalidArgument(e.to_string()))?,
                        );
                    }
                    apply_opts.id_map = Some(map);
                }
                let applied =
                    berth_image::layer::apply(&mut body, &resolve::fd_path(&dir), &apply_opts);
                if let Err(e) = applied {
                    // Read what the client still sends (bounded), so it sees our answer.
                    let _ = std::io::copy(&mut body.take(DRAIN_LIMIT), &mut std::io::sink());
                    return Err(extract_error(e, &path, &c.id));
                }
                Ok(c.clone())
            })
            .await?;
        self.event(&c, "extract-to-dir", &[]);
        Ok(())
    }
}

fn extract_error(e: LayerError, path: &str, id: &str) -> DaemonError {
    let read_only = match &e {
        LayerError::Entry { source, .. } => source.raw_os_error() == Some(libc::EROFS),
        _ => false,
    };
    if e.is_refusal() || read_only {
        DaemonError::InvalidArgument(format!("extracting into {path} of container {id}: {e}"))
    } else {
        DaemonError::Internal(format!("extracting into {path} of container {id}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    /// The sources of `docker cp`'s daemon side, and of the user lookup `cp -a` makes.
    const SOURCES: &[(&str, &str)] = &[
        ("archive.rs", include_str!("archive.rs")),
        ("archive/assemble.rs", include_str!("archive/assemble.rs")),
        ("archive/resolve.rs", include_str!("archive/resolve.rs")),
        ("archive/sys.rs", include_str!("archive/sys.rs")),
        ("archive/tarball.rs", include_str!("archive/tarball.rs")),
        ("archive/view.rs", include_str!("archive/view.rs")),
        ("spec/user.rs", include_str!("spec/user.rs")),
        ("spec/rootfs.rs", include_str!("spec/rootfs.rs")),
    ];

    /// CVE-04 (moby CVE-2019-14271: Docker's tar helper chrooted into the container and then
    /// let glibc load the image's `libnss_*.so` for a user lookup): the archive path resolves
    /// users from the container's files by its own parser and has ids numeric everywhere else; it
    /// never asks libc's NSS, loads a library, or enters the container's root or namespaces.
    #[test]
    fn no_user_lookup_or_code_loading() {
        // Spelled in pieces so that this list does not match itself.
        let forbidden = [
            ["getpw", "nam"],
            ["getpw", "uid"],
            ["getgr", "nam"],
            ["getgr", "gid"],
            ["getgr", "ouplist"],
            ["initgr", "oups"],
            ["User::from_", "name"],
            ["User::from_", "uid"],
            ["Group::from_", "name"],
            ["Group::from_", "gid"],
            ["dl", "open"],
            ["lib", "loading"],
            ["ch", "root("],
            ["set", "ns("],
            ["pivot_", "root"],
        ];
        for (file, text) in SOURCES {
            for parts in &forbidden {
                let word = parts.concat();
                assert!(!text.contains(&word), "{file} uses {word}");
            }
        }
    }
}
