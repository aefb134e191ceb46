//! Filling a new container's volumes from its image, at create, as dockerd's `populateVolumes`
//! does (so `docker create` then `docker cp` out of a volume already sees the image's files):
//! [`image_may_have`] tells from the image's layer directories alone, without mounting
//! anything, whether the image can have anything at a destination (most volumes go where the
//! image has nothing: no mount at all then); [`populate`] mounts a read-only view of the rootfs,
//! runs [`super::copyup`] for each volume and unmounts it again. The view is read-only (the
//! layers as lower directories, the container's still-empty upper one included): nothing is
//! written to the container's layer, and its unmount syncs nothing.
//!
//! It knows the two mount descriptions the snapshotters give (`overlay` with `lowerdir`,
//! `upperdir`, `workdir` and an optional working directory for relative names; `bind` of one
//! directory); anything else is mounted as it is and always looked into.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_image::snapshot::Mount;
use nix::fcntl::OFlag;

use super::copyup;
use super::subpath;
use crate::error::{DaemonError, ErrorKind};

/// One volume to fill: the mount's destination, the volume's files on the host, and the mount's
/// subpath (empty: the volume's root).
#[derive(Debug, Clone)]
pub struct Target {
    pub destination: String,
    pub volume: PathBuf,
    pub subpath: String,
}

/// The directories that make up `mounts`' tree, topmost first; `None` when a mount is of a
/// kind not known here.
fn layer_dirs(mounts: &[Mount]) -> Option<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for m in mounts.iter().rev() {
        let resolve = |p: &str| match &m.cwd {
            Some(cwd) => cwd.join(p),
            None => PathBuf::from(p),
        };
        match m.kind.as_str() {
            "overlay" => {
                if let Some(upper) = m.options.iter().find_map(|o| o.strip_prefix("upperdir=")) {
                    dirs.push(resolve(upper));
                }
                let lower = m.options.iter().find_map(|o| o.strip_prefix("lowerdir="))?;
                dirs.extend(lower.split(':').filter(|l| !l.is_empty()).map(resolve));
            }
            "bind" => dirs.push(PathBuf::from(&m.source)),
            _ => return None,
        }
    }
    Some(dirs)
}

