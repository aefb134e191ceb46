//! A deterministic tar writer: ustar headers with no user or group names, PAX records only for what
//! ustar cannot hold (long names, xattrs, large ids and sizes), whole-second mtimes, and the
//! sha256 of everything written (the layer's diff ID).

use std::io::{self, BufWriter, Read, Write};

use berth_oci::digest::Sha256Writer;
use tar::{EntryType, Header};

use super::{Applied, LayerError};

const BLOCK: usize = 512;
/// Output buffer: callers may pass an unbuffered file.
const OUT_BUFFER: usize = 256 * 1024;
/// Largest value of a 7-digit octal field (uid, gid).
const MAX_OCTAL_ID: u64 = 0o7777777;
/// Largest value of an 11-digit octal field (size).
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

/// Extended attributes as (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One entry to write.
pub(crate) struct Item<'a> {
    /// Relative path without a leading `./` or trailing `/` (a `/` is added for directories).
    pub(crate) path: &'a [u8],
    pub(crate) kind: EntryType,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: i64,
    pub(crate) size: u64,
    pub(crate) link: Option<&'a [u8]>,
    pub(crate) device: (u32, u32),
    pub(crate) xattrs: Xattrs,
}

impl<'a> Item<'a> {
    /// An empty regular file (whiteouts, opaque markers).
    pub(crate) fn marker(path: &'a [u8], mtime: i64) -> Self {
        Item {
            path,
            kind: EntryType::Regular,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime,
            size: 0,
            link: None,
            device: (0, 0),
            xattrs: Vec::new(),
        }
    }
}

/// Writes tar entries to `W`, hashing them.
pub(crate) struct TarWriter<W: Write> {
    out: Sha256Writer<BufWriter<W>>,
    clamp: Option<i64>,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W, clamp: Option<i64>) -> Self {
        TarWriter {
            out: Sha256Writer::new(BufWriter::with_capacity(OUT_BUFFER, out)),
            clamp,
        }
    }

    /// Writes one entry; `data` must yield `item.size` bytes for a regular file.
    pub(crate) fn append(
        &mut self,
        item: &Item<'_>,
        data: Option<&mut dyn Read>,
    ) -> Result<(), LayerError> {
        let mut name = item.path.to_vec();
        if item.kind == EntryType::Directory {
            name.push(b'/');
        }
        let mtime = self.clamp.map_or(item.mtime, |c| item.mtime.min(c)).max(0);
        let mut pax: Vec<(&[u8], Vec<u8>)> = Vec::new();
        let mut header = Header::new_ustar();
        if !set_name(&mut header, &name) {
            pax.push((b"path", name.clone()));
            set_name(&mut header, &truncated(&name));
        }
        if let Some(link) = item.link {
            if link.len() <= 100 {
                header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
            } else {
                pax.push((b"linkpath", link.to_vec()));
                header.as_old_mut().linkname.copy_from_slice(&link[..100]);
            }
        }
        for (key, value, max) in [
            (&b"uid"[..], item.uid, MAX_OCTAL_ID),
            (b"gid", item.gid, MAX_OCTAL_ID),
            (b"size", item.size, MAX_OCTAL_SIZE),
        ] {
            if value > max {
                pax.push((key, value.to_string().into_bytes()));
            }
        }
        let mut xattrs = item.xattrs.clone();
        xattrs.sort();
        let xattr_keys: Vec<Vec<u8>> = xattrs
            .iter()
            .map(|(k, _)| [&b"SCHILY.xattr."[..], k].concat())
            .collect();
        for ((_, value), key) in xattrs.into_iter().zip(&xattr_keys) {
            pax.push((key, value));
        }
        header.set_entry_type(item.kind);
        header.set_mode(item.mode & 0o7777);
        header.set_uid(item.uid.min(MAX_OCTAL_ID));
        header.set_gid(item.gid.min(MAX_OCTAL_ID));
        header.set_mtime(mtime as u64);
        header.set_size(item.size);
        header
            .set_device_major(item.device.0)
            .map_err(LayerError::Write)?;
        header
            .set_device_minor(item.device.1)
            .map_err(LayerError::Write)?;
        if !pax.is_empty() {
            self.pax(&pax, mtime)?;
        }
        header.set_cksum();
        self.out
            .write_all(header.as_bytes())
            .map_err(LayerError::Write)?;
        if let Some(data) = data {
            let copied =
                io::copy(&mut data.take(item.size), &mut self.out).map_err(LayerError::Write)?;
            if copied != item.size {
                return Err(LayerError::Write(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} shrank while being archived",
                        String::from_utf8_lossy(item.path)
                    ),
                )));
            }
            self.pad(item.size)?;
        }
        Ok(())
    }

    fn pax(&mut self, records: &[(&[u8], Vec<u8>)], mtime: i64) -> Result<(), LayerError> {
        let mut body = Vec::new();
        for (key, value) in records {
            let base = key.len() + value.len() + 3; // ' ', '=', '\n'
            let mut len = base + 1;
            while base + len.to_string().len() != len {
                len = base + len.to_string().len();
            }
            body.extend_from_slice(len.to_string().as_bytes());
            body.push(b' ');
            body.extend_from_slice(key);
            body.push(b'=');
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let mut header = Header::new_ustar();
        set_name(&mut header, b"PaxHeader");
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_mtime(mtime as u64);
        header.set_size(body.len() as u64);
        header.set_cksum();
        self.out
            .write_all(header.as_bytes())
            .map_err(LayerError::Write)?;
        self.out.write_all(&body).map_err(LayerError::Write)?;
        self.pad(body.len() as u64)
    }

    fn pad(&mut self, size: u64) -> Result<(), LayerError> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out
                .write_all(&[0u8; BLOCK][..BLOCK - rem])
                .map_err(LayerError::Write)?;
        }
        Ok(())
    }

    /// Writes the end-of-archive blocks and returns the digest and size of the tar.
    pub(crate) fn finish(mut self) -> Result<Applied, LayerError> {
        self.out
            .write_all(&[0u8; 2 * BLOCK])
            .map_err(LayerError::Write)?;
        self.out.flush().map_err(LayerError::Write)?;
        let (_, diff_id, size) = self.out.finish();
        Ok(Applied {
            diff_id,
            size,
            warnings: Vec::new(),
        })
    }
}

