//! The tar stream of `docker cp`, written the way Docker writes it, for both of its writers: the
//! daemon (a container's files, `GET /containers/{id}/archive`) and the CLI (the host's files, for
//! `PUT`). Each walks its own tree (the daemon fd-relative inside a container root, the CLI on the
//! host) and hands entries to one [`ArchiveWriter`], which:
//!
//! - encodes them with the `tar` crate as GNU headers (long-name and long-link records and
//!   base-256 numbers for what the fields cannot hold; Go's `archive/tar` reads them);
//! - keeps names and link targets byte for byte: the receiving side rebases `./child` names under
//!   a `.` top, so they must not be normalised as the crate's path setters would;
//! - remembers files with several links, so the second name becomes a hard-link entry;
//! - never ends an abandoned stream: after [`ArchiveWriter::abandon`] no end-of-archive blocks
//!   are written (the crate writes them when its builder is dropped), so the other side cannot
//!   take a truncated tar for a whole one.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use tar::EntryType;
use tar::{Builder, Header};

/// Size of a header's name and link-name fields.
const NAME_FIELD: usize = 100;

/// What a header records of a file, whichever way the walker read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStat {
    /// Permission bits (with setuid, setgid, sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// `(major, minor)` of a character or block device.
    pub device: Option<(u32, u32)>,
}

impl EntryStat {
    /// A GNU header of `kind` for `size` bytes of data carrying this stat.
    pub fn header(&self, kind: EntryType, size: u64) -> io::Result<Header> {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(self.mode & 0o7777);
        h.set_uid(u64::from(self.uid));
        h.set_gid(u64::from(self.gid));
        h.set_mtime(u64::try_from(self.mtime).unwrap_or(0));
        h.set_size(size);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            if let Some((major, minor)) = self.device {
                h.set_device_major(major)?;
                h.set_device_minor(minor)?;
            }
        }
        Ok(h)
    }
}

/// The sink; once `cut`, it refuses every write.
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

/// Writes one `docker cp` tar stream (see the crate docs).
pub struct ArchiveWriter<W: Write> {
    tar: Builder<Cutoff<W>>,
    /// (device, inode) of files with several links → the name first written.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> ArchiveWriter<W> {
    /// A writer into `out` through a buffer of `buffer` bytes.
    pub fn new(out: W, buffer: usize) -> Self {
        ArchiveWriter {
            tar: Builder::new(Cutoff {
                out: io::BufWriter::with_capacity(buffer, out),
                cut: false,
            }),
            links: HashMap::new(),
        }
    }

    /// Keeps absolute names (`/etc`, … under a `/` top) as they are.
    pub fn preserve_absolute(&mut self) {
        self.tar.preserve_absolute(true);
    }

    /// For a file with several links: the name its first link was written under, if one was
    /// (write a hard-link entry to it); else remembers `name` and returns `None`.
    pub fn earlier_link(&mut self, device: u64, inode: u64, name: &[u8]) -> Option<Vec<u8>> {
        match self.links.get(&(device, inode)) {
            Some(first) => Some(first.clone()),
            None => {
                self.links.insert((device, inode), name.to_vec());
                None
            }
        }
    }

    /// Appends an entry named `name` (linking to `link`) with its data, both byte for byte: in
    /// the header when they fit, else through GNU long-name and long-link records.
    pub fn append(
        &mut self,
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
                self.tar
                    .append_data(&mut long, "././@LongLink", link.chain(&[0u8][..]))?;
            }
            h.set_link_name_literal(&link[..link.len().min(NAME_FIELD)])?;
        }
        if name.len() <= NAME_FIELD {
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            self.tar.append(h, data)
        } else {
            self.tar
                .append_data(h, Path::new(OsStr::from_bytes(name)), data)
        }
    }

    /// Ends the stream (end-of-archive blocks) and flushes it.
    pub fn finish(self) -> io::Result<()> {
        self.tar.into_inner()?.out.flush()
    }

    /// Gives the stream up after a failure: nothing more is written, the end marker included.
    pub fn abandon(mut self) {
        self.tar.get_mut().cut = true;
    }
}

/// `parent/name`, with one `/` between them.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = parent.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn stat() -> EntryStat {
        EntryStat {
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime: 1_700_000_000,
            device: None,
        }
    }

    fn names(buf: &[u8]) -> Vec<(String, EntryType, String)> {
        let mut ar = tar::Archive::new(buf);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn names_and_links_are_kept_byte_for_byte_long_or_short() {
        let mut buf = Vec::new();
        let mut w = ArchiveWriter::new(&mut buf, 4096);
        let long = format!("./{}", "n".repeat(150));
        let target = format!("/{}", "t".repeat(150));
        let st = stat();
        w.append(
            &mut st.header(EntryType::Directory, 0).unwrap(),
            b"./",
            None,
            io::empty(),
        )
        .unwrap();
        w.append(
            &mut st.header(EntryType::Regular, 2).unwrap(),
            b"./a",
            None,
            &b"hi"[..],
        )
        .unwrap();
        w.append(
            &mut st.header(EntryType::Symlink, 0).unwrap(),
            long.as_bytes(),
            Some(target.as_bytes()),
            io::empty(),
        )
        .unwrap();
        assert_eq!(w.earlier_link(1, 7, b"./a"), None);
        assert_eq!(w.earlier_link(1, 7, b"./b"), Some(b"./a".to_vec()));
        w.finish().unwrap();
        let got = names(&buf);
        assert_eq!(got[0], ("./".into(), EntryType::Directory, String::new()));
        assert_eq!(got[1], ("./a".into(), EntryType::Regular, String::new()));
        assert_eq!(got[2], (long, EntryType::Symlink, target));
        assert_eq!(join(b"top", b"x"), b"top/x");
        assert_eq!(join(b"top/", b"x"), b"top/x");
    }

    #[test]
    fn an_abandoned_stream_has_no_end_marker() {
        let mut buf = Vec::new();
        let mut w = ArchiveWriter::new(&mut buf, 4096);
        w.append(
            &mut stat().header(EntryType::Regular, 2).unwrap(),
            b"a",
            None,
            &b"hi"[..],
        )
        .unwrap();
        w.abandon();
        // One header block and one data block; no two zero blocks after them.
        assert_eq!(buf.len(), 1024);
    }
}
