//! The overlayfs snapshotter: each snapshot directory holds only its own changes (`fs/`, the
//! overlay upper dir, plus `work/` while active), and a tree is the overlay of its chain.
//!
//! # Fitting many layers into one mount
//! The kernel takes mount options as one page (4096 bytes, NUL included). Each snapshot gets a
//! short link `l/<id>` → `../snapshots/<id>/fs`, as Docker's overlay2 does. Options list the lower
//! dirs through those links with absolute paths when they fit; otherwise as paths relative to the
//! snapshotter root, with [`Mount::cwd`] set to the root so the mounter performs the mount from
//! there. A link costs `len("l/") + digits + 1` bytes, so 125 layers need about 750 bytes and the
//! overlay depth limit of the kernel (500 lower dirs) is reached before the page limit.
//!
//! Mount shapes: active without parent → rw bind of `fs/`; active with parents → overlay with
//! upper `fs/` and work `work/`; a view of one layer → ro bind of that layer; a view of more →
//! lower-only overlay (read-only by construction); a committed snapshot mounts as a view of itself.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::engine::{Backend, SnapDir};
use super::{IoContext, Kind, Mount, SnapshotError};
use crate::layer::WhiteoutMode;

/// Bytes of mount options the kernel accepts: one page, minus the terminating NUL.
pub const MOUNT_OPTIONS_MAX: usize = 4096 - 1;

const LINKS: &str = "l";

/// The overlayfs storage backend; use it as [`super::OverlaySnapshotter`].
#[derive(Debug)]
pub struct Overlay {
    root: PathBuf,
}

impl Overlay {
    fn link_name(id: u64) -> String {
        format!("{LINKS}/{id}")
    }

    fn link(&self, id: u64) -> PathBuf {
        self.root.join(Self::link_name(id))
    }
}

/// A bind mount of `dir`.
pub(crate) fn bind(dir: &Path, read_only: bool) -> Mount {
    Mount {
        kind: "bind".to_string(),
        source: dir.display().to_string(),
        options: vec![
            "rbind".to_string(),
            if read_only { "ro" } else { "rw" }.to_string(),
        ],
        cwd: None,
    }
}

impl Backend for Overlay {
    fn new(root: &Path) -> Result<Self, SnapshotError> {
        if root.to_str().is_none_or(|s| s.contains([',', ':'])) {
            return Err(SnapshotError::Mount {
                target: root.to_path_buf(),
                reason: "overlay layer paths must be UTF-8 without ',' or ':'; choose another root"
                    .to_string(),
            });
        }
        let links = root.join(LINKS);
        fs::create_dir_all(&links).at(&links)?;
        Ok(Overlay {
            root: root.to_path_buf(),
        })
    }

    fn create(&self, snap: &SnapDir, kind: Kind, _chain: &[SnapDir]) -> Result<(), SnapshotError> {
        let fs_dir = snap.fs();
        fs::create_dir(&fs_dir).at(&fs_dir)?;
        if kind == Kind::Active {
            let work = snap.work();
            fs::create_dir(&work).at(&work)?;
        }
        let link = self.link(snap.id);
        remove_link(&link)?;
        let target = Path::new("..")
            .join("snapshots")
            .join(snap.id.to_string())
            .join("fs");
        symlink(&target, &link).at(&link)
    }

    fn mounts(
        &self,
        snap: &SnapDir,
        kind: Kind,
        chain: &[SnapDir],
    ) -> Result<Vec<Mount>, SnapshotError> {
        let (lowers, upper): (Vec<&SnapDir>, Option<&SnapDir>) = match kind {
            Kind::Active => (chain.iter().collect(), Some(snap)),
            Kind::View => (chain.iter().collect(), None),
            Kind::Committed => (std::iter::once(snap).chain(chain).collect(), None),
        };
        let mount = match (lowers.as_slice(), upper) {
            ([], Some(upper)) => bind(&upper.fs(), false),
            ([], None) => bind(&snap.fs(), true),
            ([only], None) => bind(&only.fs(), true),
            _ => self.overlay(snap, &lowers, upper)?,
        };
        Ok(vec![mount])
    }

    fn committed(&self, snap: &SnapDir) -> Result<(), SnapshotError> {
        let work = snap.work();
        match fs::remove_dir_all(&work) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SnapshotError::Io {
                path: work,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn removed(&self, snap: &SnapDir) -> Result<(), SnapshotError> {
        remove_link(&self.link(snap.id))
    }

    fn cleanup(&self, live: &BTreeSet<u64>) -> Result<usize, SnapshotError> {
        let links = self.root.join(LINKS);
        let mut removed = 0;
        for entry in fs::read_dir(&links).at(&links)? {
            let entry = entry.at(&links)?;
            let id = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            if !id.is_some_and(|id| live.contains(&id)) {
                remove_link(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Overlay
    }
}

impl Overlay {
    /// An overlay mount of `lowers` (nearest first) and an optional upper, within the page limit.
    fn overlay(
        &self,
        snap: &SnapDir,
        lowers: &[&SnapDir],
        upper: Option<&SnapDir>,
    ) -> Result<Mount, SnapshotError> {
        let build = |relative: bool| {
            let lower: Vec<String> = lowers
                .iter()
                .map(|l| {
                    let name = Self::link_name(l.id);
                    if relative {
                        name
                    } else {
                        self.root.join(name).display().to_string()
                    }
                })
                .collect();
            let mut options = vec![format!("lowerdir={}", lower.join(":"))];
            match upper {
                Some(u) => {
                    options.push(format!("upperdir={}", u.fs().display()));
                    options.push(format!("workdir={}", u.work().display()));
                }
                None => options.push("ro".to_string()),
            }
            options
        };
        let fits = |o: &[String]| o.join(",").len() <= MOUNT_OPTIONS_MAX;
        let absolute = build(false);
        let (options, cwd) = if fits(&absolute) {
            (absolute, None)
        } else {
            let relative = build(true);
            if !fits(&relative) {
                return Err(SnapshotError::Mount {
                    target: snap.path.clone(),
                    reason: format!(
                        "{} layers do not fit in one page of overlay mount options",
                        lowers.len()
                    ),
                });
            }
            (relative, Some(self.root.clone()))
        };
        Ok(Mount {
            kind: "overlay".to_string(),
            source: "overlay".to_string(),
            options,
            cwd,
        })
    }
}

fn remove_link(link: &Path) -> Result<(), SnapshotError> {
    match fs::remove_file(link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SnapshotError::Io {
            path: link.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}
