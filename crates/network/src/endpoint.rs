//! Container endpoints: a veth pair per (container, network), the host end on the network's bridge, the
//! container end created directly inside the container's network namespace as `eth0`, `eth1`, ...
//!
//! The container side (`lo` up, addresses, default routes; on a dual-stack network IPv6 enabled
//! in the namespace first, its sysctls written from the helper thread) is configured through a netlink socket
//! opened by a helper thread inside that namespace ([`crate::netns::run_in`]); the caller's own
//! threads never `setns`.
//! [`attach`] makes the pair, enslaves and raises the host end in one request, and undoes its own
//! partial work on failure; [`detach`] is a no-op when the veth is gone; [`delete_later`] sweeps a
//! stopped container's veths off the caller's path, if the kernel has not deleted them already.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::BorrowedFd;

use crate::ifname::IfName;
use crate::netlink::{Netlink, NetlinkError, VethPeer};
use crate::netns::{run_in, NetnsError};

/// Errors from endpoint setup and teardown.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint {veth}: bridge {bridge} does not exist; create the network first")]
    NoBridge { veth: String, bridge: String },
    #[error("endpoint {veth}: {source}")]
    Netlink { veth: String, source: NetlinkError },
    #[error("endpoint {veth}: {source}")]
    Netns { veth: String, source: NetnsError },
    #[error("endpoint {veth}: {source}")]
    InvalidName {
        veth: String,
        source: crate::ifname::InvalidIfName,
    },
    #[error("invalid MAC address {0:?}: expected six hex bytes such as 02:42:ac:11:00:02")]
    InvalidMac(String),
    #[error("endpoint {veth}: enable IPv6 in the container ({path}): {source}")]
    Sysctl {
        veth: String,
        path: String,
        source: std::io::Error,
    },
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
    /// `--link-local-ip` addresses, added beside `ip` as /16 (as Docker adds them).
    pub link_local: Vec<Ipv4Addr>,
    /// The IPv6 address and prefix length on a dual-stack network.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// Install the IPv6 default route via this gateway.
    pub default_gateway6: Option<Ipv6Addr>,
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
    for name in [&cfg.bridge, &cfg.host_ifname, &cfg.ifname] {
        IfName::new(name).map_err(|source| EndpointError::InvalidName {
            veth: veth.clone(),
            source,
        })?;
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
    // Both ends made, the host end on the bridge and up, in one request.
    match host.create_veth(&cfg.host_ifname, Some(bridge), &peer) {
        // The host end's name is the endpoint's own: a link by that name is this endpoint's
        // previous veth, whose deletion (see [`delete_later`]) has not run yet.
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            detach(host, &cfg.host_ifname)?;
            host.create_veth(&cfg.host_ifname, Some(bridge), &peer)
                .map_err(nl_err)?;
        }
        r => r.map_err(nl_err)?,
    }
    // Hairpin: with br_netfilter, a container's packet to its own published port is DNATed on
    // the bridge path and must go back out of the port it came in on.
    let result = host
        .set_hairpin(&cfg.host_ifname)
        .map_err(nl_err)
        .and_then(|()| configure(netns, cfg));
    if result.is_err() {
        let _ = detach(host, &cfg.host_ifname);
    }
    result
}

/// The container side of [`attach`], inside the namespace: `lo` up, the addresses, the link up
/// and the default route.
fn configure(netns: BorrowedFd<'_>, cfg: &EndpointConfig) -> Result<(), EndpointError> {
    let cfg = cfg.clone();
    in_netns(netns, &cfg.host_ifname.clone(), move |inner, nl_err| {
        if let Some(lo) = inner.link_index("lo").map_err(nl_err)? {
            inner.set_up(lo).map_err(nl_err)?;
        }
        let eth = inner
            .link_index(&cfg.ifname)
            .map_err(nl_err)?
            .ok_or_else(|| {
                nl_err(NetlinkError {
                    op: "find link",
                    object: cfg.ifname.clone(),
                    source: std::io::Error::from_raw_os_error(libc::ENODEV),
                })
            })?;
        inner.add_address(eth, cfg.ip, cfg.prefix).map_err(nl_err)?;
        for ip in &cfg.link_local {
            inner.add_address(eth, *ip, 16).map_err(nl_err)?;
        }
        if let Some((ip6, prefix6)) = cfg.ip6 {
            enable_ipv6(&cfg.host_ifname, &cfg.ifname)?;
            inner.add_address6(eth, ip6, prefix6).map_err(nl_err)?;
        }
        inner.set_up(eth).map_err(nl_err)?;
        if let Some(gw) = cfg.default_gateway {
            inner.add_default_route(gw).map_err(nl_err)?;
        }
        if let Some(gw6) = cfg.default_gateway6 {
            inner.add_default_route6(gw6).map_err(nl_err)?;
        }
        Ok(())
    })
}

