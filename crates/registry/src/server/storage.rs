//! The registry server's storage on disk. Synchronous: the handlers call it on the blocking pool.
//!
//! ```text
//! <root>/blobs/sha256/<hex>                      verified blobs, shared by all repositories
//! <root>/uploads/<id>/{data,repo}                 upload sessions in progress
//! <root>/repos/<name>/_layers/<hex>               a blob is linked into the repository
//! <root>/repos/<name>/_manifests/<hex>            a manifest of the repository (its media type)
//! <root>/repos/<name>/_tags/<tag>                 the digest a tag points at
//! <root>/repos/<name>/_referrers/<subject>/<hex>  a manifest's descriptor, by its `subject`
//! <root>/tmp/                                     files being written
//! ```
//!
//! Invariants: a blob becomes visible under its digest only after its bytes were hashed to it,
//! fsync'ed and renamed into place (a killed upload never leaves a visible blob); tags and links
//! are replaced atomically (write, fsync, rename). Names, tags and digests are validated by
//! [`super::names`] before they reach a path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use berth_oci::digest::Sha256Hasher;
use berth_oci::Digest;

/// The registry's storage root.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    max_upload: u64,
    upstream: Option<super::proxy::Upstream>,
}

/// The default upper bound of one blob upload.
pub const MAX_UPLOAD_BYTES: u64 = 64 << 30;

fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

impl Storage {
    pub fn open(root: &Path) -> io::Result<Storage> {
        for d in ["blobs/sha256", "uploads", "repos", "tmp"] {
            fs::create_dir_all(root.join(d))?;
        }
        // Files being written when the server died are garbage.
        for e in fs::read_dir(root.join("tmp"))?.flatten() {
            let _ = fs::remove_file(e.path());
        }
        Ok(Storage {
            root: root.to_path_buf(),
            max_upload: MAX_UPLOAD_BYTES,
            upstream: None,
        })
    }

    /// This storage as a pull-through cache of `upstream`.
    pub fn with_upstream(mut self, upstream: Option<super::proxy::Upstream>) -> Storage {
        self.upstream = upstream;
        self
    }

    /// The upstream of a pull-through cache.
    pub fn upstream(&self) -> Option<&super::proxy::Upstream> {
        self.upstream.as_ref()
    }

    /// This storage with uploads limited to `bytes`.
    pub fn with_max_upload(mut self, bytes: u64) -> Storage {
        self.max_upload = bytes;
        self
    }

    /// The largest upload accepted.
    pub fn max_upload(&self) -> u64 {
        self.max_upload
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repos").join(name)
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// The size of blob `d` if the repository `name` has it.
    pub fn blob_size(&self, name: &str, d: &Digest) -> Option<u64> {
        if !self.repo(name).join("_layers").join(d.hex()).exists() {
            return None;
        }
        fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    /// Whether the blob exists at all (any repository).
    pub fn blob_exists(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Links blob `d` into repository `name`.
    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        let dir = self.repo(name).join("_layers");
        fs::create_dir_all(&dir)?;
        write_atomic(&self.tmp(), &dir.join(d.hex()), b"")
    }

    /// Unlinks blob `d` from repository `name`; whether it was linked.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        match fs::remove_file(self.repo(name).join("_layers").join(d.hex())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as a blob (verified by construction) and links it into `name`.
    pub fn put_blob_bytes(&self, name: &str, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::sha256_of(bytes);
        if !self.blob_exists(&d) {
            write_atomic(&self.tmp(), &self.blob_path(&d), bytes)?;
        }
        self.link_blob(name, &d)?;
        Ok(d)
    }

    // --- uploads ---

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Starts an upload session for `name`; returns its id.
    pub fn start_upload(&self, name: &str) -> io::Result<String> {
        let mut raw = [0u8; 16];
        File::open("/dev/urandom")?.read_exact(&mut raw)?;
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.upload_dir(&id);
        fs::create_dir_all(&dir)?;
        File::create(dir.join("data"))?;
        fs::write(dir.join("repo"), name)?;
        Ok(id)
    }

    /// The bytes received so far by upload `id` of repository `name` (`None`: no such upload).
    pub fn upload_offset(&self, name: &str, id: &str) -> Option<u64> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) || id.len() != 32 {
            return None;
        }
        let dir = self.upload_dir(id);
        if fs::read_to_string(dir.join("repo")).ok()? != name {
            return None;
        }
        fs::metadata(dir.join("data")).ok().map(|m| m.len())
    }

