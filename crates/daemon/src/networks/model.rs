//! The network records the daemon persists: a [`Network`] (Docker's network object in Berth's own
//! vocabulary) with its address pool and its [`Endpoint`]s, one per container on it, and the
//! published ports of running containers ([`PortRecord`]).
//!
//! An endpoint is *registered* (address allocated, kept across restarts) from the container's
//! create or `network connect` until its removal or `network disconnect`; it is *active* (a veth
//! exists in the container's namespace) while the container runs.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use berth_network::ifname::IfName;
use berth_network::ipam::Pool;
use berth_network::ipam6::Pool6;
use berth_network::ports::PortMapping;
use serde::{Deserialize, Serialize};

use super::links::LinkSpec;

/// Which kind of network this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with NAT (the default `bridge` and every user network).
    Bridge,
    /// The predefined `host` network (the host's own stack).
    Host,
    /// The predefined `none` network (loopback only).
    Null,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// 64 lowercase hex digits.
    pub id: String,
    pub name: String,
    /// Nanoseconds since the epoch.
    pub created: i64,
    pub driver: Driver,
    /// The Linux bridge (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    /// The address pool (bridge driver only).
    #[serde(default)]
    pub pool: Option<Pool>,
    /// The IPv6 pool of a dual-stack network (`--ipv6`; `EnableIPv6` shows whether there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool6: Option<Pool6>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The driver options as given (inspect echoes them; compose compares them with its file).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// What create was given for the IPAM, echoed by inspect.
    #[serde(default)]
    pub ipam: IpamGiven,
    #[serde(default)]
    pub attachable: bool,
    /// `bridge`, `host`, `none`: made by the daemon, never removed.
    #[serde(default)]
    pub predefined: bool,
    /// Container ID → its endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl Network {
    /// Whether the network is dual-stack (`EnableIPv6`).
    pub fn ipv6(&self) -> bool {
        self.pool6.is_some()
    }

    /// User-defined networks get the embedded DNS server.
    pub fn has_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.predefined
    }

    /// The bridge as the firewall and the bridge functions take it; `None` (logged) for a
    /// record from before names were checked whose name is not a valid one now: such a
    /// network gets no bridge, no rules and no endpoints, and can only be removed.
    pub fn checked_bridge(&self) -> Option<IfName> {
        match IfName::new(&self.bridge) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(network = %self.name, error = %e, "ignoring the network's bridge; remove the network");
                None
            }
        }
    }
}

/// What `network create` was given for the address pool, beyond the [`Pool`] it made: inspect
/// echoes the request as Docker does (`IPAM.Options` null when none was sent; a given subnet's
/// config shows the gateway only when it was given too). Records from before it was kept read
/// as "nothing given": inspect shows the pool's subnet and gateway, as for an allocated subnet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamGiven {
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// The request named a subnet.
    #[serde(default)]
    pub subnet: bool,
    /// The request named a gateway.
    #[serde(default)]
    pub gateway: bool,
    /// `--aux-address NAME=IP`: reserved in the pool, never handed out.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// The request named an IPv6 subnet (else one was chosen: a unique local /64).
    #[serde(default)]
    pub subnet6: bool,
    /// The request named an IPv6 gateway.
    #[serde(default)]
    pub gateway6: bool,
}

/// An endpoint's `IPAMConfig` as the client gave it (`--ip`, `--ip6`, `--link-local-ip`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointIpam {
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// Added to the container's interface (as /16, as Docker does).
    #[serde(default)]
    pub link_local: Vec<Ipv4Addr>,
}

/// What a container asks of its endpoint on one network (at create or connect), parsed by a
/// front door.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointRequest {
    /// Further names the container answers to on the network.
    pub aliases: Vec<String>,
    /// Addresses asked for; `None` when the client sent no address configuration.
    pub ipam: Option<EndpointIpam>,
    /// The MAC address asked for (as the client wrote it; checked when the endpoint is made).
    pub mac_address: Option<String>,
    /// Options for the network driver.
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Legacy links on a user-defined network: names only its embedded DNS answers
    /// ([`super::links::refresh_aliases`]).
    pub links: Vec<LinkSpec>,
}

/// One container's membership of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 lowercase hex digits.
    pub id: String,
    /// The container's name (without `/`), for DNS and inspect.
    pub container_name: String,
    pub ip: Ipv4Addr,
    /// The IPv6 address on a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// `--ip`: kept when the container restarts.
    #[serde(default)]
    pub static_ip: bool,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The veth exists (the container runs).
    #[serde(default)]
    pub active: bool,
    /// The interface inside the container (`eth0`, ...).
    #[serde(default)]
    pub ifname: String,
    /// Where the container's embedded DNS forwards (its `--dns` servers, else the host's), as
    /// recorded when it started on this network (user-defined networks only): a daemon restart
    /// serves the same upstreams again. `None` in records from before it was kept.
    #[serde(default)]
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// `IPAMConfig` as given (`None`: none was).
    #[serde(default)]
    pub ipam: Option<EndpointIpam>,
    /// `DriverOpts` as given.
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// `Links` as given (user-defined networks only: aliases its embedded DNS answers for
    /// this container alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
}

/// The published ports of one running container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortRecord {
    pub mappings: Vec<PortMapping>,
}

/// Records for unit tests: a bridge network with one member (or none) and its endpoint.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use std::net::Ipv4Addr;

    /// An active endpoint of container `web` at 10.5.0.2.
    pub fn endpoint() -> Endpoint {
        Endpoint {
            id: "e".repeat(64),
            container_name: "web".into(),
            ip: Ipv4Addr::new(10, 5, 0, 2),
            ip6: None,
            static_ip: false,
            mac: String::new(),
            aliases: Vec::new(),
            active: true,
            ifname: "eth0".into(),
            dns_upstreams: None,
            ipam: None,
            driver_opts: None,
            links: Vec::new(),
        }
    }

    /// Bridge network `name`, with `member` as container `c…c`'s endpoint.
    pub fn network(name: &str, predefined: bool, member: Option<Endpoint>) -> Network {
        Network {
            id: format!("{name:0>64}"),
            name: name.into(),
            created: 0,
            driver: Driver::Bridge,
            bridge: String::new(),
            pool: None,
            pool6: None,
            internal: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipam: IpamGiven::default(),
            attachable: false,
            predefined,
            endpoints: member.into_iter().map(|e| ("c".repeat(64), e)).collect(),
        }
    }
}
