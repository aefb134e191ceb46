//! The tar of `GET /containers/{id}/archive`: the resolved object under its top name, walked
//! fd-relative (every child opened with `O_NOFOLLOW` from its directory's descriptor, so a
//! container swapping a directory for a symlink mid-walk cannot send us outside its root).
//!
//! Entries go through [`berth_archive::ArchiveWriter`] (GNU headers, names byte for byte, hard
//! links, no end marker after a failure); sockets are skipped (Docker skips them too).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use berth_archive::{join, ArchiveWriter, EntryStat, EntryType};
use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, major, minor, FileStat, Mode, SFlag};

use super::resolve::{fd_path, is_type, Resolved};

/// Deepest directory tree written (each level holds a descriptor).
const MAX_DEPTH: usize = 512;
/// Output buffer; the HTTP body writer is unbuffered.
const OUT_BUFFER: usize = 256 * 1024;

/// Writes the tar of `r` with `top` as the name of its first entry.
pub fn write_tar(r: &Resolved, top: &str, out: impl Write) -> io::Result<()> {
    let mut w = TarOut {
        tar: ArchiveWriter::new(out, OUT_BUFFER),
    };
    // A `/` top names its children `/etc`, … as Docker does.
    w.tar.preserve_absolute();
    match w.top(r, top.as_bytes()) {
        Ok(()) => w.tar.finish(),
        Err(e) => {
            w.tar.abandon();
            Err(e)
        }
    }
}

struct TarOut<W: Write> {
    tar: ArchiveWriter<W>,
}

/// What a header records of `st`.
fn entry_stat(st: &FileStat) -> EntryStat {
    let device = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    EntryStat {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        device: Some((device(major(st.st_rdev)), device(minor(st.st_rdev)))),
    }
}

