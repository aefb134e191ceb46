//! Layer diff: writing a directory tree as a deterministic layer tar.
//!
//! - [`tar_dir`]: a whole tree (flat export, rootfs import, first layers);
//! - [`diff_upper`]: an overlayfs upper dir, whose whiteout devices (0:0 char devices) become
//!   `.wh.<name>` entries and whose opaque directories (`trusted.overlay.opaque=y`) get a
//!   `.wh..wh..opq` entry right after them;
//! - [`diff_dirs`]: the changes from a lower tree to an upper tree (plain-copy snapshots), with
//!   `.wh.<name>` for what the upper tree removed. Files are compared by type, mode, owner, size,
//!   mtime, device, link target and xattrs, not content (as Docker's naive diff does).
//!
//! Entries are sorted by name bytes within each directory, a directory before its content; hard
//! links to a file already written become link entries; sockets are skipped. Trees are read
//! fd-relative (`tree`), so a tree that changes underneath cannot make a layer include files
//! from outside it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::stat::{FileStat, SFlag};
use tar::EntryType;

use super::path::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::tarwrite::{Item, TarWriter};
use super::tree::{kind, TreeDir};
use super::whiteout::OPAQUE_XATTR;
use super::{Applied, DiffOptions, LayerError};

/// Writes the whole tree under `dir` (not `dir` itself) as a tar to `out`.
pub fn tar_dir(dir: &Path, out: impl Write, opts: &DiffOptions) -> Result<Applied, LayerError> {
    let mut walker = Walker::new(out, opts, false);
    walker.tree(&TreeDir::open(dir)?, &[])?;
    walker.w.finish()
}

/// Writes an overlayfs upper dir as a layer tar with whiteouts to `out`.
pub fn diff_upper(
    upper: &Path,
    out: impl Write,
    opts: &DiffOptions,
) -> Result<Applied, LayerError> {
    let mut walker = Walker::new(out, opts, true);
    walker.tree(&TreeDir::open(upper)?, &[])?;
    walker.w.finish()
}

/// Writes what changed from `lower` to `upper` as a layer tar with whiteouts to `out`.
pub fn diff_dirs(
    lower: &Path,
    upper: &Path,
    out: impl Write,
    opts: &DiffOptions,
) -> Result<Applied, LayerError> {
    let mut walker = Walker::new(out, opts, false);
    let lower = TreeDir::open_optional(lower)?;
    walker.changes(lower.as_ref(), &TreeDir::open(upper)?, &[])?;
    walker.w.finish()
}

struct Walker<W: Write> {
    w: TarWriter<W>,
    /// (dev, ino) of multiply-linked files written so far → their path in the tar.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Convert overlayfs whiteouts and opaque markers.
    overlay: bool,
    /// Owners shifted back to the container's ids ([`DiffOptions::id_map`]).
    id_map: Option<super::IdMap>,
}

/// `rel/name` as tar path bytes.
fn child(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        [rel, b"/", name].concat()
    }
}

fn whiteout_name(rel: &[u8], name: &OsStr) -> Vec<u8> {
    child(rel, &[WHITEOUT_PREFIX.as_bytes(), name.as_bytes()].concat())
}

fn is_dir(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFDIR
}

impl<W: Write> Walker<W> {
    fn new(out: W, opts: &DiffOptions, overlay: bool) -> Self {
        Walker {
            w: TarWriter::new(out, opts.clamp_mtime),
            links: HashMap::new(),
            overlay,
            id_map: opts.id_map.clone(),
        }
    }

