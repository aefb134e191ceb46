//! The exec stream's framing follows the client's `Tty` of `POST /exec/{id}/start`, as Docker's
//! does, while the shim's output follows the process (raw bytes from a pty, stdcopy frames from
//! pipes). [`Reframe`] converts between the two when they disagree: a pty's bytes become stdout
//! frames for a client that asked for no tty, and frames lose their headers for one that asked for
//! a tty.

use berth_shim::protocol::frame_header;

/// Stdcopy's header: stream type, three zero bytes, the payload length (big-endian u32).
const HEADER: usize = 8;

/// The conversion of one exec stream's output.
#[derive(Debug)]
pub enum Reframe {
    /// Process and client agree.
    AsIs,
    /// Raw pty bytes to stdout frames.
    Frame,
    /// Stdcopy frames to their payloads; `pending` holds a partial frame.
    Unframe { pending: Vec<u8> },
}

impl Reframe {
    /// The conversion for a process with (`process_tty`) or without a pty and a client that asked
    /// for a tty stream (`client_tty`) or a multiplexed one.
    pub fn new(process_tty: bool, client_tty: bool) -> Reframe {
        match (process_tty, client_tty) {
            (true, false) => Reframe::Frame,
            (false, true) => Reframe::Unframe {
                pending: Vec::new(),
            },
            _ => Reframe::AsIs,
        }
    }

    /// Converts one chunk of the process's output; the result may be empty (a partial frame).
    pub fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Reframe::AsIs => data.to_vec(),
            Reframe::Frame => {
                let mut out = frame_header(1, data.len()).to_vec();
                out.extend_from_slice(data);
                out
            }
            Reframe::Unframe { pending } => {
                pending.extend_from_slice(data);
                let mut out = Vec::new();
                let mut at = 0;
                while pending.len() - at >= HEADER {
                    let h = &pending[at..at + HEADER];
                    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
                    if pending.len() - at - HEADER < len {
                        break;
                    }
                    out.extend_from_slice(&pending[at + HEADER..at + HEADER + len]);
                    at += HEADER + len;
                }
                pending.drain(..at);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pty_bytes_become_stdout_frames() {
        let mut r = Reframe::new(true, false);
        let mut want = frame_header(1, 11).to_vec();
        want.extend_from_slice(b"hello out\r\n");
        assert_eq!(r.chunk(b"hello out\r\n"), want);
    }

    #[test]
    fn frames_lose_their_headers_across_chunks() {
        let mut r = Reframe::new(false, true);
        let mut stream = frame_header(1, 10).to_vec();
        stream.extend_from_slice(b"hello out\n");
        stream.extend_from_slice(&frame_header(2, 10));
        stream.extend_from_slice(b"hello err\n");
        let (a, b) = stream.split_at(13);
        let mut out = r.chunk(a);
        out.extend(r.chunk(b));
        assert_eq!(out, b"hello out\nhello err\n");
    }

    #[test]
    fn agreeing_ends_pass_through() {
        assert_eq!(Reframe::new(true, true).chunk(b"x"), b"x");
        assert_eq!(
            Reframe::new(false, false).chunk(b"\x01\0\0\0\0\0\0\x01x"),
            b"\x01\0\0\0\0\0\0\x01x"
        );
    }
}
