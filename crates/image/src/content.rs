//! Blobs by digest: the content store.
//!
//! Layout under the store root:
//!
//! ```text
//! blobs/sha256/<hex>         verified blobs, read-only by convention, named by their digest
//! ingest/.tmp-<random>       one-shot writes in progress (write_blob, stage_blob)
//! ingest/<sha256 of ref>/    resumable ingests: `data`, `meta.json` (reference, expected digest, size)
//! ```
//!
//! Invariant: nothing unverified is ever visible under `blobs/`. Every write goes to a file under
//! `ingest/`, is hashed while it is copied, fsync'ed, checked against the expected digest and size,
//! renamed into place and the directory fsync'ed. Two writers of the same blob are harmless: both
//! verify, and the second rename replaces identical bytes. A crash leaves only `ingest/` leftovers,
//! which [`ContentStore::clean_ingests`] removes. The store's open keeps a resumable ingest for
//! [`RESUMABLE_FOR`] after its last write ([`ContentStore::clean_stale_ingests`]), so a pull cut
//! short by a crash resumes where its data ends.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use berth_oci::digest::{Sha256Hasher, Sha256Writer};
use berth_oci::Digest;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// What went wrong in the content store; each names the blob, ingest or path.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {digest} not found in the content store ({path})")]
    NotFound { digest: Digest, path: PathBuf },
    #[error("blob digest mismatch: expected {expected}, the content hashes to {actual}; the data was discarded")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} size mismatch: expected {expected} bytes, got {actual}; the data was discarded")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0}: the content store keeps sha256 blobs only")]
    Unsupported(Digest),
    #[error("blob {digest} at {path} is corrupt: its content hashes to {actual}; delete it and pull again")]
    Corrupt {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
    },
    #[error("ingest {reference:?} is in use by another writer; retry when it finishes")]
    Locked { reference: String },
    #[error("ingest {reference:?} has invalid metadata at {path}: {reason}")]
    BadIngest {
        reference: String,
        path: PathBuf,
        reason: String,
    },
    #[error("content store i/o on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Attaches a path to an I/O error.
trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T, ContentError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, ContentError> {
        self.map_err(|source| ContentError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

const TMP_PREFIX: &str = ".tmp-";
/// How long a resumable ingest outlives its last write across store opens.
pub const RESUMABLE_FOR: Duration = Duration::from_secs(24 * 3600);
const INGEST_DATA: &str = "data";
const INGEST_META: &str = "meta.json";

/// A content store rooted at one directory. Cheap to clone; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, ContentError> {
        let store = ContentStore {
            root: root.to_path_buf(),
        };
        for dir in [store.blob_dir(), store.ingest_dir()] {
            fs::create_dir_all(&dir).at(&dir)?;
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where the blob `d` lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm()).join(d.hex())
    }

    /// Whether the blob `d` is in the store.
    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// The size of blob `d` in bytes.
    pub fn size(&self, d: &Digest) -> Result<u64, ContentError> {
        let path = self.path(d);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) => Err(self.not_found_or(d, path, e)),
        }
    }

    fn not_found_or(&self, d: &Digest, path: PathBuf, e: io::Error) -> ContentError {
        if e.kind() == io::ErrorKind::NotFound {
            ContentError::NotFound {
                digest: d.clone(),
                path,
            }
        } else {
            ContentError::Io { path, source: e }
        }
    }

    /// Opens blob `d` for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, ContentError> {
        let path = self.path(d);
        File::open(&path).map_err(|e| self.not_found_or(d, path, e))
    }

    /// Reads all of blob `d` (for manifests and configs; stream layers with [`Self::open_blob`]).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut buf = Vec::new();
        let mut file = self.open_blob(d)?;
        file.read_to_end(&mut buf).at(&self.path(d))?;
        Ok(buf)
    }

    /// Writes a blob from `reader`, hashing while copying; returns its digest and size.
    ///
    /// With `expected`, the content must hash to it; with `expected_size`, it must have exactly that
    /// many bytes (a longer stream is refused without reading it all). On any mismatch nothing becomes
    /// visible. If `expected` is already stored, the reader is not consumed.
    pub fn write_blob(
        &self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        reader: impl Read,
    ) -> Result<(Digest, u64), ContentError> {
        if let Some(d) = expected {
            check_algorithm(d)?;
            if let Ok(size) = self.size(d) {
                check_size(d.as_str(), expected_size, size)?;
                return Ok((d.clone(), size));
            }
        }
        let limit = expected_size.map_or(u64::MAX, |s| s.saturating_add(1));
        let staged = self.stage_blob(reader.take(limit))?;
        let label = expected.map_or_else(|| staged.digest.to_string(), Digest::to_string);
        check_size(&label, expected_size, staged.size)?;
        if let Some(d) = expected {
            check_digest(d, &staged.digest)?;
        }
        staged.commit()
    }

    /// Writes a blob from `reader` to a temp file under `ingest/`, hashing while copying, and
    /// leaves it there: [`Staged::commit`] makes it visible, dropping the [`Staged`] discards it.
    /// For a blob that may only be kept once something else succeeded (a push's compressed layer
    /// is kept once the registry took it).
    pub fn stage_blob(&self, mut reader: impl Read) -> Result<Staged, ContentError> {
        let dir = self.ingest_dir();
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(&dir)
            .at(&dir)?;
        let mut writer = Sha256Writer::new(tmp);
        io::copy(&mut reader, &mut writer).at(writer.get_ref().path())?;
        let (tmp, digest, size) = writer.finish();
        Ok(Staged {
            store: self.clone(),
            tmp,
            digest,
            size,
        })
    }

    /// Starts or resumes the ingest named `reference` (any string, e.g. a registry URL) of a blob
    /// expected to hash to `expected` with `size` bytes. Resume by writing from [`Ingest::offset`].
    /// An earlier ingest under the same name with another digest or size is restarted from zero.
    /// Only one writer holds an ingest at a time; a second gets [`ContentError::Locked`].
    pub fn ingest(
        &self,
        reference: &str,
        expected: &Digest,
        size: u64,
    ) -> Result<Ingest, ContentError> {
        check_algorithm(expected)?;
        let dir = self
            .ingest_dir()
            .join(Digest::sha256_of(reference.as_bytes()).hex());
        fs::create_dir_all(&dir).at(&dir)?;
        let data_path = dir.join(INGEST_DATA);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .at(&data_path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
            ContentError::Locked {
                reference: reference.to_string(),
            }
        })?;
        let mut file = lock.try_clone().at(&data_path)?;
        let meta = IngestMeta {
            reference: reference.to_string(),
            expected: expected.clone(),
            size,
        };
        let meta_path = dir.join(INGEST_META);
        let same = read_meta(&meta_path, reference)?.is_some_and(|old| old == meta);
        let mut hasher = Sha256Hasher::new();
        if same {
            io::copy(&mut &file, &mut HashSink(&mut hasher)).at(&data_path)?;
        } else {
            file.set_len(0).at(&data_path)?;
            let bytes = serde_json::to_vec(&meta).map_err(|e| ContentError::BadIngest {
                reference: reference.to_string(),
                path: meta_path.clone(),
                reason: e.to_string(),
            })?;
            write_atomic(&meta_path, &bytes).at(&meta_path)?;
        }
        if hasher.count() > size {
            // Longer than promised: useless, start over.
            file.set_len(0).at(&data_path)?;
            hasher = Sha256Hasher::new();
        }
        file.seek(SeekFrom::Start(hasher.count())).at(&data_path)?;
        Ok(Ingest {
            store: self.clone(),
            dir,
            meta,
            writer: Sha256Writer::resume(file, hasher),
            _lock: lock,
        })
    }

    /// Removes blob `d`.
    pub fn delete(&self, d: &Digest) -> Result<(), ContentError> {
        let path = self.path(d);
        fs::remove_file(&path).map_err(|e| self.not_found_or(d, path, e))?;
        sync_dir(&self.blob_dir())
    }

    /// All blobs with their sizes, sorted by digest. Files that are not named by a digest are skipped.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>, ContentError> {
        let dir = self.blob_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(digest) = Digest::from_sha256_hex(&name) else {
                continue;
            };
            let meta = entry.metadata().at(&entry.path())?;
            if meta.is_file() {
                out.push((digest, meta.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Re-hashes blob `d` and fails with [`ContentError::Corrupt`] if it no longer matches its name.
    pub fn verify(&self, d: &Digest) -> Result<(), ContentError> {
        check_algorithm(d)?;
        let mut file = self.open_blob(d)?;
        let mut hasher = Sha256Hasher::new();
        io::copy(&mut file, &mut HashSink(&mut hasher)).at(&self.path(d))?;
        let actual = hasher.digest();
        if &actual != d {
            return Err(ContentError::Corrupt {
                digest: d.clone(),
                path: self.path(d),
                actual,
            });
        }
        Ok(())
    }

    /// Removes one-shot temp files whatever their age, and resumable ingests not written for
    /// [`RESUMABLE_FOR`] (see [`ContentStore::clean_ingests`]). Returns how many it removed.
    pub fn clean_stale_ingests(&self) -> Result<usize, ContentError> {
        let dir = self.ingest_dir();
        let mut removed = 0;
        for entry in fs::read_dir(&dir).at(&dir)? {
            let path = entry.at(&dir)?.path();
            if !fs::symlink_metadata(&path).at(&path)?.is_dir() {
                fs::remove_file(&path).at(&path)?;
                removed += 1;
            }
        }
        Ok(removed + self.clean_ingests(RESUMABLE_FOR)?)
    }

    /// Whether `path` (an entry of `ingest/`) is a resumable ingest written within
    /// [`RESUMABLE_FOR`]: kept state, not a leftover.
    pub fn is_resumable_ingest(&self, path: &Path) -> bool {
        let recent = fs::metadata(path.join(INGEST_DATA))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < RESUMABLE_FOR);
        recent && path.join(INGEST_META).is_file()
    }

    /// Removes ingest leftovers (temp files, abandoned ingests) not modified for `older_than`.
    /// Ingests held by a live writer are kept. Returns how many entries were removed.
    pub fn clean_ingests(&self, older_than: Duration) -> Result<usize, ContentError> {
        let dir = self.ingest_dir();
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let path = entry.path();
            let is_dir = entry.file_type().at(&path)?.is_dir();
            let probe = if is_dir {
                path.join(INGEST_DATA)
            } else {
                path.clone()
            };
            let modified = fs::metadata(&probe).and_then(|m| m.modified());
            if matches!(modified, Ok(t) if t > cutoff) {
                continue;
            }
            if is_dir {
                // Skip ingests a writer still holds.
                let held = File::open(&probe)
                    .ok()
                    .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
                if held == Some(true) {
                    continue;
                }
                fs::remove_dir_all(&path).at(&path)?;
            } else {
                fs::remove_file(&path).at(&path)?;
            }
            removed += 1;
        }
        Ok(removed)
    }
}

