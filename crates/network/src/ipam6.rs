//! IPv6 address management for dual-stack networks (`--ipv6 --subnet 2001:db8::/64`): the same
//! rules as [`crate::ipam`] over 128-bit addresses. The gateway defaults to the subnet's first
//! host (`::1`), a static `--ip6` is taken as asked, and dynamic allocation is serial from a
//! cursor, as Docker's IPAM hands out IPv6 addresses since it stopped deriving them from MACs.
//!
//! There is no broadcast in IPv6: only the subnet-router anycast address (the subnet's own
//! address) is reserved beside the gateway. A dynamic search looks at no more than
//! [`SEARCH_LIMIT`] addresses, so a /64 never means a 2^64-step loop.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How many addresses one dynamic allocation looks at before it calls the pool exhausted.
pub const SEARCH_LIMIT: u128 = 1 << 20;

/// Errors from IPv6 address management. Messages follow Docker's where users see them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Ipam6Error {
    #[error("invalid subnet {0:?}: expected an IPv6 CIDR such as 2001:db8::/64")]
    InvalidSubnet(String),
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    #[error("invalid gateway {gateway}: it is not inside subnet {subnet}")]
    GatewayOutside { gateway: Ipv6Addr, subnet: Subnet6 },
    #[error("invalid ip-range {range}: it is not inside subnet {subnet}")]
    RangeOutside { range: Subnet6, subnet: Subnet6 },
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    NotInPool(Ipv6Addr),
    #[error("Address already in use")]
    InUse(Ipv6Addr),
    #[error("no available IPv6 addresses on this network's address pools: {0}")]
    Exhausted(Subnet6),
}

/// An IPv6 network in CIDR form; the address is always the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet6 {
    addr: Ipv6Addr,
    prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    /// The network containing `addr` with this prefix length (host bits are cleared).
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Result<Self, Ipam6Error> {
        if prefix > 128 {
            return Err(Ipam6Error::InvalidSubnet(format!("{addr}/{prefix}")));
        }
        let addr = Ipv6Addr::from(u128::from(addr) & mask(prefix));
        Ok(Self { addr, prefix })
    }

    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn first(&self) -> u128 {
        u128::from(self.addr)
    }

    fn last(&self) -> u128 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.prefix) == self.first()
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Whether `other` lies entirely inside this subnet.
    pub fn covers(&self, other: &Subnet6) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }

    /// The first address after the subnet-router anycast address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.first().saturating_add(u128::from(self.prefix < 127)))
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet6 {
    type Err = Ipam6Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Ipam6Error::InvalidSubnet(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet6::new(addr, prefix).map_err(|_| bad())
    }
}

impl TryFrom<String> for Subnet6 {
    type Error = Ipam6Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Subnet6> for String {
    fn from(s: Subnet6) -> String {
        s.to_string()
    }
}

/// A unique local /64 (RFC 4193: `fd` and a 40-bit global ID, subnet 0) for a network created
/// with `--ipv6` and no IPv6 subnet, its global ID taken from `seed` (the network's random ID),
/// so that two networks' subnets collide with a chance of 2^-40; a clash with `existing` is
/// refused as any overlap is, by [`Pool6::new`].
pub fn ula_subnet(seed: &str) -> Subnet6 {
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let global = u128::from(h & 0xff_ffff_ffff);
    let addr = (0xfdu128 << 120) | (global << 80);
    Subnet6 {
        addr: Ipv6Addr::from(addr),
        prefix: 64,
    }
}

/// What a user asks for (`--subnet`, `--gateway`, `--ip-range` with IPv6 values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRequest6 {
    pub subnet: Option<Subnet6>,
    pub gateway: Option<Ipv6Addr>,
    pub ip_range: Option<Subnet6>,
}

/// One network's IPv6 pool and its allocations; the daemon persists it with the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool6 {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet6>,
    #[serde(default)]
    pub allocated: BTreeSet<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Ipv6Addr>,
}

impl Pool6 {
    /// A pool for a new network; `subnet` must be given and overlap none of `existing`.
    pub fn new(req: &PoolRequest6, existing: &[Subnet6]) -> Result<Pool6, Ipam6Error> {
        let subnet = req
            .subnet
            .ok_or_else(|| Ipam6Error::InvalidSubnet(String::new()))?;
        if existing.iter().any(|e| e.overlaps(&subnet)) {
            return Err(Ipam6Error::Overlap);
        }
        if let Some(range) = req.ip_range {
            if !subnet.covers(&range) {
                return Err(Ipam6Error::RangeOutside { range, subnet });
            }
        }
        let gateway = req.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains(gateway) {
            return Err(Ipam6Error::GatewayOutside { gateway, subnet });
        }
        Ok(Pool6 {
            subnet,
            gateway,
            ip_range: req.ip_range,
            allocated: BTreeSet::new(),
            cursor: None,
        })
    }

    fn reserved(&self, ip: Ipv6Addr) -> bool {
        ip == self.gateway || (self.subnet.prefix < 127 && u128::from(ip) == self.subnet.first())
    }

