//! A volume driver provided by a plugin: Docker's `/VolumeDriver.*` calls (Create, Remove, Mount,
//! Unmount, Path, Get, List, Capabilities) made through [`crate::plugins`]. A plugin that is
//! missing, slow or answers garbage is an error naming the plugin and the call; nothing here
//! keeps state beyond the plugin's handle.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::DaemonError;

/// A volume as a plugin reports it (`Get`, `List`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginVolume {
    pub name: String,
    /// Where the plugin has it mounted, if it says.
    pub mountpoint: Option<PathBuf>,
    /// The plugin's own `Status` object, shown by inspect.
    pub status: Option<serde_json::Value>,
}

/// A volume's scope as the plugin's `Capabilities` gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    Local,
    Global,
}

/// An activated volume plugin.
#[derive(Debug, Clone)]
pub struct PluginDriver {
    name: String,
}

impl PluginDriver {
    /// Finds the plugin `name` and activates it; refused (404, Docker's words: `plugin "x" not
    /// found`) when no plugin of that name exists or it does not implement `VolumeDriver`.
    pub async fn connect(name: &str) -> Result<PluginDriver, DaemonError> {
        Err(DaemonError::NotFound(format!(
            "error looking up volume plugin {name}: plugin \"{name}\" not found"
        )))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/VolumeDriver.Create`.
    pub async fn create(
        &self,
        _volume: &str,
        _opts: &BTreeMap<String, String>,
    ) -> Result<(), DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Remove`.
    pub async fn remove(&self, _volume: &str) -> Result<(), DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Mount` for container `id`: the host path to bind.
    pub async fn mount(&self, _volume: &str, _id: &str) -> Result<PathBuf, DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Unmount` for container `id`.
    pub async fn unmount(&self, _volume: &str, _id: &str) -> Result<(), DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Path`: where the volume is mounted, if it is.
    pub async fn path(&self, _volume: &str) -> Result<Option<PathBuf>, DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Get`: `None` when the plugin does not know the volume.
    pub async fn get(&self, _volume: &str) -> Result<Option<PluginVolume>, DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.List`.
    pub async fn list(&self) -> Result<Vec<PluginVolume>, DaemonError> {
        Err(self.unbuilt())
    }

    /// `/VolumeDriver.Capabilities` (`local` when the plugin does not implement it).
    pub async fn capabilities(&self) -> Result<Scope, DaemonError> {
        Err(self.unbuilt())
    }

    fn unbuilt(&self) -> DaemonError {
        DaemonError::NotImplemented(format!("volume plugin {}: not built yet", self.name))
    }
}
