//! A volume driver provided by a plugin: Docker's `/VolumeDriver.*` calls (Create, Remove, Mount,
//! Unmount, Path, Get, List, Capabilities) made through [`crate::plugins`]. A plugin that is
//! missing, slow or answers garbage is an error naming the plugin and the call; nothing here
//! keeps state beyond the plugin's handle.
//!
//! The wire shapes are Docker's: every call's body names the volume as `Name` (Mount and
//! Unmount add the container's `ID`), every answer may carry `Err`, and a non-empty `Err` is the
//! call's error, worded `VolumeDriver.Mount: <err>` as dockerd words it. Fields a plugin leaves
//! out are taken as empty, as dockerd's decoder does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::DaemonError;
use crate::plugins::{Plugin, PluginError, Registry};

/// The interface a volume plugin's manifest lists.
pub const INTERFACE: &str = "VolumeDriver";

/// A volume as a plugin reports it (`Get`, `List`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginVolume {
    pub name: String,
    /// Where the plugin has it mounted, if it says.
    pub mountpoint: Option<PathBuf>,
    /// The plugin's own `Status` object, shown by inspect.
    pub status: Option<serde_json::Value>,
    /// When the plugin says it created the volume (its `CreatedAt`, as it sent it).
    pub created_at: Option<String>,
}

/// A volume's scope as the plugin's `Capabilities` gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    Local,
    Global,
}

impl Scope {
    /// The name Docker shows (`local`, `global`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }
}

/// An activated volume plugin.
#[derive(Debug, Clone)]
pub struct PluginDriver {
    name: String,
    plugin: Arc<Plugin>,
}

/// `{"Name"}`, the body of most calls.
#[derive(Serialize)]
struct Named<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
}

#[derive(Serialize)]
struct CreateArgs<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Opts")]
    opts: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct MountArgs<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "ID")]
    id: &'a str,
}

/// An answer with nothing but a possible `Err`.
#[derive(Deserialize)]
struct ErrOnly {
    #[serde(rename = "Err", default)]
    err: Option<String>,
}

#[derive(Deserialize)]
struct MountpointAnswer {
    #[serde(rename = "Mountpoint", default)]
    mountpoint: Option<String>,
    #[serde(rename = "Err", default)]
    err: Option<String>,
}

#[derive(Deserialize)]
struct WireVolume {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Mountpoint", default)]
    mountpoint: Option<String>,
    #[serde(rename = "Status", default)]
    status: Option<serde_json::Value>,
    #[serde(rename = "CreatedAt", default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct GetAnswer {
    #[serde(rename = "Volume", default)]
    volume: Option<WireVolume>,
    #[serde(rename = "Err", default)]
    err: Option<String>,
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(rename = "Volumes", default)]
    volumes: Option<Vec<WireVolume>>,
    #[serde(rename = "Err", default)]
    err: Option<String>,
}

#[derive(Deserialize)]
struct CapabilitiesAnswer {
    #[serde(rename = "Capabilities", default)]
    capabilities: Option<Capabilities>,
}

#[derive(Deserialize)]
struct Capabilities {
    #[serde(rename = "Scope", default)]
    scope: Option<String>,
}

impl PluginDriver {
    /// Finds the plugin `name` and activates it; refused (404, Docker's words: `plugin "x" not
    /// found`) when no plugin of that name exists or it does not implement `VolumeDriver`.
    /// Uses the daemon's plugin registry ([`Registry::global`]).
    pub async fn connect(name: &str) -> Result<PluginDriver, DaemonError> {
        Self::connect_with(Registry::global(), name).await
    }

    /// [`Self::connect`] through `registry` (its directories and deadlines).
    pub async fn connect_with(
        registry: &Registry,
        name: &str,
    ) -> Result<PluginDriver, DaemonError> {
        let plugin = registry
            .get(name, INTERFACE)
            .await
            .map_err(|e| PluginError::Lookup {
                what: "volume",
                name: name.to_string(),
                source: Box::new(e),
            })?;
        Ok(PluginDriver {
            name: name.to_string(),
            plugin,
        })
    }

    /// [`Self::connect`] to a plugin that is there now, without waiting for one that is not:
    /// for the walks over every plugin (list, a volume the store does not know).
    pub async fn connect_present(name: &str) -> Result<PluginDriver, DaemonError> {
        let plugin = Registry::global()
            .get_present(name, INTERFACE)
            .await
            .map_err(|e| PluginError::Lookup {
                what: "volume",
                name: name.to_string(),
                source: Box::new(e),
            })?;
        Ok(PluginDriver {
            name: name.to_string(),
            plugin,
        })
    }

