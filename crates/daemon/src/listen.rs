//! The API's front doors: UNIX sockets, and TCP listeners with TLS (or, asked for explicitly,
//! without).
//!
//! - UNIX ([`bind_unix`]): the socket is bound inside a fresh private directory (mode 0700) next
//!   to its final path, given mode 0660 and the socket group there, and renamed into place. So it
//!   is never reachable with the mode the inherited umask gave it at `bind`, not even briefly;
//!   a stale socket is replaced by the rename, a live one is refused.
//! - TCP with TLS ([`TlsListener`]): rustls with the ring provider, TLS 1.2 and 1.3 only, ALPN
//!   `http/1.1`. With `--tlsverify` a client certificate that chains to `--tlscacert` is required
//!   and checked during the handshake, so a client without one gets no HTTP at all. Handshakes run
//!   one task per connection under a deadline and a cap, so a slow client holds up no other.
//! - Plain TCP only when the configuration asks for it explicitly (`--tls=false`); the daemon then
//!   warns at start, as it does for TLS without client verification.
//! - `fd://` ([`systemd_listeners`]): the listening UNIX sockets systemd passes by socket
//!   activation (`LISTEN_PID` is this process, `LISTEN_FDS` of them from fd 3), each checked to
//!   be a listening stream socket, made close-on-exec (no shim inherits it) and taken once.
//! - `--docker-socket` ([`refuse_live_docker`]): a UNIX socket like the others, bound only when no
//!   daemon answers `GET /_ping` on the path already, so a running dockerd is never displaced.
//!
//! The same [`crate::server::app`] serves every kind; [`serve`] runs it until the shutdown signal,
//! one task per connection, with a read-header deadline ([`HEADER_READ_DEADLINE`]) so a header
//! that never ends or a connection that never sends one is closed. Each request carries its
//! connection's [`PeerUser`] (a TLS client certificate's common name), for the authorization
//! plugins.

mod peer;
mod tls;
pub use peer::{PeerIdentity, PeerUser};
pub use tls::{server_config, TlsListener};

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use tokio::net::{TcpListener, UnixListener};

use crate::config::{Listen, TcpSecurity};
use crate::error::DaemonError;

/// A bound listener, ready for [`serve`].
pub enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
    Tls(TlsListener),
}

impl Bound {
    /// What the log and the warnings call it.
    pub fn describe(&self) -> String {
        match self {
            Bound::Unix(_, path) => format!("unix://{}", path.display()),
            Bound::Tcp(l) => addr_text(l.local_addr(), "tcp"),
            Bound::Tls(l) => addr_text(Ok(l.local), "tcp+tls"),
        }
    }
}

fn addr_text(addr: std::io::Result<SocketAddr>, scheme: &str) -> String {
    match addr {
        Ok(a) => format!("{scheme}://{a}"),
        Err(_) => format!("{scheme}://?"),
    }
}

/// Binds one configured host (`fd://` may give several listeners). The TLS files are read
/// here, so a missing or bad certificate stops the daemon at start with the file's name.
pub async fn bind(
    listen: &Listen,
    gid: Option<nix::unistd::Gid>,
) -> Result<Vec<Bound>, DaemonError> {
    match listen {
        Listen::Unix(path) => Ok(vec![Bound::Unix(bind_unix(path, gid)?, path.clone())]),
        Listen::DockerSocket(path) => {
            refuse_live_docker(path).await?;
            Ok(vec![Bound::Unix(bind_unix(path, gid)?, path.clone())])
        }
        Listen::Fd(which) => systemd_listeners(*which),
        Listen::Tcp(addr, security) => {
            let tls = match security {
                TcpSecurity::Plain => None,
                s => Some(server_config(s)?),
            };
            let tcp = TcpListener::bind(addr.as_str()).await.map_err(|e| {
                DaemonError::Config(format!(
                    "listening on tcp://{addr}: {e}; pick a free address with -H"
                ))
            })?;
            warn_insecure(addr, security);
            Ok(vec![match tls {
                None => Bound::Tcp(tcp),
                Some(config) => Bound::Tls(TlsListener::start(tcp, config)?),
            }])
        }
    }
}

