//! Deleting the kernel's conntrack entries of addresses that containers gave up (NET-09), as
//! Docker does when an endpoint goes: a later holder of an address must not inherit its flows
//! (UDP replies steered to it, a stale DNAT).
//!
//! A deletion dumps the family's whole conntrack table, and the kernel walks every hash bucket
//! for it (~10 ms with the default 262144 buckets), so it runs on a thread of its own
//! ([`NetworkService::forget_flows_later`]) instead of on the path of `stop`, `rm` and
//! `run --rm`. An endpoint being given an address whose deletion is still running waits for it
//! ([`NetworkService::wait_for_flows`]) so that the deletion cannot take the new holder's flows:
//! with serial allocation that happens only for an address asked for again at once (`--ip`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::NetworkService;

/// Addresses whose deletion is running (a count each: two may overlap).
#[derive(Default)]
pub(crate) struct PendingFlows {
    addrs: Mutex<BTreeMap<IpAddr, u32>>,
    done: Condvar,
}

/// How long an endpoint waits for a deletion before it goes on regardless.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

impl PendingFlows {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<IpAddr, u32>> {
        self.addrs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A deletion of `addrs`' flows starts.
    fn begin(&self, addrs: &[IpAddr]) {
        let mut p = self.lock();
        for a in addrs {
            *p.entry(*a).or_default() += 1;
        }
    }

    /// A deletion [`Self::begin`] announced is over.
    fn end(&self, addrs: &[IpAddr]) {
        let mut p = self.lock();
        for a in addrs {
            if let Some(n) = p.get_mut(a) {
                *n -= 1;
                if *n == 0 {
                    p.remove(a);
                }
            }
        }
        self.done.notify_all();
    }

    /// Waits until no deletion of `addrs`' flows runs, at most `limit`; false when one still does.
    fn wait(&self, addrs: &[IpAddr], limit: Duration) -> bool {
        let mut p = self.lock();
        let end = Instant::now() + limit;
        while addrs.iter().any(|a| p.contains_key(a)) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            p = match self.done.wait_timeout(p, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

impl NetworkService {
    /// Deletes the flows of `addrs` (given up by container `id`) from a thread of its own; a
    /// failure is logged.
    pub(crate) fn forget_flows_later(&self, id: &str, addrs: Vec<IpAddr>) {
        if addrs.is_empty() {
            return;
        }
        self.inner.pending_flows.begin(&addrs);
        let svc = self.clone();
        let (owner, mine) = (id.to_string(), addrs.clone());
        let spawned = std::thread::Builder::new()
            .name("conntrack".into())
            .spawn(move || svc.forget_flows_now(&owner, &mine));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "starting a conntrack deletion: deleting on this thread");
            self.forget_flows_now(id, &addrs);
        }
    }

    /// The work of [`Self::forget_flows_later`]: the deletion, then `addrs` off the pending list.
    fn forget_flows_now(&self, id: &str, addrs: &[IpAddr]) {
        if let Err(e) = berth_network::conntrack::flush(addrs) {
            tracing::warn!(container = id, error = %e, "deleting the conntrack entries of its addresses");
        }
        self.inner.pending_flows.end(addrs);
    }

    /// Waits until no deletion of `addrs`' flows is running (at most [`WAIT_LIMIT`]). Costs one
    /// uncontended lock when none is, which is the rule.
    pub(crate) fn wait_for_flows(&self, addrs: &[IpAddr]) {
        if !self.inner.pending_flows.wait(addrs, WAIT_LIMIT) {
            tracing::warn!(?addrs, "an address's conntrack deletion is still running");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_for_its_own_deletions_only() {
        let p = std::sync::Arc::new(PendingFlows::default());
        let (a, b): (IpAddr, IpAddr) = ("10.5.0.2".parse().unwrap(), "fd00::2".parse().unwrap());
        p.begin(&[a, b]);
        p.begin(&[a]);
        let other: IpAddr = "10.5.0.3".parse().unwrap();
        assert!(
            p.wait(&[other], Duration::ZERO),
            "another address does not wait"
        );
        assert!(
            !p.wait(&[a], Duration::from_millis(20)),
            "a deletion of it runs"
        );
        p.end(&[a, b]);
        assert!(p.wait(&[b], Duration::ZERO));
        assert!(
            !p.wait(&[a], Duration::ZERO),
            "the second deletion still runs"
        );
        let ender = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                p.end(&[a]);
            })
        };
        assert!(
            p.wait(&[a, b], Duration::from_secs(10)),
            "woken when it ends"
        );
        ender.join().unwrap();
    }
}
