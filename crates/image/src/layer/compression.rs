//! Compression of layer blobs: sniffing gzip / zstd / plain tar by magic bytes without losing them,
//! and the matching streaming decoder.

use std::io::{self, BufReader, Read};

/// Buffer size between the blob and the decoder.
const INPUT_BUFFER: usize = 256 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// A reader that gives back the bytes [`detect`] looked at, then the rest of the stream.
pub struct Sniffed<R> {
    head: [u8; 4],
    pos: usize,
    len: usize,
    inner: R,
}

impl<R: Read> Read for Sniffed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Sniffs the compression of `reader` from its first bytes; the returned reader still yields them.
pub fn detect<R: Read>(mut reader: R) -> io::Result<(Compression, Sniffed<R>)> {
    let mut head = [0u8; 4];
    let mut len = 0;
    while len < head.len() {
        match reader.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let compression = if len >= 4 && head == ZSTD_MAGIC {
        Compression::Zstd
    } else if len >= 2 && head[..2] == GZIP_MAGIC {
        Compression::Gzip
    } else {
        Compression::None
    };
    let sniffed = Sniffed {
        head,
        pos: 0,
        len,
        inner: reader,
    };
    Ok((compression, sniffed))
}

/// A streaming decoder of any supported compression.
pub enum Decompressor<R: Read> {
    /// A plain tar passes through.
    None(Sniffed<R>),
    /// gzip, all members (as `gzip -d` does).
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<Sniffed<R>>>>),
    /// Zstandard, all frames.
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<Sniffed<R>>>>),
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressor::None(r) => r.read(buf),
            Decompressor::Gzip(r) => r.read(buf),
            Decompressor::Zstd(r) => r.read(buf),
        }
    }
}

/// Detects the compression of `reader` and returns it with a decoder of the uncompressed stream.
pub fn decompress<R: Read>(reader: R) -> io::Result<(Compression, Decompressor<R>)> {
    let (compression, sniffed) = detect(reader)?;
    let decoder = match compression {
        Compression::None => Decompressor::None(sniffed),
        Compression::Gzip => {
            let buffered = BufReader::with_capacity(INPUT_BUFFER, sniffed);
            Decompressor::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
        }
        Compression::Zstd => {
            let buffered = BufReader::with_capacity(INPUT_BUFFER, sniffed);
            Decompressor::Zstd(Box::new(zstd::stream::read::Decoder::with_buffer(
                buffered,
            )?))
        }
    };
    Ok((compression, decoder))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(compressed: &[u8]) -> (Compression, Vec<u8>) {
        let (c, mut d) = decompress(compressed).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        (c, out)
    }

    #[test]
    fn plain_keeps_every_byte_even_short_ones() {
        assert_eq!(roundtrip(b""), (Compression::None, b"".to_vec()));
        assert_eq!(roundtrip(b"\x1f"), (Compression::None, b"\x1f".to_vec()));
        assert_eq!(
            roundtrip(b"hello world"),
            (Compression::None, b"hello world".to_vec())
        );
    }

    #[test]
    fn gzip_with_two_members() {
        let mut out = Vec::new();
        for part in [&b"abc"[..], b"def"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            out.extend(e.finish().unwrap());
        }
        assert_eq!(roundtrip(&out), (Compression::Gzip, b"abcdef".to_vec()));
    }

    #[test]
    fn zstd() {
        let z = zstd::encode_all(&b"zzz"[..], 1).unwrap();
        assert_eq!(roundtrip(&z), (Compression::Zstd, b"zzz".to_vec()));
    }

    #[test]
    fn corrupt_gzip_crc_fails() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"some data here").unwrap();
        let mut gz = e.finish().unwrap();
        let n = gz.len();
        gz[n - 8] ^= 0xff; // CRC32 of the trailer
        let (_, mut d) = decompress(&gz[..]).unwrap();
        assert!(d.read_to_end(&mut Vec::new()).is_err());
    }
}
