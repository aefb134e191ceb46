//! Published ports: parsing `-p [ip:][host[-end]:]container[-end][/tcp|udp]`, conflict checks, and
//! host-port allocation (explicit, from a host range, or ephemeral for `-P`).
//!
//! A granted port comes with a [`HeldPort`]: a socket bound (not listening) to the host address and
//! port, which the daemon keeps while the mapping exists so no other program takes the port under NAT.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
use serde::{Deserialize, Serialize};

/// Errors from port publishing; texts follow Docker's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error("invalid port specification: {0:?}")]
    Invalid(String),
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated { ip: Ipv4Addr, port: u16 },
    #[error("no free host port in {first}-{last} for {proto}")]
    Exhausted { first: u16, last: u16, proto: Proto },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One parsed `-p` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `None` means all addresses (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// `None` means an ephemeral port; a range of one port is an exact port.
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub proto: Proto,
}

fn port_range(s: &str, whole: &str) -> Result<(u16, u16), PortError> {
    let bad = || PortError::Invalid(whole.to_string());
    let num = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(bad);
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses one `-p` value.
pub fn parse_publish(s: &str) -> Result<PortSpec, PortError> {
    let bad = || PortError::Invalid(s.to_string());
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some(_) => return Err(bad()),
        None => (s, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), Some(*h), *c),
        _ => return Err(bad()),
    };
    let host_ip = match ip {
        None | Some("") | Some("0.0.0.0") => None,
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| bad())?),
    };
    let host_ports = match host {
        None | Some("") => None,
        Some(h) => Some(port_range(h, s)?),
    };
    let container_ports = port_range(container, s)?;
    if let Some((a, b)) = host_ports {
        let (ca, cb) = container_ports;
        // Equal-length ranges map one to one; one container port may take any port of a host range.
        if b - a != cb - ca && ca != cb {
            return Err(bad());
        }
    }
    Ok(PortSpec {
        host_ip,
        host_ports,
        container_ports,
        proto,
    })
}

/// One published port, as the firewall programs it and the daemon stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// 0.0.0.0 for all of the host's addresses.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub proto: Proto,
    /// The container's IPv6 address on a dual-stack network, for a port published on all
    /// addresses: traffic to the host's IPv6 addresses (not `::1`) goes there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_ip6: Option<std::net::Ipv6Addr>,
}

impl PortMapping {
    fn clashes(&self, ip: Ipv4Addr, port: u16, proto: Proto) -> bool {
        self.proto == proto
            && self.host_port == port
            && (self.host_ip == ip || self.host_ip.is_unspecified() || ip.is_unspecified())
    }
}

/// The socket holding a published host port.
#[derive(Debug)]
pub struct HeldPort(pub OwnedFd);

/// Binds `ip:port` to check that no other program uses it, and keeps it.
pub fn hold(ip: Ipv4Addr, port: u16, proto: Proto) -> Result<HeldPort, PortError> {
    let taken = || PortError::Allocated { ip, port };
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None).map_err(|_| taken())?;
    // No SO_REUSEADDR: two non-listening sockets with it may share a port, and the held socket must
    // keep the port from every other program and from the next `hold`.
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(SocketAddrV4::new(ip, port)),
    )
    .map_err(|_| taken())?;
    Ok(HeldPort(fd))
}

/// The host's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), Docker's for `-P`.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b && *a > 0)
        .unwrap_or((32768, 60999))
}

