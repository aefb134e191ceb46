//! Docker's views of a container's networking, built from what the network service holds: the
//! `NetworkSettings.Networks` entries of inspect (and, on the default bridge, its top-level
//! fields), inspect's `Ports`, and the `Ports`/`Networks` of `GET /containers/json` entries.

use std::collections::BTreeMap;
#[cfg(test)]
use std::net::Ipv4Addr;

use berth_api::container::{
    ContainerSummary, EndpointSettings, NetworkSettings, Port, PortBinding,
};
use berth_network::ports::PortMapping;

use crate::networks::views::EndpointView;
use crate::networks::NetworkService;

/// Inspect's top-level `IPAddress`, `Gateway`, ... (Docker fills them for `bridge` only).
pub fn fill_top_level(v: &EndpointView, s: &mut NetworkSettings) {
    let e = &v.endpoint;
    s.endpoint_id = e.id.clone();
    s.gateway = v.gateway.to_string();
    s.ip_address = e.ip.to_string();
    s.ip_prefix_len = i64::from(v.prefix);
    s.mac_address = e.mac.clone();
}

/// The `Networks` entry. As Docker does, a container that is not running keeps the entry
/// (network, aliases, DNS names) without the operational data: endpoint ID, address, gateway,
/// prefix length and MAC are empty until it runs again.
pub fn endpoint_settings(v: &EndpointView) -> EndpointSettings {
    let e = &v.endpoint;
    let dns_names = (!v.predefined).then(|| {
        let mut n = vec![e.container_name.clone()];
        n.extend(e.aliases.iter().cloned());
        n
    });
    if !e.active {
        return EndpointSettings {
            aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
            network_id: v.network_id.clone(),
            dns_names,
            ipam_config: ipam_config(e),
            driver_opts: e.driver_opts.clone(),
            links: links(e),
            ..Default::default()
        };
    }
    EndpointSettings {
        aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
        mac_address: e.mac.clone(),
        network_id: v.network_id.clone(),
        endpoint_id: e.id.clone(),
        gateway: v.gateway.to_string(),
        ip_address: e.ip.to_string(),
        ip_prefix_len: i64::from(v.prefix),
        ipv6_gateway: v.ipv6.map(|(gw, _)| gw.to_string()).unwrap_or_default(),
        global_ipv6_address: e.ip6.map(|ip| ip.to_string()).unwrap_or_default(),
        global_ipv6_prefix_len: e
            .ip6
            .and(v.ipv6)
            .map(|(_, prefix)| i64::from(prefix))
            .unwrap_or_default(),
        dns_names,
        ipam_config: ipam_config(e),
        driver_opts: e.driver_opts.clone(),
        links: links(e),
        ..Default::default()
    }
}

/// The entry's `Links`, as given (null when none, as Docker shows it).
fn links(e: &crate::networks::model::Endpoint) -> Option<Vec<String>> {
    (!e.links.is_empty()).then(|| e.links.iter().map(|l| l.shown()).collect())
}

/// The entry's `IPAMConfig`: what the client gave, empty fields left out as Docker does.
fn ipam_config(e: &crate::networks::model::Endpoint) -> Option<serde_json::Value> {
    let i = e.ipam.as_ref()?;
    let mut m = serde_json::Map::new();
    if let Some(ip) = i.ipv4 {
        m.insert("IPv4Address".into(), ip.to_string().into());
    }
    if let Some(ip) = i.ipv6 {
        m.insert("IPv6Address".into(), ip.to_string().into());
    }
    if !i.link_local.is_empty() {
        let ips = i.link_local.iter().map(|ip| ip.to_string().into());
        m.insert(
            "LinkLocalIPs".into(),
            serde_json::Value::Array(ips.collect()),
        );
    }
    Some(m.into())
}

/// A list entry's `Ports` (published, then exposed-only) and `NetworkSettings.Networks`.
pub fn fill_summary(
    net: &NetworkService,
    entry: &mut ContainerSummary,
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
) {
    let views = net.endpoints_of(&entry.id);
    if !views.is_empty() {
        entry.network_settings.networks = views
            .iter()
            .map(|v| (v.network_name.clone(), endpoint_settings(v)))
            .collect();
    }
    entry.ports = summary_ports(&net.ports_of(&entry.id), exposed);
}