    /// Writes everything under `dir` (at `rel` in the tar).
    fn tree(&mut self, dir: &TreeDir, rel: &[u8]) -> Result<(), LayerError> {
        for name in dir.list()? {
            let Some(st) = dir.stat(&name)? else { continue };
            let sub = child(rel, name.as_bytes());
            if self.overlay && kind(&st) == SFlag::S_IFCHR && st.st_rdev == 0 {
                let marker = whiteout_name(rel, &name);
                self.w
                    .append(&Item::marker(&marker, st.st_mtime), Some(&mut io::empty()))?;
                continue;
            }
            self.entry(dir, &name, &sub, &st)?;
            if is_dir(&st) {
                if self.overlay && dir.is_opaque(&name, OPAQUE_XATTR)? {
                    let marker = child(&sub, OPAQUE_MARKER.as_bytes());
                    self.w
                        .append(&Item::marker(&marker, st.st_mtime), Some(&mut io::empty()))?;
                }
                if let Some(subdir) = dir.sub(&name)? {
                    self.tree(&subdir, &sub)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the changes from `lower` to `upper` (both at `rel`).
    fn changes(
        &mut self,
        lower: Option<&TreeDir>,
        upper: &TreeDir,
        rel: &[u8],
    ) -> Result<(), LayerError> {
        let mut names = upper.list()?;
        if let Some(lower) = lower {
            names.extend(lower.list()?);
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names.dedup();
        for name in names {
            let sub = child(rel, name.as_bytes());
            let l = match lower {
                Some(lower) => lower.stat(&name)?,
                None => None,
            };
            match (l, upper.stat(&name)?) {
                (Some(_), None) => {
                    let marker = whiteout_name(rel, &name);
                    self.w
                        .append(&Item::marker(&marker, 0), Some(&mut io::empty()))?;
                }
                (None, Some(u)) => {
                    self.entry(upper, &name, &sub, &u)?;
                    if let Some(subdir) =
                        is_dir(&u).then(|| upper.sub(&name)).transpose()?.flatten()
                    {
                        self.tree(&subdir, &sub)?;
                    }
                }
                (Some(l), Some(u)) => {
                    let lower = lower.ok_or_else(|| LayerError::Walk {
                        op: "compare",
                        path: upper.path(&name),
                        source: io::Error::other("lower tree vanished"),
                    })?;
                    if changed(lower, upper, &name, &l, &u)? {
                        self.entry(upper, &name, &sub, &u)?;
                    }
                    if is_dir(&u) {
                        if let Some(usub) = upper.sub(&name)? {
                            // Below a directory that replaced a non-directory, everything is new.
                            let lsub = if is_dir(&l) { lower.sub(&name)? } else { None };
                            self.changes(lsub.as_ref(), &usub, &sub)?;
                        }
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Writes one file system object as an entry.
    fn entry(
        &mut self,
        dir: &TreeDir,
        name: &OsStr,
        rel: &[u8],
        st: &FileStat,
    ) -> Result<(), LayerError> {
        let link_target;
        // An owner the map has none for is what the container sees for it: the overflow id.
        let (uid, gid) = match &self.id_map {
            Some(map) => (
                map.uid_to_container(st.st_uid)
                    .unwrap_or(super::OVERFLOW_ID),
                map.gid_to_container(st.st_gid)
                    .unwrap_or(super::OVERFLOW_ID),
            ),
            None => (st.st_uid, st.st_gid),
        };
        let mut item = Item {
            path: rel,
            kind: EntryType::Regular,
            mode: st.st_mode & 0o7777,
            uid: u64::from(uid),
            gid: u64::from(gid),
            mtime: st.st_mtime,
            size: 0,
            link: None,
            device: (0, 0),
            xattrs: dir.xattrs(name)?,
        };
        match kind(st) {
            SFlag::S_IFDIR => item.kind = EntryType::Directory,
            SFlag::S_IFLNK => {
                item.kind = EntryType::Symlink;
                link_target = dir.read_link(name)?;
                item.link = Some(link_target.as_bytes());
            }
            k @ (SFlag::S_IFCHR | SFlag::S_IFBLK) => {
                item.kind = if k == SFlag::S_IFCHR {
                    EntryType::Char
                } else {
                    EntryType::Block
                };
                item.device = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
            }
            SFlag::S_IFIFO => item.kind = EntryType::Fifo,
            SFlag::S_IFREG => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let first = first.clone();
                        item.kind = EntryType::Link;
                        item.link = Some(&first);
                        item.xattrs.clear();
                        return self.w.append(&item, None);
                    }
                    self.links.insert(key, rel.to_vec());
                }
                item.size = u64::try_from(st.st_size).unwrap_or(0);
                let mut file = dir.open_file(name, st)?;
                return self.w.append(&item, Some(&mut file));
            }
            _ => return Ok(()), // sockets are not archived
        }
        self.w.append(&item, None)
    }
}

/// Whether an object differs between the lower and upper tree.
fn changed(
    lower: &TreeDir,
    upper: &TreeDir,
    name: &OsStr,
    l: &FileStat,
    u: &FileStat,
) -> Result<bool, LayerError> {
    if l.st_mode != u.st_mode
        || l.st_uid != u.st_uid
        || l.st_gid != u.st_gid
        || l.st_mtime != u.st_mtime
        || l.st_mtime_nsec != u.st_mtime_nsec
        || l.st_rdev != u.st_rdev
        || (!is_dir(u) && l.st_size != u.st_size)
    {
        return Ok(true);
    }
    if kind(u) == SFlag::S_IFLNK && lower.read_link(name)? != upper.read_link(name)? {
        return Ok(true);
    }
    Ok(lower.xattrs(name)? != upper.xattrs(name)?)
}
