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

/// Maps a shim failure to the daemon's errors by the kind the shim gave it (never by its text):
/// what the shim (or the runtime under it) reported keeps its kind in [`DaemonError::Runtime`],
/// whose status `DaemonError::kind` decides and whose exit code [`super::start`] and
/// [`super::exec`] take from it; a shim that cannot be reached is unavailable. A create failure
/// keeps the runtime's message after Docker's prefix: the docker CLI reads it to pick its own exit
/// code.
pub fn error(e: ShimError) -> DaemonError {
    match e {
        ShimError::Create { kind, message } => DaemonError::Runtime {
            kind,
            message: format!("failed to create task for container: {message}"),
        },
        ShimError::Refused { kind, message } => DaemonError::Runtime { kind, message },
        other @ (ShimError::Io { .. } | ShimError::Protocol { .. }) => {
            DaemonError::Unavailable(other.to_string())
        }
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

fn decode<T: serde::de::DeserializeOwned>(h: &ShimHandle, line: &[u8]) -> Result<T, DaemonError> {
    protocol::decode_reply(line).map_err(|e| error(client::reply_error(e, &h.socket_path())))
}

/// Waits (without a thread) until the container exited.
pub async fn wait(h: &ShimHandle) -> Result<ExitStatus, DaemonError> {
    let (line, _sock) = call(h, &Request::Wait).await?;
    decode(h, &line)
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
    decode::<protocol::Ok>(h, &line)?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::error::status_of;
    use axum::http::StatusCode;
    use berth_shim::ErrorKind as Kind;

    /// The status of every kind the shim can report, decided by the kind alone: the messages
    /// here say the opposite of their kinds.
    #[test]
    fn shim_errors_map_by_kind_not_text() {
        let status = |e: ShimError| status_of(error(e).kind());
        let create = |kind| ShimError::Create {
            kind,
            message: "boom".into(),
        };
        let refused = |kind| ShimError::Refused {
            kind,
            message: "container c1 is not running: executable file not found".into(),
        };
        for (kind, want) in [
            (Kind::CommandNotFound, StatusCode::BAD_REQUEST),
            (Kind::NotExecutable, StatusCode::BAD_REQUEST),
            (Kind::PermissionDenied, StatusCode::BAD_REQUEST),
            (Kind::InvalidArgument, StatusCode::BAD_REQUEST),
            (Kind::NotFound, StatusCode::NOT_FOUND),
            (Kind::Conflict, StatusCode::CONFLICT),
            (Kind::ResourceExhausted, StatusCode::SERVICE_UNAVAILABLE),
            (Kind::System, StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            assert_eq!(status(create(kind)), want, "create {kind}");
            assert_eq!(status(refused(kind)), want, "refused {kind}");
        }
        let e = error(ShimError::Create {
            kind: Kind::CommandNotFound,
            message: "exec: \"nope\": executable file not found in $PATH".into(),
        });
        assert_eq!(
            e.to_string(),
            "failed to create task for container: exec: \"nope\": executable file not found in $PATH"
        );
        let gone = ShimError::Io {
            what: "connect",
            path: "/run/x/shim.sock".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(status(gone), StatusCode::SERVICE_UNAVAILABLE);
    }

    /// A shim from before error kinds answers `{"error": "..."}`: a failure of the generic kind.
    #[test]
    fn an_old_shims_refusal_is_an_internal_error() {
        let h = ShimHandle {
            state_dir: "/run/x".into(),
            pid: 0,
        };
        let e =
            decode::<protocol::Ok>(&h, br#"{"error":"container c1 is not running"}"#).unwrap_err();
        assert_eq!(e.runtime_kind(), Some(Kind::System));
        assert_eq!(status_of(e.kind()), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.to_string(), "container c1 is not running");
        let e = decode::<protocol::Ok>(&h, b"not json").unwrap_err();
        assert_eq!(status_of(e.kind()), StatusCode::SERVICE_UNAVAILABLE);
    }
}
