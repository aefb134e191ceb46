//! One embedded DNS server per running container on a user-defined network: a UDP socket and a TCP
//! listener bound to 127.0.0.11:53 *inside* the container's namespace (made by
//! [`berth_network::netns::socket_in`]: the daemon's own threads never `setns`), each served by a plain OS
//! thread until [`DnsServer::stop`]; plus what the servers answer from: the names of the
//! container's endpoints ([`dns_insert`]) and its upstreams (its `--dns`, else the host's
//! resolvers; recorded on its endpoints so that a daemon restart forwards to the same ones).
//!
//! Forwarding is on only for a container with a way out ([`forwards`]): one only on `--internal`
//! networks gets SERVFAIL for other names and its upstreams are never asked, since the queries
//! would leave from the host's namespace, past the network's isolation (moby's CVE-2024-29018).

use std::net::{IpAddr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_network::dns::{serve_tcp, serve_udp, DnsTable, Resolver};
use berth_network::files::EMBEDDED_DNS;
use berth_network::netns::{self, SocketKind};

use super::model::{Driver, Endpoint, Network};
use super::{NetworkService, State};
use crate::containers::model::Container;
use crate::error::DaemonError;
use berth_network::files;

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

/// Makes the endpoint's names resolve on `net` (container name, aliases, short ID) to its
/// addresses (A, and AAAA on a dual-stack network).
pub fn dns_insert(table: &DnsTable, net: &str, container_id: &str, ep: &Endpoint) {
    let ips = std::iter::once(IpAddr::V4(ep.ip)).chain(ep.ip6.map(IpAddr::V6));
    for ip in ips {
        table.insert(net, &ep.container_name, ip);
        for a in &ep.aliases {
            table.insert(net, a, ip);
        }
        table.insert(net, &container_id[..12.min(container_id.len())], ip);
    }
}

/// Whether the embedded DNS of container `id` forwards names it does not know: only when one of
/// its active endpoints is on a network with outside access (a bridge network that is not
/// `--internal`), as moby decides since its fix for CVE-2024-29018.
pub(crate) fn forwards(networks: &[Network], id: &str) -> bool {
    networks.iter().any(|n| {
        n.driver == Driver::Bridge && !n.internal && n.endpoints.get(id).is_some_and(|e| e.active)
    })
}

/// What the embedded DNS of container `id` serves: the user-defined networks it is running on,
/// then the aliases its links give it there ([`alias_keys`]).
pub(crate) fn dns_networks(networks: &[Network], id: &str) -> Vec<String> {
    let mut keys: Vec<String> = networks
        .iter()
        .filter(|n| n.has_dns() && n.endpoints.get(id).is_some_and(|e| e.active))
        .map(|n| n.id.clone())
        .collect();
    keys.extend(alias_keys(networks, id));
    keys
}

/// The table keys of the link aliases of container `id` on the user-defined networks it is
/// running on with links ([`super::links::refresh_aliases`] fills them).
pub(crate) fn alias_keys(networks: &[Network], id: &str) -> Vec<String> {
    networks
        .iter()
        .filter(|n| {
            n.has_dns()
                && n.endpoints
                    .get(id)
                    .is_some_and(|e| e.active && !e.links.is_empty())
        })
        .map(|n| super::links::alias_key(&n.id, id))
        .collect()
}

/// The embedded DNS upstreams recorded on the container's active endpoints (see
/// [`Endpoint::dns_upstreams`]); `None` when no record has them.
pub(crate) fn recorded_upstreams(networks: &[Network], id: &str) -> Option<Vec<SocketAddr>> {
    networks
        .iter()
        .filter(|n| n.has_dns())
        .filter_map(|n| n.endpoints.get(id).filter(|e| e.active))
        .find_map(|e| e.dns_upstreams.clone())
}

pub(crate) fn restart_dns(
    svc: &NetworkService,
    st: &mut State,
    id: &str,
    netns_path: &Path,
    nets: Vec<String>,
    upstreams: Vec<SocketAddr>,
) -> Result<(), DaemonError> {
    if let Some(server) = st.live.dns.remove(id) {
        server.stop();
    }
    if nets.is_empty() {
        return Ok(());
    }
    let forward = forwards(&st.networks, id);
    let server = DnsServer::start(
        id,
        netns_path,
        svc.inner.dns_table.clone(),
        nets,
        upstreams,
        forward,
    )?;
    st.live.dns.insert(id.to_string(), server);
    Ok(())
}

pub(crate) fn dns_config(c: &Container) -> files::DnsConfig {
    let dns = &c.settings.dns;
    files::DnsConfig {
        servers: dns.servers.clone(),
        search: dns.search.clone(),
        options: dns.options.clone(),
    }
}

pub(crate) fn host_resolv() -> files::HostResolv {
    files::parse_resolv(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// The servers the embedded DNS forwards to.
pub(crate) fn upstreams(c: &Container) -> Vec<IpAddr> {
    files::upstreams(&host_resolv(), &dns_config(c), true)
}

impl DnsServer {
    /// Binds 127.0.0.11:53 (udp + tcp) in the namespace at `netns_path` and serves `networks`;
    /// other names go to `upstreams` only with `forward` (see [`forwards`]).
    pub fn start(
        id: &str,
        netns_path: &Path,
        table: Arc<DnsTable>,
        networks: Vec<String>,
        upstreams: Vec<SocketAddr>,
        forward: bool,
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
            forward,
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::networks::model::fixtures::network;

    fn endpoint(active: bool, ups: Option<Vec<SocketAddr>>) -> Endpoint {
        Endpoint {
            active,
            dns_upstreams: ups,
            ..crate::networks::model::fixtures::endpoint()
        }
    }

    #[test]
    fn only_a_container_with_a_way_out_forwards() {
        let id = "c".repeat(64);
        let internal = |name: &str, active: bool| Network {
            internal: true,
            ..network(name, false, Some(endpoint(active, None)))
        };
        let open = |name: &str, active: bool| network(name, false, Some(endpoint(active, None)));
        // Only internal networks: no forwarding (the CVE-2024-29018 class).
        assert!(!forwards(&[internal("int", true)], &id));
        assert!(!forwards(&[internal("a", true), internal("b", true)], &id));
        // One network with outside access is enough, the default bridge included.
        assert!(forwards(&[internal("int", true), open("ext", true)], &id));
        let bridge = network("bridge", true, Some(endpoint(true, None)));
        assert!(forwards(&[internal("int", true), bridge], &id));
        // An open network the container is not running on does not count, nor another's.
        assert!(!forwards(&[internal("int", true), open("ext", false)], &id));
        assert!(!forwards(&[open("ext", true)], &"d".repeat(64)));
    }

    #[test]
    fn a_restart_forwards_to_the_recorded_upstreams() {
        let mine: SocketAddr = "10.5.0.1:53".parse().unwrap();
        let id = "c".repeat(64);
        // The default bridge has no embedded DNS: what its endpoint holds does not count.
        let nets = vec![
            network("bridge", true, Some(endpoint(true, Some(vec![])))),
            network("front", false, Some(endpoint(true, Some(vec![mine])))),
        ];
        assert_eq!(recorded_upstreams(&nets, &id), Some(vec![mine]));
        // Records from before upstreams were kept, or a container not running: unknown.
        let old = vec![network("front", false, Some(endpoint(true, None)))];
        assert_eq!(recorded_upstreams(&old, &id), None);
        let stopped = vec![network(
            "front",
            false,
            Some(endpoint(false, Some(vec![mine]))),
        )];
        assert_eq!(recorded_upstreams(&stopped, &id), None);
        // An endpoint record written before the field existed still loads.
        let json = serde_json::to_value(endpoint(true, None)).unwrap();
        let mut obj = json.as_object().unwrap().clone();
        obj.remove("dns_upstreams");
        let back: Endpoint = serde_json::from_value(obj.into()).unwrap();
        assert_eq!(back.dns_upstreams, None);
    }
}
