//! The tar side of `berth cp` on the client: writing a local file or directory as a tar (our own
//! walk, symlinks stored, never followed; entries encoded by the `tar` crate as GNU headers) and
//! classifying the entries of the daemon's tar, read with [`::tar::Archive`], for extraction.
//!
//! Names and link targets are written byte for byte (the daemon rebases `./child` names under a
//! `.` top, so they must not be normalised): in the header when they fit, else through GNU
//! long-name and long-link records.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use ::tar::{Builder, EntryType, Header};

/// Deepest local tree written.
const MAX_DEPTH: usize = 512;
/// Size of a header's name and link-name fields.
const NAME_FIELD: usize = 100;

/// Kinds of entry `berth cp` handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Devices, fifos and anything else (skipped on extraction).
    Other,
}

/// The kind of the entry named `name` with header `h` (old archives mark directories by a
/// trailing `/` on a regular entry).
pub fn kind(h: &::tar::Header, name: &str) -> Kind {
    match h.entry_type() {
        EntryType::Regular | EntryType::Continuous if name.ends_with('/') => Kind::Dir,
        EntryType::Regular | EntryType::Continuous => Kind::File,
        EntryType::Link => Kind::HardLink,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Directory => Kind::Dir,
        _ => Kind::Other,
    }
}

// ---- writing ----

/// Writes local `path` as a tar whose top entry is named `top` (a directory's children follow
/// as `top/child`); symlinks are stored as links, never followed.
pub fn write_local(path: &Path, top: &str, out: impl Write) -> io::Result<()> {
    let mut w = Writer {
        tar: Builder::new(Cutoff {
            out: io::BufWriter::new(out),
            cut: false,
        }),
        links: HashMap::new(),
    };
    match w.add(path, top.as_bytes(), 0) {
        Ok(()) => w.tar.into_inner()?.out.flush(),
        Err(e) => {
            // No end-of-archive blocks after a failure (the builder writes them when dropped):
            // the daemon must see a truncated tar, not a whole one.
            w.tar.get_mut().cut = true;
            Err(e)
        }
    }
}

/// The archive's sink; once `cut`, it refuses every write.
struct Cutoff<W: Write> {
    out: io::BufWriter<W>,
    cut: bool,
}

impl<W: Write> Write for Cutoff<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cut {
            return Err(io::Error::other("the archive was abandoned"));
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

struct Writer<W: Write> {
    tar: Builder<Cutoff<W>>,
    /// (device, inode) of files with several links → the name first written.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Writer<W> {
    fn add(&mut self, path: &Path, name: &[u8], depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "directory tree deeper than {MAX_DEPTH} levels at {}",
                path.display()
            )));
        }
        let md = std::fs::symlink_metadata(path)?;
        let ft = md.file_type();
        if ft.is_dir() {
            let mut name = name.to_vec();
            if !name.ends_with(b"/") {
                name.push(b'/');
            }
            self.entry(&md, EntryType::Directory, &name, None)?;
            let mut children: Vec<_> = std::fs::read_dir(path)?
                .map(|c| c.map(|c| c.file_name()))
                .collect::<io::Result<_>>()?;
            children.sort();
            for child in children {
                let child_name = [&name[..], child.as_bytes()].concat();
                self.add(&path.join(&child), &child_name, depth + 1)?;
            }
            return Ok(());
        }
        if ft.is_socket() {
            return Ok(());
        }
        if md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                return self.entry(&md, EntryType::Link, name, Some(&first));
            }
            self.links.insert((md.dev(), md.ino()), name.to_vec());
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(path)?;
            return self.entry(
                &md,
                EntryType::Symlink,
                name,
                Some(target.as_os_str().as_bytes()),
            );
        }
        if ft.is_file() {
            return self.file(path, name);
        }
        let kind = if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            EntryType::Fifo
        };
        self.entry(&md, kind, name, None)
    }

    /// A regular file, streamed; one that shrinks while being read is padded with zeros (and
    /// one that grows is cut) so the archive stays well formed.
    fn file(&mut self, path: &Path, name: &[u8]) -> io::Result<()> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        let size = md.len();
        let mut h = header(&md, EntryType::Regular, size)?;
        let data = file.take(size).chain(io::repeat(0)).take(size);
        append(&mut self.tar, &mut h, name, None, data)
    }

    /// An entry without data.
    fn entry(
        &mut self,
        md: &std::fs::Metadata,
        kind: EntryType,
        name: &[u8],
        link: Option<&[u8]>,
    ) -> io::Result<()> {
        let mut h = header(md, kind, 0)?;
        append(&mut self.tar, &mut h, name, link, io::empty())
    }
}

/// A GNU header carrying `md`'s mode, owner, mtime and device numbers.
fn header(md: &std::fs::Metadata, kind: EntryType, size: u64) -> io::Result<Header> {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h.set_size(size);
    if matches!(kind, EntryType::Char | EntryType::Block) {
        let number = |n: u64| u32::try_from(n).map_err(io::Error::other);
        h.set_device_major(number(nix::sys::stat::major(md.rdev()))?)?;
        h.set_device_minor(number(nix::sys::stat::minor(md.rdev()))?)?;
    }
    Ok(h)
}

/// Appends an entry named `name` (linking to `link`) with its data, both byte for byte (the
/// builder's own path setters would normalise `./x` to `x`).
fn append<W: Write>(
    tar: &mut Builder<W>,
    h: &mut Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> io::Result<()> {
    if let Some(link) = link {
        if link.len() > NAME_FIELD {
            let mut long = Header::new_gnu();
            long.set_entry_type(EntryType::GNULongLink);
            long.set_size(link.len() as u64 + 1);
            tar.append_data(&mut long, "././@LongLink", link.chain(&[0u8][..]))?;
        }
        h.set_link_name_literal(&link[..link.len().min(NAME_FIELD)])?;
    }
    if name.len() <= NAME_FIELD {
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        tar.append(h, data)
    } else {
        tar.append_data(h, Path::new(OsStr::from_bytes(name)), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(buf: &[u8]) -> Vec<(String, Kind, usize, String)> {
        let mut ar = ::tar::Archive::new(buf);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            seen.push((name.clone(), kind(e.header(), &name), data.len(), link));
        }
        seen
    }

    #[test]
    fn round_trip_with_long_names() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let long = "d".repeat(120);
        std::fs::create_dir_all(src.join(&long)).unwrap();
        std::fs::write(src.join(&long).join("f"), b"data").unwrap();
        std::fs::write(src.join("a"), vec![1u8; 700]).unwrap();
        std::os::unix::fs::symlink("a", src.join("ln")).unwrap();
        std::fs::hard_link(src.join(&long).join("f"), src.join("z")).unwrap();
        let mut buf = Vec::new();
        write_local(&src, "top", &mut buf).unwrap();
        let f = format!("top/{long}/f");
        assert_eq!(
            read_back(&buf),
            [
                ("top/".into(), Kind::Dir, 0, String::new()),
                ("top/a".into(), Kind::File, 700, String::new()),
                (format!("top/{long}/"), Kind::Dir, 0, String::new()),
                (f.clone(), Kind::File, 4, String::new()),
                ("top/ln".into(), Kind::Symlink, 0, "a".into()),
                ("top/z".into(), Kind::HardLink, 0, f),
            ]
        );
    }

    #[test]
    fn dot_top_keeps_dot_slash_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        let mut buf = Vec::new();
        write_local(dir.path(), ".", &mut buf).unwrap();
        let names: Vec<String> = read_back(&buf).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["./", "./a"]);
    }
}
