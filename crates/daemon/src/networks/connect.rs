//! `network connect` and `network disconnect` of a container, running or not: the endpoint
//! registered (addresses allocated) or removed, and for a running container its veth, DNS
//! names and embedded DNS server, link aliases, conntrack entries and the firewall brought along.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::Path;

use berth_network::endpoint::{self, EndpointConfig};

use super::endpoints::{link_local, mode_network, release_addresses};
use super::model::EndpointRequest;
use super::{dns, internal, links, netlink, NetworkService};
use crate::containers::model::Container;
use crate::error::DaemonError;

impl NetworkService {
    /// `POST /networks/{id}/connect`; `running_netns` is the container's namespace when it runs.
    pub fn connect(
        &self,
        net: &str,
        c: &Container,
        cfg: Option<&EndpointRequest>,
        running_netns: Option<&Path>,
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        if mode_network(&mode).is_none() {
            return Err(DaemonError::InvalidArgument(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network ({mode})"
            )));
        }
        let i = {
            let mut st = self.state();
            self.add_endpoint(&mut st, net, c, cfg, None)?
        };
        let Some(netns_path) = running_netns else {
            return Ok(());
        };
        let r = self.attach_one(i, c, netns_path);
        if r.is_err() {
            let _ = self.disconnect(net, &c.id, true, Some(netns_path));
        }
        r
    }

    fn attach_one(&self, i: usize, c: &Container, netns_path: &Path) -> Result<(), DaemonError> {
        let ns = berth_network::netns::open(netns_path)
            .map_err(|e| internal("opening the container's network namespace", e))?;
        let mut nl = netlink()?;
        let mut st = self.state();
        let k = st
            .networks
            .iter()
            .filter(|n| n.endpoints.get(&c.id).is_some_and(|e| e.active))
            .count();
        let n = &mut st.networks[i];
        let pool = n
            .pool
            .clone()
            .ok_or_else(|| internal("connecting", "network has no pool"))?;
        let prefix6 = n.pool6.as_ref().map(|p| p.subnet.prefix());
        let has_dns = n.has_dns();
        let ep = n
            .endpoints
            .get_mut(&c.id)
            .ok_or_else(|| internal("connecting", "endpoint vanished"))?;
        ep.ifname = format!("eth{k}");
        let cfg = EndpointConfig {
            bridge: n.bridge.clone(),
            host_ifname: endpoint::host_ifname(&ep.id),
            ifname: ep.ifname.clone(),
            ip: ep.ip,
            prefix: pool.subnet.prefix(),
            mac: endpoint::parse_mac(&ep.mac).unwrap_or_else(|_| endpoint::mac_from_ip(ep.ip)),
            default_gateway: None,
            link_local: link_local(ep),
            ip6: ep.ip6.zip(prefix6),
            default_gateway6: None,
        };
        let addrs: Vec<IpAddr> = std::iter::once(IpAddr::V4(ep.ip))
            .chain(ep.ip6.map(IpAddr::V6))
            .collect();
        self.wait_for_flows(&addrs);
        endpoint::attach(&mut nl, ns.as_fd(), &cfg).map_err(|e| internal("connecting", e))?;
        crate::fault::crash_point!("network.connect.after-veth");
        ep.active = true;
        let ups = dns::host_upstreams(&dns::upstreams(c));
        if has_dns {
            ep.dns_upstreams = Some(ups.clone());
            dns::dns_insert(&self.inner.dns_table, &n.id, &c.id, ep);
        }
        self.inner.store.put(n)?;
        links::refresh_aliases(&self.inner.dns_table, n);
        let nets = dns::dns_networks(&st.networks, &c.id);
        dns::restart_dns(self, &mut st, &c.id, netns_path, nets, ups)?;
        self.apply_firewall(&st)
    }

    /// `POST /networks/{id}/disconnect`; `running_netns` is the container's namespace when it
    /// runs (its embedded DNS then goes on serving the networks it is still on).
    pub fn disconnect(
        &self,
        net: &str,
        container_id: &str,
        _force: bool,
        running_netns: Option<&Path>,
    ) -> Result<(), DaemonError> {
        let mut st = self.state();
        let i = Self::find(&st.networks, net)?;
        let n = &mut st.networks[i];
        let Some(ep) = n.endpoints.remove(container_id) else {
            return Err(not_connected(
                container_id,
                &n.name,
                running_netns.is_some(),
            ));
        };
        if ep.active {
            if let Ok(mut nl) = netlink() {
                let _ = endpoint::detach(&mut nl, &endpoint::host_ifname(&ep.id));
            }
            self.inner.dns_table.remove_ip(&n.id, ep.ip);
            let mut flows = vec![IpAddr::V4(ep.ip)];
            if let Some(ip6) = ep.ip6 {
                self.inner.dns_table.remove_ip(&n.id, ip6);
                flows.push(IpAddr::V6(ip6));
            }
            self.forget_flows_later(container_id, flows);
        }
        release_addresses(n, &ep);
        self.inner.store.put(n)?;
        self.inner
            .dns_table
            .remove_network(&links::alias_key(&n.id, container_id));
        links::refresh_aliases(&self.inner.dns_table, n);
        if let Some(server) = st.live.dns.remove(container_id) {
            let upstreams = server.upstreams.clone();
            server.stop();
            let nets = dns::dns_networks(&st.networks, container_id);
            if let (Some(ns), false) = (running_netns, nets.is_empty()) {
                let server = dns::DnsServer::start(
                    container_id,
                    ns,
                    self.inner.dns_table.clone(),
                    nets,
                    upstreams,
                    dns::forwards(&st.networks, container_id),
                )?;
                st.live.dns.insert(container_id.to_string(), server);
            }
        }
        self.apply_firewall(&st)
    }
}

/// `network disconnect` of a container that is not on the network: moby answers with a plain
/// error (500), worded differently for a running container and a stopped one.
fn not_connected(container_id: &str, network: &str, running: bool) -> DaemonError {
    let the = if running { "" } else { "the " };
    DaemonError::Internal(format!(
        "container {container_id} is not connected to {the}network {network}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnecting_a_non_member_is_mobys_plain_error() {
        let e = not_connected("abc", "front", true);
        assert!(
            matches!(&e, DaemonError::Internal(m) if m == "container abc is not connected to network front")
        );
        let e = not_connected("abc", "front", false);
        assert!(
            matches!(&e, DaemonError::Internal(m) if m == "container abc is not connected to the network front")
        );
    }
}