/// Stores `name` in the ustar name (100 bytes) and prefix (155 bytes) fields if it fits.
fn set_name(header: &mut Header, name: &[u8]) -> bool {
    let Some(ustar) = header.as_ustar_mut() else {
        return false;
    };
    if name.len() <= 100 {
        ustar.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a '/' so that the prefix fits 155 bytes and the rest 100.
    let split = name
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'/' && i <= 155 && name.len() - i - 1 <= 100 && i > 0)
        .map(|(i, _)| i)
        .next_back();
    match split {
        Some(i) if name.len() - i - 1 > 0 => {
            ustar.prefix[..i].copy_from_slice(&name[..i]);
            ustar.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            true
        }
        _ => false,
    }
}

/// A stand-in ustar name for a name carried by a PAX `path` record.
fn truncated(name: &[u8]) -> Vec<u8> {
    name[..name.len().min(100)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pax = Vec<(String, Vec<u8>)>;

    fn read_back(bytes: &[u8]) -> Vec<(String, Pax)> {
        let mut ar = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut pax = Vec::new();
            if let Some(x) = e.pax_extensions().unwrap() {
                for r in x {
                    let r = r.unwrap();
                    pax.push((r.key().unwrap().to_string(), r.value_bytes().to_vec()));
                }
            }
            out.push((path, pax));
        }
        out
    }

    #[test]
    fn long_names_use_prefix_then_pax() {
        let mid = format!("{}/{}", "d".repeat(150), "f".repeat(90));
        let long = "x".repeat(300);
        let mut buf = Vec::new();
        let mut w = TarWriter::new(&mut buf, None);
        for p in ["short", mid.as_str(), long.as_str()] {
            w.append(&Item::marker(p.as_bytes(), 5), Some(&mut &b""[..]))
                .unwrap();
        }
        let applied = w.finish().unwrap();
        // short, mid (ustar prefix), PAX header + data + long, two end blocks
        assert_eq!(applied.size, 7 * 512);
        let back = read_back(&buf);
        let names: Vec<_> = back.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["short", mid.as_str(), long.as_str()]);
        assert!(back[1].1.is_empty(), "the prefix field needs no PAX");
    }

    #[test]
    fn pax_only_when_needed() {
        let mut buf = Vec::new();
        let mut w = TarWriter::new(&mut buf, Some(10));
        let long = "y".repeat(300);
        let mut item = Item::marker(long.as_bytes(), 99);
        item.xattrs = vec![
            (b"user.b".to_vec(), b"2".to_vec()),
            (b"user.a".to_vec(), b"1".to_vec()),
        ];
        w.append(&item, Some(&mut &b""[..])).unwrap();
        w.append(&Item::marker(b"plain", 1), Some(&mut &b""[..]))
            .unwrap();
        w.finish().unwrap();
        let back = read_back(&buf);
        assert_eq!(back[0].0, long);
        let keys: Vec<_> = back[0].1.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["path", "SCHILY.xattr.user.a", "SCHILY.xattr.user.b"]);
        assert_eq!(back[1], ("plain".to_string(), vec![]));
        let mut ar = tar::Archive::new(&buf[..]);
        let mtimes: Vec<u64> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().mtime().unwrap())
            .collect();
        assert_eq!(mtimes, [10, 1]);
    }
}
