//! The networks subsystem: [`NetworkService`] owns Berth's networks (the predefined `bridge`, `host`
//! and `none`, and user-defined bridge networks), their address pools and endpoints ([`store`]),
//! the published ports and the sockets that hold them, Berth's nftables table
//! (`berth_network::firewall`, re-applied as a whole when what it holds changes) and the embedded
//! DNS servers of containers on user-defined networks ([`dns`]).
//!
//! Firewall cost: an `nft -f` transaction takes ~5 ms when it only adds and ~20 ms when it deletes
//! (the kernel waits for a grace period). The table therefore holds the rules of every bridge
//! network that exists, not only of those with running containers; published ports are map
//! elements; and `firewall` runs `nft` only for a change, deletions of a stopping container in the
//! background (`bench/network.sh` measures what is left).
//!
//! Files: [`manage`] (create, list, inspect, remove, prune; `ipam_request` its IPAM configs),
//! [`views`] (what inspect and list show), [`endpoints`] (the container hooks: register at
//! create, attach at start, detach at stop, forget at remove), `etc_files` (the container's
//! `/etc/hosts` and `/etc/resolv.conf`), [`publish`] (`-p`/`-P`), `connect` (`network
//! connect`/`disconnect`), `flows` (a released address's conntrack entries deleted off the
//! caller's path), [`dns`], [`links`] (the rules of legacy `--link`: environment, hosts lines,
//! DNS aliases). Every method is
//! synchronous (netlink, `nft`, helper threads for [`berth_network::netns::socket_in`]); async
//! callers use `spawn_blocking`.
//!
//! Reconcile: [`NetworkService::open`] re-creates the bridges; [`NetworkService::reconcile`] (after
//! the containers' live restore) deactivates endpoints of containers that no longer run, re-holds
//! the ports and restarts the DNS servers of those that do, and applies the firewall, so a restart
//! after `kill -9` converges.
//!
//! Names: a daemon with the default exec root uses bridge `berth0` and table `berth`; any other
//! exec root (tests, side-by-side daemons) derives both from a hash of it, so daemons never collide.

mod connect;
pub mod dns;
pub mod endpoints;
mod etc_files;
mod firewall;
mod flows;
mod ipam_request;
pub mod links;
pub mod manage;
pub mod model;
pub mod publish;
pub mod store;
pub mod views;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_network::firewall::Firewall;
use berth_network::netlink::Netlink;
use berth_network::ports::HeldPort;

use crate::error::DaemonError;
use model::{Driver, Network};
use store::NetworkStore;

/// Names this daemon's host objects carry.
#[derive(Debug, Clone)]
pub struct Naming {
    /// The default network's bridge.
    pub default_bridge: String,
    /// The nftables table.
    pub table: String,
    /// The prefix of user networks' bridges (`br-` + 12 hex of the ID, shortened for others).
    pub bridge_prefix: String,
}

impl Naming {
    /// `berth0`/`berth` for the default exec root, else names derived from it.
    pub fn for_exec_root(exec_root: &Path) -> Naming {
        if exec_root == Path::new(crate::config::DEFAULT_EXEC_ROOT) {
            return Naming {
                default_bridge: berth_network::bridge::DEFAULT_BRIDGE.to_string(),
                table: "berth".to_string(),
                bridge_prefix: "br-".to_string(),
            };
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in exec_root.as_os_str().as_encoded_bytes() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        let tag = format!("{:06x}", h & 0xff_ffff);
        Naming {
            default_bridge: format!("bt{tag}"),
            table: format!("berth_{tag}"),
            bridge_prefix: format!("b{tag}-"),
        }
    }
}

/// Running DNS servers and held ports: what lives only in memory.
#[derive(Default)]
struct Live {
    ports: BTreeMap<String, Vec<HeldPort>>,
    dns: BTreeMap<String, dns::DnsServer>,
}

pub(crate) struct State {
    pub networks: Vec<Network>,
    /// Container ID → its published ports (while it runs).
    pub ports: BTreeMap<String, model::PortRecord>,
    live: Live,
}

pub(crate) struct Inner {
    pub store: NetworkStore,
    pub naming: Naming,
    pub firewall: Firewall,
    pub dns_table: Arc<berth_network::dns::DnsTable>,
    pub state: Mutex<State>,
    /// ip_forward was switched on by this daemon.
    forward_on: AtomicBool,
    /// IPv6 forwarding was switched on by this daemon (for its first dual-stack network).
    forward6_on: AtomicBool,
    /// Conntrack deletions running (see `flows`).
    pending_flows: flows::PendingFlows,
    /// The table as last applied, and the number of the last target computed.
    firewall_applied: Mutex<firewall::Applied>,
    firewall_generation: AtomicU64,
}

/// The networks subsystem of the engine. Cheap to clone.
#[derive(Clone)]
pub struct NetworkService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService")
            .field("table", &self.inner.firewall.table)
            .finish_non_exhaustive()
    }
}

/// Maps a networks error from the library into the daemon's kinds.
pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Internal(format!("{what}: {e}"))
}

pub(crate) fn netlink() -> Result<Netlink, DaemonError> {
    Netlink::open().map_err(|e| internal("opening a netlink socket", e))
}

