//! Published ports of a container: its `HostConfig.PortBindings` (and, with `-P`, every exposed
//! port not bound explicitly) turned into [`PortSpec`]s, granted against the ports other
//! containers hold, and shown back as inspect's `NetworkSettings.Ports`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::container::HostConfig;
use berth_network::ports::{self, HeldPort, PortError, PortMapping, PortSpec, Proto};

use crate::error::DaemonError;

/// Splits `80/tcp` (or `80`, `80-81/udp`) into its port range and protocol.
pub fn parse_port_key(key: &str) -> Result<((u16, u16), Proto), DaemonError> {
    let bad = || DaemonError::InvalidArgument(format!("invalid port specification: {key:?}"));
    let (ports, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err(bad()),
    };
    let range = parse_range(ports).ok_or_else(bad)?;
    Ok((range, proto))
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// The port specs of a container (explicit bindings, then `-P`'s exposed ports).
pub fn specs(
    host: &HostConfig,
    exposed: Option<&BTreeMap<String, serde_json::Value>>,
) -> Result<Vec<PortSpec>, DaemonError> {
    let mut out = Vec::new();
    let bindings = host.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        let (container_ports, proto) = parse_port_key(key)?;
        for b in list.iter().flatten() {
            let host_ip = match b.host_ip.as_str() {
                "" => None,
                ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    DaemonError::InvalidArgument(format!("invalid host IP {ip:?} for port {key}"))
                })?),
            };
            let host_ports = match b.host_port.as_str() {
                "" | "0" => None,
                p => Some(parse_range(p).ok_or_else(|| {
                    DaemonError::InvalidArgument(format!("invalid host port {p:?} for port {key}"))
                })?),
            };
            out.push(PortSpec {
                host_ip,
                host_ports,
                container_ports,
                proto,
            });
        }
    }
    if host.publish_all_ports {
        for key in exposed.into_iter().flat_map(|m| m.keys()) {
            if bindings
                .get(key)
                .is_some_and(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
            {
                continue;
            }
            let (container_ports, proto) = parse_port_key(key)?;
            out.push(PortSpec {
                host_ip: None,
                host_ports: None,
                container_ports,
                proto,
            });
        }
    }
    Ok(out)
}

/// Grants every spec for a container at `ip`; nothing is held when one fails.
pub fn grant(
    specs: &[PortSpec],
    ip: Ipv4Addr,
    published: &[PortMapping],
) -> Result<Vec<(PortMapping, HeldPort)>, DaemonError> {
    let mut granted: Vec<(PortMapping, HeldPort)> = Vec::new();
    for spec in specs {
        let mut taken: Vec<PortMapping> = published.to_vec();
        taken.extend(granted.iter().map(|(m, _)| m.clone()));
        let got = ports::allocate(spec, ip, &taken).map_err(|e| match e {
            PortError::Allocated { .. } => DaemonError::Conflict(format!(
                "driver failed programming external connectivity on endpoint: {e}"
            )),
            other => DaemonError::InvalidArgument(other.to_string()),
        })?;
        granted.extend(got);
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys() {
        assert_eq!(parse_port_key("80/tcp").unwrap(), ((80, 80), Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").unwrap(), ((53, 53), Proto::Udp));
        assert_eq!(
            parse_port_key("8000-8001").unwrap(),
            ((8000, 8001), Proto::Tcp)
        );
        assert!(parse_port_key("x/tcp").is_err());
        assert!(parse_port_key("80/sctp").is_err());
    }

    #[test]
    fn specs_from_bindings_and_publish_all() {
        let host = HostConfig {
            port_bindings: Some(BTreeMap::from([(
                "80/tcp".to_string(),
                Some(vec![berth_api::container::PortBinding {
                    host_ip: "127.0.0.1".into(),
                    host_port: "8080".into(),
                }]),
            )])),
            publish_all_ports: true,
            ..Default::default()
        };
        let exposed = BTreeMap::from([
            ("80/tcp".to_string(), serde_json::json!({})),
            ("443/tcp".to_string(), serde_json::json!({})),
        ]);
        let s = specs(&host, Some(&exposed)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].host_ports, Some((8080, 8080)));
        assert_eq!(s[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s[1].container_ports, (443, 443));
        assert_eq!(s[1].host_ports, None);
    }
}
