//! The container side of legacy links on the default bridge (`--link NAME[:ALIAS]`; the rules
//! are [`crate::networks::links`]', links on user-defined networks are the endpoints' business):
//!
//! - create resolves each child to its ID ([`ContainerService::resolve_links`]): a missing one
//!   is refused (400), one with host networking too, one sharing another's namespace
//!   (`container:X`) stands for X; an alias given twice keeps its first child, as Docker does;
//! - start checks the children and gives the parent their environment variables and
//!   `/etc/hosts` lines ([`ContainerService::linked`]): each must be on the default bridge, then
//!   running, or the start fails with Docker's words;
//! - `rm --link /PARENT/ALIAS` drops one ([`ContainerService::remove_link`]); a running parent's
//!   `/etc/hosts` is written again without it;
//! - inspect shows them as `/CHILD:/PARENT/ALIAS`, with the child's current name
//!   ([`ContainerService::links_shown`]); a list entry names a child by its links too
//!   (`/PARENT/ALIAS`, [`ContainerService::link_names`]), as Docker's name registry holds them.

use std::net::IpAddr;

use super::model::Container;
use super::{spec, ContainerService};
use crate::error::DaemonError;
use crate::networks::links::{self, Child, LinkSpec};

/// What the links give a starting parent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linked {
    /// The links' environment variables, before the parent's own.
    pub env: Vec<String>,
    /// `/etc/hosts` lines: (names, address).
    pub hosts: Vec<(String, IpAddr)>,
}

/// How many `container:X` hops create follows to find the container that owns a namespace.
const MAX_HOPS: usize = 16;

/// Docker's words for a link option that names no container.
fn no_child(name: &str) -> DaemonError {
    DaemonError::InvalidArgument(format!(
        "could not get container for {name}: No such container: {name}"
    ))
}

/// The parent's environment: the links' variables, then its own `Env`, which replaces a link's
/// variable of the same name where it stands (Docker's `ReplaceOrAppendEnvValues`).
pub fn with_link_env(link_env: &[String], own: &[String]) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let mut env = link_env.to_vec();
    for e in own {
        match env.iter_mut().find(|x| key(x) == key(e)) {
            Some(slot) => *slot = e.clone(),
            None => env.push(e.clone()),
        }
    }
    env
}

impl ContainerService {
    /// At create: the links with each child's ID (see the module header).
    pub(crate) fn resolve_links(&self, given: &[LinkSpec]) -> Result<Vec<LinkSpec>, DaemonError> {
        let mut out: Vec<LinkSpec> = Vec::new();
        for l in given {
            let find = |name: &str| {
                self.lookup(name)
                    .map(|e| e.snapshot())
                    .map_err(|e| match e {
                        DaemonError::NoSuchContainer(_) => no_child(name),
                        e => e,
                    })
            };
            let mut child = find(&l.child)?;
            for _ in 0..MAX_HOPS {
                let mode = child.host_config.network_mode.clone().unwrap_or_default();
                let Some(owner) = mode.strip_prefix("container:") else {
                    break;
                };
                child = find(owner)?;
            }
            if child.host_config.network_mode.as_deref() == Some("host") {
                return Err(DaemonError::InvalidArgument(
                    "conflicting options: host type networking can't be used with links. This \
                     would result in undefined behavior"
                        .into(),
                ));
            }
            if out.iter().any(|o| o.alias == l.alias) {
                tracing::warn!(alias = %l.alias, child = %child.id, "ignoring a second link with the same alias");
                continue;
            }
            out.push(LinkSpec {
                child: child.id,
                alias: l.alias.clone(),
            });
        }
        Ok(out)
    }

    /// At start: what the links of `c` give it, when it starts on the default bridge (nothing
    /// otherwise). Every child must be on the default bridge, then running; the errors are
    /// Docker's (a start error, 500).
    pub(crate) fn linked(&self, c: &Container) -> Result<Linked, DaemonError> {
        let mode = c.host_config.network_mode.as_deref().unwrap_or_default();
        if c.settings.links.is_empty() || !matches!(mode, "" | "default" | "bridge") {
            return Ok(Linked::default());
        }
        let children: Vec<(&LinkSpec, Option<Container>)> = c
            .settings
            .links
            .iter()
            .map(|l| (l, self.lookup(&l.child).ok().map(|e| e.snapshot())))
            .collect();
        for child in children.iter().filter_map(|(_, ch)| ch.as_ref()) {
            if self.bridge_ip(&child.id).is_none() {
                return Err(DaemonError::Internal(format!(
                    "Cannot link to /{}, as it does not belong to the default network",
                    child.name
                )));
            }
        }
        let mut out = Linked::default();
        for (l, child) in &children {
            let running = child.as_ref().filter(|ch| ch.state.status.is_active());
            let Some((env, host)) = running.and_then(|ch| self.link_of(c, l, ch)) else {
                let name = child
                    .as_ref()
                    .map_or(l.child.as_str(), |ch| ch.name.as_str());
                return Err(DaemonError::Internal(format!(
                    "Cannot link to a non running container: /{name} AS /{}/{}",
                    c.name, l.alias
                )));
            };
            out.env.extend(env);
            out.hosts.push(host);
        }
        Ok(out)
    }

