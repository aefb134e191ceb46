//! Writing the data of a GNU sparse entry (`S`) with holes.
//!
//! The tar crate decodes the sparse map and hands out the expanded content: data segments from the
//! stream, holes as zeros it makes up. Writing that out would allocate the whole apparent size (a
//! 10 KiB layer could fill a disk), so every aligned block of zeros is skipped instead: data runs are
//! written at their offsets, and the file is extended to its apparent size at the end, which leaves
//! the skipped ranges as holes. Zeros inside data segments become holes too; the content reads the
//! same. Callers bound the apparent size before calling (see `apply`), since reading through a hole
//! still costs time in proportion to its size, though no memory beyond the copy buffer.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use super::pipeline::read_full;

/// Granularity of hole detection: file system blocks.
const BLOCK: usize = 4096;

/// Which side of a [`copy`] failed.
#[derive(Debug)]
pub(super) enum CopyError {
    /// Reading the entry (a truncated or corrupt stream).
    Read(io::Error),
    /// Writing the file.
    Write(io::Error),
}

/// Copies `entry` into the empty `file` through `buf` (a multiple of [`BLOCK`] long), leaving holes
/// for zero blocks. Returns the bytes read, which is the file's new length.
pub(super) fn copy(entry: &mut impl Read, file: &File, buf: &mut [u8]) -> Result<u64, CopyError> {
    debug_assert!(buf.len() % BLOCK == 0);
    let mut offset = 0u64;
    loop {
        let n = read_full(entry, buf).map_err(CopyError::Read)?;
        let chunk = &buf[..n];
        let mut pos = 0;
        while pos < n {
            let start = pos;
            while pos < n && !is_zero(block(chunk, pos)) {
                pos += BLOCK.min(n - pos);
            }
            if pos > start {
                file.write_all_at(&chunk[start..pos], offset + start as u64)
                    .map_err(CopyError::Write)?;
            }
            while pos < n && is_zero(block(chunk, pos)) {
                pos += BLOCK.min(n - pos);
            }
        }
        offset += n as u64;
        if n < buf.len() {
            break;
        }
    }
    // A trailing hole: extend without writing.
    file.set_len(offset).map_err(CopyError::Write)?;
    Ok(offset)
}

/// The block of `chunk` starting at `pos`.
fn block(chunk: &[u8], pos: usize) -> &[u8] {
    &chunk[pos..chunk.len().min(pos + BLOCK)]
}

/// A block of zeros to compare with.
static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// Whether `b` (at most one block) is all zeros; a slice comparison is one `memcmp`.
fn is_zero(b: &[u8]) -> bool {
    b == &ZEROS[..b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_blocks_become_holes_and_content_is_kept() {
        let mut data = vec![0u8; 10 * BLOCK + 100];
        data[BLOCK + 3] = 1; // block 1: data
        data[7 * BLOCK] = 2; // block 7: data
        data[10 * BLOCK + 99] = 3; // the short tail block
        let file = tempfile::tempfile().unwrap();
        let mut buf = vec![0u8; 2 * BLOCK]; // runs cross buffer boundaries
        let n = copy(&mut &data[..], &file, &mut buf).unwrap();
        assert_eq!(n, data.len() as u64);
        let mut back = vec![0u8; data.len()];
        file.read_exact_at(&mut back, 0).unwrap();
        assert!(back == data);
        let md = file.metadata().unwrap();
        assert_eq!(md.len(), data.len() as u64);
        assert!(
            md.blocks() * 512 <= 6 * BLOCK as u64,
            "{} blocks",
            md.blocks()
        );
    }

    #[test]
    fn all_zeros_allocate_nothing() {
        let file = tempfile::tempfile().unwrap();
        let mut buf = vec![0u8; 4 * BLOCK];
        let n = copy(&mut io::repeat(0).take(64 * BLOCK as u64), &file, &mut buf).unwrap();
        assert_eq!(n, 64 * BLOCK as u64);
        assert_eq!(file.metadata().unwrap().len(), n);
        assert_eq!(file.metadata().unwrap().blocks(), 0);
    }
}
