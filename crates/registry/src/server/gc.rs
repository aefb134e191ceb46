//! Garbage collection of the registry's storage (`berth registry gc --root DIR`): removes blobs
//! that no manifest of any repository references, with their repository links.
//!
//! Safe while the server runs: uploads in progress live under `uploads/` (never touched), and a blob
//! is only removed when its file is older than the grace period, so a blob committed by an upload
//! whose manifest has not arrived yet survives. Manifests are roots: every manifest a repository
//! holds (tagged or not) keeps itself, its config and its layers (or, for an index, its entries).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use berth_image::model::ManifestOrIndex;
use berth_oci::Digest;

use super::storage::Storage;

/// What a GC pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: Vec<Digest>,
    pub bytes: u64,
}

/// Removes unreferenced blobs older than `grace`; with `dry_run`, only reports them.
pub fn collect(storage: &Storage, grace: Duration, dry_run: bool) -> std::io::Result<GcReport> {
    let mut keep: HashSet<Digest> = HashSet::new();
    for repo in storage.catalog() {
        for d in storage.manifests(&repo) {
            keep.insert(d.clone());
            let Ok(bytes) = std::fs::read(storage.blob_path(&d)) else {
                continue;
            };
            let mt = storage.manifest_type(&repo, &d);
            match ManifestOrIndex::parse(d.as_str(), mt.as_deref(), &bytes) {
                Ok(ManifestOrIndex::Manifest(m)) => {
                    keep.insert(m.config.digest.clone());
                    keep.extend(m.layers.iter().map(|l| l.digest.clone()));
                }
                Ok(ManifestOrIndex::Index(i)) => {
                    keep.extend(i.manifests.iter().map(|m| m.digest.clone()));
                }
                // Unreadable: keep what we cannot judge.
                Err(_) => {}
            }
        }
    }
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport::default();
    for (d, meta) in storage.blobs()? {
        if keep.contains(&d) || meta.modified().is_ok_and(|m| m > cutoff) {
            continue;
        }
        report.bytes += meta.len();
        if !dry_run {
            for repo in storage.catalog() {
                storage.unlink_blob(&repo, &d)?;
            }
            std::fs::remove_file(storage.blob_path(&d))?;
        }
        report.blobs.push(d);
    }
    Ok(report)
}
