//! Test support: a raw tar builder that writes exactly the (malicious) bytes a test asks for, and a
//! fixture with a target dir beside a sentinel dir that must never change.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Builds tar streams header by header, without the checks `tar::Builder` makes.
#[derive(Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

#[allow(dead_code)]
impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header (name bytes written verbatim, up to 100) and its data.
    pub fn entry(&mut self, name: &[u8], kind: u8, link: &[u8], data: &[u8]) -> &mut Self {
        let size = data.len() as u64;
        self.header(name, kind, link, size, 0o644);
        self.data(data)
    }

    pub fn header(
        &mut self,
        name: &[u8],
        kind: u8,
        link: &[u8],
        size: u64,
        mode: u32,
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(size);
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self
    }

    pub fn data(&mut self, data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name.as_bytes(), b'0', b"", data)
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.header(name.as_bytes(), b'5', b"", 0, 0o755)
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), b'2', target.as_bytes(), b"")
    }
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), b'1', target.as_bytes(), b"")
    }

    /// A GNU long-name (`L`) record for the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'L', b"", &data)
    }

    /// A PAX extended header for the next entry.
    pub fn pax(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.pax_records(&[(key, value)])
    }

    /// A PAX extended header with several records for the next entry.
    pub fn pax_records(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend_from_slice(&pax_record(key, value));
        }
        self.entry(b"PaxHeader", b'x', b"", &data)
    }

    /// A GNU sparse (`S`) file of `real_size` apparent bytes holding `segments` (offset, data) and
    /// zeros elsewhere; at most 4 segments (no extension headers), each but the last a multiple of
    /// 512 bytes long. A trailing hole needs a last empty segment at `real_size`, as GNU tar writes.
    pub fn gnu_sparse(
        &mut self,
        name: &str,
        real_size: u64,
        segments: &[(u64, &[u8])],
    ) -> &mut Self {
        assert!(segments.len() <= 4 && name.len() <= 100);
        let stored: u64 = segments.iter().map(|(_, d)| d.len() as u64).sum();
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(stored);
        let gnu = h.as_gnu_mut().unwrap();
        for (slot, (offset, data)) in gnu.sparse.iter_mut().zip(segments) {
            slot.set_offset(*offset);
            slot.set_length(data.len() as u64);
        }
        gnu.set_real_size(real_size);
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        let mut all = Vec::new();
        for (_, data) in segments {
            all.extend_from_slice(data);
        }
        self.data(&all)
    }

    /// The two end-of-archive blocks.
    pub fn end(&mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.bytes)
    }
}

/// One PAX record: `<len> <key>=<value>\n`, `len` counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `base/target` (where layers go) beside `base/sentinel` (holding `secret`), which no layer may
/// change. Removed on drop.
pub struct Fixture {
    pub base: tempfile::TempDir,
}

#[allow(dead_code)]
impl Fixture {
    pub fn new() -> Self {
        let base = tempfile::Builder::new()
            .prefix("berth-layer-")
            .tempdir()
            .unwrap();
        fs::create_dir(base.path().join("target")).unwrap();
        fs::create_dir(base.path().join("sentinel")).unwrap();
        fs::write(base.path().join("sentinel/secret"), b"do not touch").unwrap();
        Fixture { base }
    }

    pub fn target(&self) -> PathBuf {
        self.base.path().join("target")
    }

    pub fn sentinel(&self) -> PathBuf {
        self.base.path().join("sentinel")
    }

    /// Everything outside `target`: names, types, sizes, contents, link counts, mtimes.
    pub fn outside(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        for e in fs::read_dir(self.base.path()).unwrap() {
            let p = e.unwrap().path();
            if p != self.target() {
                snapshot(&p, &mut out);
            }
        }
        out
    }
}

/// A description of every object under `path`, for before/after comparisons.
pub fn snapshot(path: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let md = fs::symlink_metadata(path).unwrap();
    let mut desc = format!(
        "{:o} {}:{} n{} {} {}",
        md.mode(),
        md.uid(),
        md.gid(),
        md.nlink(),
        md.mtime(),
        md.len()
    );
    if md.is_file() {
        desc.push_str(&format!(" {:?}", fs::read(path).unwrap()));
    } else if md.file_type().is_symlink() {
        desc.push_str(&format!(" -> {:?}", fs::read_link(path).unwrap()));
    }
    out.insert(path.to_path_buf(), desc);
    if md.is_dir() {
        for e in fs::read_dir(path).unwrap() {
            snapshot(&e.unwrap().path(), out);
        }
    }
}

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
pub fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}
