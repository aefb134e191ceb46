//! The tar of `GET /containers/{id}/archive`: the resolved object under its top name, walked
//! fd-relative (every child opened with `O_NOFOLLOW` from its directory's descriptor, so a
//! container swapping a directory for a symlink mid-walk cannot send us outside its root).
//!
//! Nothing is opened for reading before its descriptor's `fstat` shows a regular file: each name
//! is opened `O_PATH` (which never blocks, even on a FIFO, and opens no device), stat'ed, and only
//! that same inode is then opened for its data. A FIFO or a device swapped in under a name after
//! a lookup is written as what the descriptor shows, never read (a FIFO would block the copy for
//! good while the container's lock is held). Nothing here looks users up or loads code: owners
//! are the numeric ids of the stat (CVE-2019-14271 had Docker's tar helper load the image's NSS
//! modules).
//!
//! Entries go through [`berth_archive::ArchiveWriter`] (GNU headers, names byte for byte, hard
//! links, no end marker after a failure); sockets are skipped (Docker skips them too).
//!
//! The walk crosses into the mounts of the view (binds, volumes, tmpfs) as the container sees
//! them, but not into a kernel file system ([`on_kernel_fs`]): such a directory (a running
//! container's `/proc`, `/sys`...) is written as an empty directory, as Docker's view has it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use berth_archive::{join, ArchiveWriter, EntryStat, EntryType};
use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, FcntlArg, OFlag};
use nix::sys::stat::{fstat, major, minor, FileStat, Mode, SFlag};

use super::resolve::{fd_path, is_type, on_kernel_fs, Resolved};

/// Deepest directory tree written (each level holds a descriptor).
const MAX_DEPTH: usize = 512;
/// Output buffer; the HTTP body writer is unbuffered.
const OUT_BUFFER: usize = 256 * 1024;

