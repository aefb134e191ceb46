//! Network verbs: create (bridge driver only; subnet, gateway, ip-range, `--internal`, labels,
//! options; dual-stack with `--ipv6`: an IPv4 pool as always plus the IPv6 subnet given, else a
//! unique local /64), lookup (name, full ID, unique ID prefix), list with filters, remove
//! (refused while a running container is attached; predefined networks never) and prune. Errors carry Docker's words and
//! kinds: 409 for a duplicate name; 403 for a predefined network's name, a pool overlap, removing a
//! predefined network or one with active endpoints (libnetwork marks those errors forbidden).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_network::ifname::IfName;
use berth_network::ipam::{Pool, PoolRequest, Subnet};
use berth_network::ipam6::Subnet6;

use super::ipam_request::{pool6, split_pools};
use super::model::{Driver, IpamGiven, Network};
use super::{internal, netlink, NetworkService};
use crate::error::DaemonError;

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    /// `bridge` (or empty); anything else is refused.
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    /// `EnableIPv6`: a dual-stack network.
    pub enable_ipv6: bool,
    /// `IPAM.Driver`: `default` (or empty); anything else is refused.
    pub ipam_driver: String,
    /// `IPAM.Options` as sent (`None`: not sent).
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `IPAM.Config`: at most one IPv4 entry and one IPv6 entry.
    pub pools: Vec<PoolConfig>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// One `IPAM.Config` entry as sent.
#[derive(Debug, Clone, Default)]
pub struct PoolConfig {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    /// `--aux-address NAME=IP`.
    pub aux_addresses: BTreeMap<String, String>,
}

/// `network ls` filters (each list is ORed; different keys are ANDed).
#[derive(Debug, Clone, Default)]
pub struct NetworkFilter {
    pub name: Vec<String>,
    pub id: Vec<String>,
    pub label: Vec<String>,
    pub driver: Vec<String>,
    /// `custom` or `builtin`.
    pub kind: Vec<String>,
    /// `local` (every network here), `swarm` or `global` (none).
    pub scope: Vec<String>,
    /// `Some(true)`: only user networks without running containers; `Some(false)`: the others.
    pub dangling: Option<bool>,
}

impl NetworkFilter {
    fn matches(&self, n: &Network) -> bool {
        (self.name.is_empty() || self.name.iter().any(|p| n.name.contains(p.as_str())))
            && (self.id.is_empty() || self.id.iter().any(|p| n.id.starts_with(p.as_str())))
            && crate::filter::labels_match(&self.label, &n.labels)
            && (self.driver.is_empty() || self.driver.iter().any(|d| d == n.driver.name()))
            && (self.kind.is_empty()
                || self
                    .kind
                    .iter()
                    .any(|k| (k == "builtin" && n.predefined) || (k == "custom" && !n.predefined)))
            && (self.scope.is_empty() || self.scope.iter().any(|s| s == "local"))
            && self
                .dangling
                .is_none_or(|d| d == (!n.predefined && !in_use(n)))
    }
}

/// A new 64-hex ID (as containers get).
pub fn new_id() -> Result<String, DaemonError> {
    crate::containers::model::new_id()
}

fn no_such(name: &str) -> DaemonError {
    DaemonError::NotFound(format!("network {name} not found"))
}

fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr, DaemonError> {
    s.parse().map_err(|_| {
        DaemonError::InvalidArgument(format!("invalid {what} address {s:?}: use IPv4"))
    })
}

fn parse_subnet(s: &str) -> Result<Subnet, DaemonError> {
    s.parse::<Subnet>()
        .map_err(|e| DaemonError::InvalidArgument(e.to_string()))
}

/// Whether a running container is on `n` (an active endpoint). Stopped members do not count:
/// Docker has endpoints only for running containers.
fn in_use(n: &Network) -> bool {
    n.endpoints.values().any(|e| e.active)
}

