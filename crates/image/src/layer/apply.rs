//! [`apply`]: streaming a (compressed) layer tar into a target directory, entry by entry, fd-relative.
//!
//! Order of work per entry: normalise the name (`path`), resolve its directory inside the target
//! (`root`), then create the final component with an `*at` call and set its metadata through the new
//! fd where there is one. Directory modes and mtimes are set at the end, deepest first, so creating
//! their content neither changes the mtimes nor needs write permission the layer takes away.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use tar::EntryType;

use super::compression::decompress;
use super::hash::{HeaderWindow, HEADER_BUDGET};
use super::meta::{self, Meta};
use super::path::{self, display, Special};
use super::pipeline::{self, read_full};
use super::root::{self, Root};
use super::sparse::{self, CopyError};
use super::{is_root, Applied, ApplyOptions, LayerError, WhiteoutMode};

/// Copy buffer of file data.
const BUFFER: usize = 1024 * 1024;

/// Applies one layer (plain, gzip or zstd tar) to `target`; see the module docs of
/// [`crate::layer`] for the contract. Returns the diff ID and size of the uncompressed stream.
///
/// Reading, decompressing and hashing run on a helper thread (`pipeline`), hence `Send`.
pub fn apply<R: Read + Send>(
    reader: R,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<Applied, LayerError> {
    let root = Root::open(target)?;
    let (_, decoder) = decompress(reader).map_err(LayerError::Corrupt)?;
    let mut applier = Applier {
        opts,
        root,
        privileged: is_root(),
        deferred: Vec::new(),
        written: HashSet::new(),
        warnings: Vec::new(),
        apparent: 0,
        buf: vec![0; BUFFER],
    };
    let (result, produced, window) = std::thread::scope(|scope| {
        let (pipe, producer) =
            pipeline::spawn(scope, decoder, opts.max_bytes).map_err(LayerError::Thread)?;
        let window = pipe.window();
        let result = {
            let mut archive = tar::Archive::new(pipe);
            applier.run(&mut archive, &window).and_then(|()| {
                // Read to the end so padding is hashed and gzip/zstd verify their checksums.
                io::copy(&mut archive.into_inner(), &mut io::sink())
                    .map(drop)
                    .map_err(LayerError::Corrupt)
            })
        }; // the pipe is dropped here, so the producer stops
        let produced = producer
            .join()
            .map_err(|_| LayerError::Thread(io::Error::other("the layer reader panicked")))?;
        Ok::<_, LayerError>((result, produced, window))
    })?;
    if window.tripped() {
        return Err(LayerError::HeadersTooLarge {
            limit: HEADER_BUDGET,
        });
    }
    if produced.exceeded {
        return Err(LayerError::TooLarge {
            limit: opts.max_bytes.unwrap_or(u64::MAX),
        });
    }
    result?;
    applier.finish()?;
    Ok(Applied {
        diff_id: produced.digest,
        size: produced.size,
        warnings: applier.warnings,
    })
}

/// A directory whose mode and mtime are set once the whole layer is in place.
struct Deferred {
    path: PathBuf,
    mode: u32,
    mtime: TimeSpec,
}

/// State of one apply.
pub(super) struct Applier<'o> {
    pub(super) opts: &'o ApplyOptions,
    pub(super) root: Root,
    /// Running as root: devices, trusted xattrs.
    pub(super) privileged: bool,
    deferred: Vec<Deferred>,
    /// Paths this layer wrote ([`WhiteoutMode::Delete`] only): opaque markers keep them.
    pub(super) written: HashSet<PathBuf>,
    pub(super) warnings: Vec<String>,
    /// Sum of the apparent sizes of the files written so far (sparse ones expanded).
    apparent: u64,
    buf: Vec<u8>,
}

