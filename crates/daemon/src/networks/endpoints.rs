//! The container side of networking, called by the container verbs: [`NetworkService::register`]
//! at create (the endpoint on the container's network, its address allocated and kept),
//! [`NetworkService::attach`] at start (veths, published ports, `/etc/hosts` and
//! `/etc/resolv.conf`, the embedded DNS server, the firewall), [`NetworkService::detach`] when it
//! stops (the conntrack entries of its addresses deleted), [`NetworkService::forget`] at remove.
//! Dual-stack networks give an endpoint an IPv6 address too (`--ip6`, else allocated). Each of them refreshes the link aliases of the networks it touches
//! ([`links::refresh_aliases`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::Path;

use berth_network::endpoint::{self, EndpointConfig};
use berth_network::ports::PortMapping;

use super::etc_files::write_files;
use super::model::{Driver, Endpoint, EndpointRequest, PortRecord};
use super::{dns, internal, links, netlink, publish, NetworkService, State};
use crate::containers::model::Container;
use crate::error::DaemonError;

/// The network a container's `NetworkMode` names (`None` for none/host/container:).
pub fn mode_network(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" | "bridge" => Some("bridge"),
        "none" | "host" => None,
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

impl NetworkService {
    /// Whether `mode` names a network the container can be registered on now: false for the
    /// modes without one and for a network that does not exist (yet: as Docker does, that fails
    /// the start, not the create).
    pub fn check_mode(&self, mode: &str) -> Result<bool, DaemonError> {
        let Some(name) = mode_network(mode) else {
            return Ok(false);
        };
        let st = self.state();
        let i = match Self::find(&st.networks, name) {
            Ok(i) => i,
            Err(DaemonError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if st.networks[i].driver != Driver::Bridge {
            return Err(DaemonError::InvalidArgument(format!(
                "container cannot be connected to network {name} this way"
            )));
        }
        Ok(true)
    }

    /// At start: registers the endpoint a create could not (its network did not exist then).
    fn ensure_registered(&self, c: &Container) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let Some(name) = mode_network(&mode) else {
            return Ok(());
        };
        let mut st = self.state();
        let i = Self::find(&st.networks, name)?;
        if st.networks[i].endpoints.contains_key(&c.id) {
            return Ok(());
        }
        let name = st.networks[i].name.clone();
        self.add_endpoint(&mut st, &name, c, None, c.config.mac_address.as_deref())?;
        Ok(())
    }

    /// At create: the endpoint on the network of the container's mode (address allocated).
    pub fn register(
        &self,
        c: &Container,
        config: Option<&BTreeMap<String, EndpointRequest>>,
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let Some(name) = mode_network(&mode) else {
            return Ok(());
        };
        let cfg = config.and_then(|m| m.get(name).or_else(|| m.values().next()));
        let mut st = self.state();
        self.add_endpoint(&mut st, name, c, cfg, c.config.mac_address.as_deref())?;
        Ok(())
    }

    pub(super) fn add_endpoint(
        &self,
        st: &mut State,
        net: &str,
        c: &Container,
        cfg: Option<&EndpointRequest>,
        mac: Option<&str>,
    ) -> Result<usize, DaemonError> {
        let i = Self::find(&st.networks, net)?;
        let n = &mut st.networks[i];
        if n.endpoints.contains_key(&c.id) {
            return Err(DaemonError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name, n.name
            )));
        }
        let Some(pool) = n.pool.as_mut() else {
            return Err(DaemonError::InvalidArgument(format!(
                "container cannot be disconnected from host network or connected to host network ({})",
                n.name
            )));
        };
        let ipam = cfg.and_then(|c| c.ipam.clone());
        let requested = ipam.as_ref().and_then(|i| i.ipv4);
        let requested6 = ipam.as_ref().and_then(|i| i.ipv6);
        if (requested.is_some() || requested6.is_some()) && n.predefined {
            return Err(DaemonError::InvalidArgument(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if n.predefined && cfg.is_some_and(|c| !c.aliases.is_empty()) {
            return Err(DaemonError::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        // The docker CLI's words: on the default bridge, links are the container's own.
        if n.predefined && cfg.is_some_and(|c| !c.links.is_empty()) {
            return Err(DaemonError::InvalidArgument(
                "links are only supported for user-defined networks".into(),
            ));
        }
        if let (Some(ip6), None) = (requested6, &n.pool6) {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid IPv6 address {ip6}: network {} does not have IPv6 enabled; create it \
                 with --ipv6",
                n.name
            )));
        }
        let id = super::manage::new_id()?;
        let ip = pool.allocate(requested).map_err(|e| match e {
            // libnetwork marks a taken address forbidden (403).
            berth_network::ipam::IpamError::InUse(_) => DaemonError::Forbidden(e.to_string()),
            e => DaemonError::InvalidArgument(e.to_string()),
        })?;
        let ip6 = match n.pool6.as_mut().map(|p| p.allocate(requested6)) {
            None => None,
            Some(Ok(ip6)) => Some(ip6),
            Some(Err(e)) => {
                if let Some(p) = n.pool.as_mut() {
                    p.release(ip);
                }
                return Err(match e {
                    berth_network::ipam6::Ipam6Error::InUse(_) => {
                        DaemonError::Forbidden(e.to_string())
                    }
                    e => DaemonError::InvalidArgument(e.to_string()),
                });
            }
        };
        let release = |n: &mut super::model::Network| {
            if let Some(p) = n.pool.as_mut() {
                p.release(ip);
            }
            if let (Some(p6), Some(ip6)) = (n.pool6.as_mut(), ip6) {
                p6.release(ip6);
            }
        };
        let mac = match mac.filter(|m| !m.is_empty()).or(cfg
            .and_then(|c| c.mac_address.as_deref())
            .filter(|m| !m.is_empty()))
        {
            Some(m) => match endpoint::parse_mac(m) {
                Ok(b) => endpoint::format_mac(&b),
                Err(e) => {
                    release(n);
                    return Err(DaemonError::InvalidArgument(e.to_string()));
                }
            },
            None => endpoint::format_mac(&endpoint::mac_from_ip(ip)),
        };
        let ep = Endpoint {
            id,
            container_name: c.name.clone(),
            ip,
            ip6,
            static_ip: requested.is_some(),
            mac,
            aliases: cfg.map(|c| c.aliases.clone()).unwrap_or_default(),
            active: false,
            ifname: String::new(),
            dns_upstreams: None,
            ipam,
            driver_opts: cfg.and_then(|c| c.driver_opts.clone()),
            links: cfg.map(|c| c.links.clone()).unwrap_or_default(),
        };
        n.endpoints.insert(c.id.clone(), ep);
        if let Err(e) = self.inner.store.put(n) {
            n.endpoints.remove(&c.id);
            release(n);
            return Err(e);
        }
        Ok(i)
    }

    /// At start: veths for every registered endpoint in the namespace at `netns_path`, ports,
    /// hosts/resolv.conf in `files_dir` (with `link_hosts`: the default bridge's legacy links,
    /// `(names, address)`), DNS and the firewall. Undoes itself on failure.
    pub fn attach(
        &self,
        c: &Container,
        netns_path: &Path,
        files_dir: &Path,
        link_hosts: &[(String, IpAddr)],
    ) -> Result<(), DaemonError> {
        let r = self
            .ensure_registered(c)
            .and_then(|()| self.attach_inner(c, netns_path, files_dir, link_hosts));
        if r.is_err() {
            self.detach(&c.id);
        }
        r
    }

    fn attach_inner(
        &self,
        c: &Container,
        netns_path: &Path,
        files_dir: &Path,
        link_hosts: &[(String, IpAddr)],
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let primary = mode_network(&mode).map(str::to_string);
        let ns = berth_network::netns::open(netns_path)
            .map_err(|e| internal("opening the container's network namespace", e))?;
        let mut nl = netlink()?;
        let mut st = self.state();
        // The primary network first: it gets eth0 and the default route.
        let mut order: Vec<usize> = (0..st.networks.len())
            .filter(|i| st.networks[*i].endpoints.contains_key(&c.id))
            .collect();
        order.sort_by_key(|i| Some(&st.networks[*i].name) != primary.as_ref());
        let mut ips: Vec<IpAddr> = Vec::new();
        let mut dns_nets = Vec::new();
        let mut primary_ip = None;
        // The IPv6 default route goes through the first dual-stack network that is not
        // internal, the primary one or not (as Docker picks a gateway per address family).
        let mut gateway6_set = false;
        let dns_upstreams = order
            .iter()
            .any(|i| st.networks[*i].has_dns())
            .then(|| dns::host_upstreams(&dns::upstreams(c)));
        for (k, i) in order.iter().enumerate() {
            let n = &mut st.networks[*i];
            let Some(pool) = n.pool.clone() else { continue };
            let pool6 = n.pool6.as_ref().map(|p| (p.gateway, p.subnet.prefix()));
            let has_dns = n.has_dns();
            let Some(ep) = n.endpoints.get_mut(&c.id) else {
                continue;
            };
            ep.ifname = format!("eth{k}");
            let cfg = EndpointConfig {
                bridge: n.bridge.clone(),
                host_ifname: endpoint::host_ifname(&ep.id),
                ifname: ep.ifname.clone(),
                ip: ep.ip,
                prefix: pool.subnet.prefix(),
                mac: endpoint::parse_mac(&ep.mac).unwrap_or_else(|_| endpoint::mac_from_ip(ep.ip)),
                default_gateway: (k == 0 && !n.internal).then_some(pool.gateway),
                link_local: link_local(ep),
                ip6: ep.ip6.zip(pool6.map(|(_, prefix)| prefix)),
                default_gateway6: pool6
                    .filter(|_| !gateway6_set && !n.internal && ep.ip6.is_some())
                    .map(|(gw, _)| gw),
            };
            let addrs: Vec<IpAddr> = std::iter::once(IpAddr::V4(ep.ip))
                .chain(ep.ip6.map(IpAddr::V6))
                .collect();
            self.wait_for_flows(&addrs);
            endpoint::attach(&mut nl, ns.as_fd(), &cfg).map_err(|e| {
                internal(
                    &format!("attaching container {} to network {}", c.name, n.name),
                    e,
                )
            })?;
            gateway6_set |= cfg.default_gateway6.is_some();
            ep.active = true;
            ips.push(IpAddr::V4(ep.ip));
            ips.extend(ep.ip6.map(IpAddr::V6));
            if k == 0 {
                primary_ip = Some((ep.ip, ep.ip6));
            }
            if has_dns {
                ep.dns_upstreams = dns_upstreams.clone();
                dns::dns_insert(&self.inner.dns_table, &n.id, &c.id, ep);
                dns_nets.push(n.id.clone());
            }
            self.inner.store.put(n)?;
            links::refresh_aliases(&self.inner.dns_table, n);
        }
        // Each network's names first, then the link aliases (PTR answers the names).
        dns_nets.extend(dns::alias_keys(&st.networks, &c.id));
        if let Some((ip, ip6)) = primary_ip {
            let specs = publish::specs(&c.settings.ports);
            if !specs.is_empty() {
                let published: Vec<PortMapping> = st
                    .ports
                    .values()
                    .flat_map(|r| r.mappings.iter().cloned())
                    .collect();
                let granted = publish::grant(&specs, ip, ip6, &published)?;
                let (maps, held): (Vec<_>, Vec<_>) = granted.into_iter().unzip();
                let rec = PortRecord { mappings: maps };
                self.inner.store.put_ports(&c.id, &rec)?;
                st.ports.insert(c.id.clone(), rec);
                st.live.ports.insert(c.id.clone(), held);
            }
        }
        if primary.is_some() {
            write_files(c, files_dir, &ips, !dns_nets.is_empty(), link_hosts)?;
        }
        if let (false, Some(ups)) = (dns_nets.is_empty(), dns_upstreams) {
            let server = dns::DnsServer::start(
                &c.id,
                netns_path,
                self.inner.dns_table.clone(),
                dns_nets,
                ups,
                dns::forwards(&st.networks, &c.id),
            )?;
            st.live.dns.insert(c.id.clone(), server);
        }
        self.apply_firewall(&st)
    }

    /// When the container stopped (or a start failed): veths (in the background), ports and DNS
    /// go; addresses stay.
    pub fn detach(&self, id: &str) {
        let mut st = self.state();
        if let Some(server) = st.live.dns.remove(id) {
            server.stop();
        }
        st.live.ports.remove(id);
        if st.ports.remove(id).is_some() {
            let _ = self.inner.store.put_ports(id, &PortRecord::default());
        }
        let mut nl = None;
        let mut changed = false;
        let mut veths = Vec::new();
        let mut released: Vec<IpAddr> = Vec::new();
        for n in st.networks.iter_mut() {
            let Some(ep) = n.endpoints.get_mut(id) else {
                continue;
            };
            if !ep.active {
                continue;
            }
            if nl.is_none() {
                nl = netlink().ok();
            }
            if let Some(nl) = nl.as_mut() {
                match nl.link_index(&endpoint::host_ifname(&ep.id)) {
                    Ok(Some(index)) => veths.push(index),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(container = id, error = %e, "removing an endpoint"),
                }
            }
            ep.active = false;
            self.inner.dns_table.remove_ip(&n.id, ep.ip);
            released.push(IpAddr::V4(ep.ip));
            if let Some(ip6) = ep.ip6 {
                self.inner.dns_table.remove_ip(&n.id, ip6);
                released.push(IpAddr::V6(ip6));
            }
            let _ = self.inner.store.put(n);
            links::refresh_aliases(&self.inner.dns_table, n);
            changed = true;
        }
        // The container is gone: its namespace takes its veths with it (a sweep deletes them
        // later if it did not).
        let container = id.to_string();
        endpoint::delete_later(veths, move |e| {
            tracing::warn!(container, error = %e, "removing an endpoint");
        });
        if changed || st.live.dns.is_empty() {
            // Deletions wait for a grace period: `rm` does not wait for them (see `firewall`).
            self.push_firewall_later(self.firewall_target(&st));
        }
        drop(st);
        self.forget_flows_later(id, released);
    }

    /// At remove: the container's endpoints and addresses go.
    pub fn forget(&self, id: &str) {
        self.detach(id);
        let mut st = self.state();
        for n in st.networks.iter_mut() {
            if let Some(ep) = n.endpoints.remove(id) {
                release_addresses(n, &ep);
                let _ = self.inner.store.put(n);
            }
        }
    }

    /// After `rename`: the endpoints carry the new name, and DNS answers it instead of the old.
    pub fn renamed(&self, id: &str, new_name: &str) {
        let mut st = self.state();
        for n in st.networks.iter_mut() {
            let has_dns = n.has_dns();
            let Some(ep) = n.endpoints.get_mut(id) else {
                continue;
            };
            ep.container_name = new_name.to_string();
            if has_dns && ep.active {
                self.inner.dns_table.remove_ip(&n.id, ep.ip);
                if let Some(ip6) = ep.ip6 {
                    self.inner.dns_table.remove_ip(&n.id, ip6);
                }
                dns::dns_insert(&self.inner.dns_table, &n.id, id, ep);
            }
            links::refresh_aliases(&self.inner.dns_table, n);
            if let Err(e) = self.inner.store.put(n) {
                tracing::warn!(container = id, error = %e, "saving a renamed endpoint");
            }
        }
    }

    /// After a daemon restart, for a container still running in `netns_path`.
    pub(crate) fn readopt(&self, id: &str, netns_path: &Path) {
        let mut st = self.state();
        // A running container's endpoint that is not active is a `network connect` a crash cut
        // short (start activates every endpoint before the process runs): roll it back, as the
        // failed connect would have, so the container and the network agree it is not a member.
        for n in st.networks.iter_mut() {
            let Some(ep) = n.endpoints.get(id).filter(|e| !e.active).cloned() else {
                continue;
            };
            tracing::warn!(container = id, network = %n.name, "rolling back a connect cut short");
            if let Ok(mut nl) = netlink() {
                let _ = endpoint::detach(&mut nl, &endpoint::host_ifname(&ep.id));
            }
            n.endpoints.remove(id);
            release_addresses(n, &ep);
            if let Err(e) = self.inner.store.put(n) {
                tracing::warn!(container = id, error = %e, "recording the rolled-back connect");
            }
        }
        let mut dns_nets = Vec::new();
        for n in st.networks.iter() {
            if let Some(ep) = n.endpoints.get(id).filter(|e| e.active) {
                if n.has_dns() {
                    dns::dns_insert(&self.inner.dns_table, &n.id, id, ep);
                    dns_nets.push(n.id.clone());
                }
            }
            links::refresh_aliases(&self.inner.dns_table, n);
        }
        dns_nets.extend(dns::alias_keys(&st.networks, id));
        if let Some(rec) = st.ports.get(id).cloned() {
            let held: Vec<_> = rec
                .mappings
                .iter()
                .filter_map(|m| berth_network::ports::hold(m.host_ip, m.host_port, m.proto).ok())
                .collect();
            st.live.ports.insert(id.to_string(), held);
        }
        if !dns_nets.is_empty() && !st.live.dns.contains_key(id) {
            let ups = dns::recorded_upstreams(&st.networks, id)
                .unwrap_or_else(|| dns::host_upstreams(&dns::host_resolv().nameservers));
            let forward = dns::forwards(&st.networks, id);
            let table = self.inner.dns_table.clone();
            match dns::DnsServer::start(id, netns_path, table, dns_nets, ups, forward) {
                Ok(s) => {
                    st.live.dns.insert(id.to_string(), s);
                }
                Err(e) => tracing::warn!(container = id, error = %e, "restarting the embedded dns"),
            }
        }
    }
}

/// Returns the endpoint's addresses to its network's pools.
pub(super) fn release_addresses(n: &mut super::model::Network, ep: &Endpoint) {
    if let Some(p) = n.pool.as_mut() {
        p.release(ep.ip);
    }
    if let (Some(p6), Some(ip6)) = (n.pool6.as_mut(), ep.ip6) {
        p6.release(ip6);
    }
}

/// The endpoint's `--link-local-ip` addresses.
pub(super) fn link_local(ep: &Endpoint) -> Vec<Ipv4Addr> {
    ep.ipam
        .as_ref()
        .map(|i| i.link_local.clone())
        .unwrap_or_default()
}
