//! The consistency check (`berth system check`): every image's manifest, config and layer blobs are
//! present and hash to their names, every layer has its committed snapshot, and nothing is left over —
//! no orphan blob, layer or snapshot, no ingest or spooled archive. [`ImageStore::repair`] removes the
//! leftovers (it never deletes an image; a broken image is reported for the user to remove or reload).

use std::collections::BTreeSet;

use crate::error::ImageError;
use crate::metadata::{self, HoldKind};
use crate::snapshot::Kind;
use crate::store::ImageStore;

/// One finding of [`ImageStore::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A blob an image needs is missing or does not hash to its name.
    BadBlob {
        image: String,
        digest: String,
        reason: String,
    },
    /// A layer an image needs has no record or no committed snapshot.
    MissingLayer { image: String, chain_id: String },
    /// A blob no image uses.
    OrphanBlob(String),
    /// A layer no image uses.
    OrphanLayer(String),
    /// A snapshot that is neither a known layer nor held.
    OrphanSnapshot(String),
    /// Partial downloads or spooled archives.
    Leftover(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::BadBlob {
                image,
                digest,
                reason,
            } => {
                write!(f, "image {image}: blob {digest}: {reason}")
            }
            Problem::MissingLayer { image, chain_id } => {
                write!(f, "image {image}: layer {chain_id} is not unpacked")
            }
            Problem::OrphanBlob(d) => write!(f, "blob {d} is used by no image"),
            Problem::OrphanLayer(c) => write!(f, "layer {c} is used by no image"),
            Problem::OrphanSnapshot(k) => write!(f, "snapshot {k:?} belongs to no layer or holder"),
            Problem::Leftover(p) => write!(f, "leftover {p}"),
        }
    }
}

/// The result of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub images: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl ImageStore {
    /// Checks the whole store (re-hashing every blob an image uses).
    pub fn check(&self) -> Result<CheckReport, ImageError> {
        let _op = self.exclusive_op();
        self.check_idle()
    }

    /// The check proper; the caller makes sure no operation is in flight.
    fn check_idle(&self) -> Result<CheckReport, ImageError> {
        let meta = self.meta();
        let conn = meta.conn();
        let mut report = CheckReport::default();
        let images = metadata::images(conn)?;
        report.images = images.len();
        let snaps: Vec<_> = self.snapshotter().list()?;
        let committed: BTreeSet<&str> = snaps
            .iter()
            .filter(|s| s.kind == Kind::Committed)
            .map(|s| s.name.as_str())
            .collect();
        for img in &images {
            let mut blobs: Vec<String> = metadata::image_blobs(conn, &img.id)?
                .into_iter()
                .map(|b| b.digest)
                .collect();
            let layers = metadata::image_layers(conn, &img.id)?;
            blobs.extend(layers.iter().map(|l| l.blob_digest.clone()));
            for d in blobs {
                let verdict = match berth_oci::Digest::parse(&d) {
                    Ok(dg) => self.content().verify(&dg).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(reason) = verdict {
                    report.problems.push(Problem::BadBlob {
                        image: img.id.clone(),
                        digest: d,
                        reason,
                    });
                }
            }
            for l in layers {
                let ok = metadata::layer(conn, &l.chain_id)?
                    .is_some_and(|r| committed.contains(r.snapshot_key.as_str()));
                if !ok {
                    report.problems.push(Problem::MissingLayer {
                        image: img.id.clone(),
                        chain_id: l.chain_id,
                    });
                }
            }
        }
        let referenced = metadata::referenced_blobs(conn)?;
        for (d, _) in self.content().list()? {
            if !referenced.contains(d.as_str()) && !self.pins().is_pinned(d.as_str()) {
                report.problems.push(Problem::OrphanBlob(d.to_string()));
            }
        }
        let used = metadata::used_chain_ids(conn)?;
        let layers = metadata::layers(conn)?;
        let parents: BTreeSet<&str> = layers.iter().filter_map(|l| l.parent.as_deref()).collect();
        let mut layer_keys = BTreeSet::new();
        for l in &layers {
            layer_keys.insert(l.snapshot_key.clone());
            let needed = used.contains(&l.chain_id) || parents.contains(l.chain_id.as_str());
            if !needed && !self.pins().is_pinned(&l.chain_id) {
                report
                    .problems
                    .push(Problem::OrphanLayer(l.chain_id.clone()));
            }
        }
        let held: BTreeSet<String> = metadata::holds_of_kind(conn, HoldKind::Snapshot)?
            .into_iter()
            .map(|h| h.target)
            .collect();
        for s in &snaps {
            if !layer_keys.contains(&s.name)
                && !held.contains(&s.name)
                && !self.pins().is_pinned(&s.name)
            {
                report
                    .problems
                    .push(Problem::OrphanSnapshot(s.name.clone()));
            }
        }
        drop(meta);
        for p in self.leftovers()? {
            report
                .problems
                .push(Problem::Leftover(p.display().to_string()));
        }
        Ok(report)
    }

    /// Ingests and spooled archives on disk (a recent resumable ingest is kept state, not one).
    fn leftovers(&self) -> Result<Vec<std::path::PathBuf>, ImageError> {
        let mut out = Vec::new();
        for dir in [self.content().root().join("ingest"), self.tmp_dir()] {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                if !self.pins().is_pinned(&e.path().display().to_string())
                    && !self.content().is_resumable_ingest(&e.path())
                {
                    out.push(e.path());
                }
            }
        }
        Ok(out)
    }

    /// Removes what a crash or an interrupted operation left behind: active snapshots and views nobody
    /// holds, orphan layers and blobs, stale ingests and spooled archives. Returns what it found.
    pub fn repair(&self) -> Result<CheckReport, ImageError> {
        let _op = self.exclusive_op();
        self.sweep()?;
        self.check_idle()
    }

    /// The removal part of [`ImageStore::repair`] (run on open, without re-hashing).
    pub(crate) fn sweep(&self) -> Result<(), ImageError> {
        let held: BTreeSet<String> = {
            let meta = self.meta();
            metadata::holds_of_kind(meta.conn(), HoldKind::Snapshot)?
                .into_iter()
                .map(|h| h.target)
                .collect()
        };
        let layer_keys: BTreeSet<String> = metadata::layers(self.meta().conn())?
            .into_iter()
            .map(|l| l.snapshot_key)
            .collect();
        let mut snaps = self.snapshotter().list()?;
        // Children first: remove in reverse order of depth by retrying until nothing changes.
        let mut progress = true;
        while progress {
            progress = false;
            snaps.retain(|s| {
                let orphan = !layer_keys.contains(&s.name)
                    && !held.contains(&s.name)
                    && !self.pins().is_pinned(&s.name);
                if orphan && self.snapshotter().remove(&s.name).is_ok() {
                    progress = true;
                    return false;
                }
                true
            });
        }
        self.snapshotter().cleanup()?;
        // Resumable ingests stay a while: a pull cut short by a crash resumes from them.
        self.content().clean_stale_ingests()?;
        for p in self.leftovers()? {
            if p.starts_with(self.tmp_dir()) {
                let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            }
        }
        self.gc()?;
        Ok(())
    }
}