/// Why `n` cannot be removed: it is predefined, or a running container is on it (Docker's
/// words, 403). A network whose members are all stopped goes; starting one of them then fails
/// with "network ... not found".
fn removal_refused(n: &Network) -> Option<DaemonError> {
    if n.predefined {
        return Some(DaemonError::Forbidden(format!(
            "{} is a pre-defined network and cannot be removed",
            n.name
        )));
    }
    if !in_use(n) {
        return None;
    }
    let names: Vec<String> = n
        .endpoints
        .values()
        .filter(|e| e.active)
        .map(|e| {
            format!(
                "name:{:?} id:{:?}",
                e.container_name,
                &e.id[..12.min(e.id.len())]
            )
        })
        .collect();
    Some(DaemonError::Forbidden(format!(
        "error while removing network: network {} has active endpoints ({})",
        n.name,
        names.join(", ")
    )))
}

/// The option naming a bridge network's Linux bridge.
const BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// The Linux bridge of a new network: its `com.docker.network.bridge.name` option, checked
/// (it is written into the nftables ruleset), else `prefix` and the start of the network's ID.
fn bridge_name(
    options: &BTreeMap<String, String>,
    id: &str,
    prefix: &str,
) -> Result<IfName, DaemonError> {
    let name = match options.get(BRIDGE_NAME) {
        Some(b) => b.clone(),
        None => format!("{prefix}{}", id.get(..15 - prefix.len()).unwrap_or(id)),
    };
    IfName::new(&name).map_err(|e| {
        DaemonError::InvalidArgument(format!(
            "invalid bridge name {:?} in option {BRIDGE_NAME}: {}; an interface name is 1 to 15 \
             letters, digits, '-', '_' or '.'",
            e.name, e.reason
        ))
    })
}

/// Reserves `--aux-address NAME=IP` entries in `pool` (each inside its subnet, none the gateway
/// or another's), as Docker's IPAM does: they are never handed out.
fn reserve_aux(
    pool: &mut Pool,
    aux: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Ipv4Addr>, DaemonError> {
    let mut out = BTreeMap::new();
    for (name, ip) in aux {
        let addr = parse_ip("aux-address", ip)?;
        if !pool.subnet.contains(addr) {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid aux-address {name}={ip}: it is not inside subnet {}",
                pool.subnet
            )));
        }
        if addr != pool.gateway {
            pool.allocate(Some(addr)).map_err(|e| {
                DaemonError::InvalidArgument(format!("invalid aux-address {name}={ip}: {e}"))
            })?;
        }
        out.insert(name.clone(), addr);
    }
    Ok(out)
}

