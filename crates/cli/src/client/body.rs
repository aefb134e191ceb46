//! Request bodies (empty, whole, JSON, and streamed from a file or stdin through a channel) and
//! readers for streamed answers: raw chunks, and docker's newline-separated JSON messages.

use crate::error::{CliError, Result};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// The body type of every request this client sends.
pub type ReqBody = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body of known bytes.
pub fn full(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A JSON-encoded body.
pub fn json<T: Serialize>(v: &T) -> Result<ReqBody> {
    let raw = serde_json::to_vec(v)
        .map_err(|e| CliError::Message(format!("error encoding request body: {e}")))?;
    Ok(full(raw))
}

/// A body streamed from an async reader (a file or stdin), sent chunked.
pub fn from_reader<R: AsyncRead + Unpin + Send + 'static>(mut r: R) -> ReqBody {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    ChannelBody { rx }.boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Reads the next data chunk of a streamed answer; `None` at the end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(CliError::Message(format!(
                    "error reading response stream: {e}"
                )))
            }
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Splits a streamed answer into JSON messages (one per line; `\n` or `\r\n`).
pub struct JsonLines {
    body: Incoming,
    buf: Vec<u8>,
    done: bool,
}

impl JsonLines {
    pub fn new(body: Incoming) -> JsonLines {
        JsonLines {
            body,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next message, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return parse_line(text).map(Some);
            }
            if self.done {
                let text = String::from_utf8_lossy(&self.buf).trim().to_string();
                self.buf.clear();
                if text.is_empty() {
                    return Ok(None);
                }
                return parse_line(&text).map(Some);
            }
            match next_chunk(&mut self.body).await? {
                Some(c) => self.buf.extend_from_slice(&c),
                None => self.done = true,
            }
        }
    }
}

fn parse_line(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| CliError::Message(format!("error decoding stream message {text:?}: {e}")))
}