/// The warnings dockerd gives for a TCP API without client verification, louder.
fn warn_insecure(addr: &str, security: &TcpSecurity) {
    let host = format!("tcp://{addr}");
    match security {
        TcpSecurity::MutualTls { .. } => {}
        TcpSecurity::ServerTls { .. } => {
            tracing::warn!(host, "TLS without --tlsverify: the connection is encrypted, but ANY client that reaches this port can use the API, which is root on this machine");
        }
        TcpSecurity::Plain => {
            tracing::warn!(host, "INSECURE: the API listens on TCP WITHOUT TLS (--tls=false): anyone who can reach this port is root on this machine");
            tracing::warn!(host, "INSECURE: even on a loopback address, scripts in a web browser and every local user can reach it");
            tracing::warn!(host, "use --tlsverify with --tlscacert, --tlscert and --tlskey instead; see docs/daemon-tls.md");
        }
    }
}

/// Serves `app` on `bound` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    bound: Bound,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match bound {
        Bound::Unix(l, _) => serve_connections(l, app, shutdown).await,
        Bound::Tcp(l) => serve_connections(l, app, shutdown).await,
        Bound::Tls(l) => serve_connections(l, app, shutdown).await,
    }
}

/// How long a client has to send a request's headers, counted from when the connection is ready
/// for one (so an idle keep-alive connection is closed after it too). Slow-loris clients and
/// idle connections do not pile up; bodies and streams (logs, attach, events) are not limited.
pub const HEADER_READ_DEADLINE: Duration = Duration::from_secs(30);

/// The accept loop: one task per connection, HTTP/1.1 with upgrades (attach, exec) and the
/// [`HEADER_READ_DEADLINE`] (axum's own `serve` sets no timer, so hyper enforces none). At
/// `shutdown` it stops accepting, asks every connection to finish its request in flight and close,
/// and returns when all have.
async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Io: PeerIdentity,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let (closing, close_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        let (app, user) = (app.clone(), io.peer_user());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            if let Some(user) = &user {
                req.extensions_mut().insert(user.clone());
            }
            tower_service::Service::call(&mut app.clone(), req)
        });
        let mut close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_DEADLINE);
            let conn = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = close_rx.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    drop(close_rx);
    let _ = closing.send(true);
    closing.closed().await;
    Ok(())
}

/// How long a daemon already on the docker socket has to answer `GET /_ping`.
const PING_DEADLINE: Duration = Duration::from_secs(2);

