//! Where a registry name leads: the endpoints (scheme, address, TLS settings) to try, as Docker
//! decides them.
//!
//! - `docker.io` (and `index.docker.io`) is served by `registry-1.docker.io`.
//! - A registry is *insecure* when it is listed in `insecure-registries` (as `host[:port]` or a CIDR)
//!   or its host is loopback (`localhost`, `127.0.0.0/8`, `::1`), as Docker treats them by default.
//!   Insecure registries are tried over HTTPS without certificate checks first, then over plain
//!   HTTP; every other registry only over HTTPS with verified certificates.
//! - Trusted CAs: the system bundle plus `<certs.d>/<host[:port]>/*.crt`; a client certificate
//!   pair `client.cert` + `client.key` in the same directory is presented when found.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::RegistryError;

/// The registry Docker Hub's name stands for.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// System CA bundles, first found wins.
const SYSTEM_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// How the client reaches registries.
#[derive(Debug, Clone, Default)]
pub struct HostsConfig {
    /// Directories holding `<host[:port]>/` folders of CAs and client certificates, tried in order
    /// (`/etc/docker/certs.d` for the daemon).
    pub certs_dirs: Vec<PathBuf>,
    /// `insecure-registries`: `host[:port]` names or CIDRs (`10.0.0.0/8`).
    pub insecure: Vec<String>,
}

/// The scheme of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

/// One way to reach a registry.
#[derive(Clone)]
pub struct Endpoint {
    /// The registry's name as the user wrote it (`127.0.0.1:5000`, `docker.io`).
    pub registry: String,
    pub scheme: Scheme,
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Set for HTTPS.
    pub tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.base_url())
    }
}

impl Endpoint {
    /// `https://host:port`.
    pub fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        format!("{scheme}://{}", self.authority)
    }
}

/// Splits `host[:port]` (with `[v6]` brackets) into host and optional port.
pub fn split_host_port(authority: &str) -> (String, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (h.to_string(), port);
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.to_string(), Some(port)),
            Err(_) => (authority.to_string(), None),
        },
        _ => (authority.to_string(), None),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl HostsConfig {
    /// Whether `registry` (`host[:port]`) may be reached without verified TLS.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let (host, _) = split_host_port(registry);
        if is_loopback(&host) {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        self.insecure.iter().any(|entry| {
            entry == registry
                || entry == &host
                || ip.is_some_and(|ip| entry.contains('/') && in_cidr(ip, entry))
        })
    }

    /// The endpoints to try for `registry`, in order.
    pub fn endpoints(&self, registry: &str) -> Result<Vec<Endpoint>, RegistryError> {
        let name = match registry {
            "docker.io" | "index.docker.io" => DOCKER_HUB_HOST,
            other => other,
        };
        let (host, port) = split_host_port(name);
        if host.is_empty() {
            return Err(RegistryError::Reference {
                reference: registry.to_string(),
                reason: "empty registry host".to_string(),
            });
        }
        let insecure = self.is_insecure(name);
        let make = |scheme: Scheme, tls: Option<Arc<ClientConfig>>| {
            let port = port.unwrap_or(match scheme {
                Scheme::Https => 443,
                Scheme::Http => 80,
            });
            Endpoint {
                registry: registry.to_string(),
                scheme,
                authority: name.to_string(),
                host: host.clone(),
                port,
                tls,
            }
        };
        let mut out = Vec::new();
        if insecure {
            out.push(make(Scheme::Https, Some(Arc::new(no_verify_config()))));
            out.push(make(Scheme::Http, None));
        } else {
            out.push(make(Scheme::Https, Some(Arc::new(self.tls_config(name)?))));
        }
        Ok(out)
    }

    /// A verifying TLS config for `registry`: system roots, `certs.d` CAs, client certificate.
    fn tls_config(&self, registry: &str) -> Result<ClientConfig, RegistryError> {
        let tls_err = |reason: String| RegistryError::Tls {
            host: registry.to_string(),
            reason,
        };
        let mut roots = RootCertStore::empty();
        if let Some(bundle) = SYSTEM_BUNDLES
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.is_file())
        {
            if let Ok(iter) = CertificateDer::pem_file_iter(bundle) {
                roots.add_parsable_certificates(iter.flatten());
            }
        }
        let mut client_pair = None;
        for dir in &self.certs_dirs {
            let dir = dir.join(registry);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "crt") {
                    let certs = CertificateDer::pem_file_iter(&path)
                        .map_err(|e| tls_err(format!("reading {}: {e}", path.display())))?;
                    for c in certs {
                        let c =
                            c.map_err(|e| tls_err(format!("reading {}: {e}", path.display())))?;
                        roots
                            .add(c)
                            .map_err(|e| tls_err(format!("CA {}: {e}", path.display())))?;
                    }
                }
            }
            let (cert, key) = (dir.join("client.cert"), dir.join("client.key"));
            if client_pair.is_none() && cert.is_file() && key.is_file() {
                client_pair = Some((cert, key));
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?
            .with_root_certificates(roots);
        match client_pair {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(&cert)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| tls_err(format!("reading {}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_file(&key)
                    .map_err(|e| tls_err(format!("reading {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err(format!("client certificate: {e}")))
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }
}

/// The crypto provider: ring, on purpose (aws-lc-rs needs cmake and a long build); rustls
/// deprecates it for lacking post-quantum key exchange, which registries do not require.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS without certificate checks, for insecure registries only (as Docker's `InsecureSkipVerify`).
fn no_verify_config() -> ClientConfig {
    let provider = provider();
    let verifier = Arc::new(NoVerify(provider.clone()));
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        })
        // The ring provider supports the default versions; this arm is not reached.
        .unwrap_or_else(|_| {
            ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let c = HostsConfig {
            certs_dirs: vec![],
            insecure: vec!["reg.example:5000".into(), "10.0.0.0/8".into()],
        };
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("reg.example:5000"));
        assert!(c.is_insecure("10.1.2.3:443"));
        assert!(!c.is_insecure("reg.example:5001"));
        assert!(!c.is_insecure("11.0.0.1"));
        assert!(!c.is_insecure("docker.io"));
    }

    #[test]
    fn endpoints_follow_docker() {
        let c = HostsConfig::default();
        let hub = c.endpoints("docker.io").unwrap_or_default();
        assert_eq!(hub.len(), 1);
        assert_eq!(hub[0].base_url(), "https://registry-1.docker.io");
        let local = c.endpoints("127.0.0.1:5000").unwrap_or_default();
        let urls: Vec<_> = local.iter().map(Endpoint::base_url).collect();
        assert_eq!(urls, ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]);
        assert_eq!(split_host_port("[::1]:80"), ("::1".to_string(), Some(80)));
        assert_eq!(split_host_port("a.b"), ("a.b".to_string(), None));
    }
}
