//! Layer compression for push: gzip over several cores, the way pigz does it.
//!
//! Images made here (`import`, `commit`, `build`, `load` of an uncompressed archive) keep their
//! layers as plain tars; a registry gets them gzip-compressed, as Docker pushes them. One gzip
//! member is cut into [`BLOCK`]-sized pieces of input, each deflated on its own thread into raw
//! deflate blocks ended by a sync flush (the last by the final block), and the pieces are written
//! out in order behind one gzip header, with the CRC-32 of the whole combined from the pieces'
//! CRCs and the length in the trailer. Any gzip reader reads the result as one stream; the output
//! is a pure function of the input, the level and [`BLOCK`] (not of the thread count), so the same
//! layer always compresses to the same digest.
//!
//! Backend: `flate2` with `zlib-rs` (already the image store's deflate, a maintained pure-Rust
//! zlib as fast as zlib-ng's C); the parallel framing is this module's, about a hundred lines, so
//! no thread pool crate (`gzp` would bring its own pool and channels for the same framing).
//!
//! Memory: at most `2 × threads` pieces are in flight (read, compressing, or waiting for their
//! turn), so a slow sink (the network) holds the reader back instead of filling memory.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::{Compress, FlushCompress, Status};

/// Input bytes per piece. Big enough that the lost context at each cut costs well under 1% of
/// the ratio, small enough to spread a 10 MB layer over the cores.
pub const BLOCK: usize = 1 << 20;

/// Docker's gzip level for pushed layers is zlib's default (6); Berth trades a few percent of
/// size for about three times the speed (the compressor, not the loopback, bounds a push).
pub const DEFAULT_LEVEL: u32 = 1;

/// The gzip header: deflate, no name or time, unknown OS (as Go's `compress/gzip` writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Threads to compress with by default: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a compression produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressed {
    /// Uncompressed bytes read.
    pub read: u64,
    /// Compressed bytes written to the sink.
    pub written: u64,
}

struct Piece {
    index: u64,
    data: Vec<u8>,
    last: bool,
}

struct Done {
    index: u64,
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
    last: bool,
}

/// Compresses `input` into one gzip stream on `threads` threads at `level` (0-9), handing the
/// output to `sink` in order, piece by piece. `progress` gets the uncompressed bytes done so far.
/// A failing `sink` or reader stops everything and is returned.
pub fn gzip(
    input: impl Read + Send,
    level: u32,
    threads: usize,
    mut sink: impl FnMut(Bytes) -> io::Result<()>,
    mut progress: impl FnMut(u64),
) -> io::Result<Compressed> {
    let threads = threads.max(1);
    let in_flight = threads * 2;
    let (work_tx, work_rx) = sync_channel::<Piece>(in_flight);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<io::Result<Done>>(in_flight);
    // Tokens bound the pieces between the reader and the sink.
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_pieces(input, work_tx, token_rx));
        for _ in 0..threads {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            scope.spawn(move || deflate_pieces(&rx, &tx, level));
        }
        drop(done_tx);
        let written = write_in_order(&done_rx, &token_tx, &mut sink, &mut progress);
        // Unblock the reader and the workers on an early stop.
        drop(token_tx);
        drop(done_rx);
        let read = reader
            .join()
            .map_err(|_| io::Error::other("the layer reader panicked"))?;
        let (written, crc_len) = written?;
        let read = read?;
        debug_assert_eq!(read, crc_len);
        Ok(Compressed { read, written })
    })
}

/// Reads `input` in [`BLOCK`] pieces, one token each; returns the bytes read.
fn read_pieces(
    mut input: impl Read,
    work: SyncSender<Piece>,
    tokens: Receiver<()>,
) -> io::Result<u64> {
    let mut index = 0u64;
    let mut total = 0u64;
    let mut next = read_block(&mut input)?;
    loop {
        if tokens.recv().is_err() {
            return Ok(total); // the writer stopped
        }
        let data = next;
        next = if data.len() == BLOCK {
            read_block(&mut input)?
        } else {
            Vec::new()
        };
        let last = next.is_empty();
        total += data.len() as u64;
        if work.send(Piece { index, data, last }).is_err() || last {
            return Ok(total);
        }
        index += 1;
    }
}

