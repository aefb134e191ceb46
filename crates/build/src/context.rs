//! The build context on disk (the daemon unpacks the uploaded tar into a private directory): the
//! `.dockerignore`, sources of `COPY`/`ADD` resolved inside it, the files under a source, and
//! their content hash for the cache.
//!
//! Resolution never leaves the context: a source that leads out of it lexically (`../x`) is
//! refused ("forbidden path outside the build context"); an absolute source is taken relative to
//! the context root; symbolic links in the middle of a path are followed *inside* the context (an
//! absolute target from its root, `..` stopped at the root), and a link named as the source itself
//! is copied as a link. Ignored files are neither copied nor hashed.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::dockerignore::{clean, glob, Ignore};

/// Links followed while resolving one path, at most (as the kernel's limit on one lookup).
const MAX_LINKS: usize = 40;

/// Why a source could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("{0}: not found in the build context (or excluded by .dockerignore)")]
    NotFound(String),
    #[error("{path}: too many levels of symbolic links in the build context")]
    Loop { path: String },
    #[error("reading {path} in the build context: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path, source: std::io::Error) -> ContextError {
    ContextError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
}

/// One file under a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the source (`""` for the source itself), `/`-separated.
    pub rel: String,
    /// Where it is on disk.
    pub full: PathBuf,
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
}

/// A build context directory.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: Ignore,
}

impl Context {
    /// Opens the context at `root`, reading `<dockerfile>.dockerignore` (beside the Dockerfile) or
    /// `.dockerignore`.
    pub fn open(root: &Path, dockerfile: &str) -> Result<Context, ContextError> {
        let specific = root.join(format!("{}.dockerignore", clean(dockerfile)));
        let text = [specific, root.join(".dockerignore")]
            .iter()
            .find_map(|p| fs::read_to_string(p).ok())
            .unwrap_or_default();
        Ok(Context {
            root: root.to_path_buf(),
            ignore: Ignore::parse(&text),
        })
    }

    /// A context with explicit ignore rules (tests, or a context already filtered).
    pub fn with_ignore(root: &Path, ignore: Ignore) -> Context {
        Context {
            root: root.to_path_buf(),
            ignore,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The context-relative paths a source names (one, or the matches of a glob, sorted).
    pub fn resolve(&self, src: &str) -> Result<Vec<String>, ContextError> {
        let rel = clean(src.trim_start_matches('/'));
        if rel == ".." || rel.starts_with("../") {
            return Err(ContextError::Outside(src.to_string()));
        }
        if rel.contains(['*', '?', '[']) {
            let pattern: Vec<&str> = rel.split('/').collect();
            let mut found = Vec::new();
            self.glob_walk(&pattern, String::new(), &mut found)?;
            if found.is_empty() {
                return Err(ContextError::NotFound(src.to_string()));
            }
            found.sort();
            return Ok(found);
        }
        let resolved = self.in_scope(&rel, src)?;
        if !resolved.is_empty() && self.ignore.excludes(&resolved) {
            return Err(ContextError::NotFound(src.to_string()));
        }
        if fs::symlink_metadata(self.root.join(&resolved)).is_err() {
            return Err(ContextError::NotFound(src.to_string()));
        }
        Ok(vec![resolved])
    }

    fn glob_walk(
        &self,
        pattern: &[&str],
        dir: String,
        found: &mut Vec<String>,
    ) -> Result<(), ContextError> {
        let Some((first, rest)) = pattern.split_first() else {
            return Ok(());
        };
        let full = self.root.join(&dir);
        let Ok(read) = fs::read_dir(&full) else {
            return Ok(());
        };
        for e in read {
            let e = e.map_err(|err| io(&full, err))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if !glob(first, &name) || self.ignore.excludes(&rel) {
                continue;
            }
            if rest.is_empty() {
                found.push(rel);
            } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                self.glob_walk(rest, rel, found)?;
            }
        }
        Ok(())
    }

    /// Resolves `rel` following links in its parent directories inside the context.
    fn in_scope(&self, rel: &str, src: &str) -> Result<String, ContextError> {
        let mut todo: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            if todo.is_empty() {
                break; // the source itself: a link is copied as a link
            }
            let here = self.root.join(done.join("/"));
            let Ok(meta) = fs::symlink_metadata(&here) else {
                return Err(ContextError::NotFound(src.to_string()));
            };
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ContextError::Loop {
                        path: src.to_string(),
                    });
                }
                let target = fs::read_link(&here).map_err(|e| io(&here, e))?;
                let target = target.to_string_lossy().into_owned();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(target.split('/').rev().map(str::to_string));
            }
        }
        Ok(done.join("/"))
    }

    /// The entries under the context-relative path `rel` (itself first, then its contents in
    /// name order), ignored ones left out.
    pub fn entries(&self, rel: &str) -> Result<Vec<Entry>, ContextError> {
        let mut out = Vec::new();
        self.walk(rel, "", &mut out)?;
        Ok(out)
    }

    fn walk(&self, rel: &str, sub: &str, out: &mut Vec<Entry>) -> Result<(), ContextError> {
        let ctx_rel = match (rel.is_empty(), sub.is_empty()) {
            (_, true) => rel.to_string(),
            (true, false) => sub.to_string(),
            (false, false) => format!("{rel}/{sub}"),
        };
        let full = self.root.join(&ctx_rel);
        let meta = fs::symlink_metadata(&full).map_err(|e| io(&full, e))?;
        let excluded = !ctx_rel.is_empty() && self.ignore.excludes(&ctx_rel);
        let kind = if meta.file_type().is_symlink() {
            let t = fs::read_link(&full).map_err(|e| io(&full, e))?;
            Kind::Symlink(t.to_string_lossy().into_owned())
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else {
            return Ok(()); // sockets, FIFOs and devices are not copied
        };
        if excluded && !(kind == Kind::Dir && self.ignore.has_exceptions()) {
            return Ok(());
        }
        let is_dir = kind == Kind::Dir;
        if !excluded {
            out.push(Entry {
                rel: sub.to_string(),
                full: full.clone(),
                kind,
                mode: meta.permissions().mode() & 0o7777,
                size: if meta.is_file() { meta.len() } else { 0 },
                mtime: meta.mtime(),
            });
        }
        if is_dir {
            let mut names: Vec<String> = fs::read_dir(&full)
                .map_err(|e| io(&full, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                let child = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                self.walk(rel, &child, out)?;
            }
        }
        Ok(())
    }
}

/// A content hash of entries: names, kinds, modes, link targets and file bytes (not times).
pub fn hash_entries(entries: &[Entry]) -> Result<String, ContextError> {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.rel.as_bytes());
        h.update([0]);
        h.update(format!("{:o}", e.mode).as_bytes());
        match &e.kind {
            Kind::Dir => h.update(b"d"),
            Kind::Symlink(t) => {
                h.update(b"l");
                h.update(t.as_bytes());
            }
            Kind::File => {
                h.update(b"f");
                let mut f = fs::File::open(&e.full).map_err(|err| io(&e.full, err))?;
                std::io::copy(&mut f, &mut h).map_err(|err| io(&e.full, err))?;
            }
        }
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests;