/// Docker's `Ports` of a list entry: one per published mapping, one per exposed port without.
pub fn summary_ports(
    mappings: &[PortMapping],
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
) -> Vec<Port> {
    let mut out: Vec<Port> = mappings
        .iter()
        .flat_map(|m| {
            // A dual-stack container's port published on all addresses is on IPv6's too.
            let v6 = m.container_ip6.map(|_| "::".to_string());
            std::iter::once(Some(m.host_ip.to_string()))
                .chain(v6.map(Some))
                .map(move |ip| Port {
                    ip,
                    private_port: m.container_port,
                    public_port: Some(m.host_port),
                    kind: m.proto.to_string(),
                })
        })
        .collect();
    for key in exposed.into_iter().flat_map(|m| m.keys()) {
        let Ok(((lo, hi), proto)) = crate::networks::publish::parse_port_key(key) else {
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

/// Inspect's `NetworkSettings.Ports`: published ports with their bindings, exposed ones as null.
pub fn inspect_ports(
    mappings: &[PortMapping],
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut out: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for key in exposed.into_iter().flat_map(|m| m.keys()) {
        let key = if key.contains('/') {
            key.clone()
        } else {
            format!("{key}/tcp")
        };
        out.insert(key, None);
    }
    for m in mappings {
        let key = format!("{}/{}", m.container_port, m.proto);
        let bindings = out.entry(key).or_insert(None).get_or_insert_with(Vec::new);
        bindings.push(PortBinding {
            host_ip: m.host_ip.to_string(),
            host_port: m.host_port.to_string(),
        });
        if m.container_ip6.is_some() {
            bindings.push(PortBinding {
                host_ip: "::".into(),
                host_port: m.host_port.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::model::Endpoint;
    use berth_network::ports::Proto;

    fn view(active: bool) -> EndpointView {
        EndpointView {
            network_name: "front".into(),
            network_id: "n".repeat(64),
            endpoint: Endpoint {
                id: "e".repeat(64),
                container_name: "web".into(),
                ip: Ipv4Addr::new(10, 5, 0, 2),
                ip6: Some("2001:db8:5::2".parse().unwrap()),
                static_ip: false,
                mac: "02:42:0a:05:00:02".into(),
                aliases: vec!["svc".into()],
                active,
                ifname: "eth0".into(),
                dns_upstreams: None,
                ipam: None,
                driver_opts: None,
                links: Vec::new(),
            },
            gateway: Ipv4Addr::new(10, 5, 0, 1),
            prefix: 24,
            ipv6: Some(("2001:db8:5::1".parse().unwrap(), 64)),
            predefined: false,
        }
    }

    #[test]
    fn a_stopped_containers_entry_has_no_operational_data() {
        let running = endpoint_settings(&view(true));
        assert_eq!(running.ip_address, "10.5.0.2");
        assert_eq!(running.gateway, "10.5.0.1");
        assert_eq!(running.ip_prefix_len, 24);
        assert_eq!(running.mac_address, "02:42:0a:05:00:02");
        assert_eq!(running.endpoint_id, "e".repeat(64));
        assert_eq!(running.global_ipv6_address, "2001:db8:5::2");
        assert_eq!(running.global_ipv6_prefix_len, 64);
        assert_eq!(running.ipv6_gateway, "2001:db8:5::1");
        let stopped = endpoint_settings(&view(false));
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
        assert_eq!(
            (
                stopped.global_ipv6_address.as_str(),
                stopped.ipv6_gateway.as_str()
            ),
            ("", "")
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
            container_ip6: None,
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

    #[test]
    fn a_dual_stack_containers_port_on_all_addresses_shows_on_ipv6_too() {
        let m = PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 80,
            proto: Proto::Tcp,
            container_ip6: Some("2001:db8::2".parse().unwrap()),
        };
        let ports = summary_ports(std::slice::from_ref(&m), None);
        let ips: Vec<_> = ports.iter().map(|p| p.ip.as_deref()).collect();
        assert_eq!(ips, [Some("0.0.0.0"), Some("::")]);
        let inspect = inspect_ports(&[m], None);
        let hosts: Vec<&str> = inspect["80/tcp"]
            .iter()
            .flatten()
            .map(|b| b.host_ip.as_str())
            .collect();
        assert_eq!(hosts, ["0.0.0.0", "::"]);
    }
}
