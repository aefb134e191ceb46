//! The build cache's index: cache key → image ID, one JSON file under `<data-root>/builder/`,
//! rewritten atomically (temp file + rename) under a process-wide lock, so it survives restarts.
//! An entry whose image is gone is simply a miss (the host checks the image before answering).

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