/// Refuses the docker socket at `path` when a daemon answers `GET /_ping` on it: a running
/// dockerd keeps its socket. A stale socket (nothing accepts) is left to [`bind_unix`], which
/// replaces it; a live socket that does not answer HTTP is refused there.
pub async fn refuse_live_docker(path: &Path) -> Result<(), DaemonError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::UnixStream::connect(path).await else {
        return Ok(());
    };
    let ping = async {
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        let n = stream.read(&mut head).await?;
        Ok::<bool, std::io::Error>(head[..n].starts_with(b"HTTP/1."))
    };
    match tokio::time::timeout(PING_DEADLINE, ping).await {
        Ok(Ok(true)) => Err(DaemonError::Unavailable(format!(
            "a Docker daemon answers on {}: Berth does not take its socket over; stop dockerd \
             (systemctl stop docker.socket docker.service) or leave out --docker-socket",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The listening sockets systemd passed: every one (`which` is `None`, `fd://`) or fd `which`.
pub fn systemd_listeners(which: Option<RawFd>) -> Result<Vec<Bound>, DaemonError> {
    let var = |k: &str| std::env::var(k).ok();
    let fds = passed_fds(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        std::process::id(),
    )?;
    let chosen: Vec<RawFd> = match which {
        None => fds.collect(),
        Some(fd) if fds.contains(&fd) => vec![fd],
        Some(fd) => {
            return Err(DaemonError::Config(format!(
            "host fd://{fd}: systemd passed no socket as fd {fd} (LISTEN_FDS names fds {}..{}); \
                 use fd:// or one of those",
            fds.start,
            fds.end - 1
        )))
        }
    };
    chosen.into_iter().map(adopt_listener).collect()
}

/// The fds of socket activation from `LISTEN_PID` and `LISTEN_FDS` as systemd sets them (fds
/// 3..3+N, for process `pid` only).
fn passed_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    pid: u32,
) -> Result<std::ops::Range<RawFd>, DaemonError> {
    let none = || {
        DaemonError::Config(
            "host fd://: no sockets were passed (LISTEN_PID and LISTEN_FDS are not set for this \
             process); start the daemon from its systemd socket unit, or use -H unix:///path"
                .to_string(),
        )
    };
    let ours = listen_pid.and_then(|p| p.trim().parse::<u32>().ok()) == Some(pid);
    let n = listen_fds.and_then(|n| n.trim().parse::<RawFd>().ok());
    match n {
        Some(n) if ours && n > 0 => Ok(3..3 + n),
        _ => Err(none()),
    }
}

/// fds already turned into listeners (each is taken once; a second `fd://` is an error).
static ADOPTED: std::sync::Mutex<Vec<RawFd>> = std::sync::Mutex::new(Vec::new());

/// Takes fd `fd` as a UNIX listener, after checking it is one.
fn adopt_listener(fd: RawFd) -> Result<Bound, DaemonError> {
    use nix::sys::socket::{getsockname, getsockopt, sockopt, SockType, UnixAddr};
    let bad = |why: String| DaemonError::Config(format!("socket fd {fd} from systemd: {why}"));
    // SAFETY: the fd is only borrowed for the checks; ownership is taken below once they pass.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    match getsockopt(&borrowed, sockopt::SockType) {
        Ok(SockType::Stream) => {}
        Ok(other) => return Err(bad(format!("a {other:?} socket; give a stream socket"))),
        Err(e) => return Err(bad(format!("not a socket ({e})"))),
    }
    if !getsockopt(&borrowed, sockopt::AcceptConn).unwrap_or(false) {
        return Err(bad(
            "not listening; use ListenStream= in the socket unit".into()
        ));
    }
    let addr: UnixAddr = getsockname(fd).map_err(|_| {
        bad(
            "not a UNIX socket; Berth takes UNIX sockets from systemd (use -H tcp:// for TCP)"
                .into(),
        )
    })?;
    let path = addr
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("fd://{fd}")));
    {
        let mut adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
        if adopted.contains(&fd) {
            return Err(bad("already in use by another fd:// host".into()));
        }
        adopted.push(fd);
    }
    nix::fcntl::fcntl(
        borrowed,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| bad(format!("setting close-on-exec: {e}")))?;
    // SAFETY: fd is an open listening stream socket passed to this process by systemd, and the
    // ADOPTED list makes sure only this one listener ever owns it.
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    std_listener
        .set_nonblocking(true)
        .map_err(|e| bad(format!("setting non-blocking mode: {e}")))?;
    let raw = std_listener.as_raw_fd();
    let listener = UnixListener::from_std(std_listener)
        .map_err(|e| bad(format!("registering fd {raw} with the runtime: {e}")))?;
    Ok(Bound::Unix(listener, path))
}

/// The gid of the socket group (`None`: keep root's).
pub fn socket_group(group: Option<&str>) -> Result<Option<nix::unistd::Gid>, DaemonError> {
    let Some(name) = group.filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(Some(nix::unistd::Gid::from_raw(gid)));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid)),
        Ok(None) => Err(DaemonError::Config(format!(
            "socket group {name:?} does not exist: create it or pick another with --group"
        ))),
        Err(e) => Err(DaemonError::Config(format!(
            "looking up group {name:?}: {e}"
        ))),
    }
}

/// Binds a UNIX socket at `path`, mode 0660, group `gid`, never reachable with another mode:
/// bound in a private 0700 directory beside `path`, set up there, then renamed over `path`.
pub fn bind_unix(path: &Path, gid: Option<nix::unistd::Gid>) -> Result<UnixListener, DaemonError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| DaemonError::io("creating directory", dir, e))?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(DaemonError::Config(format!(
                "{} exists and is not a socket; remove it or choose another --host",
                path.display()
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::Unavailable(format!(
                "another daemon is listening on {}; stop it or choose another --host",
                path.display()
            )));
        }
    }
    let private = private_dir(dir)?;
    let staged = private.join("s");
    let result = stage_and_move(&staged, path, gid);
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

