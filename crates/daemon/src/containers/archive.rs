//! `docker cp`: stat a path in a container, read it as a tar, extract a tar into a directory
//! (`HEAD|GET|PUT /containers/{id}/archive`).
//!
//! The container's root is reached as `export` reaches it: a running container's rootfs is mounted
//! already; a stopped one is mounted on a private temp dir for the length of the operation (a
//! plain-copy snapshot is read in place). The verb lock is held throughout, so the container is
//! neither started nor removed under us, as Docker holds the container lock.
//!
//! Paths are resolved fd-relative inside that root ([`resolve`]); extraction is the image crate's
//! layer applier aimed at the destination directory's descriptor, so no entry of the tar (`..`,
//! absolute names, symlink or hard-link tricks) writes outside it. Bind mounts and volumes inside
//! the container are not looked at yet: copies see the rootfs underneath them.

mod resolve;
mod tarball;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_image::layer::{ApplyOptions, LayerError, WhiteoutMode};
use berth_image::snapshot::Mount;
use nix::fcntl::OFlag;
use tokio::sync::oneshot;

pub use resolve::PathStat;
use resolve::ResolveError;

use super::{ContainerService, Paths};
use crate::error::DaemonError;

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

/// The container's root, mounted for as long as this lives.
struct RootAccess {
    path: PathBuf,
    /// A temp mount point this access made (unmounted and removed on drop).
    temp: Option<PathBuf>,
}

impl RootAccess {
    fn open(paths: &Paths, id: &str, mounts: &[Mount]) -> Result<RootAccess, DaemonError> {
        let rootfs = paths.rootfs(id);
        if super::start::rootfs_is_mounted(&rootfs) {
            return Ok(RootAccess {
                path: rootfs,
                temp: None,
            });
        }
        if let [m] = mounts {
            if m.kind == "bind" {
                return Ok(RootAccess {
                    path: PathBuf::from(&m.source),
                    temp: None,
                });
            }
        }
        let nanos = super::now_nanos();
        let temp = paths
            .data
            .join(format!("archive-{}-{nanos}", &id[..12.min(id.len())]));
        std::fs::create_dir(&temp).map_err(|source| DaemonError::Io {
            what: "creating a temp mount point",
            path: temp.clone(),
            source,
        })?;
        if let Err(e) = berth_image::snapshot::mount_all(mounts, &temp) {
            let _ = std::fs::remove_dir(&temp);
            return Err(DaemonError::Internal(format!(
                "mounting the rootfs of container {id}: {e}"
            )));
        }
        Ok(RootAccess {
            path: temp.clone(),
            temp: Some(temp),
        })
    }
}

impl Drop for RootAccess {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            if let Err(e) = berth_image::snapshot::unmount_all(temp) {
                tracing::warn!(path = %temp.display(), error = %e, "unmounting a cp mount");
                return;
            }
            let _ = std::fs::remove_dir(temp);
        }
    }
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
    /// Runs `f` on the blocking pool with the container's root open, holding the verb lock.
    async fn with_root<T: Send + 'static>(
        &self,
        name_or_id: &str,
        f: impl FnOnce(&Path, &super::model::Container) -> Result<T, DaemonError> + Send + 'static,
    ) -> Result<T, DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let _op = entry.op.lock().await;
        let c = entry.snapshot();
        let paths = self.paths().clone();
        tokio::task::spawn_blocking(move || {
            let root = RootAccess::open(&paths, &c.id, &c.rootfs_mounts)?;
            f(&root.path, &c)
        })
        .await
        .map_err(DaemonError::join)?
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn stat_path(&self, name_or_id: &str, path: &str) -> Result<PathStat, DaemonError> {
        let (path, name) = (path.to_string(), name_or_id.to_string());
        self.with_root(name_or_id, move |root, _| {
            let fd = resolve::open_root(root).map_err(|e| DaemonError::Internal(e.to_string()))?;
            resolve::stat_path(&fd, &path)
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
        let c = self
            .with_root(name_or_id, move |root, c| {
                let fd =
                    resolve::open_root(root).map_err(|e| DaemonError::Internal(e.to_string()))?;
                let (resolved, st) =
                    resolve::stat_path(&fd, &path).map_err(|e| resolve_error(e, &path, &name))?;
                let top = st.name.clone();
                if ready.send(st).is_err() {
                    return Ok(c.clone()); // the client went away
                }
                tarball::write_tar(&resolved, &top, out).map_err(|e| {
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
        let c = self
            .with_root(name_or_id, move |root, c| {
                let fd =
                    resolve::open_root(root).map_err(|e| DaemonError::Internal(e.to_string()))?;
                let abs = resolve::absolute(&path);
                let dir = resolve::open_in_root(&fd, &abs, OFlag::O_PATH)
                    .map_err(|e| resolve_error(e, &path, &name))?;
                let st = nix::sys::stat::fstat(&dir)
                    .map_err(|e| DaemonError::Internal(format!("stat of {path}: {e}")))?;
                if !resolve::is_type(&st, nix::sys::stat::SFlag::S_IFDIR) {
                    return Err(DaemonError::InvalidArgument(
                        "extraction point is not a directory".into(),
                    ));
                }
                if c.host_config.readonly_rootfs {
                    return Err(DaemonError::InvalidArgument(
                        "container rootfs is marked read-only".into(),
                    ));
                }
                // The applier opens its target by path: the descriptor's /proc link names the
                // directory already resolved, whatever happens to the path meanwhile.
                // A user's tar, not a layer: `.wh.` names are files like any other.
                let mut apply_opts = ApplyOptions::new(WhiteoutMode::Delete).with_literal_names();
                apply_opts.no_overwrite_dir_non_dir = opts.no_overwrite_dir_non_dir;
                if opts.copy_uid_gid {
                    // The container user's ids, from the container's own passwd and group.
                    let id = super::spec::user::resolve(root, &c.config.user, &[])?;
                    apply_opts.owner = Some((id.uid, id.gid));
                }
                let mut body = body;
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
    if e.is_refusal() {
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
        ("archive/resolve.rs", include_str!("archive/resolve.rs")),
        ("archive/tarball.rs", include_str!("archive/tarball.rs")),
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