/// Up to [`BLOCK`] bytes (fewer only at the end of the input).
fn read_block(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(BLOCK);
    input.take(BLOCK as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn deflate_pieces(work: &Mutex<Receiver<Piece>>, done: &SyncSender<io::Result<Done>>, level: u32) {
    loop {
        let piece = {
            let rx = work.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(p) = piece else { return };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&p.data);
        let r = deflate(&p.data, level, p.last).map(|out| Done {
            index: p.index,
            out,
            crc,
            len: p.data.len() as u64,
            last: p.last,
        });
        if done.send(r).is_err() {
            return;
        }
    }
}

/// Bytes of a piece tried first to tell noise from data worth compressing.
const PROBE: usize = 32 << 10;

/// Raw deflate of one piece: ended by a sync flush, or by the final block when `last`. A piece
/// whose first [`PROBE`] bytes do not shrink by 3% (noise, already compressed files) is stored
/// instead: deflate gains nothing there and costs as much as on text.
pub fn deflate(data: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let level = if level > 0 && data.len() > PROBE {
        let probe = deflate_at(&data[..PROBE], level, true)?;
        if probe.len() * 100 > PROBE * 97 {
            0
        } else {
            level
        }
    } else {
        level
    };
    deflate_at(data, level, last)
}

fn deflate_at(data: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level.min(9)), false);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once the input is in and the output was not filled.
            _ if !last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

/// Writes the header, the pieces in order and the trailer; returns (bytes written, bytes covered).
fn write_in_order(
    done: &Receiver<io::Result<Done>>,
    tokens: &SyncSender<()>,
    sink: &mut impl FnMut(Bytes) -> io::Result<()>,
    progress: &mut impl FnMut(u64),
) -> io::Result<(u64, u64)> {
    sink(Bytes::from_static(&HEADER))?;
    let mut written = HEADER.len() as u64;
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut waiting = BTreeMap::new();
    let mut next = 0u64;
    let mut finished = false;
    while !finished {
        let d = done
            .recv()
            .map_err(|_| io::Error::other("a compression thread stopped early"))??;
        waiting.insert(d.index, d);
        while let Some(d) = waiting.remove(&next) {
            crc.combine(&d.crc);
            len += d.len;
            written += d.out.len() as u64;
            finished = d.last;
            sink(Bytes::from(d.out))?;
            progress(len);
            let _ = tokens.send(());
            next += 1;
            if finished {
                break;
            }
        }
    }
    let mut trailer = [0u8; 8];
    trailer[..4].copy_from_slice(&crc.finalize().to_le_bytes());
    trailer[4..].copy_from_slice(&(len as u32).to_le_bytes());
    sink(Bytes::copy_from_slice(&trailer))?;
    Ok((written + 8, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    fn compress(data: &[u8], threads: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let r = gzip(
            data,
            DEFAULT_LEVEL,
            threads,
            |b| {
                out.extend_from_slice(&b);
                Ok(())
            },
            |_| {},
        );
        let c = r.unwrap_or(Compressed {
            read: u64::MAX,
            written: 0,
        });
        assert_eq!(c.read, data.len() as u64);
        assert_eq!(c.written, out.len() as u64);
        out
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("not gzip: {e}"));
        out
    }

    /// Half text-like, half noise, not a multiple of the block size.
    fn sample(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i < n / 2 {
                    b"layer of text "[i % 14]
                } else {
                    x as u8
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_whatever_the_size() {
        for n in [0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            let data = sample(n);
            assert_eq!(gunzip(&compress(&data, 3)), data, "{n} bytes");
        }
    }

    #[test]
    fn the_output_does_not_depend_on_the_thread_count() {
        let data = sample(5 * BLOCK + 5);
        let one = compress(&data, 1);
        assert_eq!(one, compress(&data, 4));
        assert!(one.len() < data.len() * 3 / 4, "{} bytes", one.len());
    }

    #[test]
    fn a_failing_sink_stops_the_compression() {
        let data = sample(8 * BLOCK);
        let mut calls = 0;
        let r = gzip(
            &data[..],
            DEFAULT_LEVEL,
            2,
            |_| {
                calls += 1;
                if calls > 2 {
                    Err(io::Error::other("connection reset"))
                } else {
                    Ok(())
                }
            },
            |_| {},
        );
        assert_eq!(
            r.err().map(|e| e.to_string()).as_deref(),
            Some("connection reset")
        );
    }
}
