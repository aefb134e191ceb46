//! `changes` (`docker diff`) and the size of a container's writable layer (`SizeRw`, system df,
//! prune). Both read the writable directory of the container's rootfs mounts: the overlay's
//! `upperdir`, or the source of a plain-copy snapshot's bind mount.
//!
//! A path in the upper dir is *deleted* (kind 2) when it is an overlay whiteout (a 0/0 character
//! device), *modified* (kind 0) when a lower layer has it too, *added* (kind 1) otherwise; for a
//! plain-copy snapshot (no lower dirs in the mounts) every path counts as modified or added by the
//! same lower-dir test, and deletions are not seen.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::snapshot::Mount;

use super::ContainerService;
use crate::error::DaemonError;

/// One change: Docker's `Kind` (0 modified, 1 added, 2 deleted) and the path in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

fn resolve(m: &Mount, p: &str) -> PathBuf {
    match &m.cwd {
        Some(cwd) if !p.starts_with('/') => cwd.join(p),
        _ => PathBuf::from(p),
    }
}

/// The writable directory and the lower directories (top first) of a rootfs.
pub fn layer_dirs(mounts: &[Mount]) -> Option<(PathBuf, Vec<PathBuf>)> {
    let m = mounts.last()?;
    if m.kind == "overlay" {
        let opt = |key: &str| {
            m.options
                .iter()
                .flat_map(|o| o.split(','))
                .find_map(|o| o.strip_prefix(key).map(String::from))
        };
        let upper = resolve(m, &opt("upperdir=")?);
        let lower = opt("lowerdir=")
            .map(|l| l.split(':').map(|p| resolve(m, p)).collect())
            .unwrap_or_default();
        Some((upper, lower))
    } else {
        Some((PathBuf::from(&m.source), Vec::new()))
    }
}

/// Bytes used by the files under `dir` (hard links counted once per name, like `du -b` roughly).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

/// Walks `upper` and classifies each path against `lower`.
pub fn diff(upper: &Path, lower: &[PathBuf]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(upper.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let rel_path = rel.join(e.file_name());
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            let in_lower = lower
                .iter()
                .any(|l| l.join(&rel_path).symlink_metadata().is_ok());
            let whiteout = md.file_type().is_char_device() && md.rdev() == 0;
            let kind = if whiteout {
                2
            } else if in_lower {
                0
            } else {
                1
            };
            out.push(Change {
                path: format!("/{}", rel_path.display()),
                kind,
            });
            if md.is_dir() {
                stack.push(rel_path);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Files the engine itself puts in a container's writable layer as mount points for its binds
/// (Docker keeps them in a separate init layer, so `docker diff` never shows them).
const ENGINE_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// Drops the engine's own files from `changes`, and a directory reported modified only because
/// they were made in it (as Docker's init layer keeps them out of the container's diff).
pub fn hide_engine_files(changes: Vec<Change>) -> Vec<Change> {
    let engine = |p: &str| ENGINE_FILES.contains(&p);
    // The only directory the engine's files live in; one pass over the changes decides it.
    const PARENT: &str = "/etc";
    let mut below = changes.iter().filter(|c| {
        c.path
            .strip_prefix(PARENT)
            .is_some_and(|r| r.starts_with('/'))
    });
    let parent_only_for_engine = below.next().is_some() && below.all(|c| engine(&c.path));
    changes
        .into_iter()
        .filter(|c| {
            let hidden_parent = parent_only_for_engine && c.path == PARENT && c.kind == 0;
            !(engine(&c.path) || hidden_parent)
        })
        .collect()
}

impl ContainerService {
    /// `GET /containers/{id}/changes`.
    pub async fn changes(&self, name_or_id: &str) -> Result<Vec<Change>, DaemonError> {
        let c = self.lookup(name_or_id)?.snapshot();
        let (upper, lower) = layer_dirs(&c.rootfs_mounts).ok_or_else(|| {
            DaemonError::Internal(format!("container {} has no writable layer", c.id))
        })?;
        tokio::task::spawn_blocking(move || hide_engine_files(diff(&upper, &lower)))
            .await
            .map_err(DaemonError::join)
    }

    /// The size of the container's writable layer (0 when unknown).
    pub async fn size_rw(&self, name_or_id: &str) -> Result<u64, DaemonError> {
        let c = self.lookup(name_or_id)?.snapshot();
        let Some((upper, _)) = layer_dirs(&c.rootfs_mounts) else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || dir_size(&upper))
            .await
            .map_err(DaemonError::join)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_give_upper_and_lowers() {
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=l/a:l/b,upperdir=/s/up,workdir=/s/work".into()],
            cwd: Some(PathBuf::from("/snap")),
        };
        let (upper, lower) = layer_dirs(&[m]).unwrap();
        assert_eq!(upper, PathBuf::from("/s/up"));
        assert_eq!(
            lower,
            [PathBuf::from("/snap/l/a"), PathBuf::from("/snap/l/b")]
        );
    }

    #[test]
    fn the_engines_mount_points_are_not_changes() {
        let c = |path: &str, kind| Change {
            path: path.into(),
            kind,
        };
        let only_engine = vec![
            c("/etc", 0),
            c("/etc/hostname", 1),
            c("/etc/hosts", 1),
            c("/etc/resolv.conf", 1),
            c("/tmp", 0),
            c("/tmp/x", 1),
        ];
        assert_eq!(
            hide_engine_files(only_engine),
            [c("/tmp", 0), c("/tmp/x", 1)]
        );
        // A directory that holds a change of the user's stays.
        let with_user = vec![c("/etc", 0), c("/etc/hosts", 1), c("/etc/motd", 1)];
        assert_eq!(
            hide_engine_files(with_user),
            [c("/etc", 0), c("/etc/motd", 1)]
        );
    }

    #[test]
    fn added_and_modified_paths() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir(lower.path().join("etc")).unwrap();
        std::fs::create_dir(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/new"), b"x").unwrap();
        let changes = diff(upper.path(), &[lower.path().to_path_buf()]);
        assert_eq!(
            changes,
            [
                Change {
                    path: "/etc".into(),
                    kind: 0
                },
                Change {
                    path: "/etc/new".into(),
                    kind: 1
                },
            ]
        );
        assert_eq!(dir_size(upper.path()), 1);
    }
}
