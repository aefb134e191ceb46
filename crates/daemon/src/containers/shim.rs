//! The daemon's side of a container's shim, in async terms. Short requests (`start`, `kill`,
//! `resize`, `shutdown`) and spawning/recovering go through the shim crate's blocking client on the
//! blocking pool; the two long-lived connections (`wait`, `attach`) are spoken directly with tokio
//! sockets, so a waiting container costs no thread.

use std::path::Path;

use berth_shim::client::{self, Recovered, ShimError, ShimHandle};
use berth_shim::protocol::{self, ExitStatus, Request, ShimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::DaemonError;

/// Longest reply line read from a shim.
const MAX_REPLY: usize = 64 * 1024;

/// Maps a shim failure to the daemon's kinds. A create failure keeps the runtime's message, which
/// the docker CLI reads to pick its exit code (127 not found, 126 not executable).
pub fn error(e: ShimError) -> DaemonError {
    match e {
        ShimError::Create(msg) => {
            let lower = msg.to_ascii_lowercase();
            if lower.contains("not found")
                || lower.contains("no such file or directory")
                || lower.contains("permission denied")
                || lower.contains("is a directory")
            {
                DaemonError::InvalidArgument(format!("failed to create task for container: {msg}"))
            } else {
                DaemonError::Internal(format!("failed to create task for container: {msg}"))
            }
        }
        ShimError::Refused(msg) => DaemonError::Conflict(msg),
        other => DaemonError::Unavailable(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ShimError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(DaemonError::join)?
        .map_err(error)
}

/// Starts a shim for `config`; returns once the container is created (parked) or failed.
pub async fn spawn(config: ShimConfig, exe: &Path) -> Result<ShimHandle, DaemonError> {
    let exe = exe.to_path_buf();
    blocking(move || client::spawn(&config, &exe)).await
}

pub async fn start(h: &ShimHandle) -> Result<(), DaemonError> {
    let h = h.clone();
    blocking(move || h.start()).await
}

pub async fn kill(h: &ShimHandle, signal: i32, all: bool) -> Result<(), DaemonError> {
    let h = h.clone();
    blocking(move || h.kill(signal, all)).await
}

pub async fn resize(h: &ShimHandle, height: u16, width: u16) -> Result<(), DaemonError> {
    let h = h.clone();
    blocking(move || h.resize(height, width)).await
}

/// Lets the shim quit (after the container exited); a shim already gone is fine.
pub async fn shutdown(h: &ShimHandle) {
    let h = h.clone();
    let _ = tokio::task::spawn_blocking(move || h.shutdown()).await;
}

/// What became of a container's shim after a daemon restart.
pub async fn recover(state_dir: &Path) -> Recovered {
    let dir = state_dir.to_path_buf();
    tokio::task::spawn_blocking(move || client::recover(&dir))
        .await
        .unwrap_or(Recovered::Lost)
}

/// Sends `req` on a new connection and reads the one reply line.
async fn call(h: &ShimHandle, req: &Request) -> Result<(Vec<u8>, UnixStream), DaemonError> {
    let path = h.socket_path();
    let unavailable = |what: &str, e: std::io::Error| {
        DaemonError::Unavailable(format!("shim {}: {what}: {e}", path.display()))
    };
    let mut sock = UnixStream::connect(&path)
        .await
        .map_err(|e| unavailable("connect", e))?;
    sock.write_all(&protocol::encode_request(req))
        .await
        .map_err(|e| unavailable("send request", e))?;
    // Byte by byte: whatever follows the line belongs to the raw stream.
    let mut line = Vec::new();
    loop {
        let b = sock
            .read_u8()
            .await
            .map_err(|e| unavailable("read reply", e))?;
        if b == b'\n' {
            break;
        }
        line.push(b);
        if line.len() > MAX_REPLY {
            return Err(DaemonError::Unavailable(format!(
                "shim {}: reply too long",
                path.display()
            )));
        }
    }
    Ok((line, sock))
}

fn decode<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, DaemonError> {
    protocol::decode_reply(line).map_err(DaemonError::Conflict)
}

/// Waits (without a thread) until the container exited.
pub async fn wait(h: &ShimHandle) -> Result<ExitStatus, DaemonError> {
    let (line, _sock) = call(h, &Request::Wait).await?;
    decode(&line)
}

/// Attaches: the stream carries output in Docker's framing and takes stdin; shut its write side
/// down for stdin EOF.
pub async fn attach(
    h: &ShimHandle,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<UnixStream, DaemonError> {
    let (line, sock) = call(
        h,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
        },
    )
    .await?;
    decode::<protocol::Ok>(&line)?;
    Ok(sock)
}
