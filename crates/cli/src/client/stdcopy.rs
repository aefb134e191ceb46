//! Docker's stdcopy framing for non-TTY attach, exec and logs streams: an 8-byte header (stream
//! byte, three zero bytes, big-endian u32 length) before each payload. Stream 1 is stdout, 2
//! stderr, 3 an in-band error from the daemon.

use crate::error::{CliError, Result};

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Stream 3: the daemon reports a failure in-band.
    SystemError(String),
}

/// An incremental demultiplexer: feed bytes as they arrive, take whole frames out.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let kind = self.buf[0];
        let payload: Vec<u8> = self.buf.drain(..8 + len).skip(8).collect();
        match kind {
            0 | 1 => Ok(Some(Frame::Stdout(payload))),
            2 => Ok(Some(Frame::Stderr(payload))),
            3 => Ok(Some(Frame::SystemError(
                String::from_utf8_lossy(&payload).into_owned(),
            ))),
            other => Err(CliError::Message(format!(
                "unrecognized input header: {other}"
            ))),
        }
    }

    /// Bytes left over (an incomplete frame) when the stream ends.
    pub fn leftover(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (tests and fakes).
pub fn encode(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_split_frames() {
        let mut raw = encode(1, b"hello\n");
        raw.extend(encode(2, b"oops\n"));
        raw.extend(encode(3, b"boom"));
        let mut d = Demuxer::default();
        let mut got = Vec::new();
        for b in raw.chunks(3) {
            d.push(b);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                Frame::Stdout(b"hello\n".to_vec()),
                Frame::Stderr(b"oops\n".to_vec()),
                Frame::SystemError("boom".into())
            ]
        );
        assert_eq!(d.leftover(), 0);
    }

    #[test]
    fn rejects_bad_stream_byte() {
        let mut d = Demuxer::default();
        d.push(&encode(9, b"x"));
        assert!(d.next_frame().is_err());
    }
}
