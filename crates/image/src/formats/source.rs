//! [`Source`]: the files of an archive or a layout directory, by their path inside it.
//!
//! A tar stream (plain or compressed) is spooled into a private temp directory first, because the
//! formats name their files in any order (Docker writes `manifest.json` last). Paths are kept as
//! names only — nothing in the archive chooses where a file lands — and `..` or absolute names are
//! refused. Symlinks and hardlinks between archive members (older `docker save` links duplicate
//! layers) are resolved inside the archive.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{ImageError, IoContext};

/// Files by archive path.
#[derive(Debug)]
pub struct Source {
    files: BTreeMap<String, PathBuf>,
    links: BTreeMap<String, String>,
    dir: Option<PathBuf>,
    _spool: Option<tempfile::TempDir>,
}

/// Normalises an archive path: no leading `./` or `/` runs, no `.` parts; `..` is refused.
fn clean(name: &str) -> Result<String, ImageError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ImageError::archive(format!(
                    "entry {name:?} has a '..' component"
                )))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl Source {
    /// Spools a tar stream (plain, gzip or zstd) into a temp dir under `spool_in`.
    pub fn from_tar(reader: impl Read, spool_in: &Path) -> Result<Source, ImageError> {
        let spool = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(spool_in)
            .at(spool_in)?;
        let corrupt = |e: io::Error| {
            ImageError::archive(format!("the tar stream is truncated or corrupt: {e}"))
        };
        let (_, plain) = crate::layer::decompress(reader).map_err(corrupt)?;
        let mut archive = tar::Archive::new(plain);
        let mut files = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (n, entry) in archive.entries().map_err(corrupt)?.enumerate() {
            let mut entry = entry.map_err(corrupt)?;
            let raw = entry.path_bytes();
            let name = clean(&String::from_utf8_lossy(&raw))?;
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let path = spool.path().join(format!("f{n}"));
                let mut out = File::create(&path).at(&path)?;
                io::copy(&mut entry, &mut out).map_err(corrupt)?;
                files.insert(name, path);
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let joined = if kind.is_symlink() && !target.starts_with('/') {
                    let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
                    format!("{parent}/{target}")
                } else {
                    target
                };
                links.insert(name, resolve_dots(&joined));
            }
        }
        Ok(Source {
            files,
            links,
            dir: None,
            _spool: Some(spool),
        })
    }

    /// A layout directory on disk.
    pub fn from_dir(dir: &Path) -> Source {
        Source {
            files: BTreeMap::new(),
            links: BTreeMap::new(),
            dir: Some(dir.to_path_buf()),
            _spool: None,
        }
    }

    /// The local file holding archive member `name`, following links inside the archive.
    pub fn path(&self, name: &str) -> Result<PathBuf, ImageError> {
        let mut name = clean(name)?;
        if let Some(dir) = &self.dir {
            let p = dir.join(&name);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(missing(&name))
            };
        }
        for _ in 0..16 {
            if let Some(p) = self.files.get(&name) {
                return Ok(p.clone());
            }
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        Err(missing(&name))
    }

    /// Whether member `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.path(name).is_ok()
    }

    /// Opens member `name`.
    pub fn open(&self, name: &str) -> Result<File, ImageError> {
        let p = self.path(name)?;
        File::open(&p).at(&p)
    }

    /// Reads a small member (JSON) whole, refusing more than [`super::MAX_JSON_BYTES`].
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let p = self.path(name)?;
        let f = File::open(&p).at(&p)?;
        let mut buf = Vec::new();
        f.take(super::MAX_JSON_BYTES + 1)
            .read_to_end(&mut buf)
            .at(&p)?;
        if buf.len() as u64 > super::MAX_JSON_BYTES {
            return Err(ImageError::archive(format!(
                "{name} is larger than {} bytes",
                super::MAX_JSON_BYTES
            )));
        }
        Ok(buf)
    }
}

fn missing(name: &str) -> ImageError {
    ImageError::archive(format!("{name} is missing from the archive"))
}

/// Resolves `.`/`..` in a link target lexically (an escape simply stays unresolvable).
fn resolve_dots(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}
