//! Bridges between HTTP bodies and the synchronous image store: a request body read as a blocking
//! [`Read`] ([`body_reader`]), a response body fed by a blocking [`Write`] ([`body_writer`]) or by an
//! async task ([`channel_body`]), and JSON-lines answers ([`json_lines`]).

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use berth_api::progress::JsonMessage;
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;

/// Chunks in flight between a producer and the connection.
const DEPTH: usize = 16;

/// The sending side of a streamed response body.
pub type ChunkSender = mpsc::Sender<Result<Bytes, io::Error>>;

/// A response body fed by a channel; an `Err` chunk aborts the connection (the client sees a
/// truncated body, which is all HTTP/1.1 allows once the status is sent).
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

/// A channel and the body it feeds.
pub fn channel_body() -> (ChunkSender, Body) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (tx, Body::new(ChannelBody { rx }))
}

/// A blocking writer feeding a response body (use it on the blocking pool only).
pub struct BodyWriter {
    tx: ChunkSender,
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blocking writer, a sender to abort the body with an error, and the body.
pub fn body_writer() -> (BodyWriter, ChunkSender, Body) {
    let (tx, body) = channel_body();
    (BodyWriter { tx: tx.clone() }, tx, body)
}

/// A blocking reader over a request body (use it on the blocking pool only). A task pumps the
/// body's frames into a channel, so the connection keeps being driven while the reader blocks.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Starts pumping `body` and returns its blocking reader.
pub fn body_reader(mut body: Body) -> BodyReader {
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::spawn(async move {
        loop {
            let item = match body.frame().await {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Ok(data),
                    Err(_) => continue, // trailers
                },
                Some(Err(e)) => Err(io::Error::other(format!("reading the request body: {e}"))),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

/// One JSON message as a stream line.
pub fn json_line(msg: &JsonMessage) -> Bytes {
    let mut line = serde_json::to_vec(msg).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// A complete JSON-lines answer (`application/json`, as Docker's streamed replies).
pub fn json_lines(messages: &[JsonMessage]) -> Response {
    let body: Vec<u8> = messages
        .iter()
        .flat_map(|m| json_line(m).to_vec())
        .collect();
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}