impl<W: Write> TarOut<W> {
    fn top(&mut self, r: &Resolved, top: &[u8]) -> io::Result<()> {
        if is_type(&r.stat, SFlag::S_IFDIR) {
            let dir = openat(
                r.fd.as_fd(),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            self.special(top, &r.stat, None)?;
            self.walk(dir, top, 0)
        } else if is_type(&r.stat, SFlag::S_IFLNK) {
            let target = readlinkat(r.fd.as_fd(), "")?;
            self.special(top, &r.stat, Some(target.as_bytes()))
        } else if is_type(&r.stat, SFlag::S_IFREG) {
            // Reopen the O_PATH descriptor for reading through its /proc link (the same inode).
            let file = File::open(fd_path(&r.fd))?;
            self.file(top, file)
        } else {
            self.special(top, &r.stat, None)
        }
    }

    fn walk(&mut self, dir: OwnedFd, prefix: &[u8], depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "directory tree deeper than {MAX_DEPTH} levels at {}",
                String::from_utf8_lossy(prefix)
            )));
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut listing = Dir::from_fd(dir.try_clone()?)?;
        for e in listing.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for name in names {
            self.child(dir.as_fd(), &name, prefix, depth)?;
        }
        Ok(())
    }

    fn child(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        prefix: &[u8],
        depth: usize,
    ) -> io::Result<()> {
        let os = OsStr::from_bytes(name);
        let path = join(prefix, name);
        let st = match fstatat(dir, os, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(nix::errno::Errno::ENOENT) => return Ok(()), // removed meanwhile
            Err(e) => return Err(e.into()),
        };
        if is_type(&st, SFlag::S_IFDIR) {
            let sub = openat(
                dir,
                os,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            self.special(&path, &st, None)?;
            return self.walk(sub, &path, depth + 1);
        }
        if is_type(&st, SFlag::S_IFSOCK) {
            return Ok(());
        }
        if st.st_nlink > 1 {
            if let Some(first) = self.tar.earlier_link(st.st_dev, st.st_ino, &path) {
                return self.hard_link(&path, &st, &first);
            }
        }
        if is_type(&st, SFlag::S_IFLNK) {
            let target = readlinkat(dir, os)?;
            return self.special(&path, &st, Some(target.as_bytes()));
        }
        if is_type(&st, SFlag::S_IFREG) {
            let fd = openat(
                dir,
                os,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            return self.file(&path, File::from(fd));
        }
        self.special(&path, &st, None)
    }

    /// A second name of a file already written.
    fn hard_link(&mut self, path: &[u8], st: &FileStat, first: &[u8]) -> io::Result<()> {
        let mut h = entry_stat(st).header(EntryType::Link, 0)?;
        self.tar.append(&mut h, path, Some(first), io::empty())
    }

    /// A regular file, streamed from its descriptor: its size is taken from the open
    /// descriptor; a file that shrinks while being read is padded with zeros (and one that grows
    /// is cut) so the archive stays well formed.
    fn file(&mut self, path: &[u8], file: File) -> io::Result<()> {
        let st = fstat(file.as_fd())?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = entry_stat(&st).header(EntryType::Regular, size)?;
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.tar.append(&mut h, path, None, data)
    }

    /// An entry without data (directory, symlink, device, fifo).
    fn special(&mut self, path: &[u8], st: &FileStat, link: Option<&[u8]>) -> io::Result<()> {
        let kind = match st.st_mode & SFlag::S_IFMT.bits() {
            x if x == SFlag::S_IFDIR.bits() => EntryType::Directory,
            x if x == SFlag::S_IFLNK.bits() => EntryType::Symlink,
            x if x == SFlag::S_IFCHR.bits() => EntryType::Char,
            x if x == SFlag::S_IFBLK.bits() => EntryType::Block,
            x if x == SFlag::S_IFIFO.bits() => EntryType::Fifo,
            _ => EntryType::Regular,
        };
        let mut name = path.to_vec();
        if kind == EntryType::Directory && !name.ends_with(b"/") {
            name.push(b'/');
        }
        let mut h = entry_stat(st).header(kind, 0)?;
        self.tar.append(&mut h, &name, link, io::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::super::resolve::{open_root, resolve};
    use super::*;

    fn entries(buf: &[u8]) -> Vec<(String, tar::EntryType, usize, String)> {
        let mut ar = tar::Archive::new(buf);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            seen.push((p, e.header().entry_type(), body.len(), link));
        }
        seen
    }

    #[test]
    fn directory_tar_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let long = "x".repeat(150);
        let long_target = format!("./{}", "t".repeat(140));
        std::fs::create_dir_all(d.join(&long)).unwrap();
        std::fs::write(d.join("a.txt"), b"hello").unwrap();
        std::fs::hard_link(d.join("a.txt"), d.join("b.txt")).unwrap();
        std::fs::write(d.join(&long).join("f"), vec![7u8; 1000]).unwrap();
        std::fs::hard_link(d.join(&long).join("f"), d.join("z")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("ln")).unwrap();
        std::os::unix::fs::symlink(&long_target, d.join("long-ln")).unwrap();
        let root = open_root(dir.path()).unwrap();
        let r = resolve(&root, "/data").unwrap();
        let mut buf = Vec::new();
        write_tar(&r, "data", &mut buf).unwrap();
        let seen = entries(&buf);
        let none = String::new();
        assert_eq!(
            seen[0],
            ("data/".into(), EntryType::Directory, 0, none.clone())
        );
        assert!(seen.contains(&("data/a.txt".into(), EntryType::Regular, 5, none.clone())));
        assert!(seen.contains(&("data/b.txt".into(), EntryType::Link, 0, "data/a.txt".into())));
        assert!(seen.contains(&(
            "data/ln".into(),
            EntryType::Symlink,
            0,
            "/etc/passwd".into()
        )));
        assert!(seen.contains(&("data/long-ln".into(), EntryType::Symlink, 0, long_target)));
        let f = format!("data/{long}/f");
        assert!(seen.contains(&(f.clone(), EntryType::Regular, 1000, none)));
        assert!(seen.contains(&("data/z".into(), EntryType::Link, 0, f)));
    }

    #[test]
    fn dot_top_keeps_dot_slash_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a"), b"x").unwrap();
        let root = open_root(dir.path()).unwrap();
        let r = resolve(&root, "/d/.").unwrap();
        let mut buf = Vec::new();
        write_tar(&r, ".", &mut buf).unwrap();
        let names: Vec<String> = entries(&buf).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["./", "./a"]);
    }

    #[test]
    fn a_shrinking_file_is_padded_to_its_header_size() {
        let mut buf = Vec::new();
        let mut tar = ArchiveWriter::new(&mut buf, 4096);
        let st = EntryStat {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            device: None,
        };
        let mut h = st.header(EntryType::Regular, 10).unwrap();
        let data = (&b"abc"[..]).take(10).chain(io::repeat(0)).take(10);
        tar.append(&mut h, b"f", None, data).unwrap();
        tar.finish().unwrap();
        assert_eq!(
            entries(&buf),
            [("f".into(), EntryType::Regular, 10, String::new())]
        );
    }

    #[test]
    fn a_failed_walk_leaves_no_end_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut path = dir.path().join("deep");
        for _ in 0..=MAX_DEPTH + 1 {
            path.push("d");
        }
        std::fs::create_dir_all(&path).unwrap();
        let root = open_root(dir.path()).unwrap();
        let r = resolve(&root, "/deep").unwrap();
        let mut buf = Vec::new();
        assert!(write_tar(&r, "deep", &mut buf).is_err());
        assert!(buf.len() < 1024 || buf[buf.len() - 1024..].iter().any(|&b| b != 0));
    }
}