    /// Allocates `requested` (a static `--ip6`) or the next free address of the range (or subnet).
    pub fn allocate(&mut self, requested: Option<Ipv6Addr>) -> Result<Ipv6Addr, Ipam6Error> {
        if let Some(ip) = requested {
            if !self.subnet.contains(ip) {
                return Err(Ipam6Error::NotInPool(ip));
            }
            if self.reserved(ip) || self.allocated.contains(&ip) {
                return Err(Ipam6Error::InUse(ip));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let range = self.ip_range.unwrap_or(self.subnet);
        let (first, last) = (range.first(), range.last());
        let start = match self.cursor {
            Some(c) if range.contains(c) && u128::from(c) < last => u128::from(c) + 1,
            _ => first,
        };
        let span = (last - first).saturating_add(1);
        for step in 0..span.min(SEARCH_LIMIT) {
            let n = first + (start - first + step) % span;
            let ip = Ipv6Addr::from(n);
            if !self.reserved(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.cursor = Some(ip);
                return Ok(ip);
            }
        }
        Err(Ipam6Error::Exhausted(self.subnet))
    }

    /// Returns `ip` to the pool; releasing an address that is not allocated is a no-op.
    pub fn release(&mut self, ip: Ipv6Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet6 {
        x.parse().unwrap()
    }

    fn ip(x: &str) -> Ipv6Addr {
        x.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises_cidr() {
        assert_eq!(s("2001:db8::5/64").to_string(), "2001:db8::/64");
        assert!("2001:db8::".parse::<Subnet6>().is_err());
        assert!("2001:db8::/129".parse::<Subnet6>().is_err());
        assert!("10.0.0.0/8".parse::<Subnet6>().is_err());
        assert!(s("2001:db8::/64").contains(ip("2001:db8::ffff")));
        assert!(!s("2001:db8::/64").contains(ip("2001:db8:0:1::1")));
    }

    #[test]
    fn allocates_serially_after_the_gateway() {
        let req = PoolRequest6 {
            subnet: Some(s("2001:db8:1::/64")),
            ..Default::default()
        };
        let mut p = Pool6::new(&req, &[]).unwrap();
        assert_eq!(p.gateway, ip("2001:db8:1::1"));
        let a = p.allocate(None).unwrap();
        assert_eq!(a, ip("2001:db8:1::2"));
        assert_eq!(p.allocate(None).unwrap(), ip("2001:db8:1::3"));
        p.release(a);
        assert_eq!(p.allocate(None).unwrap(), ip("2001:db8:1::4"));
        assert_eq!(
            p.allocate(Some(ip("2001:db8:1::4"))),
            Err(Ipam6Error::InUse(ip("2001:db8:1::4")))
        );
        assert_eq!(
            p.allocate(Some(p.gateway)),
            Err(Ipam6Error::InUse(p.gateway))
        );
        assert_eq!(
            p.allocate(Some(ip("2001:db8:1::99"))).unwrap(),
            ip("2001:db8:1::99")
        );
        assert!(matches!(
            p.allocate(Some(ip("2001:db8:2::1"))),
            Err(Ipam6Error::NotInPool(_))
        ));
    }

    #[test]
    fn small_pools_exhaust_and_overlaps_are_refused() {
        let req = PoolRequest6 {
            subnet: Some(s("2001:db8::/126")),
            ..Default::default()
        };
        let mut p = Pool6::new(&req, &[]).unwrap();
        assert_eq!(p.allocate(None).unwrap(), ip("2001:db8::2"));
        assert_eq!(p.allocate(None).unwrap(), ip("2001:db8::3"));
        assert!(matches!(p.allocate(None), Err(Ipam6Error::Exhausted(_))));
        assert_eq!(
            Pool6::new(&req, &[s("2001:db8::/48")]),
            Err(Ipam6Error::Overlap)
        );
        let bad = PoolRequest6 {
            gateway: Some(ip("2001:db9::1")),
            ..req
        };
        assert!(matches!(
            Pool6::new(&bad, &[]),
            Err(Ipam6Error::GatewayOutside { .. })
        ));
    }

    #[test]
    fn ula_subnets_are_unique_local_64s_stable_for_a_seed() {
        let a = ula_subnet(&"a".repeat(64));
        assert_eq!(a, ula_subnet(&"a".repeat(64)));
        assert_ne!(a, ula_subnet(&"b".repeat(64)));
        assert_eq!(a.prefix(), 64);
        assert_eq!(a.addr().segments()[0] >> 8, 0xfd, "{a}");
        assert_eq!(a.addr().segments()[3], 0, "subnet ID 0: {a}");
    }

    #[test]
    fn pool_round_trips_through_json() {
        let req = PoolRequest6 {
            subnet: Some(s("2001:db8::/64")),
            ..Default::default()
        };
        let mut p = Pool6::new(&req, &[]).unwrap();
        p.allocate(None).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"2001:db8::/64\""), "{json}");
        assert_eq!(serde_json::from_str::<Pool6>(&json).unwrap(), p);
    }
}
