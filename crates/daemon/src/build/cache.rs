//! The build cache's index: cache key → image ID, one JSON file under `<data-root>/builder/`,
//! rewritten atomically (temp file + rename) under a process-wide lock, so it survives restarts.
//! An entry whose image is gone is simply a miss (the host checks the image before answering).
//!
//! And `--cache-from`'s test, [`next_step_of`]: whether an image's history continues a parent's
//! with a given step (moby's `isValidParent` and `isValidConfig`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Serialises read-modify-write of the index between concurrent builds.
static LOCK: Mutex<()> = Mutex::new(());

/// The index file of one data root.
#[derive(Debug, Clone)]
pub struct CacheIndex {
    path: PathBuf,
}

impl CacheIndex {
    pub fn new(builder_dir: &Path) -> CacheIndex {
        CacheIndex {
            path: builder_dir.join("cache.json"),
        }
    }

    fn load(&self) -> BTreeMap<String, String> {
        fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The image recorded for `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        self.load().remove(key)
    }

    /// Forgets every entry; returns the keys forgotten.
    pub fn clear(&self) -> std::io::Result<Vec<String>> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let keys = self.load().into_keys().collect();
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(keys)
    }

    /// Records `key` → `image`.
    pub fn put(&self, key: &str, image: &str) -> std::io::Result<()> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = self.load();
        map.insert(key.to_string(), image.to_string());
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec(&map).unwrap_or_default())?;
        fs::rename(&tmp, &self.path)
    }
}

/// The index of the history entry of `source` that is the step `created_by` right after
/// `parent`: `source`'s history starts with all of `parent`'s entries (equal, times included),
/// its layers with all of `parent`'s, and its next entry was made by `created_by` (at `created`
/// when given: a reproducible build takes only steps committed at its epoch). `None` when
/// `source` does not continue `parent` so.
pub fn next_step_of(
    parent: &berth_image::model::ImageConfig,
    source: &berth_image::model::ImageConfig,
    created_by: &str,
    created: Option<&str>,
) -> Option<usize> {
    let (ph, sh) = (&parent.history, &source.history);
    let (pd, sd) = (&parent.rootfs.diff_ids, &source.rootfs.diff_ids);
    let n = ph.len();
    let next = sh.get(n)?;
    let layers = sh[..=n].iter().filter(|h| !h.empty_layer).count();
    (sh[..n] == ph[..]
        && sd.starts_with(pd)
        && layers <= sd.len()
        && next.created_by.as_deref() == Some(created_by)
        && created.is_none_or(|t| next.created.as_deref() == Some(t)))
    .then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::model::{History, ImageConfig};

    fn image(steps: &[(&str, bool)]) -> ImageConfig {
        let mut c = ImageConfig::default();
        for (i, (by, empty)) in steps.iter().enumerate() {
            c.history.push(History {
                created: Some(format!("2026-01-01T00:00:0{i}Z")),
                created_by: Some(by.to_string()),
                empty_layer: *empty,
                ..Default::default()
            });
            if !empty {
                let d = berth_oci::Digest::sha256_of(by.as_bytes());
                c.rootfs.diff_ids.push(d);
            }
        }
        c
    }

    #[test]
    fn a_source_continues_its_parent_with_the_step() {
        let base = image(&[("base", false), ("CMD sh", true)]);
        let src = image(&[
            ("base", false),
            ("CMD sh", true),
            ("RUN a", false),
            ("RUN b", false),
        ]);
        assert_eq!(next_step_of(&base, &src, "RUN a", None), Some(2));
        assert_eq!(
            next_step_of(&base, &src, "RUN b", None),
            None,
            "not the next step"
        );
        let mid = image(&[("base", false), ("CMD sh", true), ("RUN a", false)]);
        assert_eq!(next_step_of(&mid, &src, "RUN b", None), Some(3));
        assert_eq!(
            next_step_of(&src, &src, "RUN c", None),
            None,
            "nothing after it"
        );
        // Another base (or the same steps at other times) is not a parent.
        let other = image(&[("other", false), ("CMD sh", true)]);
        assert_eq!(next_step_of(&other, &src, "RUN a", None), None);
        let mut later = base.clone();
        later.history[1].created = Some("2027-01-01T00:00:00Z".into());
        assert_eq!(next_step_of(&later, &src, "RUN a", None), None);
        // A reproducible build: only a step made at its epoch.
        let at = |t: &str| next_step_of(&base, &src, "RUN a", Some(t));
        assert_eq!(at("2026-01-01T00:00:02Z"), Some(2));
        assert_eq!(at("1970-01-01T00:00:00Z"), None);
    }
}
