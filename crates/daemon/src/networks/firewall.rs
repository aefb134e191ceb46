//! Keeping Berth's nftables table in step with the networks' state. The table is a function of the
//! state ([`NetworkService::firewall_target`]); every change computes the next target under the
//! state lock and numbers it, and [`NetworkService::push_firewall`] brings the kernel there under a
//! lock of its own — skipping a target older than the one applied, so the table always ends at the
//! newest state whatever order the pushes run in.
//!
//! Costs on this kind of machine: an `nft -f` that only adds takes ~5 ms, one that deletes ~20 ms
//! (the kernel waits for an RCU grace period). So: nothing runs when the target equals what was
//! applied (a container without published ports never touches nftables); when only published
//! ports changed, `Firewall::update` adds or deletes map elements instead of replacing the table;
//! and a stopping container's deletions are pushed from a thread of their own
//! ([`NetworkService::push_firewall_later`]), so `docker rm` and `run --rm` do not wait for the grace
//! period (the stale elements point at a stopped container's address for those milliseconds).

use std::sync::atomic::Ordering;

use berth_network::firewall::{Desired, NetworkRules};
use berth_network::ifname::IfName;

use super::model::Driver;
use super::{internal, NetworkService, State};
use crate::error::DaemonError;

/// What the kernel holds: the last target applied and its number.
#[derive(Default)]
pub(crate) struct Applied {
    /// `None`: unknown (nothing applied yet, or the last attempt failed): replace the table.
    desired: Option<Desired>,
    generation: u64,
}

/// A numbered target.
pub(crate) struct Target {
    generation: u64,
    desired: Desired,
}

impl NetworkService {
    /// The table the state `st` needs, numbered after every earlier target (call it under the
    /// state lock, so that the numbers follow the state's changes).
    pub(crate) fn firewall_target(&self, st: &State) -> Target {
        let networks: Vec<NetworkRules> = st
            .networks
            .iter()
            .filter(|n| n.driver == Driver::Bridge)
            .filter_map(|n| {
                Some(NetworkRules {
                    // A record with a name not valid now has no bridge (see `checked_bridge`).
                    bridge: IfName::new(&n.bridge).ok()?,
                    subnet: n.pool.as_ref()?.subnet,
                    subnet6: n.pool6.as_ref().map(|p| p.subnet),
                    internal: n.internal,
                })
            })
            .collect();
        let ports = st
            .ports
            .values()
            .flat_map(|r| r.mappings.iter().cloned())
            .collect();
        Target {
            generation: self
                .inner
                .firewall_generation
                .fetch_add(1, Ordering::SeqCst)
                + 1,
            desired: Desired { networks, ports },
        }
    }

    /// Brings the table to `target`, unless a newer target was applied already.
    pub(crate) fn push_firewall(&self, target: Target) -> Result<(), DaemonError> {
        let mut applied = self
            .inner
            .firewall_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if target.generation <= applied.generation {
            return Ok(());
        }
        if applied.desired.as_ref() == Some(&target.desired) {
            applied.generation = target.generation;
            return Ok(());
        }
        if !target.desired.networks.is_empty()
            && !self.inner.forward_on.swap(true, Ordering::Relaxed)
        {
            // As Docker does, forwarding stays on (other daemons may need it).
            berth_network::firewall::set_ip_forward(true)
                .map_err(|e| internal("enabling ip forwarding", e))?;
        }
        if target.desired.networks.iter().any(|n| n.subnet6.is_some())
            && !self.inner.forward6_on.swap(true, Ordering::Relaxed)
        {
            // The same for IPv6, once a dual-stack network exists (as Docker does).
            berth_network::firewall::set_ip6_forward(true)
                .map_err(|e| internal("enabling IPv6 forwarding", e))?;
        }
        let previous = applied.desired.take();
        self.inner
            .firewall
            .update(previous.as_ref(), &target.desired)
            .map_err(|e| internal("applying the firewall", e))?;
        applied.desired = Some(target.desired);
        applied.generation = target.generation;
        Ok(())
    }

    /// [`Self::push_firewall`] from a thread of its own (a failure is logged; the next change
    /// applies the table again).
    pub(crate) fn push_firewall_later(&self, target: Target) {
        let svc = self.clone();
        let spawned = std::thread::Builder::new()
            .name("firewall".into())
            .spawn(move || {
                if let Err(e) = svc.push_firewall(target) {
                    tracing::warn!(error = %e, "updating the firewall");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "starting a firewall update");
        }
    }

    /// Replaces Berth's nftables table with what the bridge networks and published ports need
    /// (deletes it when nothing does); does nothing when that is the table applied last.
    pub(crate) fn apply_firewall(&self, st: &State) -> Result<(), DaemonError> {
        self.push_firewall(self.firewall_target(st))
    }

    /// [`Self::apply_firewall`] for the network verbs, whose change is made already: a failure
    /// is logged (the next change applies the table again).
    pub(crate) fn refresh_firewall(&self, st: &State) {
        if let Err(e) = self.apply_firewall(st) {
            tracing::warn!(error = %e, "updating the firewall");
        }
    }

    /// Daemon stop with nothing attached: the table goes, and no older target still on its way
    /// brings it back.
    pub(crate) fn remove_firewall(&self) {
        let mut applied = self
            .inner
            .firewall_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        applied.generation = self
            .inner
            .firewall_generation
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        applied.desired = None;
        if let Err(e) = self.inner.firewall.remove() {
            tracing::warn!(error = %e, "removing the firewall table");
        }
    }
}