/// Grants the host ports of `spec` for a container at `container_ip`, refusing ports that are in
/// `published` or bound by another program. Returns the mappings with their held sockets.
pub fn allocate(
    spec: &PortSpec,
    container_ip: Ipv4Addr,
    published: &[PortMapping],
) -> Result<Vec<(PortMapping, HeldPort)>, PortError> {
    let ip = spec.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let try_port = |port: u16| -> Result<HeldPort, PortError> {
        if published.iter().any(|m| m.clashes(ip, port, spec.proto)) {
            return Err(PortError::Allocated { ip, port });
        }
        hold(ip, port, spec.proto)
    };
    let (ca, cb) = spec.container_ports;
    let map = |host_port, container_port| PortMapping {
        host_ip: ip,
        host_port,
        container_ip,
        container_port,
        proto: spec.proto,
        container_ip6: None,
    };
    match spec.host_ports {
        Some((ha, hb)) if hb - ha == cb - ca => (ha..=hb)
            .zip(ca..=cb)
            .map(|(h, c)| Ok((map(h, c), try_port(h)?)))
            .collect(),
        // One container port, a range of host ports: the first free one.
        Some((ha, hb)) => {
            pick(ha, hb, spec.proto, try_port).map(|(h, held)| vec![(map(h, ca), held)])
        }
        None => {
            let (ea, eb) = ephemeral_range();
            let mut out = Vec::new();
            for c in ca..=cb {
                let taken: Vec<u16> = out
                    .iter()
                    .map(|(m, _): &(PortMapping, _)| m.host_port)
                    .collect();
                let (h, held) = pick(ea, eb, spec.proto, |p| {
                    if taken.contains(&p) {
                        Err(PortError::Allocated { ip, port: p })
                    } else {
                        try_port(p)
                    }
                })?;
                out.push((map(h, c), held));
            }
            Ok(out)
        }
    }
}

fn pick(
    first: u16,
    last: u16,
    proto: Proto,
    mut try_port: impl FnMut(u16) -> Result<HeldPort, PortError>,
) -> Result<(u16, HeldPort), PortError> {
    (first..=last)
        .find_map(|p| try_port(p).ok().map(|h| (p, h)))
        .ok_or(PortError::Exhausted { first, last, proto })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_publish_forms() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports, p.proto),
            (None, Some((8080, 8080)), (80, 80), Proto::Tcp)
        );
        let p = parse_publish("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(
            (p.host_ip, p.proto),
            (Some(Ipv4Addr::LOCALHOST), Proto::Udp)
        );
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(p.host_ports, None);
        let p = parse_publish("80").unwrap();
        assert_eq!((p.host_ports, p.container_ports), (None, (80, 80)));
        let p = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports),
            (Some((8000, 8002)), (80, 82))
        );
        assert!(parse_publish("8000-8002:80").is_ok());
        for bad in [
            "8000-8002:80-81",
            "x:80",
            "80/sctp",
            "0:80",
            "1.2.3:80:80",
            "90-80:80",
            "a:b:c:d",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn published_ports_clash_with_dockers_error() {
        let c = Ipv4Addr::new(10, 0, 0, 2);
        let existing = PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 18080,
            container_ip: c,
            container_port: 80,
            proto: Proto::Tcp,
            container_ip6: None,
        };
        let err = allocate(
            &parse_publish("18080:80").unwrap(),
            c,
            std::slice::from_ref(&existing),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bind for 0.0.0.0:18080 failed: port is already allocated"
        );
        let err = allocate(
            &parse_publish("127.0.0.1:18080:80").unwrap(),
            c,
            std::slice::from_ref(&existing),
        );
        assert!(err.is_err());
        assert!(allocate(&parse_publish("18080:80/udp").unwrap(), c, &[existing]).is_ok());
    }

    #[test]
    fn a_bound_port_is_refused_and_ephemeral_ports_are_granted() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let spec = parse_publish(&format!("127.0.0.1:{port}:80")).unwrap();
        let err = allocate(&spec, Ipv4Addr::new(10, 0, 0, 2), &[]).unwrap_err();
        assert_eq!(
            err,
            PortError::Allocated {
                ip: Ipv4Addr::LOCALHOST,
                port
            }
        );

        let got = allocate(
            &parse_publish("127.0.0.1::80-81").unwrap(),
            Ipv4Addr::new(10, 0, 0, 2),
            &[],
        )
        .unwrap();
        let (lo, hi) = ephemeral_range();
        assert_eq!(got.len(), 2);
        assert_ne!(got[0].0.host_port, got[1].0.host_port);
        assert!(got.iter().all(|(m, _)| (lo..=hi).contains(&m.host_port)));
    }
}