impl NetworkService {
    /// Opens the store, makes the predefined networks and (re)creates every bridge.
    pub fn open(data_root: &Path, exec_root: &Path) -> Result<Self, DaemonError> {
        let naming = Naming::for_exec_root(exec_root);
        let store = NetworkStore::open(&data_root.join("networks.db"))?;
        let networks = store.load()?;
        let ports = store.load_ports()?.into_iter().collect();
        let svc = NetworkService {
            inner: Arc::new(Inner {
                store,
                firewall: Firewall {
                    table: naming.table.clone(),
                    ..Firewall::default()
                },
                naming,
                dns_table: Arc::default(),
                state: Mutex::new(State {
                    networks,
                    ports,
                    live: Live::default(),
                }),
                forward_on: AtomicBool::new(false),
                forward6_on: AtomicBool::new(false),
                pending_flows: flows::PendingFlows::default(),
                firewall_applied: Mutex::default(),
                firewall_generation: AtomicU64::new(0),
            }),
        };
        svc.ensure_predefined()?;
        let mut nl = netlink()?;
        let st = svc.state();
        for n in st.networks.iter().filter(|n| n.driver == Driver::Bridge) {
            let Some(bridge) = n.checked_bridge() else {
                continue;
            };
            if let Some(pool) = &n.pool {
                berth_network::bridge::ensure(&mut nl, &bridge, pool.gateway, pool.subnet.prefix())
                    .map_err(|e| internal("creating the bridge", e))?;
            }
            if let Some(p6) = &n.pool6 {
                // A host that lost IPv6 (booted with ipv6.disable=1) still starts the daemon: its
                // dual-stack networks go on without IPv6 until it is back.
                let gw6 = berth_network::bridge::ensure6(
                    &mut nl,
                    &bridge,
                    p6.gateway,
                    p6.subnet.prefix(),
                );
                if let Err(e) = gw6 {
                    tracing::warn!(network = %n.name, error = %e, "giving the bridge its IPv6 gateway");
                }
            }
            if n.has_dns() {
                for (cid, ep) in &n.endpoints {
                    dns::dns_insert(&svc.inner.dns_table, &n.id, cid, ep);
                }
            }
        }
        drop(st);
        Ok(svc)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ensure_predefined(&self) -> Result<(), DaemonError> {
        let mut st = self.state();
        let taken: Vec<_> = st
            .networks
            .iter()
            .filter_map(|n| n.pool.as_ref().map(|p| p.subnet))
            .collect();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            if st.networks.iter().any(|n| n.name == name) {
                continue;
            }
            let pool = if driver == Driver::Bridge {
                let mut nl = netlink()?;
                let subnet = berth_network::bridge::pick_subnet(&mut nl, &taken)
                    .map_err(|e| internal("choosing the default bridge's subnet", e))?;
                let req = berth_network::ipam::PoolRequest {
                    subnet: Some(subnet),
                    ..Default::default()
                };
                Some(
                    berth_network::ipam::Pool::new(&req, &taken)
                        .map_err(|e| internal("the default bridge's pool", e))?,
                )
            } else {
                None
            };
            let n = Network {
                id: manage::new_id()?,
                name: name.to_string(),
                created: crate::events::now_nanos(),
                driver,
                bridge: if driver == Driver::Bridge {
                    self.inner.naming.default_bridge.clone()
                } else {
                    String::new()
                },
                pool,
                pool6: None,
                internal: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                ipam: model::IpamGiven::default(),
                attachable: false,
                predefined: true,
                endpoints: BTreeMap::new(),
            };
            self.inner.store.put(&n)?;
            st.networks.push(n);
        }
        Ok(())
    }

    /// After live restore: `running` maps the IDs of running containers to their network
    /// namespace paths. Endpoints of other containers are deactivated (veths removed, ports
    /// dropped); running ones get their ports held and their DNS servers started again.
    pub fn reconcile(&self, running: &BTreeMap<String, PathBuf>) {
        let stale: Vec<String> = {
            let st = self.state();
            let mut ids: Vec<String> = st
                .networks
                .iter()
                .flat_map(|n| n.endpoints.iter())
                .filter(|(id, e)| e.active && !running.contains_key(*id))
                .map(|(id, _)| id.clone())
                .collect();
            ids.extend(
                st.ports
                    .keys()
                    .filter(|id| !running.contains_key(*id))
                    .cloned(),
            );
            ids.sort();
            ids.dedup();
            ids
        };
        for id in stale {
            self.detach(&id);
        }
        for (id, netns) in running {
            self.readopt(id, netns);
        }
        let st = self.state();
        if let Err(e) = self.apply_firewall(&st) {
            tracing::warn!(error = %e, "reconciling the firewall");
        }
    }

    /// Daemon stop: DNS servers stop; when no container is attached, the table and the bridges
    /// go (they are made again at the next start).
    pub fn shutdown(&self) {
        let mut st = self.state();
        for (_, server) in std::mem::take(&mut st.live.dns) {
            server.stop();
        }
        let busy = st
            .networks
            .iter()
            .any(|n| n.endpoints.values().any(|e| e.active));
        if !busy && st.ports.is_empty() {
            self.remove_firewall();
            if let Ok(mut nl) = netlink() {
                for n in st.networks.iter().filter(|n| n.driver == Driver::Bridge) {
                    let _ = berth_network::bridge::remove(&mut nl, &n.bridge);
                }
            }
        }
    }
}