/// Turns IPv6 on (`disable_ipv6=0`) for the whole namespace and for `ifname`, as Docker does for
/// a container on an IPv6 network (an image or a host default may have it off). Called on a
/// thread inside the namespace: `/proc/sys/net` is that namespace's.
fn enable_ipv6(veth: &str, ifname: &str) -> Result<(), EndpointError> {
    for scope in ["all", "default", ifname] {
        let path = format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6");
        let write = std::fs::read_to_string(&path).and_then(|v| {
            if v.trim() == "0" {
                Ok(())
            } else {
                std::fs::write(&path, "0")
            }
        });
        if let Err(source) = write {
            return Err(EndpointError::Sysctl {
                veth: veth.to_string(),
                path,
                source,
            });
        }
    }
    Ok(())
}

/// Runs `f` with a netlink socket of the namespace `netns` ([`crate::netns::run_in`]) and a
/// maker of errors naming `what` (the endpoint).
fn in_netns(
    netns: BorrowedFd<'_>,
    what: &str,
    f: impl FnOnce(&mut Netlink, &dyn Fn(NetlinkError) -> EndpointError) -> Result<(), EndpointError>
        + Send
        + 'static,
) -> Result<(), EndpointError> {
    let name = what.to_string();
    let inner_name = name.clone();
    run_in(netns, move || {
        let nl_err = |source| EndpointError::Netlink {
            veth: inner_name.clone(),
            source,
        };
        let mut nl = Netlink::open().map_err(|source| {
            nl_err(NetlinkError {
                op: "open",
                object: "netlink".into(),
                source,
            })
        })?;
        f(&mut nl, &nl_err)
    })
    .map_err(|source| EndpointError::Netns { veth: name, source })?
}

/// Brings up `lo` inside `netns` (for `--network none` and every container with its own stack).
pub fn loopback_up(netns: BorrowedFd<'_>) -> Result<(), EndpointError> {
    in_netns(netns, "lo", |nl, nl_err| {
        if let Some(lo) = nl.link_index("lo").map_err(nl_err)? {
            nl.set_up(lo).map_err(nl_err)?;
        }
        Ok(())
    })
}

/// How long [`delete_later`] leaves the kernel to delete a stopped container's veths itself.
pub const LATE_DELETE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Deletes the endpoints whose host ends have the links `indexes` (resolved by the caller with
/// [`Netlink::link_index`]) on a thread of their own, [`LATE_DELETE_AFTER`] from now, and returns
/// at once. A stopped container's veths need no deletion as a rule: their inner ends live in its
/// namespace, and when that goes the kernel deletes both ends in the same teardown. Deleting
/// them first costs a second unregistration, which holds the rtnl lock through a grace period
/// (~10–20 ms on a small VM) that the next container's start would wait behind. So this only
/// sweeps what is still there later (a namespace kept alive by someone else). Indexes, not
/// names: a new endpoint of the same name made meanwhile (a restart; see [`attach`]) has
/// another index and is left alone. Errors go to `on_error`.
pub fn delete_later(indexes: Vec<u32>, on_error: impl Fn(EndpointError) + Send + 'static) {
    if indexes.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        std::thread::sleep(LATE_DELETE_AFTER);
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
        assert!(IfName::new(&a).is_ok());
    }
}
