//! IPv4 address management: subnets, the network's gateway, an optional `--ip-range`, static `--ip`
//! requests and dynamic allocation.
//!
//! The allocator is pure: a [`Pool`] is plain serde state that the daemon stores (in SQLite) with its
//! network, and every operation takes `&mut Pool` and changes nothing else. Allocation is serial from a
//! cursor, as Docker's IPAM does, so a just-released address is not handed out again at once.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors from address management. Messages follow Docker's where users see them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: expected an IPv4 CIDR such as 172.18.0.0/16")]
    InvalidSubnet(String),
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    #[error("invalid gateway {gateway}: it is not inside subnet {subnet}")]
    GatewayOutside { gateway: Ipv4Addr, subnet: Subnet },
    #[error("invalid ip-range {range}: it is not inside subnet {subnet}")]
    RangeOutside { range: Subnet, subnet: Subnet },
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    NotInPool(Ipv4Addr),
    #[error("Address already in use")]
    InUse(Ipv4Addr),
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Subnet),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoDefaultPool,
}

/// An IPv4 network in CIDR form; the address is always the network address (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The network containing `addr` with this prefix length (host bits are cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, IpamError> {
        if prefix > 32 {
            return Err(IpamError::InvalidSubnet(format!("{addr}/{prefix}")));
        }
        let addr = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        Ok(Self { addr, prefix })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Whether `other` lies entirely inside this subnet.
    pub fn covers(&self, other: &Subnet) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }

    /// The first usable host address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first().saturating_add(u32::from(self.prefix < 31)))
    }

    /// The subnet's broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IpamError::InvalidSubnet(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet::new(addr, prefix).map_err(|_| bad())
    }
}

impl TryFrom<String> for Subnet {
    type Error = IpamError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// What a user asks for when creating a network (`--subnet`, `--gateway`, `--ip-range`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRequest {
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Subnet>,
}

/// One network's address pool and its allocations; the daemon persists it with the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet>,
    /// Addresses handed out to endpoints (the gateway is reserved separately).
    #[serde(default)]
    pub allocated: BTreeSet<Ipv4Addr>,
    /// The last dynamically allocated address; the next search starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Ipv4Addr>,
}

/// Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pool_candidates() -> impl Iterator<Item = Subnet> {
    let sixteens = (17u8..=31).map(|b| Subnet {
        addr: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let twenties = (0u8..16).map(|i| Subnet {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    sixteens.chain(twenties)
}

/// The first default pool that overlaps neither the host's routes nor existing networks.
pub fn choose_default_subnet(
    host_routes: &[Subnet],
    existing: &[Subnet],
) -> Result<Subnet, IpamError> {
    default_pool_candidates()
        .find(|c| {
            !host_routes
                .iter()
                .filter(|r| r.prefix > 0)
                .any(|r| r.overlaps(c))
                && !existing.iter().any(|e| e.overlaps(c))
        })
        .ok_or(IpamError::NoDefaultPool)
}

impl Pool {
    /// A pool for a new network. `subnet` must be given (choose one with [`choose_default_subnet`]);
    /// it may not overlap any of `existing` (the other networks' subnets).
    pub fn new(req: &PoolRequest, existing: &[Subnet]) -> Result<Pool, IpamError> {
        let subnet = req.subnet.ok_or(IpamError::NoDefaultPool)?;
        if existing.iter().any(|e| e.overlaps(&subnet)) {
            return Err(IpamError::Overlap);
        }
        if let Some(range) = req.ip_range {
            if !subnet.covers(&range) {
                return Err(IpamError::RangeOutside { range, subnet });
            }
        }
        let gateway = req.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains(gateway) {
            return Err(IpamError::GatewayOutside { gateway, subnet });
        }
        Ok(Pool {
            subnet,
            gateway,
            ip_range: req.ip_range,
            allocated: BTreeSet::new(),
            cursor: None,
        })
    }

    fn reserved(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        ip == self.gateway
            || (self.subnet.prefix < 31 && (n == self.subnet.first() || n == self.subnet.last()))
    }

    /// Allocates `requested` (a static `--ip`) or the next free address of the ip-range (or subnet).
    pub fn allocate(&mut self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = requested {
            if !self.subnet.contains(ip) {
                return Err(IpamError::NotInPool(ip));
            }
            if self.reserved(ip) || self.allocated.contains(&ip) {
                return Err(IpamError::InUse(ip));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let range = self.ip_range.unwrap_or(self.subnet);
        let (first, last) = (range.first(), range.last());
        let start = match self.cursor {
            Some(c) if range.contains(c) && u32::from(c) < last => u32::from(c) + 1,
            _ => first,
        };
        let span = u64::from(last - first) + 1;
        for step in 0..span {
            let n = first + ((u64::from(start - first) + step) % span) as u32;
            let ip = Ipv4Addr::from(n);
            if !self.reserved(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.cursor = Some(ip);
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(self.subnet))
    }

    /// Returns `ip` to the pool; releasing an address that is not allocated is a no-op.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises_cidr() {
        assert_eq!(s("172.18.5.4/16").to_string(), "172.18.0.0/16");
        assert!("172.18.0.0".parse::<Subnet>().is_err());
        assert!("172.18.0.0/33".parse::<Subnet>().is_err());
        assert!("fe80::/64".parse::<Subnet>().is_err());
        assert_eq!(s("10.0.0.0/24").broadcast(), Ipv4Addr::new(10, 0, 0, 255));
    }

    #[test]
    fn overlapping_subnets_are_refused_with_dockers_text() {
        let req = PoolRequest {
            subnet: Some(s("172.20.1.0/24")),
            ..Default::default()
        };
        let err = Pool::new(&req, &[s("172.20.0.0/16")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pool overlaps with other one on this address space"
        );
        assert!(Pool::new(&req, &[s("172.21.0.0/16")]).is_ok());
    }

    #[test]
    fn default_subnet_skips_host_routes_and_networks() {
        let got =
            choose_default_subnet(&[s("0.0.0.0/0"), s("172.17.3.0/24")], &[s("172.18.0.0/16")]);
        assert_eq!(got.unwrap(), s("172.19.0.0/16"));
    }

    #[test]
    fn allocates_serially_skipping_gateway_and_reusing_late() {
        let req = PoolRequest {
            subnet: Some(s("10.9.0.0/29")),
            ..Default::default()
        };
        let mut p = Pool::new(&req, &[]).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 9, 0, 1));
        let a = p.allocate(None).unwrap();
        let b = p.allocate(None).unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 9, 0, 2), Ipv4Addr::new(10, 9, 0, 3))
        );
        p.release(a);
        assert_eq!(p.allocate(None).unwrap(), Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(p.allocate(None).unwrap(), Ipv4Addr::new(10, 9, 0, 5));
        assert_eq!(p.allocate(None).unwrap(), Ipv4Addr::new(10, 9, 0, 6));
        assert_eq!(
            p.allocate(None).unwrap(),
            a,
            "wraps around to the released address"
        );
        assert!(matches!(p.allocate(None), Err(IpamError::Exhausted(_))));
    }

    #[test]
    fn static_ip_and_ip_range() {
        let req = PoolRequest {
            subnet: Some(s("10.10.0.0/16")),
            gateway: Some(Ipv4Addr::new(10, 10, 0, 254)),
            ip_range: Some(s("10.10.5.0/24")),
        };
        let mut p = Pool::new(&req, &[]).unwrap();
        // Like Docker, an ip-range's own first address is usable unless it is the subnet's.
        assert_eq!(p.allocate(None).unwrap(), Ipv4Addr::new(10, 10, 5, 0));
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 10, 9, 9))).unwrap(),
            Ipv4Addr::new(10, 10, 9, 9)
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 10, 9, 9)))
                .unwrap_err()
                .to_string(),
            "Address already in use"
        );
        assert_eq!(
            p.allocate(Some(p.gateway)),
            Err(IpamError::InUse(p.gateway))
        );
        assert!(matches!(
            p.allocate(Some(Ipv4Addr::new(10, 11, 0, 1))),
            Err(IpamError::NotInPool(_))
        ));
        let bad = PoolRequest {
            ip_range: Some(s("10.11.0.0/24")),
            ..req.clone()
        };
        assert!(matches!(
            Pool::new(&bad, &[]),
            Err(IpamError::RangeOutside { .. })
        ));
        let bad = PoolRequest {
            gateway: Some(Ipv4Addr::new(1, 1, 1, 1)),
            ..req
        };
        assert!(matches!(
            Pool::new(&bad, &[]),
            Err(IpamError::GatewayOutside { .. })
        ));
    }

    #[test]
    fn pool_round_trips_through_json() {
        let req = PoolRequest {
            subnet: Some(s("10.1.0.0/24")),
            ..Default::default()
        };
        let mut p = Pool::new(&req, &[]).unwrap();
        p.allocate(None).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"10.1.0.0/24\""), "{json}");
        assert_eq!(serde_json::from_str::<Pool>(&json).unwrap(), p);
    }
}