    /// Opens upload `id`'s data for appending.
    pub fn upload_file(&self, id: &str) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .open(self.upload_dir(id).join("data"))
    }

    /// Drops upload `id`.
    pub fn cancel_upload(&self, id: &str) {
        let _ = fs::remove_dir_all(self.upload_dir(id));
    }

    /// Ends upload `id`: hashes what was received; if it is `expected`, commits it as a blob of
    /// `name`. Either way the session is gone. Returns the digest the data hashes to.
    pub fn finish_upload(&self, name: &str, id: &str, expected: &Digest) -> io::Result<Digest> {
        let data = self.upload_dir(id).join("data");
        let result = (|| {
            let mut f = File::open(&data)?;
            let mut hasher = Sha256Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let actual = hasher.digest();
            if &actual == expected {
                f.sync_all()?;
                if !self.blob_exists(&actual) {
                    fs::rename(&data, self.blob_path(&actual))?;
                    File::open(self.root.join("blobs/sha256"))?.sync_all()?;
                }
                self.link_blob(name, &actual)?;
            }
            Ok(actual)
        })();
        self.cancel_upload(id);
        result
    }

    // --- manifests and tags ---

    /// The media type of manifest `d` in `name`, if the repository has it.
    pub fn manifest_type(&self, name: &str, d: &Digest) -> Option<String> {
        fs::read_to_string(self.repo(name).join("_manifests").join(d.hex())).ok()
    }

    /// Records manifest bytes (already validated) in `name`, tagged `tag` if given.
    pub fn put_manifest(
        &self,
        name: &str,
        media_type: &str,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> io::Result<Digest> {
        let d = self.put_blob_bytes(name, bytes)?;
        let repo = self.repo(name);
        write_atomic(
            &self.tmp(),
            &repo.join("_manifests").join(d.hex()),
            media_type.as_bytes(),
        )?;
        if let Some(t) = tag {
            write_atomic(
                &self.tmp(),
                &repo.join("_tags").join(t),
                d.as_str().as_bytes(),
            )?;
        }
        Ok(d)
    }

    /// Records manifest `d` (described by `descriptor`, JSON) as a referrer of `subject`.
    pub fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        d: &Digest,
        descriptor: &[u8],
    ) -> io::Result<()> {
        let path = self
            .repo(name)
            .join("_referrers")
            .join(subject.hex())
            .join(d.hex());
        write_atomic(&self.tmp(), &path, descriptor)
    }

    /// Forgets manifest `d` as a referrer of `subject`.
    pub fn remove_referrer(&self, name: &str, subject: &Digest, d: &Digest) {
        let dir = self.repo(name).join("_referrers").join(subject.hex());
        let _ = fs::remove_file(dir.join(d.hex()));
        let _ = fs::remove_dir(dir);
    }

    /// The descriptors (JSON) of the manifests whose subject is `subject`, by digest.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<Vec<u8>> {
        let dir = self.repo(name).join("_referrers").join(subject.hex());
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        entries.iter().filter_map(|p| fs::read(p).ok()).collect()
    }

    /// The digest tag `tag` of `name` points at.
    pub fn tag(&self, name: &str, tag: &str) -> Option<Digest> {
        let text = fs::read_to_string(self.repo(name).join("_tags").join(tag)).ok()?;
        super::names::parse_digest(text.trim())
    }

    /// Deletes manifest `d` from `name` and the tags pointing at it; whether it existed.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        let repo = self.repo(name);
        match fs::remove_file(repo.join("_manifests").join(d.hex())) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        for t in self.tags(name) {
            if self.tag(name, &t).as_ref() == Some(d) {
                let _ = fs::remove_file(repo.join("_tags").join(&t));
            }
        }
        Ok(true)
    }

    /// Tags of `name`, sorted.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(self.repo(name).join("_tags"))
            .map(|r| {
                r.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Whether repository `name` exists (has ever held a manifest or blob).
    pub fn repo_exists(&self, name: &str) -> bool {
        let r = self.repo(name);
        r.join("_manifests").is_dir() || r.join("_layers").is_dir()
    }

    /// Every repository name, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.join("repos"), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut is_repo = false;
            for e in entries.flatten() {
                let Some(n) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if n == "_manifests" {
                    is_repo = true;
                } else if !n.starts_with('_') && e.path().is_dir() {
                    let child = if prefix.is_empty() {
                        n.clone()
                    } else {
                        format!("{prefix}/{n}")
                    };
                    stack.push((e.path(), child));
                }
            }
            if is_repo && !prefix.is_empty() {
                out.push(prefix);
            }
        }
        out.sort();
        out
    }

    /// Digests of the manifests repository `name` holds.
    pub fn manifests(&self, name: &str) -> Vec<Digest> {
        fs::read_dir(self.repo(name).join("_manifests"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|h| Digest::from_sha256_hex(h).ok())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every stored blob with its metadata.
    pub fn blobs(&self) -> io::Result<Vec<(Digest, fs::Metadata)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("blobs/sha256"))? {
            let e = e?;
            let Some(d) = e
                .file_name()
                .to_str()
                .and_then(|h| Digest::from_sha256_hex(h).ok())
            else {
                continue;
            };
            out.push((d, e.metadata()?));
        }
        Ok(out)
    }

    /// Reads `len` bytes of blob `d` from `start` (for a Range request).
    pub fn open_blob_at(&self, d: &Digest, start: u64) -> io::Result<File> {
        let mut f = File::open(self.blob_path(d))?;
        f.seek(SeekFrom::Start(start))?;
        Ok(f)
    }
}
