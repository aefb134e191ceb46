//! The networks a create attaches: the one `NetworkMode` names (the *primary*: eth0, the default
//! route, the published ports) and, as Docker does from API 1.44 on, every other network of
//! `NetworkingConfig.EndpointsConfig` (the *extras*), each with its own endpoint settings.
//!
//! [`plan`] sorts the request's entries before anything is made: the entry keyed by the mode's
//! network (by name, ID or ID prefix, or `default` for the default bridge) configures the primary
//! endpoint; every other key must name an existing network. Docker defers a missing network to
//! the start (the container keeps the name until then); the primary's is deferred here too (the
//! start registers it, or fails with `network X not found`), but Berth keeps no place for an
//! extra's name until the start, so a missing extra is refused at create with the words and
//! status (404) the start would give. [`ContainerService::attach_networks`] registers them all
//! once the container is recorded, and takes every endpoint back when one fails.

use std::collections::BTreeMap;

use super::model::Container;
use super::ContainerService;
use crate::error::DaemonError;
use crate::networks::endpoints::mode_network;
use crate::networks::model::EndpointRequest;
use crate::networks::NetworkService;

/// The request's endpoints, sorted.
#[derive(Debug, Default)]
pub struct NetworkPlan {
    /// The primary endpoint's settings, keyed by the mode's network (what `register` reads).
    pub primary: Option<BTreeMap<String, EndpointRequest>>,
    /// The other networks, by name, in the request's order.
    pub extras: Vec<(String, EndpointRequest)>,
}

/// Sorts `endpoints` against network mode `mode` (already settled: `bridge`, not `default`).
pub fn plan(
    net: &NetworkService,
    mode: &str,
    endpoints: Option<BTreeMap<String, EndpointRequest>>,
) -> Result<NetworkPlan, DaemonError> {
    let mut out = NetworkPlan::default();
    let Some(endpoints) = endpoints.filter(|m| !m.is_empty()) else {
        return Ok(out);
    };
    let primary_name = mode_network(mode);
    let primary_id = primary_name.and_then(|n| net.inspect(n).ok()).map(|n| n.id);
    for (key, cfg) in endpoints {
        let is_mode_key = key == mode
            || Some(key.as_str()) == primary_name
            || (key == "default" && primary_name == Some("bridge"));
        if is_mode_key {
            if let Some(name) = primary_name {
                out.primary = Some(BTreeMap::from([(name.to_string(), cfg)]));
            }
            continue;
        }
        let Some(primary_name) = primary_name else {
            // Host, none and container: networking have no other networks (Docker's words).
            return Err(DaemonError::InvalidArgument(format!(
                "container sharing network namespace with another container or host cannot be \
                 connected to any other network ({mode})"
            )));
        };
        let n = net.inspect(&key)?;
        if Some(&n.id) == primary_id.as_ref() {
            out.primary = Some(BTreeMap::from([(primary_name.to_string(), cfg)]));
        } else if out.extras.iter().any(|(name, _)| *name == n.name) {
            return Err(DaemonError::InvalidArgument(format!(
                "network {} is named twice in EndpointsConfig ({key})",
                n.name
            )));
        } else {
            out.extras.push((n.name, cfg));
        }
    }
    Ok(out)
}

impl ContainerService {
    /// At create, once `c` is recorded: the endpoint on the mode's network, then one on each
    /// extra network (addresses allocated now, veths at start). On failure every endpoint made
    /// is taken back.
    pub(crate) async fn attach_networks(
        &self,
        c: &Container,
        plan: NetworkPlan,
    ) -> Result<(), DaemonError> {
        self.register_network(c, plan.primary).await?;
        if plan.extras.is_empty() {
            return Ok(());
        }
        let Some(net) = self.networks() else {
            return Ok(());
        };
        let c = c.clone();
        tokio::task::spawn_blocking(move || {
            for (name, cfg) in &plan.extras {
                if let Err(e) = net.connect(name, &c, Some(cfg), None) {
                    net.forget(&c.id);
                    return Err(e);
                }
            }
            Ok(())
        })
        .await
        .map_err(DaemonError::join)?
    }
}
