//! The two-thread pipeline of an apply: a producer thread reads the blob, decompresses and hashes it
//! (the diff ID) in 1 MiB chunks; the calling thread parses the tar from those chunks and does the
//! file system work. The two halves cost about the same, so an apply takes about half the time of
//! doing both on one thread.
//!
//! Shutdown: the consumer drops its [`Pipe`] (on success after reading to the end, on error at
//! once); the producer then sees its channel closed and returns. Chunk buffers go back to the
//! producer over a second channel, so a stream allocates only a handful of them.

use std::io::{self, Read};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use berth_oci::Digest;

use super::hash::{HeaderWindow, LimitedHasher};

/// Size of one chunk handed from the producer to the consumer.
const CHUNK: usize = 1024 * 1024;
/// Chunks in flight (bounds memory to about this many MiB).
const DEPTH: usize = 4;

/// What the producer saw of the uncompressed stream.
pub(crate) struct Produced {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    /// The size limit was hit.
    pub(crate) exceeded: bool,
}

/// Starts the producer on `decoder` (the decompressed stream) within `scope`.
pub(crate) fn spawn<'scope, R: Read + Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    decoder: R,
    limit: Option<u64>,
) -> io::Result<(Pipe, ScopedJoinHandle<'scope, Produced>)> {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let handle = std::thread::Builder::new()
        .name("berth-layer-read".into())
        .spawn_scoped(scope, move || produce(decoder, limit, &tx, &recycle_rx))?;
    let pipe = Pipe {
        rx,
        recycle: recycle_tx,
        cur: Vec::new(),
        pos: 0,
        state: State::Open,
        window: Rc::default(),
    };
    Ok((pipe, handle))
}

fn produce<R: Read>(
    decoder: R,
    limit: Option<u64>,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    recycle: &Receiver<Vec<u8>>,
) -> Produced {
    let mut hashed = LimitedHasher::new(decoder, limit);
    loop {
        let mut buf = recycle.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        match read_full(&mut hashed, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() || n < CHUNK {
                    break; // consumer gone, or end of stream
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                break;
            }
        }
    }
    Produced {
        digest: hashed.hasher().digest(),
        size: hashed.count(),
        exceeded: hashed.exceeded(),
    }
}

/// Reads until `buf` is full or the reader ends.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[derive(PartialEq)]
enum State {
    Open,
    Ended,
    Failed,
}

/// The consumer end: the uncompressed stream as a `Read`, accounted to a [`HeaderWindow`].
pub(crate) struct Pipe {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    state: State,
    window: Rc<HeaderWindow>,
}

impl Pipe {
    /// The header window the parser's reads are accounted to.
    pub(crate) fn window(&self) -> Rc<HeaderWindow> {
        self.window.clone()
    }
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.state {
                State::Ended => return Ok(0),
                State::Failed => return Err(io::Error::other("the layer stream failed earlier")),
                State::Open => {}
            }
            let done = std::mem::take(&mut self.cur);
            if done.capacity() > 0 {
                let _ = self.recycle.try_send(done);
            }
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.cur = chunk,
                Ok(Err(e)) => {
                    self.state = State::Failed;
                    return Err(e);
                }
                Err(_) => self.state = State::Ended,
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        self.window.consume(n)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_every_byte_and_hashes_it() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let (out, produced) = std::thread::scope(|s| {
            let (mut pipe, handle) = spawn(s, &data[..], None).unwrap();
            let mut out = Vec::new();
            let mut small = [0u8; 700];
            loop {
                let n = pipe.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&small[..n]);
            }
            drop(pipe);
            (out, handle.join().unwrap())
        });
        assert!(out == data);
        assert_eq!(produced.size, data.len() as u64);
        assert_eq!(produced.digest, Digest::sha256_of(&data));
    }

    #[test]
    fn consumer_can_stop_early_and_limit_is_reported() {
        let data = vec![1u8; 10 * CHUNK];
        let produced = std::thread::scope(|s| {
            let (mut pipe, handle) = spawn(s, &data[..], Some(2 * CHUNK as u64)).unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut err = None;
            for _ in 0..5 {
                if let Err(e) = pipe.read(&mut buf) {
                    err = Some(e);
                    break;
                }
            }
            assert!(err.is_some());
            drop(pipe);
            handle.join().unwrap()
        });
        assert!(produced.exceeded);
    }
}
