//! Container endpoints: a veth pair per (container, network), the host end on the network's bridge, the
//! container end created directly inside the container's network namespace as `eth0`, `eth1`, ...
//!
//! The container side (address, link up, `lo` up, default route) is configured through a netlink socket
//! created inside that namespace by [`crate::netns::socket_in`], so the caller never `setns`es.
//! [`attach`] undoes its own partial work on failure; [`detach`] is a no-op when the veth is gone;
//! [`delete_later`] deletes veths off the caller's path (a stopped container's).

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use crate::bridge::valid_ifname;
use crate::netlink::{Netlink, NetlinkError, VethPeer};
use crate::netns::{socket_in, NetnsError, SocketKind};

/// Errors from endpoint setup and teardown.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint {veth}: bridge {bridge} does not exist; create the network first")]
    NoBridge { veth: String, bridge: String },
    #[error("endpoint {veth}: {source}")]
    Netlink { veth: String, source: NetlinkError },
    #[error("endpoint {veth}: {source}")]
    Netns { veth: String, source: NetnsError },
    #[error("endpoint {0}: invalid interface name; use 1 to 15 characters")]
    InvalidName(String),
    #[error("endpoint: write {path}: {source}")]
    Sysfs {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid MAC address {0:?}: expected six hex bytes such as 02:42:ac:11:00:02")]
    InvalidMac(String),
}

/// What to build for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The network's bridge.
    pub bridge: String,
    /// The host end's name (see [`host_ifname`]).
    pub host_ifname: String,
    /// The name inside the container: `eth0`, `eth1`, ...
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: [u8; 6],
    /// Install the default route via this gateway (the container's first, non-internal network).
    pub default_gateway: Option<Ipv4Addr>,
}

/// Docker's MAC for an address: 02:42 followed by the four bytes of the IPv4 address.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Parses `--mac-address` (`aa:bb:cc:dd:ee:ff` or with `-`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], EndpointError> {
    let bad = || EndpointError::InvalidMac(s.to_string());
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

/// Formats a MAC as Docker shows it (`02:42:ac:11:00:02`).
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The host end's name for an endpoint id: `veth` + 7 hex characters, stable for the id.
pub fn host_ifname(endpoint_id: &str) -> String {
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in endpoint_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("veth{:07x}", h & 0x0fff_ffff)
}

/// Creates the endpoint inside `netns` and attaches it to its bridge.
pub fn attach(
    host: &mut Netlink,
    netns: BorrowedFd<'_>,
    cfg: &EndpointConfig,
) -> Result<(), EndpointError> {
    let veth = cfg.host_ifname.clone();
    for name in [&cfg.host_ifname, &cfg.ifname] {
        if !valid_ifname(name) {
            return Err(EndpointError::InvalidName(name.clone()));
        }
    }
    let nl_err = |source| EndpointError::Netlink {
        veth: veth.clone(),
        source,
    };
    let bridge = host
        .link_index(&cfg.bridge)
        .map_err(nl_err)?
        .ok_or_else(|| EndpointError::NoBridge {
            veth: veth.clone(),
            bridge: cfg.bridge.clone(),
        })?;
    let peer = VethPeer {
        name: &cfg.ifname,
        mac: Some(cfg.mac),
        netns: Some(netns),
    };
    match host.create_veth(&cfg.host_ifname, &peer) {
        // The host end's name is the endpoint's own: a link by that name is this endpoint's
        // previous veth, whose deletion (see [`delete_later`]) has not run yet.
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            detach(host, &cfg.host_ifname)?;
            host.create_veth(&cfg.host_ifname, &peer).map_err(nl_err)?;
        }
        r => r.map_err(nl_err)?,
    }
    let result = configure(host, netns, bridge, cfg);
    if result.is_err() {
        let _ = detach(host, &cfg.host_ifname);
    }
    result
}