impl Applier<'_> {
    /// The owner to give an entry: [`super::ApplyOptions::owner`] when set, else the tar's with
    /// [`super::ApplyOptions::same_owner`], else none (the caller's).
    fn owner_of(&self, meta: &Meta) -> Option<(u32, u32)> {
        self.opts
            .owner
            .or(self.opts.same_owner.then_some((meta.uid, meta.gid)))
    }

    fn run<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
        window: &HeaderWindow,
    ) -> Result<(), LayerError> {
        let mut entries = archive.entries().map_err(LayerError::Corrupt)?;
        loop {
            window.open();
            let next = entries.next();
            window.close();
            let Some(entry) = next else { return Ok(()) };
            let mut entry = entry.map_err(LayerError::Corrupt)?;
            self.entry(&mut entry)?;
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let raw = entry.path_bytes().into_owned();
        let mut kind = entry.header().entry_type();
        if kind == EntryType::Regular && raw.ends_with(b"/") {
            kind = EntryType::Directory; // old (v7) tars mark directories by the slash alone
        }
        let is_file = matches!(
            kind,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
        );
        if let Some(limit) = self.opts.max_bytes {
            // For a GNU sparse entry the size is the expanded (apparent) one.
            if entry.size() > limit {
                return Err(LayerError::EntryTooLarge {
                    entry: display(&raw),
                    size: entry.size(),
                    limit,
                });
            }
            if is_file {
                self.apparent = self.apparent.saturating_add(entry.size());
                if self.apparent > limit {
                    return Err(LayerError::ExpandedTooLarge {
                        entry: display(&raw),
                        limit,
                    });
                }
            }
        }
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let path = path::normalize(&raw, &raw)?;
        let entry_s = display(&raw);
        // Before anything is created: refuses overlayfs xattrs and PAX sparse files.
        let mut meta = meta::read(entry, &entry_s)?;
        if let Some(map) = &self.opts.id_map {
            (meta.uid, meta.gid) = map.to_host(meta.uid, meta.gid, &entry_s)?;
        }
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            // The target root itself: its metadata belongs to the snapshot, not to the layer.
            return Ok(());
        };
        let special = if self.opts.literal_names {
            Special::None
        } else {
            path::special(&raw, &path)?
        };
        match special {
            Special::AufsMeta => return Ok(()),
            Special::Opaque => return self.opaque(&raw, parent),
            Special::Whiteout(hidden) => return self.whiteout(&raw, parent, hidden),
            Special::None => {}
        }
        let dir = self.root.dir(&raw, parent, true)?.ok_or_else(|| {
            LayerError::entry("find the directory of", &display(&raw), Errno::ENOENT)
        })?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let sparse = kind == EntryType::GNUSparse;
                self.file(entry, sparse, dir.as_fd(), name, &entry_s, &meta)?
            }
            EntryType::Directory => self.directory(dir.as_fd(), name, &path, &entry_s, &meta)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        LayerError::entry("read the link target of", &entry_s, Errno::EINVAL)
                    })?
                    .into_owned();
                self.replace(dir.as_fd(), name, &entry_s, "create the symlink", |d| {
                    symlinkat(OsStr::from_bytes(&target), d, name)
                })?;
                self.owner_and_times(dir.as_fd(), name, &entry_s, &meta, None)?;
                if !meta.xattrs.is_empty() {
                    self.warnings
                        .push(format!("skipped xattrs of symlink {entry_s:?}"));
                }
            }
            EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        LayerError::entry("read the link target of", &entry_s, Errno::EINVAL)
                    })?
                    .into_owned();
                self.hardlink(&raw, &link, dir.as_fd(), name)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if !self.special_file(entry, kind, dir.as_fd(), name, &entry_s, &meta)? {
                    return Ok(());
                }
            }
            other => {
                return Err(LayerError::Unsupported {
                    entry: entry_s,
                    kind: char::from(other.as_byte()),
                })
            }
        }
        if self.opts.whiteouts == WhiteoutMode::Delete {
            self.mark_written(&path);
        }
        Ok(())
    }

    /// Records `path` and its ancestors as written by this layer (kept by opaque markers).
    fn mark_written(&mut self, path: &Path) {
        let mut p = path;
        // Once an ancestor is present, all of its ancestors are too.
        while !p.as_os_str().is_empty() && self.written.insert(p.to_path_buf()) {
            p = p.parent().unwrap_or(Path::new(""));
        }
    }

    /// Runs `create` in `dir`; if `name` exists, removes it (recursively for a directory) and retries.
    pub(super) fn replace<T>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry: &str,
        op: &'static str,
        mut create: impl FnMut(BorrowedFd<'_>) -> nix::Result<T>,
    ) -> Result<T, LayerError> {
        match create(dir) {
            Err(Errno::EEXIST) => {
                if self.opts.no_overwrite_dir_non_dir
                    && root::lstat_at(dir, name).is_ok_and(|st| root::is_type(&st, SFlag::S_IFDIR))
                {
                    return Err(LayerError::Overwrite {
                        entry: entry.to_string(),
                        existing: "directory",
                        new: "non-directory",
                    });
                }
                root::remove_all(dir, name).map_err(|source| LayerError::Entry {
                    op: "replace",
                    entry: entry.to_string(),
                    source,
                })?;
                self.root.invalidate();
                create(dir).map_err(|e| LayerError::entry(op, entry, e))
            }
            other => other.map_err(|e| LayerError::entry(op, entry, e)),
        }
    }

    /// A regular file; a GNU sparse one (`sparse`) gets holes where its map has them.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        sparse: bool,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry_s: &str,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd: OwnedFd = self.replace(dir, name, entry_s, "create the file", |d| {
            openat(d, name, flags, Mode::from_bits_truncate(0o600))
        })?;
        let mut file = File::from(fd);
        let write_err = |source| LayerError::Entry {
            op: "write",
            entry: entry_s.to_string(),
            source,
        };
        let mut copied = 0u64;
        if sparse {
            copied = sparse::copy(entry, &file, &mut self.buf).map_err(|e| match e {
                CopyError::Read(e) => LayerError::Corrupt(e),
                CopyError::Write(e) => write_err(e),
            })?;
        } else {
            loop {
                let n = read_full(entry, &mut self.buf).map_err(LayerError::Corrupt)?;
                if n == 0 {
                    break;
                }
                file.write_all(&self.buf[..n]).map_err(write_err)?;
                copied += n as u64;
                if n < self.buf.len() {
                    break;
                }
            }
        }
        if copied != entry.size() {
            return Err(LayerError::Corrupt(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("entry {entry_s:?} has {copied} of {} bytes", entry.size()),
            )));
        }
        if let Some((uid, gid)) = self.owner_of(meta) {
            fchown(&file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| LayerError::entry("set the owner of", entry_s, e))?;
        }
        fchmod(&file, Mode::from_bits_truncate(meta.mode))
            .map_err(|e| LayerError::entry("set the mode of", entry_s, e))?;
        meta::set_xattrs(&file, meta, entry_s, self.privileged, &mut self.warnings)?;
        futimens(&file, &meta.mtime, &meta.mtime)
            .map_err(|e| LayerError::entry("set the mtime of", entry_s, e))
    }

    fn directory(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        entry_s: &str,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        // Owner-writable until `finish`, so the layer can fill it whatever its final mode.
        let initial = Mode::from_bits_truncate(0o700 | (meta.mode & 0o777));
        match mkdirat(dir, name, initial) {
            Ok(()) => {}
            Err(Errno::EEXIST) => match root::lstat_at(dir, name) {
                Ok(st) if root::is_type(&st, SFlag::S_IFDIR) => {}
                _ if self.opts.no_overwrite_dir_non_dir => {
                    return Err(LayerError::Overwrite {
                        entry: entry_s.to_string(),
                        existing: "non-directory",
                        new: "directory",
                    })
                }
                _ => self.replace(dir, name, entry_s, "create the directory", |d| {
                    mkdirat(d, name, initial)
                })?,
            },
            Err(e) => return Err(LayerError::entry("create the directory", entry_s, e)),
        }
        if let Some((uid, gid)) = self.owner_of(meta) {
            fchownat(
                dir,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| LayerError::entry("set the owner of", entry_s, e))?;
        }
        if !meta.xattrs.is_empty() {
            let fd = root::open_dir_read(dir, name).map_err(|source| LayerError::Entry {
                op: "open",
                entry: entry_s.to_string(),
                source,
            })?;
            meta::set_xattrs(
                &File::from(fd),
                meta,
                entry_s,
                self.privileged,
                &mut self.warnings,
            )?;
        }
        self.deferred.push(Deferred {
            path: path.to_path_buf(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    fn hardlink(
        &mut self,
        raw: &[u8],
        link: &[u8],
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(), LayerError> {
        let entry_s = display(raw);
        let escape = |reason| LayerError::HardlinkEscape {
            entry: display(raw),
            link: display(link),
            reason,
        };
        let target = path::normalize(raw, link)?;
        let (Some(link_name), Some(link_parent)) = (target.file_name(), target.parent()) else {
            return Err(escape("is the target root"));
        };
        let Some(link_dir) = self.root.dir(raw, link_parent, false)? else {
            return Err(escape("is not in the target"));
        };
        match root::lstat_at(link_dir.as_fd(), link_name) {
            Ok(st) if root::is_type(&st, SFlag::S_IFDIR) => return Err(escape("is a directory")),
            Ok(_) => {}
            Err(Errno::ENOENT) => return Err(escape("is not in the target")),
            Err(e) => return Err(LayerError::entry("inspect the link target of", &entry_s, e)),
        }
        self.replace(dir, name, &entry_s, "create the hard link", |d| {
            linkat(link_dir.as_fd(), link_name, d, name, AtFlags::empty())
        })
    }

    /// Devices and fifos. Returns false when the entry was skipped.
    fn special_file<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        kind: EntryType,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry_s: &str,
        meta: &Meta,
    ) -> Result<bool, LayerError> {
        let sflag = match kind {
            EntryType::Char => SFlag::S_IFCHR,
            EntryType::Block => SFlag::S_IFBLK,
            _ => SFlag::S_IFIFO,
        };
        let header = entry.header();
        let num =
            |v: io::Result<Option<u32>>| v.map(|v| v.unwrap_or(0)).map_err(LayerError::Corrupt);
        let dev = if sflag == SFlag::S_IFIFO {
            0 // some writers leave the device fields of fifos blank
        } else {
            libc::makedev(num(header.device_major())?, num(header.device_minor())?)
        };
        if sflag != SFlag::S_IFIFO && !self.privileged {
            self.warnings.push(format!(
                "skipped device node {entry_s:?}: not running as root"
            ));
            return Ok(false);
        }
        let mode = Mode::from_bits_truncate(0o600);
        match self.replace(dir, name, entry_s, "create the device node", |d| {
            mknodat(d, name, sflag, mode, dev)
        }) {
            Ok(()) => {}
            Err(LayerError::Entry { source, .. }) if source.raw_os_error() == Some(libc::EPERM) => {
                self.warnings
                    .push(format!("skipped device node {entry_s:?}: not permitted"));
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        if !meta.xattrs.is_empty() {
            self.warnings
                .push(format!("skipped xattrs of special file {entry_s:?}"));
        }
        self.owner_and_times(dir, name, entry_s, meta, Some(meta.mode))?;
        Ok(true)
    }

    /// Owner, mode (not for symlinks) and mtime of an entry that has no open fd.
    fn owner_and_times(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry_s: &str,
        meta: &Meta,
        mode: Option<u32>,
    ) -> Result<(), LayerError> {
        if let Some((uid, gid)) = self.owner_of(meta) {
            fchownat(
                dir,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| LayerError::entry("set the owner of", entry_s, e))?;
        }
        if let Some(mode) = mode {
            // Not a symlink (we just created it), so following is safe.
            fchmodat(
                dir,
                name,
                Mode::from_bits_truncate(mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| LayerError::entry("set the mode of", entry_s, e))?;
        }
        utimensat(
            dir,
            name,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| LayerError::entry("set the mtime of", entry_s, e))
    }

    /// Sets directory modes and mtimes, deepest first.
    fn finish(&mut self) -> Result<(), LayerError> {
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
        self.root.invalidate();
        for d in deferred {
            let (Some(name), Some(parent)) = (d.path.file_name(), d.path.parent()) else {
                continue;
            };
            let raw = d.path.as_os_str().as_bytes();
            let entry_s = display(raw);
            let Some(dir) = self.root.dir(raw, parent, false)? else {
                continue;
            };
            match root::lstat_at(dir.as_fd(), name) {
                Ok(st) if root::is_type(&st, SFlag::S_IFDIR) => {}
                _ => continue, // replaced or removed later in the layer
            }
            fchmodat(
                dir.as_fd(),
                name,
                Mode::from_bits_truncate(d.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| LayerError::entry("set the mode of", &entry_s, e))?;
            utimensat(
                dir.as_fd(),
                name,
                &d.mtime,
                &d.mtime,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| LayerError::entry("set the mtime of", &entry_s, e))?;
        }
        Ok(())
    }
}