    /// The child's address on the default bridge (kept while it is stopped); `None` when it has
    /// no endpoint there.
    fn bridge_ip(&self, id: &str) -> Option<std::net::Ipv4Addr> {
        self.inner
            .networks
            .endpoints_of(id)
            .into_iter()
            .find(|v| v.is_default_bridge())
            .map(|v| v.endpoint.ip)
    }

    /// One link's environment and hosts line, from its child.
    fn link_of(
        &self,
        parent: &Container,
        l: &LinkSpec,
        child: &Container,
    ) -> Option<(Vec<String>, (String, IpAddr))> {
        let ip = self.bridge_ip(&child.id)?;
        let hostname = spec::hostname(child);
        let view = Child {
            name: &child.name,
            hostname: &hostname,
            ip,
            env: child.config.env.as_deref().unwrap_or_default(),
            exposed: child
                .config
                .exposed_ports
                .iter()
                .flat_map(|m| m.keys().map(String::as_str))
                .collect(),
        };
        let env = links::env(&parent.name, &l.alias, &view);
        Some((env, (links::hosts_names(&l.alias, &view), IpAddr::V4(ip))))
    }

    /// Inspect's `HostConfig.Links`: null without links, as Docker shows it.
    pub(crate) fn links_shown(&self, c: &Container) -> Option<Vec<String>> {
        if c.settings.links.is_empty() {
            return None;
        }
        let shown = c.settings.links.iter().map(|l| {
            let child = self
                .lookup(&l.child)
                .map(|e| e.snapshot().name)
                .unwrap_or_else(|_| l.child.clone());
            links::inspect_form(&child, &c.name, &l.alias)
        });
        Some(shown.collect())
    }

    /// The names links give containers: child ID → `/PARENT/ALIAS`, sorted (a list entry's
    /// `Names` after the container's own).
    pub fn link_names(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for parent in self.entries().iter().map(|e| e.snapshot()) {
            for l in &parent.settings.links {
                let name = format!("/{}/{}", parent.name, l.alias);
                out.entry(l.child.clone()).or_default().push(name);
            }
        }
        for names in out.values_mut() {
            names.sort();
        }
        out
    }

    /// `DELETE /containers/{PARENT}/{ALIAS}?link=1` (`docker rm --link /PARENT/ALIAS`): `name`
    /// as the client gave it. A container's own name is refused (Docker's plain error); a link
    /// that is not there is Docker's 404.
    pub async fn remove_link(&self, name: &str) -> Result<(), DaemonError> {
        let full = format!("/{}", name.trim_start_matches('/'));
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", &full));
        if parent.is_empty() {
            self.lookup(&full)?;
            return Err(DaemonError::Internal(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        }
        let missing = || DaemonError::NoSuchContainer(name.to_string());
        let entry = self.lookup(parent).map_err(|_| missing())?;
        let _op = entry.op.lock().await;
        if !entry
            .snapshot()
            .settings
            .links
            .iter()
            .any(|l| l.alias == alias)
        {
            return Err(missing());
        }
        let c = self.commit(&entry, false, |c| {
            c.settings.links.retain(|l| l.alias != alias);
        })?;
        if c.state.status.is_active() {
            // The remaining links' lines, of the children that still run.
            let hosts: Vec<(String, IpAddr)> = c
                .settings
                .links
                .iter()
                .filter_map(|l| {
                    let child = self.lookup(&l.child).ok()?.snapshot();
                    let (_, host) = self.link_of(&c, l, &child)?;
                    Some(host)
                })
                .collect();
            let (net, dir) = (self.inner.networks.clone(), self.paths().data_dir(&c.id));
            tokio::task::spawn_blocking(move || net.rewrite_hosts(&c, &dir, &hosts))
                .await
                .map_err(DaemonError::join)??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parents_own_env_wins_where_the_link_put_it() {
        let links = ["DB_NAME=/web/db".to_string(), "DB_PORT=tcp://x:1".into()];
        let own = ["PATH=/bin".to_string(), "DB_NAME=mine".into()];
        assert_eq!(
            with_link_env(&links, &own),
            ["DB_NAME=mine", "DB_PORT=tcp://x:1", "PATH=/bin"]
        );
        assert_eq!(with_link_env(&[], &own), own);
    }
}