fn configure(
    host: &mut Netlink,
    netns: BorrowedFd<'_>,
    bridge: u32,
    cfg: &EndpointConfig,
) -> Result<(), EndpointError> {
    let veth = cfg.host_ifname.clone();
    let nl_err = |source| EndpointError::Netlink {
        veth: veth.clone(),
        source,
    };
    let missing = |name: &str| NetlinkError {
        op: "find link",
        object: name.to_string(),
        source: std::io::Error::from_raw_os_error(libc::ENODEV),
    };
    let index = host
        .link_index(&cfg.host_ifname)
        .map_err(nl_err)?
        .ok_or_else(|| nl_err(missing(&cfg.host_ifname)))?;
    host.set_master(index, bridge).map_err(nl_err)?;
    // Hairpin: with br_netfilter, a container's packet to its own published port is DNATed on the
    // bridge path and must go back out of the port it came in on.
    let hairpin = format!("/sys/class/net/{}/brport/hairpin_mode", cfg.host_ifname);
    std::fs::write(&hairpin, "1").map_err(|source| EndpointError::Sysfs {
        path: hairpin.clone(),
        source,
    })?;
    host.set_up(index).map_err(nl_err)?;

    let mut inner = container_netlink(netns).map_err(|source| match source {
        ContainerNl::Netns(source) => EndpointError::Netns {
            veth: veth.clone(),
            source,
        },
        ContainerNl::Io(source) => nl_err(NetlinkError {
            op: "open",
            object: "netlink".into(),
            source,
        }),
    })?;
    let lo = inner
        .link_index("lo")
        .map_err(nl_err)?
        .ok_or_else(|| nl_err(missing("lo")))?;
    inner.set_up(lo).map_err(nl_err)?;
    let eth = inner
        .link_index(&cfg.ifname)
        .map_err(nl_err)?
        .ok_or_else(|| nl_err(missing(&cfg.ifname)))?;
    inner.add_address(eth, cfg.ip, cfg.prefix).map_err(nl_err)?;
    inner.set_up(eth).map_err(nl_err)?;
    if let Some(gw) = cfg.default_gateway {
        inner.add_default_route(gw).map_err(nl_err)?;
    }
    Ok(())
}

enum ContainerNl {
    Netns(NetnsError),
    Io(std::io::Error),
}

fn container_netlink(netns: BorrowedFd<'_>) -> Result<Netlink, ContainerNl> {
    let sock = socket_in(netns, SocketKind::Netlink).map_err(ContainerNl::Netns)?;
    Netlink::from_socket(sock).map_err(ContainerNl::Io)
}

/// Brings up `lo` inside `netns` (for `--network none` and every container with its own stack).
pub fn loopback_up(netns: BorrowedFd<'_>) -> Result<(), EndpointError> {
    let veth = "lo".to_string();
    let mut inner = container_netlink(netns).map_err(|e| match e {
        ContainerNl::Netns(source) => EndpointError::Netns {
            veth: veth.clone(),
            source,
        },
        ContainerNl::Io(source) => EndpointError::Netlink {
            veth: veth.clone(),
            source: NetlinkError {
                op: "open",
                object: "netlink".into(),
                source,
            },
        },
    })?;
    let nl_err = |source| EndpointError::Netlink {
        veth: veth.clone(),
        source,
    };
    if let Some(lo) = inner.link_index("lo").map_err(nl_err)? {
        inner.set_up(lo).map_err(nl_err)?;
    }
    Ok(())
}

/// Deletes the endpoints whose host ends have the links `indexes` (resolved by the caller with
/// [`Netlink::link_index`]) on a thread of their own, and returns at once: the kernel takes a
/// grace period (~20 ms on a small VM) to unregister a link, which a container's stop need not
/// wait for. Indexes, not names: a new endpoint of the same name made meanwhile (a restart; see
/// [`attach`]) has another index and is left alone. Errors go to `on_error`.
pub fn delete_later(indexes: Vec<u32>, on_error: impl Fn(EndpointError) + Send + 'static) {
    if indexes.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        let mut nl = match Netlink::open() {
            Ok(nl) => nl,
            Err(e) => {
                return on_error(EndpointError::Netlink {
                    veth: format!("indexes {indexes:?}"),
                    source: NetlinkError {
                        op: "open",
                        object: "socket".into(),
                        source: e,
                    },
                })
            }
        };
        for index in indexes {
            match nl.delete_link(index) {
                Ok(()) => {}
                Err(e) if e.errno() == Some(libc::ENODEV) => {}
                Err(source) => on_error(EndpointError::Netlink {
                    veth: format!("index {index}"),
                    source,
                }),
            }
        }
    });
}

/// Deletes the endpoint's veth pair (both ends go); a missing veth is not an error.
pub fn detach(host: &mut Netlink, host_ifname: &str) -> Result<(), EndpointError> {
    let nl_err = |source| EndpointError::Netlink {
        veth: host_ifname.to_string(),
        source,
    };
    if let Some(index) = host.link_index(host_ifname).map_err(nl_err)? {
        match host.delete_link(index) {
            Err(e) if e.errno() == Some(libc::ENODEV) => {}
            r => r.map_err(nl_err)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let mac = mac_from_ip(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:AC:11:00:02").unwrap(), mac);
        assert_eq!(parse_mac("02-42-ac-11-00-02").unwrap(), mac);
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:zz").is_err());
    }

    #[test]
    fn host_ifnames_are_short_and_stable() {
        let a = host_ifname("c0ffee/net1");
        assert_eq!(a, host_ifname("c0ffee/net1"));
        assert_ne!(a, host_ifname("c0ffee/net2"));
        assert_eq!(a.len(), 11);
        assert!(valid_ifname(&a));
    }
}
