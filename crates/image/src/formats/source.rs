//! [`Source`]: the files of an archive or a layout directory, by their path inside it.
//!
//! A tar stream (plain or compressed) is spooled into a private temp directory first, because the
//! formats name their files in any order (Docker writes `manifest.json` last). The spool is bounded:
//! the uncompressed stream and the members' sizes (sparse ones expanded) by a cap, the headers before
//! one member by the layer applier's header budget; on any failure the temp directory goes away. Paths are kept as
//! names only — nothing in the archive chooses where a file lands — and `..` or absolute names are
//! refused. Symlinks and hardlinks between archive members (older `docker save` links duplicate
//! layers) are resolved inside the archive.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{ImageError, IoContext};
use crate::layer::{HeaderWindow, HEADER_BUDGET};

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
    /// Spools a tar stream (plain, gzip or zstd) into a temp dir under `spool_in`, refusing
    /// archives of more than `max_bytes` uncompressed ([`ImageError::LoadTooLarge`]).
    pub fn from_tar(
        reader: impl Read,
        spool_in: &Path,
        max_bytes: u64,
    ) -> Result<Source, ImageError> {
        let spool = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(spool_in)
            .at(spool_in)?;
        let (_, plain) = crate::layer::decompress(reader).map_err(|e| {
            ImageError::archive(format!("the tar stream is truncated or corrupt: {e}"))
        })?;
        let capped = Capped::new(plain, max_bytes);
        let (read, window) = (capped.read.clone(), capped.window.clone());
        // Why reading failed: the cap, the header budget, or a broken stream.
        let failed = |e: io::Error| {
            if read.get() > max_bytes {
                ImageError::LoadTooLarge { limit: max_bytes }
            } else if window.tripped() {
                ImageError::archive(format!(
                    "more than {HEADER_BUDGET} bytes of tar headers before one member; refusing"
                ))
            } else {
                ImageError::archive(format!("the tar stream is truncated or corrupt: {e}"))
            }
        };
        let mut archive = tar::Archive::new(capped);
        let mut files = BTreeMap::new();
        let mut links = BTreeMap::new();
        let mut spooled = 0u64;
        let mut entries = archive.entries().map_err(&failed)?;
        for n in 0.. {
            window.open();
            let next = entries.next();
            window.close();
            let Some(entry) = next else { break };
            let mut entry = entry.map_err(&failed)?;
            let raw = entry.path_bytes();
            let name = clean(&String::from_utf8_lossy(&raw))?;
            let kind = entry.header().entry_type();
            if kind.is_file() || kind.is_gnu_sparse() {
                // A sparse member's size is its expanded one, which is what lands on disk.
                spooled = spooled.saturating_add(entry.size());
                if spooled > max_bytes {
                    return Err(ImageError::LoadTooLarge { limit: max_bytes });
                }
                let path = spool.path().join(format!("f{n}"));
                let mut out = File::create(&path).at(&path)?;
                io::copy(&mut entry, &mut out).map_err(&failed)?;
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
            // Whatever data a member we do not keep has is read here, outside the header window.
            io::copy(&mut entry, &mut io::sink()).map_err(&failed)?;
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

/// The uncompressed archive as the tar parser reads it: counted against the cap (failing once past
/// it) and accounted to a [`HeaderWindow`] while the parser steps to the next member.
struct Capped<R> {
    inner: R,
    cap: u64,
    read: Rc<Cell<u64>>,
    window: Rc<HeaderWindow>,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            cap,
            read: Rc::default(),
            window: Rc::default(),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the cap, so an archive of exactly the cap still reaches its end.
        let left = self.cap.saturating_sub(self.read.get()).saturating_add(1);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read.set(self.read.get() + n as u64);
        if self.read.get() > self.cap {
            return Err(io::Error::other(format!(
                "the archive exceeds {} bytes",
                self.cap
            )));
        }
        self.window.consume(n)?;
        Ok(n)
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