/// A blob written and hashed but not yet visible; see [`ContentStore::stage_blob`].
#[derive(Debug)]
pub struct Staged {
    store: ContentStore,
    tmp: tempfile::NamedTempFile,
    digest: Digest,
    size: u64,
}

impl Staged {
    /// The digest of the bytes written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The number of bytes written.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fsyncs the blob and makes it visible under its digest.
    pub fn commit(self) -> Result<(Digest, u64), ContentError> {
        let Staged {
            store,
            tmp,
            digest,
            size,
        } = self;
        tmp.as_file().sync_all().at(tmp.path())?;
        let target = store.path(&digest);
        tmp.persist(&target).map_err(|e| ContentError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        sync_dir(&store.blob_dir())?;
        Ok((digest, size))
    }
}

/// A resumable write of one expected blob; see [`ContentStore::ingest`].
///
/// Write the bytes from [`Ingest::offset`] on, then [`Ingest::commit`]. Dropping it without commit
/// keeps the partial data for a later resume; [`Ingest::abort`] discards it.
#[derive(Debug)]
pub struct Ingest {
    store: ContentStore,
    dir: PathBuf,
    meta: IngestMeta,
    writer: Sha256Writer<File>,
    /// Held for the ingest's lifetime: one writer per ingest.
    _lock: Flock<File>,
}

impl Ingest {
    /// Bytes already written: resume the download from here.
    pub fn offset(&self) -> u64 {
        self.writer.count()
    }