impl NetworkService {
    /// Index of the network named `name_or_id` (name, full ID, unique ID prefix).
    pub(crate) fn find(networks: &[Network], name_or_id: &str) -> Result<usize, DaemonError> {
        if let Some(i) = networks.iter().position(|n| n.name == name_or_id) {
            return Ok(i);
        }
        if let Some(i) = networks.iter().position(|n| n.id == name_or_id) {
            return Ok(i);
        }
        let hits: Vec<usize> = (0..networks.len())
            .filter(|i| !name_or_id.is_empty() && networks[*i].id.starts_with(name_or_id))
            .collect();
        match hits.as_slice() {
            [i] => Ok(*i),
            [] => Err(no_such(name_or_id)),
            _ => Err(DaemonError::InvalidArgument(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// One network.
    pub fn inspect(&self, name_or_id: &str) -> Result<Network, DaemonError> {
        let st = self.state();
        let i = Self::find(&st.networks, name_or_id)?;
        Ok(st.networks[i].clone())
    }

    /// Networks matching `filter`, oldest first.
    pub fn list(&self, filter: &NetworkFilter) -> Vec<Network> {
        let st = self.state();
        let mut out: Vec<Network> = st
            .networks
            .iter()
            .filter(|n| filter.matches(n))
            .cloned()
            .collect();
        out.sort_by_key(|n| n.created);
        out
    }

    /// `POST /networks/create`: returns the new network's ID.
    pub fn create(&self, req: &CreateNetwork) -> Result<String, DaemonError> {
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(DaemonError::NotFound(format!(
                "plugin \"{}\" not found",
                req.driver
            )));
        }
        if req.name.trim().is_empty() {
            return Err(DaemonError::InvalidArgument(
                "invalid network name: it is empty; give the network a name".into(),
            ));
        }
        if !matches!(req.ipam_driver.as_str(), "" | "default") {
            return Err(DaemonError::NotFound(format!(
                "plugin \"{}\" not found: berth has only the default IPAM driver",
                req.ipam_driver
            )));
        }
        let (given, given6) = split_pools(&req.pools)?;
        if let (Some(g), false) = (&given6, req.enable_ipv6) {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid network config: IPv6 subnet {} given but IPv6 is not enabled on the \
                 network: add --ipv6 (EnableIPv6) to create a dual-stack network",
                g.subnet.as_deref().unwrap_or_default()
            )));
        }
        let id = new_id()?;
        let bridge = bridge_name(&req.options, &id, &self.inner.naming.bridge_prefix)?;
        let mut st = self.state();
        if st
            .networks
            .iter()
            .any(|n| n.predefined && n.name == req.name)
        {
            return Err(DaemonError::Forbidden(format!(
                "operation is not permitted on predefined {} network ",
                req.name
            )));
        }
        if st.networks.iter().any(|n| n.name == req.name) {
            return Err(DaemonError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Subnet> = st
            .networks
            .iter()
            .filter_map(|n| n.pool.as_ref().map(|p| p.subnet))
            .collect();
        let subnet = match &given.subnet {
            Some(s) => parse_subnet(s)?,
            None => {
                if given.gateway.is_some()
                    || given.ip_range.is_some()
                    || !given.aux_addresses.is_empty()
                {
                    return Err(DaemonError::InvalidArgument(
                        "no matching subnet for gateway, ip-range or aux-address: give --subnet too"
                            .into(),
                    ));
                }
                let mut nl = netlink()?;
                berth_network::bridge::pick_subnet(&mut nl, &taken)
                    .map_err(|e| DaemonError::Unavailable(e.to_string()))?
            }
        };
        let pool_req = PoolRequest {
            subnet: Some(subnet),
            gateway: given
                .gateway
                .as_deref()
                .map(|g| parse_ip("gateway", g))
                .transpose()?,
            ip_range: given.ip_range.as_deref().map(parse_subnet).transpose()?,
        };
        let mut pool = Pool::new(&pool_req, &taken).map_err(|e| match e {
            berth_network::ipam::IpamError::Overlap => {
                DaemonError::Forbidden(format!("invalid pool request: {e}"))
            }
            other => DaemonError::InvalidArgument(other.to_string()),
        })?;
        let aux_addresses = reserve_aux(&mut pool, &given.aux_addresses)?;
        let pool6 = if req.enable_ipv6 {
            let taken6: Vec<Subnet6> = st
                .networks
                .iter()
                .filter_map(|n| n.pool6.as_ref().map(|p| p.subnet))
                .collect();
            Some(pool6(given6.as_ref(), &id, &taken6)?)
        } else {
            None
        };
        let mut nl = netlink()?;
        berth_network::bridge::ensure(&mut nl, &bridge, pool.gateway, pool.subnet.prefix())
            .map_err(|e| internal("creating the bridge", e))?;
        if let Some(p6) = &pool6 {
            if let Err(e) =
                berth_network::bridge::ensure6(&mut nl, &bridge, p6.gateway, p6.subnet.prefix())
            {
                let _ = berth_network::bridge::remove(&mut nl, bridge.as_str());
                return Err(internal("giving the bridge its IPv6 gateway", e));
            }
        }
        let n = Network {
            id: id.clone(),
            name: req.name.clone(),
            created: crate::events::now_nanos(),
            driver: Driver::Bridge,
            bridge: bridge.to_string(),
            pool: Some(pool),
            pool6,
            internal: req.internal,
            labels: req.labels.clone(),
            options: req.options.clone(),
            ipam: IpamGiven {
                options: req.ipam_options.clone(),
                subnet: given.subnet.is_some(),
                gateway: given.gateway.is_some(),
                aux_addresses,
                subnet6: given6.as_ref().is_some_and(|g| g.subnet.is_some()),
                gateway6: given6.as_ref().is_some_and(|g| g.gateway.is_some()),
            },
            attachable: req.attachable,
            predefined: false,
            endpoints: BTreeMap::new(),
        };
        if let Err(e) = self.inner.store.put(&n) {
            let _ = berth_network::bridge::remove(&mut nl, bridge.as_str());
            return Err(e);
        }
        st.networks.push(n);
        self.refresh_firewall(&st);
        Ok(id)
    }

    /// `DELETE /networks/{id}`.
    pub fn remove(&self, name_or_id: &str) -> Result<Network, DaemonError> {
        let mut st = self.state();
        let i = Self::find(&st.networks, name_or_id)?;
        let n = &st.networks[i];
        if let Some(e) = removal_refused(n) {
            return Err(e);
        }
        let mut nl = netlink()?;
        berth_network::bridge::remove(&mut nl, &n.bridge)
            .map_err(|e| internal("removing the bridge", e))?;
        self.inner.store.delete(&n.id)?;
        self.inner.dns_table.remove_network(&n.id);
        let n = st.networks.remove(i);
        self.refresh_firewall(&st);
        Ok(n)
    }

    /// `POST /networks/prune`: removes user networks without running containers matching
    /// `labels` (as Docker does: stopped members do not keep a network); returns their names.
    pub fn prune(&self, labels: &[String]) -> Vec<String> {
        let names: Vec<String> = {
            let st = self.state();
            st.networks
                .iter()
                .filter(|n| !n.predefined && !in_use(n))
                .filter(|n| crate::filter::labels_match(labels, &n.labels))
                .map(|n| n.name.clone())
                .collect()
        };
        names
            .into_iter()
            .filter(|n| self.remove(n).is_ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_members_keep_a_network() {
        assert!(matches!(
            removal_refused(&net("bridge", true, false)),
            Some(DaemonError::Forbidden(m)) if m.contains("pre-defined")
        ));
        let used = net("u", false, true);
        assert!(matches!(
            removal_refused(&used),
            Some(DaemonError::Forbidden(m))
                if m == "error while removing network: network u has active endpoints (name:\"web\" id:\"eeeeeeeeeeee\")"
        ));
        let mut stopped = used.clone();
        for e in stopped.endpoints.values_mut() {
            e.active = false;
        }
        assert!(removal_refused(&stopped).is_none());
        let f = NetworkFilter {
            dangling: Some(true),
            ..Default::default()
        };
        assert!(f.matches(&stopped) && !f.matches(&used));
    }

    fn net(name: &str, predefined: bool, used: bool) -> Network {
        use crate::networks::model::fixtures;
        Network {
            labels: BTreeMap::from([("a".to_string(), "1".to_string())]),
            ..fixtures::network(name, predefined, used.then(fixtures::endpoint))
        }
    }

    #[test]
    fn bridge_names_are_checked_before_anything_is_made() {
        let id = "0123456789abcdef".repeat(4);
        let opts = |v: &str| BTreeMap::from([(BRIDGE_NAME.to_string(), v.to_string())]);
        assert_eq!(
            bridge_name(&BTreeMap::new(), &id, "br-").unwrap().as_str(),
            "br-0123456789ab"
        );
        assert_eq!(
            bridge_name(&BTreeMap::new(), &id, "b1a2b3c-")
                .unwrap()
                .as_str(),
            "b1a2b3c-0123456"
        );
        assert_eq!(
            bridge_name(&opts("mybr0"), &id, "br-").unwrap().as_str(),
            "mybr0"
        );
        for bad in [
            "x\"accept#",
            "a;b",
            "a{b",
            "a#b",
            "a b",
            "a/b",
            "..",
            "",
            "abcdefghijklmnop",
        ] {
            match bridge_name(&opts(bad), &id, "br-") {
                Err(DaemonError::InvalidArgument(m)) => assert!(
                    m.starts_with(&format!(
                        "invalid bridge name {bad:?} in option {BRIDGE_NAME}"
                    )),
                    "{m}"
                ),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn filters_match_like_docker() {
        let (bridge, used, idle) = (
            net("bridge", true, false),
            net("u", false, true),
            net("i", false, false),
        );
        let f = NetworkFilter {
            dangling: Some(true),
            ..Default::default()
        };
        assert!(!f.matches(&bridge) && !f.matches(&used) && f.matches(&idle));
        let f = NetworkFilter {
            dangling: Some(false),
            ..Default::default()
        };
        assert!(f.matches(&bridge) && f.matches(&used) && !f.matches(&idle));
        let f = NetworkFilter {
            kind: vec!["custom".into()],
            scope: vec!["local".into()],
            label: vec!["a=1".into()],
            ..Default::default()
        };
        assert!(!f.matches(&bridge) && f.matches(&used));
        let f = NetworkFilter {
            scope: vec!["swarm".into()],
            ..Default::default()
        };
        assert!(!f.matches(&idle));
    }
}