/// Writes the tar of `r` with `top` as the name of its first entry. With `map` (a container in a
/// remapped user namespace, `--userns-remap`) owners are written as the container sees them,
/// 65534 (the kernel's overflow id) where the map has none.
pub fn write_tar(
    r: &Resolved,
    top: &str,
    out: impl Write,
    map: Option<&berth_image::layer::IdMap>,
) -> io::Result<()> {
    let mut w = TarOut {
        tar: ArchiveWriter::new(out, OUT_BUFFER),
        map: map.cloned(),
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

/// The directory an `O_PATH` descriptor stands for, opened for listing.
fn open_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(openat(
        fd.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens for reading the regular file an `O_PATH` descriptor stands for, through its `/proc` link
/// (the same inode, whatever its name names by now). `O_NONBLOCK` and `O_NOCTTY` are belt and
/// braces; the opened descriptor must still be the regular file `st` describes (same device and
/// inode), else the copy fails rather than read something else.
pub(super) fn reopen_regular(fd: &OwnedFd, st: &FileStat) -> io::Result<File> {
    let file = File::from(nix::fcntl::open(
        &fd_path(fd),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?);
    let now = fstat(file.as_fd())?;
    if !same_regular_file(st, &now) {
        return Err(io::Error::other(
            "a file changed between its stat and its open",
        ));
    }
    // Reads block as usual again (a regular file never blocks, but a reader may assume it).
    let flags = OFlag::from_bits_retain(nix::fcntl::fcntl(file.as_fd(), FcntlArg::F_GETFL)?);
    nix::fcntl::fcntl(file.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(file)
}

/// Whether `opened` is the regular file `statted` described.
fn same_regular_file(statted: &FileStat, opened: &FileStat) -> bool {
    is_type(statted, SFlag::S_IFREG)
        && is_type(opened, SFlag::S_IFREG)
        && (statted.st_dev, statted.st_ino) == (opened.st_dev, opened.st_ino)
}

struct TarOut<W: Write> {
    tar: ArchiveWriter<W>,
    /// The container's id map ([`write_tar`]).
    map: Option<berth_image::layer::IdMap>,
}

/// What a header records of `st` (owners through `map`, see [`write_tar`]).
fn entry_stat(st: &FileStat, map: Option<&berth_image::layer::IdMap>) -> EntryStat {
    let device = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let (uid, gid) = match map {
        Some(m) => (
            m.uid_to_container(st.st_uid)
                .unwrap_or(berth_image::layer::OVERFLOW_ID),
            m.gid_to_container(st.st_gid)
                .unwrap_or(berth_image::layer::OVERFLOW_ID),
        ),
        None => (st.st_uid, st.st_gid),
    };
    EntryStat {
        mode: st.st_mode,
        uid,
        gid,
        mtime: st.st_mtime,
        device: Some((device(major(st.st_rdev)), device(minor(st.st_rdev)))),
    }
}

impl<W: Write> TarOut<W> {
    fn top(&mut self, r: &Resolved, top: &[u8]) -> io::Result<()> {
        if is_type(&r.stat, SFlag::S_IFDIR) {
            self.special(top, &r.stat, None)?;
            if on_kernel_fs(&r.fd) {
                return Ok(());
            }
            self.walk(open_dir(&r.fd)?, top, 0)
        } else if is_type(&r.stat, SFlag::S_IFLNK) {
            let target = readlinkat(r.fd.as_fd(), "")?;
            self.special(top, &r.stat, Some(target.as_bytes()))
        } else if is_type(&r.stat, SFlag::S_IFREG) {
            self.file(top, reopen_regular(&r.fd, &r.stat)?)
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

    /// One directory entry. It is opened `O_PATH | O_NOFOLLOW` first (which opens nothing and
    /// never blocks), and everything after works on that descriptor: its `fstat` decides the
    /// entry's type and header, a directory is opened from it, a symlink read through it, and a
    /// regular file's data read from the same inode ([`reopen_regular`]). A container that swaps
    /// the name for a FIFO, a device or a symlink meanwhile changes nothing we read.
    fn child(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        prefix: &[u8],
        depth: usize,
    ) -> io::Result<()> {
        let os = OsStr::from_bytes(name);
        let path = join(prefix, name);
        let fd = match openat(
            dir,
            os,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(()), // removed meanwhile
            Err(e) => return Err(e.into()),
        };
        let st = fstat(fd.as_fd())?;
        if is_type(&st, SFlag::S_IFDIR) {
            self.special(&path, &st, None)?;
            if on_kernel_fs(&fd) {
                return Ok(());
            }
            return self.walk(open_dir(&fd)?, &path, depth + 1);
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
            let target = readlinkat(fd.as_fd(), "")?;
            return self.special(&path, &st, Some(target.as_bytes()));
        }
        if is_type(&st, SFlag::S_IFREG) {
            return self.file(&path, reopen_regular(&fd, &st)?);
        }
        self.special(&path, &st, None)
    }

    /// A second name of a file already written.
    fn hard_link(&mut self, path: &[u8], st: &FileStat, first: &[u8]) -> io::Result<()> {
        let mut h = entry_stat(st, self.map.as_ref()).header(EntryType::Link, 0)?;
        self.tar.append(&mut h, path, Some(first), io::empty())
    }

    /// A regular file, streamed from its descriptor: its size is taken from the open
    /// descriptor; a file that shrinks while being read is padded with zeros (and one that grows
    /// is cut) so the archive stays well formed.
    fn file(&mut self, path: &[u8], file: File) -> io::Result<()> {
        let st = fstat(file.as_fd())?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = entry_stat(&st, self.map.as_ref()).header(EntryType::Regular, size)?;
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
        let mut h = entry_stat(st, self.map.as_ref()).header(kind, 0)?;
        self.tar.append(&mut h, &name, link, io::empty())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use nix::fcntl::{renameat2, RenameFlags};

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
        write_tar(&r, "data", &mut buf, None).unwrap();
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
        write_tar(&r, ".", &mut buf, None).unwrap();
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

    /// Runs `write_tar` of `/d` under `root` on a thread and waits for it with a deadline; on
    /// timeout it opens `fifos` for writing to let a blocked reader go, and fails the test.
    fn tar_of_d_within_deadline(root: &Path, fifos: &[PathBuf]) -> Vec<u8> {
        let root = open_root(root).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = resolve(&root, "/d").unwrap();
            let mut buf = Vec::new();
            let res = write_tar(&r, "d", &mut buf, None).map(|()| buf);
            let _ = tx.send(res);
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(res) => res.unwrap(),
            Err(_) => {
                for f in fifos {
                    let _ = nix::fcntl::open(f, OFlag::O_WRONLY | OFlag::O_NONBLOCK, Mode::empty());
                }
                panic!("the tar blocked opening a FIFO");
            }
        }
    }

    #[test]
    fn fifos_are_headers_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let buf = tar_of_d_within_deadline(dir.path(), &[d.join("fifo")]);
        let seen = entries(&buf);
        assert_eq!(
            seen[1],
            ("d/fifo".into(), EntryType::Fifo, 0, String::new())
        );
    }

    /// A racer swaps a regular file and a FIFO under two names as fast as it can
    /// (`RENAME_EXCHANGE`) while the directory is archived: every run ends, and each name is
    /// either the whole file or a FIFO header. Reading by name after a stat hung on the FIFO in
    /// nearly every run.
    #[test]
    fn a_file_swapped_for_a_fifo_never_blocks_the_tar() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("a"), b"hello").unwrap();
        nix::unistd::mkfifo(&d.join("b"), Mode::from_bits_truncate(0o600)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, d) = (stop.clone(), d.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    renameat2(
                        nix::fcntl::AT_FDCWD,
                        &d.join("a"),
                        nix::fcntl::AT_FDCWD,
                        &d.join("b"),
                        RenameFlags::RENAME_EXCHANGE,
                    )
                    .unwrap();
                }
            })
        };
        let stopper = StopOnDrop(stop);
        for _ in 0..200 {
            let buf = tar_of_d_within_deadline(dir.path(), &[d.join("a"), d.join("b")]);
            let seen = entries(&buf);
            assert_eq!(seen.len(), 3, "{seen:?}");
            for (name, kind, len, _) in &seen[1..] {
                match *kind {
                    EntryType::Regular => assert_eq!(*len, 5, "{name}"),
                    EntryType::Fifo => assert_eq!(*len, 0, "{name}"),
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
        drop(stopper);
        racer.join().unwrap();
    }

    struct StopOnDrop(Arc<AtomicBool>);

    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn only_the_statted_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let root = open_root(dir.path()).unwrap();
        let a = resolve(&root, "/a").unwrap();
        let b = resolve(&root, "/b").unwrap();
        assert!(reopen_regular(&a.fd, &a.stat).is_ok());
        // The stat of another inode: refused, not read.
        let e = reopen_regular(&a.fd, &b.stat).unwrap_err();
        assert!(e.to_string().contains("changed between its stat"), "{e}");
        let file = reopen_regular(&b.fd, &b.stat).unwrap();
        let flags = nix::fcntl::fcntl(file.as_fd(), FcntlArg::F_GETFL).unwrap();
        assert_eq!(
            OFlag::from_bits_retain(flags) & OFlag::O_NONBLOCK,
            OFlag::empty()
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
        assert!(write_tar(&r, "deep", &mut buf, None).is_err());
        assert!(buf.len() < 1024 || buf[buf.len() - 1024..].iter().any(|&b| b != 0));
    }
}
