//! What the container verbs show of networking: a container's endpoints as inspect's
//! `NetworkSettings.Networks` entries (and, on the default bridge, its top-level fields), its
//! published ports, and the `Ports`/`Networks` of `GET /containers/json` entries.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::container::{ContainerSummary, EndpointSettings, NetworkSettings, Port};
use berth_network::ports::PortMapping;

use super::model::Endpoint;
use super::NetworkService;

/// One endpoint as inspect shows it.
#[derive(Debug, Clone)]
pub struct EndpointView {
    pub network_name: String,
    pub network_id: String,
    pub endpoint: Endpoint,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub predefined: bool,
}

impl EndpointView {
    /// On the predefined `bridge` network (whose endpoint inspect also shows at top level).
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.network_name == "bridge"
    }

    /// Inspect's top-level `IPAddress`, `Gateway`, ... (Docker fills them for `bridge` only).
    pub fn fill_top_level(&self, s: &mut NetworkSettings) {
        let e = &self.endpoint;
        s.endpoint_id = e.id.clone();
        s.gateway = self.gateway.to_string();
        s.ip_address = e.ip.to_string();
        s.ip_prefix_len = i64::from(self.prefix);
        s.mac_address = e.mac.clone();
    }

    /// The `Networks` entry. As Docker does, a container that is not running keeps the entry
    /// (network, aliases, DNS names) without the operational data: endpoint ID, address,
    /// gateway, prefix length and MAC are empty until it runs again.
    pub fn settings(&self) -> EndpointSettings {
        let e = &self.endpoint;
        let dns_names = (!self.predefined).then(|| {
            let mut n = vec![e.container_name.clone()];
            n.extend(e.aliases.iter().cloned());
            n
        });
        if !e.active {
            return EndpointSettings {
                aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
                network_id: self.network_id.clone(),
                dns_names,
                ..Default::default()
            };
        }
        EndpointSettings {
            aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
            mac_address: e.mac.clone(),
            network_id: self.network_id.clone(),
            endpoint_id: e.id.clone(),
            gateway: self.gateway.to_string(),
            ip_address: e.ip.to_string(),
            ip_prefix_len: i64::from(self.prefix),
            dns_names,
            ..Default::default()
        }
    }
}

impl NetworkService {
    /// The container's endpoints, primary network first.
    pub fn endpoints_of(&self, id: &str) -> Vec<EndpointView> {
        let st = self.state();
        st.networks
            .iter()
            .filter_map(|n| {
                let ep = n.endpoints.get(id)?;
                let pool = n.pool.as_ref()?;
                Some(EndpointView {
                    network_name: n.name.clone(),
                    network_id: n.id.clone(),
                    endpoint: ep.clone(),
                    gateway: pool.gateway,
                    prefix: pool.subnet.prefix(),
                    predefined: n.predefined,
                })
            })
            .collect()
    }

    /// The container's published ports (while it runs).
    pub fn ports_of(&self, id: &str) -> Vec<PortMapping> {
        self.state()
            .ports
            .get(id)
            .map(|r| r.mappings.clone())
            .unwrap_or_default()
    }

    /// A list entry's `Ports` (published, then exposed-only) and `NetworkSettings.Networks`.
    pub fn fill_summary(
        &self,
        entry: &mut ContainerSummary,
        exposed: Option<&BTreeMap<String, serde_json::Value>>,
    ) {
        let views = self.endpoints_of(&entry.id);
        if !views.is_empty() {
            entry.network_settings.networks = views
                .iter()
                .map(|v| (v.network_name.clone(), v.settings()))
                .collect();
        }
        entry.ports = summary_ports(&self.ports_of(&entry.id), exposed);
    }
}

/// Docker's `Ports` of a list entry: one per published mapping, one per exposed port without.
pub fn summary_ports(
    mappings: &[PortMapping],
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
) -> Vec<Port> {
    let mut out: Vec<Port> = mappings
        .iter()
        .map(|m| Port {
            ip: Some(m.host_ip.to_string()),
            private_port: m.container_port,
            public_port: Some(m.host_port),
            kind: m.proto.to_string(),
        })
        .collect();
    for key in exposed.into_iter().flat_map(|m| m.keys()) {
        let Ok(((lo, hi), proto)) = super::publish::parse_port_key(key) else {
            continue;
        };
        for port in lo..=hi {
            let kind = proto.to_string();
            if !out.iter().any(|p| p.private_port == port && p.kind == kind) {
                out.push(Port {
                    ip: None,
                    private_port: port,
                    public_port: None,
                    kind,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_network::ports::Proto;

    fn view(active: bool) -> EndpointView {
        EndpointView {
            network_name: "front".into(),
            network_id: "n".repeat(64),
            endpoint: Endpoint {
                id: "e".repeat(64),
                container_name: "web".into(),
                ip: Ipv4Addr::new(10, 5, 0, 2),
                static_ip: false,
                mac: "02:42:0a:05:00:02".into(),
                aliases: vec!["svc".into()],
                active,
                ifname: "eth0".into(),
                dns_upstreams: None,
            },
            gateway: Ipv4Addr::new(10, 5, 0, 1),
            prefix: 24,
            predefined: false,
        }
    }

    #[test]
    fn a_stopped_containers_entry_has_no_operational_data() {
        let running = view(true).settings();
        assert_eq!(running.ip_address, "10.5.0.2");
        assert_eq!(running.gateway, "10.5.0.1");
        assert_eq!(running.ip_prefix_len, 24);
        assert_eq!(running.mac_address, "02:42:0a:05:00:02");
        assert_eq!(running.endpoint_id, "e".repeat(64));
        let stopped = view(false).settings();
        assert_eq!(
            (
                stopped.ip_address.as_str(),
                stopped.gateway.as_str(),
                stopped.ip_prefix_len,
                stopped.mac_address.as_str(),
                stopped.endpoint_id.as_str()
            ),
            ("", "", 0, "", "")
        );
        assert_eq!(stopped.network_id, "n".repeat(64));
        assert_eq!(stopped.aliases, Some(vec!["svc".to_string()]));
        assert_eq!(stopped.dns_names, running.dns_names);
    }

    #[test]
    fn list_ports_show_published_then_exposed() {
        let m = PortMapping {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 8080,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 80,
            proto: Proto::Tcp,
        };
        let exposed = BTreeMap::from([
            ("80/tcp".to_string(), serde_json::json!({})),
            ("53/udp".to_string(), serde_json::json!({})),
        ]);
        let ports = summary_ports(&[m], Some(&exposed));
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert_eq!(ports[0].ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(ports[0].public_port, Some(8080));
        assert_eq!(ports[1].private_port, 53);
        assert_eq!(ports[1].kind, "udp");
        assert_eq!(ports[1].public_port, None);
    }
}
