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
//!
//! The same [`crate::server::app`] serves every kind; [`serve`] runs it until the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::{Listen, TcpSecurity};
use crate::error::DaemonError;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// At most this many handshakes at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 128;

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

/// Binds one configured host. The TLS files are read here, so a missing or bad certificate
/// stops the daemon at start with the file's name.
pub async fn bind(listen: &Listen, gid: Option<nix::unistd::Gid>) -> Result<Bound, DaemonError> {
    match listen {
        Listen::Unix(path) => Ok(Bound::Unix(bind_unix(path, gid)?, path.clone())),
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
            Ok(match tls {
                None => Bound::Tcp(tcp),
                Some(config) => Bound::Tls(TlsListener::start(tcp, config)?),
            })
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

/// Builds the rustls server configuration of `security` (not [`TcpSecurity::Plain`]).
pub fn server_config(security: &TcpSecurity) -> Result<Arc<ServerConfig>, DaemonError> {
    // ring, on purpose: aws-lc-rs needs cmake and a long build. rustls deprecates ring's
    // provider for lacking post-quantum key exchange; classic ECDHE is what docker clients use.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |what: &str, e: rustls::Error| DaemonError::Config(format!("{what}: {e}"));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err("setting up TLS", e))?;
    let (builder, cert, key) = match security {
        TcpSecurity::MutualTls { ca, cert, key } => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca, "--tlscacert")? {
                roots.add(c).map_err(|e| {
                    tls_err(&format!("CA certificate {} (--tlscacert)", ca.display()), e)
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| {
                    DaemonError::Config(format!(
                        "CA certificates {} (--tlscacert): {e}",
                        ca.display()
                    ))
                })?;
            (builder.with_client_cert_verifier(verifier), cert, key)
        }
        TcpSecurity::ServerTls { cert, key } => (builder.with_no_client_auth(), cert, key),
        TcpSecurity::Plain => {
            return Err(DaemonError::Internal(
                "a TLS configuration was asked for a plain TCP listener".to_string(),
            ))
        }
    };
    let chain = read_certs(cert, "--tlscert")?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        DaemonError::Config(format!(
            "reading the TLS key {} (--tlskey): {e}; give a PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key.display()
        ))
    })?;
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        tls_err(
            &format!(
                "the TLS certificate {} and key {} (--tlscert, --tlskey)",
                cert.display(),
                key.display()
            ),
            e,
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file; none is an error.
fn read_certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, DaemonError> {
    let bad = |e: &dyn std::fmt::Display| {
        DaemonError::Config(format!(
            "reading TLS certificates {} ({flag}): {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A TCP listener whose connections come out of a finished TLS handshake. A background task
/// accepts and spawns one handshake per connection; failed handshakes are logged and dropped.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsListener {
    fn start(tcp: TcpListener, config: Arc<ServerConfig>) -> Result<TlsListener, DaemonError> {
        let local = tcp
            .local_addr()
            .map_err(|e| DaemonError::Internal(format!("the TCP listener's address: {e}")))?;
        let (tx, ready) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener { ready, local, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Closes the port; handshakes in flight end when their sender fails.
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task is gone (only at shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accepting a TCP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake refused"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Serves `app` on `bound` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    bound: Bound,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match bound {
        Bound::Unix(l, _) => axum::serve(l, app).with_graceful_shutdown(shutdown).await,
        Bound::Tcp(l) => axum::serve(l, app).with_graceful_shutdown(shutdown).await,
        Bound::Tls(l) => axum::serve(l, app).with_graceful_shutdown(shutdown).await,
    }
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
