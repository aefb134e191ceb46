//! The docker CLI's context tar, made whole. When `-f` names a Dockerfile outside the context,
//! the docker CLI (moby's `ReplaceFileTarWrapper`) closes its pipe before its tar writer, so the
//! stream ends right after the last member's data: no padding, no end-of-archive blocks. Go's tar
//! reader takes that for a clean end; Berth's layer applier (rightly) calls it truncated. This
//! reader passes an uncompressed tar through unchanged and, only when the stream ends exactly at
//! the end of a member's data or before a header, adds the missing padding and the two zero
//! blocks. A stream cut inside a header or a member's data stays truncated.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// Where the stream is.
enum State {
    /// Before a header block (or the end marker).
    Header,
    /// Inside a member: `data` bytes of content, then `pad` bytes of padding.
    Member { data: u64, pad: u64 },
    /// After the end marker, or once made whole: pass the rest through.
    Done,
}

/// See the module docs.
pub struct TarFix<R> {
    inner: R,
    state: State,
    /// Bytes read ahead (a header) or made up (padding, end blocks), not yet returned.
    pending: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: Read> TarFix<R> {
    pub fn new(inner: R) -> Self {
        TarFix {
            inner,
            state: State::Header,
            pending: Vec::new(),
            at: 0,
            ended: false,
        }
    }

    /// Reads up to one block; the bytes read before EOF.
    fn read_block(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; BLOCK];
        let mut n = 0;
        while n < BLOCK {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(n);
        Ok(buf)
    }
}

/// The size field of a ustar header (octal, or GNU base-256).
fn member_size(h: &[u8]) -> u64 {
    let field = &h[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..].iter().fold(0u64, |acc, b| {
            acc.saturating_mul(256).saturating_add(u64::from(*b))
        });
    }
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

impl<R: Read> Read for TarFix<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.pending.len() {
                let n = out.len().min(self.pending.len() - self.at);
                out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            self.pending.clear();
            self.at = 0;
            if self.ended {
                return Ok(0);
            }
            match self.state {
                State::Done => return self.inner.read(out),
                State::Header => {
                    let block = self.read_block()?;
                    if block.is_empty() {
                        // Cut before a header: the end blocks are missing.
                        self.pending = vec![0u8; 2 * BLOCK];
                        self.ended = true;
                        continue;
                    }
                    if block.len() == BLOCK {
                        if block.iter().all(|b| *b == 0) {
                            self.state = State::Done;
                        } else {
                            let data = member_size(&block);
                            let pad = (BLOCK as u64 - data % BLOCK as u64) % BLOCK as u64;
                            self.state = State::Member { data, pad };
                        }
                    }
                    // A partial header passes through as it is (the reader will refuse it).
                    self.pending = block;
                }
                State::Member { data, pad } => {
                    if data == 0 && pad == 0 {
                        self.state = State::Header;
                        continue;
                    }
                    let want = if data > 0 { data } else { pad };
                    let len = out.len().min(usize::try_from(want).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut out[..len])?;
                    if n == 0 {
                        if data > 0 {
                            return Ok(0); // cut inside the data: truly truncated
                        }
                        // Cut where the padding starts: add it and the end blocks.
                        let pad = usize::try_from(pad).unwrap_or(0);
                        self.pending = vec![0u8; pad + 2 * BLOCK];
                        self.ended = true;
                        continue;
                    }
                    let n64 = n as u64;
                    self.state = if data > 0 {
                        State::Member {
                            data: data - n64,
                            pad,
                        }
                    } else {
                        State::Member {
                            data: 0,
                            pad: pad - n64,
                        }
                    };
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; BLOCK];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..108].copy_from_slice(b"0000644\0");
            h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out
    }

    fn fixed(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // Small reads, to cross every boundary.
        let mut r = TarFix::new(input);
        let mut buf = [0u8; 100];
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn a_whole_tar_passes_unchanged() {
        let mut t = tar_of(&[("a", b"hello"), ("b", &[7u8; 1024])]);
        t.extend_from_slice(&[0u8; 1024]);
        t.extend_from_slice(b"trailing bytes after the end");
        assert_eq!(fixed(&t), t);
    }

    #[test]
    fn missing_padding_and_end_blocks_are_added() {
        let whole = tar_of(&[("a", b"x"), ("b", b"forty-seven bytes")]);
        let cut = &whole[..whole.len() - (BLOCK - 17)];
        let mut want = whole.clone();
        want.extend_from_slice(&[0u8; 1024]);
        assert_eq!(fixed(cut), want);
        // Cut right before a header: the end blocks only.
        let mut want = whole.clone();
        want.extend_from_slice(&[0u8; 1024]);
        assert_eq!(fixed(&whole), want);
    }

    #[test]
    fn a_cut_inside_data_stays_cut() {
        let whole = tar_of(&[("a", &[1u8; 600])]);
        let cut = &whole[..BLOCK + 100];
        assert_eq!(fixed(cut), cut);
    }

    #[test]
    fn base256_sizes() {
        let mut h = [0u8; BLOCK];
        h[124] = 0x80;
        h[134] = 0x01;
        h[135] = 0x02;
        assert_eq!(member_size(&h), 258);
    }
}
