//! A network create's `IPAM.Config` entries sorted by family (one IPv4, one IPv6 at most) and
//! the IPv6 pool of a dual-stack network made from its entry (else a unique local /64), with
//! Docker's kinds of error: 403 for an overlap, 400 for the rest.

use std::net::Ipv6Addr;

use berth_network::ipam6::{Pool6, PoolRequest6, Subnet6};

use super::manage::PoolConfig;
use crate::error::DaemonError;

fn parse_ip6(what: &str, s: &str) -> Result<Ipv6Addr, DaemonError> {
    s.parse().map_err(|_| {
        DaemonError::InvalidArgument(format!(
            "invalid {what} address {s:?}: the network's IPv6 subnet needs an IPv6 {what}"
        ))
    })
}

/// Whether an `IPAM.Config` entry is an IPv6 one (its subnet, else its gateway, is IPv6).
fn is_v6(c: &PoolConfig) -> bool {
    c.subnet
        .as_deref()
        .or(c.gateway.as_deref())
        .is_some_and(|s| s.contains(':'))
}

/// The IPv4 and the IPv6 entry of a create's `IPAM.Config` (each at most once).
pub(super) fn split_pools(
    pools: &[PoolConfig],
) -> Result<(PoolConfig, Option<PoolConfig>), DaemonError> {
    let (v6, v4): (Vec<&PoolConfig>, Vec<&PoolConfig>) = pools.iter().partition(|c| is_v6(c));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(DaemonError::InvalidArgument(format!(
            "{} IPAM configs given: berth supports one IPv4 and one IPv6 subnet per network",
            pools.len()
        )));
    }
    Ok((
        v4.first().map(|c| (*c).clone()).unwrap_or_default(),
        v6.first().map(|c| (*c).clone()),
    ))
}

/// The IPv6 pool of a dual-stack network: the entry given, else a unique local /64 named by
/// the network's ID. `taken` are the other networks' IPv6 subnets.
pub(super) fn pool6(
    given: Option<&PoolConfig>,
    id: &str,
    taken: &[Subnet6],
) -> Result<Pool6, DaemonError> {
    let invalid = |e: berth_network::ipam6::Ipam6Error| match e {
        berth_network::ipam6::Ipam6Error::Overlap => {
            DaemonError::Forbidden(format!("invalid pool request: {e}"))
        }
        other => DaemonError::InvalidArgument(other.to_string()),
    };
    let parse_subnet6 = |s: &str| s.parse::<Subnet6>().map_err(invalid);
    let g = given.cloned().unwrap_or_default();
    if !g.aux_addresses.is_empty() {
        return Err(DaemonError::InvalidArgument(
            "--aux-address is not supported on an IPv6 subnet by berth: give it on the IPv4 one"
                .into(),
        ));
    }
    let req = PoolRequest6 {
        subnet: Some(match &g.subnet {
            Some(s) => parse_subnet6(s)?,
            None => berth_network::ipam6::ula_subnet(id),
        }),
        gateway: g
            .gateway
            .as_deref()
            .map(|s| parse_ip6("gateway", s))
            .transpose()?,
        ip_range: g.ip_range.as_deref().map(parse_subnet6).transpose()?,
    };
    Pool6::new(&req, taken).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ipam_configs_split_by_family_and_ipv6_pools_are_made_as_docker_does() {
        let cfg = |subnet: Option<&str>, gateway: Option<&str>| PoolConfig {
            subnet: subnet.map(str::to_string),
            gateway: gateway.map(str::to_string),
            ..Default::default()
        };
        let (v4, v6) = split_pools(&[
            cfg(Some("2001:db8:1::/64"), None),
            cfg(Some("10.9.0.0/24"), Some("10.9.0.254")),
        ])
        .unwrap();
        assert_eq!(v4.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(v6.unwrap().subnet.as_deref(), Some("2001:db8:1::/64"));
        let (v4, v6) = split_pools(&[]).unwrap();
        assert!(v4.subnet.is_none() && v6.is_none());
        let two = [
            cfg(Some("2001:db8:1::/64"), None),
            cfg(Some("2001:db8:2::/64"), None),
        ];
        assert!(matches!(
            split_pools(&two),
            Err(DaemonError::InvalidArgument(_))
        ));

        let id = "ab".repeat(32);
        let auto = pool6(None, &id, &[]).unwrap();
        assert_eq!(auto.subnet, berth_network::ipam6::ula_subnet(&id));
        let given = cfg(Some("2001:db8:1::/64"), Some("2001:db8:1::fe"));
        let p = pool6(Some(&given), &id, &[]).unwrap();
        assert_eq!(p.gateway.to_string(), "2001:db8:1::fe");
        assert!(matches!(
            pool6(Some(&given), &id, &[p.subnet]),
            Err(DaemonError::Forbidden(m)) if m.contains("overlaps")
        ));
        let v4_gateway = cfg(Some("2001:db8:1::/64"), Some("10.0.0.1"));
        assert!(matches!(
            pool6(Some(&v4_gateway), &id, &[]),
            Err(DaemonError::InvalidArgument(m)) if m.contains("needs an IPv6 gateway")
        ));
        let aux = PoolConfig {
            aux_addresses: BTreeMap::from([("r".to_string(), "2001:db8:1::9".to_string())]),
            ..given
        };
        assert!(matches!(
            pool6(Some(&aux), &id, &[]),
            Err(DaemonError::InvalidArgument(_))
        ));
    }
}
