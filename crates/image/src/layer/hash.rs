//! The uncompressed side of an apply: a reader that hashes (diff ID), counts, and stops a stream at
//! the size limit before it can fill memory or disk.
//!
//! [`HeaderWindow`] bounds what the tar parser holds in memory: PAX records and GNU long names are
//! read whole by the parser between two entries. The apply loop opens a window around each step to
//! the next entry; the reader under the parser refuses more than [`HEADER_BUDGET`] bytes in one.

use std::cell::Cell;
use std::io::{self, Read};

use berth_oci::digest::Sha256Hasher;

/// Most bytes read while stepping from one entry to the next (headers, PAX records, long names).
pub(crate) const HEADER_BUDGET: u64 = 16 * 1024 * 1024;

/// Counts the bytes read while the tar parser looks for the next entry.
#[derive(Default)]
pub(crate) struct HeaderWindow {
    remaining: Cell<Option<u64>>,
    tripped: Cell<bool>,
}

impl HeaderWindow {
    /// Starts a window of [`HEADER_BUDGET`] bytes.
    pub(crate) fn open(&self) {
        self.remaining.set(Some(HEADER_BUDGET));
    }

    /// Ends the window: reads are entry data again.
    pub(crate) fn close(&self) {
        self.remaining.set(None);
    }

    /// Whether a read failed because a window ran out.
    pub(crate) fn tripped(&self) -> bool {
        self.tripped.get()
    }

    /// Accounts `n` bytes handed to the parser; fails once an open window runs out.
    pub(crate) fn consume(&self, n: usize) -> io::Result<()> {
        if let Some(left) = self.remaining.get() {
            match left.checked_sub(n as u64) {
                Some(left) => self.remaining.set(Some(left)),
                None => {
                    self.tripped.set(true);
                    return Err(io::Error::other(format!(
                        "tar headers longer than {HEADER_BUDGET} bytes"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Hashes and counts every byte read through it; fails once more than `limit` bytes went by.
pub(crate) struct LimitedHasher<R> {
    inner: R,
    hasher: Sha256Hasher,
    limit: Option<u64>,
    exceeded: bool,
}

impl<R: Read> LimitedHasher<R> {
    pub(crate) fn new(inner: R, limit: Option<u64>) -> Self {
        LimitedHasher {
            inner,
            hasher: Sha256Hasher::new(),
            limit,
            exceeded: false,
        }
    }

    /// Whether a read failed because the limit was hit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Bytes read so far.
    pub(crate) fn count(&self) -> u64 {
        self.hasher.count()
    }

    pub(crate) fn hasher(&self) -> &Sha256Hasher {
        &self.hasher
    }
}

impl<R: Read> Read for LimitedHasher<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.limit {
            // Ask for one byte past the limit so an exact-size stream still reaches its EOF.
            Some(limit) => {
                let left = limit.saturating_sub(self.hasher.count()).saturating_add(1);
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..want])?;
        self.hasher.update(&buf[..n]);
        if let Some(limit) = self.limit {
            if self.hasher.count() > limit {
                self.exceeded = true;
                return Err(io::Error::other(format!(
                    "uncompressed layer exceeds {limit} bytes"
                )));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_passes_and_one_more_fails() {
        let data = vec![7u8; 1000];
        let mut ok = LimitedHasher::new(&data[..], Some(1000));
        assert_eq!(ok.read_to_end(&mut Vec::new()).unwrap(), 1000);
        assert!(!ok.exceeded());
        let mut bad = LimitedHasher::new(&data[..], Some(999));
        assert!(bad.read_to_end(&mut Vec::new()).is_err());
        assert!(bad.exceeded());
        assert_eq!(bad.count(), 1000);
    }

    #[test]
    fn digest_matches() {
        let mut r = LimitedHasher::new(&b"abc"[..], None);
        r.read_to_end(&mut Vec::new()).unwrap();
        assert_eq!(
            r.hasher().digest().as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
