//! TCP with TLS: the rustls server configuration of the daemon's TLS flags, and
//! [`TlsListener`], whose connections come out of a finished handshake (one task per handshake,
//! under a deadline and a cap, so a slow client holds up no other).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TcpSecurity;
use crate::error::DaemonError;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// At most this many handshakes at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 128;

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
    pub(super) local: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsListener {
    pub(super) fn start(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
    ) -> Result<TlsListener, DaemonError> {
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
