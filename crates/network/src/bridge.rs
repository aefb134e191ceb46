//! Linux bridges: one per Berth network, holding the network's gateway address (and, on a
//! dual-stack network, its IPv6 gateway: [`ensure6`]).
//!
//! [`ensure`] is idempotent (creates what is missing, keeps what is there) so the daemon can call it at
//! every start; [`remove`] is a no-op when the bridge is already gone.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ifname::IfName;
use crate::ipam::{choose_default_subnet, IpamError, Subnet};
use crate::netlink::{Netlink, NetlinkError};

/// The default bridge network's Linux bridge (Docker's `docker0`).
pub const DEFAULT_BRIDGE: &str = "berth0";

/// Errors from bridge management.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("bridge {name}: {source}")]
    Netlink { name: String, source: NetlinkError },
    #[error("bridge {name}: a link of that name exists but could not be found again")]
    Vanished { name: String },
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error("bridge {name}: set {path}: {source}")]
    Sysctl {
        name: String,
        path: String,
        source: std::io::Error,
    },
}

/// Creates bridge `name` if missing, gives it `gateway/prefix` and brings it up; returns its index.
pub fn ensure(
    nl: &mut Netlink,
    name: &IfName,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<u32, BridgeError> {
    let name = name.as_str();
    let wrap = |source| BridgeError::Netlink {
        name: name.to_string(),
        source,
    };
    let index = match nl.link_index(name).map_err(wrap)? {
        Some(i) => i,
        None => {
            match nl.create_bridge(name) {
                Err(e) if e.errno() == Some(libc::EEXIST) => {}
                r => r.map_err(wrap)?,
            }
            nl.link_index(name)
                .map_err(wrap)?
                .ok_or_else(|| BridgeError::Vanished {
                    name: name.to_string(),
                })?
        }
    };
    refuse_router_advertisements(name)?;
    nl.add_address(index, gateway, prefix).map_err(wrap)?;
    nl.set_up(index).map_err(wrap)?;
    Ok(index)
}

/// `accept_ra=0` on bridge `name`, as Docker sets it since CVE-2020-13401: a container (with
/// CAP_NET_RAW, a default) could otherwise send a router advertisement to the bridge and give the
/// host an IPv6 default route through itself. A host without IPv6 has no such setting.
fn refuse_router_advertisements(name: &str) -> Result<(), BridgeError> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/accept_ra");
    let current = match std::fs::read_to_string(&path) {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BridgeError::Sysctl {
                name: name.to_string(),
                path,
                source,
            })
        }
    };
    if current.trim() != "0" {
        std::fs::write(&path, "0").map_err(|source| BridgeError::Sysctl {
            name: name.to_string(),
            path,
            source,
        })?;
    }
    Ok(())
}

/// Gives bridge `name` (made by [`ensure`]) the IPv6 gateway `gateway/prefix`, IPv6 enabled on
/// it first (a host whose `default.disable_ipv6` is 1 makes bridges without it).
pub fn ensure6(
    nl: &mut Netlink,
    name: &IfName,
    gateway: Ipv6Addr,
    prefix: u8,
) -> Result<(), BridgeError> {
    let name = name.as_str();
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    let sysctl = |source| BridgeError::Sysctl {
        name: name.to_string(),
        path: path.clone(),
        source,
    };
    if std::fs::read_to_string(&path).map_err(sysctl)?.trim() != "0" {
        std::fs::write(&path, "0").map_err(sysctl)?;
    }
    let wrap = |source| BridgeError::Netlink {
        name: name.to_string(),
        source,
    };
    let index = nl
        .link_index(name)
        .map_err(wrap)?
        .ok_or_else(|| BridgeError::Vanished {
            name: name.to_string(),
        })?;
    nl.add_address6(index, gateway, prefix).map_err(wrap)
}

/// Deletes bridge `name`; a missing bridge is not an error. Any name goes (netlink takes it as
/// bytes), so a bridge made under rules older than [`IfName`]'s can still be removed.
pub fn remove(nl: &mut Netlink, name: &str) -> Result<(), BridgeError> {
    let wrap = |source| BridgeError::Netlink {
        name: name.to_string(),
        source,
    };
    if let Some(index) = nl.link_index(name).map_err(wrap)? {
        match nl.delete_link(index) {
            Err(e) if e.errno() == Some(libc::ENODEV) => {}
            r => r.map_err(wrap)?,
        }
    }
    Ok(())
}

/// A subnet for a new network that clashes neither with the host's routes nor with `existing`.
pub fn pick_subnet(nl: &mut Netlink, existing: &[Subnet]) -> Result<Subnet, BridgeError> {
    let routes = nl.ipv4_routes().map_err(|source| BridgeError::Netlink {
        name: "(routes)".to_string(),
        source,
    })?;
    Ok(choose_default_subnet(&routes, existing)?)
}
