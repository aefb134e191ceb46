//! Volumes a plugin has that the store does not hold, found as dockerd finds them:
//! - `GET /volumes` ([`VolumeService::list`]) merges every volume plugin's `List` into the
//!   store's volumes; a plugin that fails to list is a warning (`list DRIVER: ...`), never an
//!   error, and a name the store holds under another driver keeps the store's volume (dockerd's
//!   `VolumeStore.Find`);
//! - a name the store does not know is asked of each plugin's `Get` ([`VolumeService::adopt`],
//!   dockerd's `VolumeStore.getVolume` probing every driver) by inspect and by a create that
//!   names no driver (`-v NAME:/path`); the first plugin that has it wins, and the store adopts
//!   it: a record with that plugin as driver and no labels or options, as dockerd records the
//!   driver it found. A plugin that refuses the `Get` or cannot answer is passed over.
//!
//! The plugins walked are those the daemon has activated and those its stored volumes name,
//! each looked up without waiting (one whose socket is gone is skipped). Unlike dockerd, a
//! plugin that only sits in the plugin directories is not activated just to be listed, and the
//! stored volumes of a plugin that is gone stay listed.

use std::collections::{BTreeMap, BTreeSet};

use tokio::task::JoinSet;

use super::model::{self, Scope, Volume, VolumeFilter, LOCAL};
use super::plugin::{self, PluginDriver, PluginVolume};
use super::{blocking, Entry, VolumeService};
use crate::error::DaemonError;

/// What `GET /volumes` answers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    /// By name.
    pub volumes: Vec<Volume>,
    /// One per plugin that failed to list, in Docker's words.
    pub warnings: Vec<String>,
}

/// The engine's volume for `found`, which plugin `driver` reports with `scope`.
fn volume_of(found: PluginVolume, driver: &str, scope: Scope) -> Volume {
    let created = found
        .created_at
        .as_deref()
        .and_then(berth_oci::time::parse_rfc3339_nanos)
        .unwrap_or(0);
    Volume {
        name: found.name,
        driver: driver.to_string(),
        mountpoint: found.mountpoint.unwrap_or_default(),
        created,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        scope,
        status: found.status,
    }
}

/// The scope `driver` gives its volumes; `local` when it cannot say.
async fn scope_of(driver: &PluginDriver) -> Scope {
    match driver.capabilities().await {
        Ok(plugin::Scope::Global) => Scope::Global,
        Ok(plugin::Scope::Local) => Scope::Local,
        Err(e) => {
            tracing::debug!(driver = %driver.name(), error = %e, "no capabilities; using local");
            Scope::Local
        }
    }
}

impl VolumeService {
    /// The volume plugins to walk (see the module docs); with `only`, those of its names that
    /// are plugins.
    async fn plugin_drivers(&self, only: &[String]) -> Vec<PluginDriver> {
        let mut names: BTreeSet<String> = PluginDriver::activated().into_iter().collect();
        names.extend(self.table().values().map(|e| e.volume.driver.clone()));
        names.extend(only.iter().cloned());
        names.remove(LOCAL);
        let mut out = Vec::new();
        for name in names {
            if !only.is_empty() && !only.contains(&name) {
                continue;
            }
            match PluginDriver::connect_present(&name).await {
                Ok(d) => out.push(d),
                Err(e) => tracing::debug!(driver = %name, error = %e, "volume plugin not walked"),
            }
        }
        out
    }

    /// `GET /volumes`: the stored volumes and the plugins' others that `filter` lets through
    /// (a plugin's own volume has no labels and no container references it), by name, with a
    /// warning for each plugin that failed to list. The plugins are asked side by side.
    pub async fn list(&self, filter: &VolumeFilter) -> Listing {
        let mut asked = JoinSet::new();
        for driver in self.plugin_drivers(&filter.driver).await {
            asked.spawn(async move {
                let listed = driver.list().await;
                (driver, listed)
            });
        }
        let mut found: Vec<(PluginDriver, Vec<PluginVolume>)> = Vec::new();
        let mut warnings = Vec::new();
        while let Some(joined) = asked.join_next().await {
            match joined {
                Ok((driver, Ok(volumes))) => found.push((driver, volumes)),
                // dockerd's `OpErr` of the driver: `list DRIVER: the plugin's error`.
                Ok((driver, Err(e))) => warnings.push(format!("list {}: {e}", driver.name())),
                Err(e) => warnings.push(format!("list: {e}")),
            }
        }
        warnings.sort();
        let mut theirs: Vec<Volume> = Vec::new();
        for (driver, volumes) in found {
            let new: Vec<PluginVolume> = {
                let stored = self.table();
                volumes
                    .into_iter()
                    .filter(|v| !stored.contains_key(&v.name))
                    .collect()
            };
            if new.is_empty() {
                continue;
            }
            let scope = scope_of(&driver).await;
            theirs.extend(new.into_iter().map(|v| Volume {
                // `Status` is inspect's, never the list's.
                status: None,
                ..volume_of(v, driver.name(), scope)
            }));
        }
        let mut volumes: BTreeMap<String, Volume> = self
            .list_stored(filter)
            .into_iter()
            .map(|v| (v.name.clone(), v))
            .collect();
        for v in theirs {
            if model::matches(filter, &v, false) {
                volumes.entry(v.name.clone()).or_insert(v);
            }
        }
        Listing {
            volumes: volumes.into_values().collect(),
            warnings,
        }
    }

    /// The volume `name` as the first plugin that has it reports it (its `Status` included),
    /// recorded in the store with that plugin as its driver; `None` when no plugin has it. The
    /// caller holds `name`'s lock and has found it not stored.
    pub(super) async fn adopt(&self, name: &str) -> Result<Option<Volume>, DaemonError> {
        for driver in self.plugin_drivers(&[]).await {
            let found = match driver.get(name).await {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(driver = %driver.name(), volume = name, error = %e, "the plugin has no such volume");
                    continue;
                }
            };
            let scope = scope_of(&driver).await;
            let mut v = volume_of(found, driver.name(), scope);
            v.name = name.to_string();
            if v.created == 0 {
                v.created = crate::events::now_nanos();
            }
            let svc = self.clone();
            let stored = Volume {
                status: None,
                ..v.clone()
            };
            blocking(move || svc.inner.store.insert(&stored)).await?;
            tracing::info!(volume = name, driver = %driver.name(), "a plugin's volume taken into the store");
            self.table().insert(
                name.to_string(),
                Entry {
                    volume: Volume {
                        status: None,
                        ..v.clone()
                    },
                    refs: BTreeSet::new(),
                    mounts: BTreeSet::new(),
                },
            );
            return Ok(Some(v));
        }
        Ok(None)
    }
}
