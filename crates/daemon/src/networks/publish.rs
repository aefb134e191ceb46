//! Published ports of a container: its [`Ports`] (explicit publications and, with `publish_all`,
//! every exposed port not published explicitly) turned into [`PortSpec`]s and granted against
//! the ports other containers hold.

use std::net::{Ipv4Addr, Ipv6Addr};

use berth_network::ports::{self, HeldPort, PortError, PortMapping, PortSpec, Proto};

use crate::containers::settings::{PortRange, Ports};
use crate::error::DaemonError;

/// Splits `80/tcp` (or `80`, `80-81/udp`) into its port range and protocol (the keys of an
/// image's `ExposedPorts` and of Docker's port maps).
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

/// `80` or `8000-8001`, ports above zero, first not above last.
pub fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// A port key as a [`PortRange`].
pub fn port_range(key: &str) -> Result<PortRange, DaemonError> {
    let ((first, last), proto) = parse_port_key(key)?;
    Ok(PortRange { first, last, proto })
}

/// The exposed ports of `keys` (`ExposedPorts`' keys). A key that is not a port is an error
/// when the ports are to be published (`strict`), else left out.
pub fn exposed<'a>(
    keys: impl Iterator<Item = &'a str>,
    strict: bool,
) -> Result<Vec<PortRange>, DaemonError> {
    let mut out = Vec::new();
    for key in keys {
        match port_range(key) {
            Ok(r) => out.push(r),
            Err(e) if strict => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The port specs of a container (explicit publications, then with `publish_all` its exposed
/// ports that have none).
pub fn specs(ports: &Ports) -> Vec<PortSpec> {
    let mut out: Vec<PortSpec> = ports
        .published
        .iter()
        .map(|p| PortSpec {
            host_ip: p.host_ip,
            host_ports: p.host_ports,
            container_ports: (p.container.first, p.container.last),
            proto: p.container.proto,
        })
        .collect();
    if ports.publish_all {
        for e in &ports.exposed {
            if ports.published.iter().any(|p| p.container == *e) {
                continue;
            }
            out.push(PortSpec {
                host_ip: None,
                host_ports: None,
                container_ports: (e.first, e.last),
                proto: e.proto,
            });
        }
    }
    out
}

/// Grants every spec for a container at `ip` (and `ip6`, for ports published on all addresses
/// of a dual-stack container); nothing is held when one fails.
pub fn grant(
    specs: &[PortSpec],
    ip: Ipv4Addr,
    ip6: Option<Ipv6Addr>,
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
        granted.extend(got.into_iter().map(|(mut m, held)| {
            // Published on all addresses: the host's IPv6 ones too, on a dual-stack network.
            if m.host_ip.is_unspecified() {
                m.container_ip6 = ip6;
            }
            (m, held)
        }));
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
    fn publish_all_adds_the_exposed_ports_not_published() {
        let tcp = |n| PortRange {
            first: n,
            last: n,
            proto: Proto::Tcp,
        };
        let ports = Ports {
            published: vec![crate::containers::settings::PublishedPort {
                container: tcp(80),
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_ports: Some((8080, 8080)),
            }],
            publish_all: true,
            exposed: vec![tcp(80), tcp(443)],
        };
        let s = specs(&ports);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].host_ports, Some((8080, 8080)));
        assert_eq!(s[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s[1].container_ports, (443, 443));
        assert_eq!(s[1].host_ports, None);
        let exposed = exposed(["80/tcp", "bogus"].iter().copied(), false).unwrap();
        assert_eq!(exposed, vec![tcp(80)]);
        assert!(super::exposed(["bogus"].iter().copied(), true).is_err());
    }
}