    /// The names of the volume plugins the daemon has activated.
    pub fn activated() -> Vec<String> {
        Registry::global().active(INTERFACE)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/VolumeDriver.Create`.
    pub async fn create(
        &self,
        volume: &str,
        opts: &BTreeMap<String, String>,
    ) -> Result<(), DaemonError> {
        let method = "VolumeDriver.Create";
        let args = CreateArgs { name: volume, opts };
        let answer: ErrOnly = self.call(method, &args).await?;
        refused(method, answer.err)
    }

    /// `/VolumeDriver.Remove`.
    pub async fn remove(&self, volume: &str) -> Result<(), DaemonError> {
        let method = "VolumeDriver.Remove";
        let answer: ErrOnly = self.call(method, &Named { name: volume }).await?;
        refused(method, answer.err)
    }

    /// `/VolumeDriver.Mount` for container `id`: the host path to bind. A plugin that
    /// answers without an absolute path is an error: there is nothing to bind.
    pub async fn mount(&self, volume: &str, id: &str) -> Result<PathBuf, DaemonError> {
        let method = "VolumeDriver.Mount";
        let args = MountArgs { name: volume, id };
        let answer: MountpointAnswer = self.call(method, &args).await?;
        refused(method, answer.err)?;
        match answer.mountpoint.filter(|m| m.starts_with('/')) {
            Some(m) => Ok(PathBuf::from(m)),
            None => Err(self.bad(
                method,
                format!("no absolute Mountpoint for volume {volume:?} in its answer"),
            )),
        }
    }

    /// `/VolumeDriver.Unmount` for container `id`.
    pub async fn unmount(&self, volume: &str, id: &str) -> Result<(), DaemonError> {
        let method = "VolumeDriver.Unmount";
        let args = MountArgs { name: volume, id };
        let answer: ErrOnly = self.call(method, &args).await?;
        refused(method, answer.err)
    }

    /// `/VolumeDriver.Path`: where the volume is mounted, if it is.
    pub async fn path(&self, volume: &str) -> Result<Option<PathBuf>, DaemonError> {
        let method = "VolumeDriver.Path";
        let answer: MountpointAnswer = self.call(method, &Named { name: volume }).await?;
        refused(method, answer.err)?;
        Ok(answer
            .mountpoint
            .filter(|m| !m.is_empty())
            .map(PathBuf::from))
    }

    /// `/VolumeDriver.Get`: `None` when the plugin answers without a volume (dockerd's "no
    /// such volume"). A plugin that answers with an `Err` (most say "not found" that way) is
    /// an error, as in dockerd.
    pub async fn get(&self, volume: &str) -> Result<Option<PluginVolume>, DaemonError> {
        let method = "VolumeDriver.Get";
        let answer: GetAnswer = self.call(method, &Named { name: volume }).await?;
        refused(method, answer.err)?;
        Ok(answer.volume.map(|v| {
            let mut v = PluginVolume::from(v);
            if v.name.is_empty() {
                v.name = volume.to_string();
            }
            v
        }))
    }

    /// `/VolumeDriver.List`.
    pub async fn list(&self) -> Result<Vec<PluginVolume>, DaemonError> {
        let method = "VolumeDriver.List";
        let answer: ListAnswer = self.call(method, &serde_json::json!({})).await?;
        refused(method, answer.err)?;
        Ok(answer
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !v.name.is_empty())
            .map(PluginVolume::from)
            .collect())
    }

    /// `/VolumeDriver.Capabilities`: `local` when the plugin does not implement it (404),
    /// refuses it (the call is optional, as dockerd treats it), or names no scope or one Docker
    /// does not know. A plugin that cannot answer at all (deadline, garbage, hang-up) is an
    /// error: it is broken, and the caller should not go on as if it were not.
    pub async fn capabilities(&self) -> Result<Scope, DaemonError> {
        let method = "VolumeDriver.Capabilities";
        let answer: CapabilitiesAnswer = match self.call(method, &serde_json::json!({})).await {
            Ok(a) => a,
            Err(DaemonError::Plugin(e @ PluginError::Refused { .. })) => {
                if !e.is_not_implemented() {
                    tracing::debug!(plugin = %self.name, error = %e, "no capabilities; using local");
                }
                return Ok(Scope::Local);
            }
            Err(e) => return Err(e),
        };
        let scope = answer
            .capabilities
            .and_then(|c| c.scope)
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(match scope.as_str() {
            "global" => Scope::Global,
            "local" | "" => Scope::Local,
            other => {
                tracing::warn!(plugin = %self.name, scope = other, "volume plugin gave an unknown scope; using local");
                Scope::Local
            }
        })
    }

    async fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, DaemonError> {
        Ok(self.plugin.call(method, args).await?)
    }

    fn bad(&self, method: &str, reason: String) -> DaemonError {
        PluginError::Call {
            name: self.name.clone(),
            method: method.to_string(),
            reason,
        }
        .into()
    }
}

impl From<WireVolume> for PluginVolume {
    fn from(v: WireVolume) -> Self {
        PluginVolume {
            name: v.name,
            mountpoint: v.mountpoint.filter(|m| !m.is_empty()).map(PathBuf::from),
            status: v.status.filter(|s| !s.is_null()),
            created_at: v.created_at.filter(|c| !c.is_empty()),
        }
    }
}

/// A non-empty `Err` in a 200 answer is the call's error.
fn refused(method: &str, err: Option<String>) -> Result<(), DaemonError> {
    match err.filter(|e| !e.is_empty()) {
        None => Ok(()),
        Some(message) => Err(PluginError::Refused {
            method: method.to_string(),
            status: 200,
            message,
        }
        .into()),
    }
}
