//! One embedded DNS server per running container on a user-defined network: a UDP socket and a TCP
//! listener bound to 127.0.0.11:53 *inside* the container's namespace (made by
//! [`berth_network::netns::socket_in`], so the daemon never `setns`es), each served by a plain OS
//! thread until [`DnsServer::stop`].

use std::net::{SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_network::dns::{serve_tcp, serve_udp, DnsTable, Resolver};
use berth_network::files::EMBEDDED_DNS;
use berth_network::netns::{self, SocketKind};

use crate::error::DaemonError;

/// A running server; dropping it without [`DnsServer::stop`] leaves the threads to exit on their own.
pub struct DnsServer {
    /// Where it forwards names it does not know (kept for a restart with other networks).
    pub upstreams: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The host's resolvers as upstreams (port 53).
pub fn host_upstreams(servers: &[std::net::IpAddr]) -> Vec<SocketAddr> {
    servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
}

impl DnsServer {
    /// Binds 127.0.0.11:53 (udp + tcp) in the namespace at `netns_path` and serves `networks`.
    pub fn start(
        id: &str,
        netns_path: &Path,
        table: Arc<DnsTable>,
        networks: Vec<String>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer, DaemonError> {
        let fail = |e: netns::NetnsError| {
            DaemonError::Internal(format!(
                "embedded dns of container {id} in {}: {e}",
                netns_path.display()
            ))
        };
        let ns = netns::open(netns_path).map_err(fail)?;
        let addr = SocketAddrV4::new(EMBEDDED_DNS, 53);
        let udp =
            UdpSocket::from(netns::socket_in(ns.as_fd(), SocketKind::Udp(addr)).map_err(fail)?);
        let tcp = TcpListener::from(
            netns::socket_in(ns.as_fd(), SocketKind::TcpListener(addr)).map_err(fail)?,
        );
        let resolver = Resolver {
            table,
            networks,
            upstreams: upstreams.clone(),
            timeout: Duration::from_secs(3),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let short = &id[..12.min(id.len())];
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| DaemonError::Internal(format!("starting a dns thread: {e}")))
        };
        let (r1, s1) = (resolver.clone(), stop.clone());
        let udp_thread = spawn(
            format!("dns-u-{short}"),
            Box::new(move || {
                if let Err(e) = serve_udp(udp, &r1, &s1) {
                    tracing::warn!(error = %e, "embedded dns (udp) stopped");
                }
            }),
        )?;
        let (r2, s2) = (resolver, stop.clone());
        let tcp_thread = spawn(
            format!("dns-t-{short}"),
            Box::new(move || {
                if let Err(e) = serve_tcp(tcp, &r2, &s2) {
                    tracing::warn!(error = %e, "embedded dns (tcp) stopped");
                }
            }),
        );
        let tcp_thread = match tcp_thread {
            Ok(t) => t,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = udp_thread.join();
                return Err(e);
            }
        };
        Ok(DnsServer {
            upstreams,
            stop,
            threads: vec![udp_thread, tcp_thread],
        })
    }

    /// Stops both threads and waits for them (their sockets close).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