fn stage_and_move(
    staged: &Path,
    path: &Path,
    gid: Option<nix::unistd::Gid>,
) -> Result<UnixListener, DaemonError> {
    let listener =
        UnixListener::bind(staged).map_err(|e| DaemonError::io("listening on", staged, e))?;
    std::fs::set_permissions(staged, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| DaemonError::io("setting the mode of", staged, e))?;
    if let Some(gid) = gid {
        nix::unistd::chown(staged, None, Some(gid))
            .map_err(|e| DaemonError::io("changing the group of", staged, e.into()))?;
    }
    std::fs::rename(staged, path).map_err(|e| DaemonError::io("moving the socket to", path, e))?;
    Ok(listener)
}

/// Makes a new directory of mode 0700 (or less, by the umask) in `dir`; an existing entry of
/// the name is never reused, so nobody can have prepared it.
fn private_dir(dir: &Path) -> Result<PathBuf, DaemonError> {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let candidate = dir.join(format!(".berth-sock-{pid}-{n}-{nanos:x}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(DaemonError::io("creating directory", &candidate, e)),
        }
    }
    Err(DaemonError::io(
        "creating a private directory in",
        dir,
        last.unwrap_or_else(|| std::io::ErrorKind::AlreadyExists.into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_socket_has_its_mode_whatever_the_umask() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let path = dir.path().join("api.sock");
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _guard = rt.enter();
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let bound = bind_unix(&path, None);
        nix::sys::stat::umask(old);
        assert!(bound.is_ok(), "{:?}", bound.err());
        let mode = std::fs::symlink_metadata(&path).map(|m| m.permissions().mode() & 0o7777);
        assert_eq!(mode.ok(), Some(0o660));
        // Only the socket is left beside it: the private directory is gone.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec![std::ffi::OsString::from("api.sock")]);
        // A live socket is refused; a stale one is replaced.
        assert!(bind_unix(&path, None).is_err());
        drop(bound);
        assert!(bind_unix(&path, None).is_ok());
    }

    #[test]
    fn socket_activation_env_is_read_as_systemd_sets_it() {
        assert_eq!(passed_fds(Some("42"), Some("2"), 42).ok(), Some(3..5));
        assert!(passed_fds(Some("41"), Some("2"), 42).is_err());
        assert!(passed_fds(None, Some("1"), 42).is_err());
        assert!(passed_fds(Some("42"), Some("0"), 42).is_err());
        assert!(passed_fds(Some("42"), None, 42).is_err());
    }

    #[test]
    fn a_passed_fd_is_checked_before_it_is_taken() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _guard = rt.enter();
        // A listening UNIX socket is taken, with its path.
        let path = dir.path().join("act.sock");
        let Ok(l) = std::os::unix::net::UnixListener::bind(&path) else {
            return;
        };
        let fd = std::os::fd::IntoRawFd::into_raw_fd(l);
        let bound = adopt_listener(fd);
        assert!(matches!(&bound, Ok(Bound::Unix(_, p)) if *p == path));
        assert!(adopt_listener(fd).is_err(), "an fd is taken once");
        // A datagram socket is refused.
        let Ok(d) = std::os::unix::net::UnixDatagram::unbound() else {
            return;
        };
        let e = adopt_listener(d.as_raw_fd()).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("stream socket")));
    }

    #[test]
    fn a_docker_daemon_that_answers_keeps_its_socket() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let path = dir.path().join("docker.sock");
        rt.block_on(async {
            // Nothing there, or a stale socket: fine.
            assert!(refuse_live_docker(&path).await.is_ok());
            let Ok(fake) = UnixListener::bind(&path) else {
                return;
            };
            let answer = tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                if let Ok((mut s, _)) = fake.accept().await {
                    let mut buf = [0u8; 256];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                        .await;
                }
            });
            let e = refuse_live_docker(&path).await.err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.contains("Docker daemon answers")));
            let _ = answer.await;
        });
    }

    #[test]
    fn missing_tls_files_are_named() {
        let security = TcpSecurity::MutualTls {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let e = server_config(&security).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("/nonexistent/ca.pem") && e.contains("--tlscacert")),
            "{e:?}"
        );
    }
}
