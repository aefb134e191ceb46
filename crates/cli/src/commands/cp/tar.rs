//! The tar side of `berth cp` on the client: writing a local file or directory as a tar (our own
//! walk, symlinks stored, never followed; entries through [`berth_archive::ArchiveWriter`], which
//! keeps names byte for byte) and classifying the entries of the daemon's tar, read with
//! [`::tar::Archive`], for extraction.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_archive::{ArchiveWriter, EntryStat, EntryType};

/// Deepest local tree written.
const MAX_DEPTH: usize = 512;
/// Output buffer (the request body is written in chunks of this size).
const OUT_BUFFER: usize = 64 * 1024;

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
        tar: ArchiveWriter::new(out, OUT_BUFFER),
    };
    match w.add(path, top.as_bytes(), 0) {
        Ok(()) => w.tar.finish(),
        Err(e) => {
            w.tar.abandon();
            Err(e)
        }
    }
}

struct Writer<W: Write> {
    tar: ArchiveWriter<W>,
}

/// What a header records of `md`.
fn entry_stat(md: &std::fs::Metadata) -> EntryStat {
    let device = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    EntryStat {
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        device: Some((
            device(nix::sys::stat::major(md.rdev())),
            device(nix::sys::stat::minor(md.rdev())),
        )),
    }
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
            if let Some(first) = self.tar.earlier_link(md.dev(), md.ino(), name) {
                return self.entry(&md, EntryType::Link, name, Some(&first));
            }
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
        let mut h = entry_stat(&md).header(EntryType::Regular, size)?;
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.tar.append(&mut h, name, None, data)
    }

    /// An entry without data.
    fn entry(
        &mut self,
        md: &std::fs::Metadata,
        kind: EntryType,
        name: &[u8],
        link: Option<&[u8]>,
    ) -> io::Result<()> {
        let mut h = entry_stat(md).header(kind, 0)?;
        self.tar.append(&mut h, name, link, io::empty())
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