/// Whether the image whose rootfs `mounts` describe may have anything at `destination`: some
/// layer has the path, or has a symlink on the way to it (which may lead anywhere in the image).
/// Only `false` is certain.
pub fn image_may_have(mounts: &[Mount], destination: &str) -> bool {
    let Some(dirs) = layer_dirs(mounts) else {
        return true;
    };
    let parts: Vec<&str> = destination
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return true;
    }
    dirs.iter().any(|dir| {
        let mut path = dir.clone();
        for part in &parts {
            path.push(part);
            match std::fs::symlink_metadata(&path) {
                Ok(md) if md.file_type().is_symlink() => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        true
    })
}

/// `mounts` made read-only: an overlay of the layers only (its upper directory becomes the top
/// lower one), a single directory as a read-only bind.
fn read_only(mounts: &[Mount]) -> Vec<Mount> {
    mounts
        .iter()
        .map(|m| {
            if m.kind == "bind" {
                let mut m = m.clone();
                if !m.read_only() {
                    m.options.push("ro".to_string());
                }
                return m;
            }
            if m.kind != "overlay" {
                return m.clone();
            }
            let upper = m.options.iter().find_map(|o| o.strip_prefix("upperdir="));
            let lower = m.options.iter().find_map(|o| o.strip_prefix("lowerdir="));
            let mut layers: Vec<&str> = upper.into_iter().collect();
            layers.extend(lower.into_iter().flat_map(|l| l.split(':')));
            layers.retain(|l| !l.is_empty());
            if let [only] = layers.as_slice() {
                // An overlay needs two layers without an upper one.
                let source = match &m.cwd {
                    Some(cwd) => cwd.join(only),
                    None => PathBuf::from(only),
                };
                return Mount {
                    kind: "bind".to_string(),
                    source: source.display().to_string(),
                    options: vec!["ro".to_string()],
                    cwd: None,
                };
            }
            let mut options: Vec<String> = m
                .options
                .iter()
                .filter(|o| {
                    !o.starts_with("upperdir=")
                        && !o.starts_with("workdir=")
                        && !o.starts_with("lowerdir=")
                        && *o != "rw"
                        && *o != "ro"
                })
                .cloned()
                .collect();
            options.insert(0, format!("lowerdir={}", layers.join(":")));
            options.push("ro".to_string());
            Mount {
                options,
                ..m.clone()
            }
        })
        .collect()
}

/// Where a target's files go: the volume's root, or its subpath when that is a directory in
/// it. `None` when there is nothing to fill (a subpath that is missing or not a directory).
fn open_target(t: &Target) -> Result<Option<OwnedFd>, DaemonError> {
    if t.subpath.is_empty() {
        let fd = nix::fcntl::open(
            &t.volume,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| DaemonError::io("opening the volume", &t.volume, e.into()))?;
        return Ok(Some(fd));
    }
    match subpath::open(&t.volume, &t.subpath, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
        Ok(fd) => Ok(Some(fd)),
        // dockerd fills nothing through a subpath it cannot reach.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mounts a read-only view of the rootfs `mounts` describe at `at` (an empty directory, made if
/// missing), copies the image's files at each target's destination into its empty volume, and
/// unmounts the view; mounts nothing when no target's volume is empty. Blocking.
pub fn populate(mounts: &[Mount], at: &Path, targets: &[Target]) -> Result<(), DaemonError> {
    // Only an empty volume takes the image's files: one that holds anything (a named volume used
    // again) costs no mount of the image.
    let mut empty = Vec::new();
    for t in targets {
        if let Some(dst) = open_target(t)? {
            let full = super::local::has_entries(&dst)
                .map_err(|e| DaemonError::io("listing the volume", &t.volume, e.into()))?;
            if !full {
                empty.push(t);
            }
        }
    }
    if empty.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(at).map_err(|e| DaemonError::io("creating directory", at, e))?;
    berth_image::snapshot::mount_all(&read_only(mounts), at).map_err(|e| {
        DaemonError::Internal(format!("mounting the image to fill its volumes: {e}"))
    })?;
    let copied = empty.into_iter().try_for_each(|t| {
        // Opened again: the listing above moved the first descriptor's offset.
        if let Some(dst) = open_target(t)? {
            copyup::copy_up_into(at, &t.destination, dst, &t.volume)?;
        }
        Ok(())
    });
    if let Err(e) = berth_image::snapshot::unmount_all(at) {
        tracing::warn!(path = %at.display(), error = %e, "unmounting the image after filling volumes");
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(options: &[&str], cwd: Option<&Path>) -> Mount {
        Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.map(Path::to_path_buf),
        }
    }

    #[test]
    fn the_layers_tell_what_the_image_may_have() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        for d in ["l/a/data/x", "l/b/etc", "l/b/var", "upper"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("/run", t.join("l/b/var/run")).unwrap();
        let m = [overlay(
            &[
                "lowerdir=l/a:l/b",
                &format!("upperdir={}", t.join("upper").display()),
                &format!("workdir={}", t.join("work").display()),
            ],
            Some(t),
        )];
        assert!(image_may_have(&m, "/data"));
        assert!(image_may_have(&m, "/data/x/"));
        assert!(image_may_have(&m, "/etc"));
        assert!(!image_may_have(&m, "/nothing/here"));
        assert!(!image_may_have(&m, "/data/y"));
        // A symlink on the way may lead anywhere in the image.
        assert!(image_may_have(&m, "/var/run/app"));
        let unknown = [Mount {
            kind: "zfs".into(),
            source: "pool".into(),
            options: vec![],
            cwd: None,
        }];
        assert!(image_may_have(&unknown, "/nothing"));
        let bind = [Mount {
            kind: "bind".into(),
            source: t.join("l/a").display().to_string(),
            options: vec!["rbind".into()],
            cwd: None,
        }];
        assert!(image_may_have(&bind, "/data"));
        assert!(!image_may_have(&bind, "/etc"));
    }

    #[test]
    fn the_view_is_read_only() {
        let m = [overlay(
            &["lowerdir=l/a:l/b", "upperdir=/u/fs", "workdir=/u/work"],
            Some(Path::new("/root")),
        )];
        let ro = read_only(&m);
        assert_eq!(ro[0].kind, "overlay");
        assert_eq!(ro[0].options, ["lowerdir=/u/fs:l/a:l/b", "ro"]);
        assert_eq!(ro[0].cwd.as_deref(), Some(Path::new("/root")));
        let single = read_only(&[overlay(&["lowerdir=/l/a", "ro"], None)]);
        assert_eq!(single[0].kind, "bind");
        assert_eq!(single[0].source, "/l/a");
        assert!(single[0].read_only());
    }
}