    /// The digest this ingest must end with.
    pub fn expected(&self) -> &Digest {
        &self.meta.expected
    }

    /// The size this ingest must end with.
    pub fn total(&self) -> u64 {
        self.meta.size
    }

    /// Verifies size and digest, then makes the blob visible. On a mismatch the partial data is
    /// discarded (resuming it could never succeed) and the error says why.
    pub fn commit(mut self) -> Result<(Digest, u64), ContentError> {
        let data = self.dir.join(INGEST_DATA);
        let digest = self.writer.digest();
        let count = self.writer.count();
        let checked = check_size(self.meta.expected.as_str(), Some(self.meta.size), count)
            .and_then(|()| check_digest(&self.meta.expected, &digest));
        if let Err(e) = checked {
            self.remove_dir()?;
            return Err(e);
        }
        self.writer.flush().at(&data)?;
        self.writer.get_ref().sync_all().at(&data)?;
        let target = self.store.path(&digest);
        fs::rename(&data, &target).at(&target)?;
        sync_dir(&self.store.blob_dir())?;
        self.remove_dir()?;
        Ok((digest, count))
    }

    /// Discards the ingest and its partial data.
    pub fn abort(self) -> Result<(), ContentError> {
        self.remove_dir()
    }

    fn remove_dir(&self) -> Result<(), ContentError> {
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ContentError::Io {
                path: self.dir.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writer.count() + buf.len() as u64 > self.meta.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ingest {:?}: more than the expected {} bytes of {}",
                    self.meta.reference, self.meta.size, self.meta.expected
                ),
            ));
        }
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IngestMeta {
    reference: String,
    expected: Digest,
    size: u64,
}

fn read_meta(path: &Path, reference: &str) -> Result<Option<IngestMeta>, ContentError> {
    match fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ContentError::BadIngest {
                    reference: reference.to_string(),
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ContentError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// A `Write` that only feeds a hasher.
struct HashSink<'a>(&'a mut Sha256Hasher);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn check_algorithm(d: &Digest) -> Result<(), ContentError> {
    if d.algorithm() == "sha256" {
        Ok(())
    } else {
        Err(ContentError::Unsupported(d.clone()))
    }
}

fn check_size(label: &str, expected: Option<u64>, actual: u64) -> Result<(), ContentError> {
    match expected {
        Some(expected) if expected != actual => Err(ContentError::SizeMismatch {
            digest: label.to_string(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

fn check_digest(expected: &Digest, actual: &Digest) -> Result<(), ContentError> {
    if expected == actual {
        Ok(())
    } else {
        Err(ContentError::DigestMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        })
    }
}

/// Fsyncs a directory so that a rename in it is durable.
fn sync_dir(dir: &Path) -> Result<(), ContentError> {
    fsync_dir(dir).at(dir)
}

/// Fsyncs a directory (for other modules that rename files into place).
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
/// Readers see the old or the new content, never a mix, even after a crash.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fsync_dir(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
#[path = "content_tests.rs"]
mod tests;
