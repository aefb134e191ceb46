//! Docker's (legacy, "v1") plugin protocol, as a client: finding a plugin by name (a socket in
//! `/run/docker/plugins/`, a `.spec`/`.json` file in `/etc/docker/plugins/` or
//! `/usr/lib/docker/plugins/`: [`discovery`]), activating it (`POST /Plugin.Activate`, which names the
//! interfaces it implements) and calling it: JSON over HTTP/1.1 on a UNIX socket or TCP, with a
//! deadline on every call ([`client`]). Volume drivers (`crate::volumes::plugin`) are its first
//! user; authorization plugins ([`authz`], asked by the API server's middleware) the second.
//!
//! Vocabulary: a *plugin* is a process the host runs, outside the daemon; the daemon knows it
//! only by name. *Activating* it is the handshake that returns its manifest
//! (`{"Implements":["VolumeDriver"]}`). The [`Registry`] keeps the plugins it has activated, by
//! name, as dockerd does, so a plugin is activated once and not before each call; a plugin whose
//! socket has gone is forgotten and looked for again at its next use.
//!
//! Bounds ([`Settings`]): a plugin that is not there yet is waited for up to
//! [`Settings::find_wait`] (dockerd retries for about 15 s), polling with a growing pause; then
//! `plugin "x" not found`. Every call, activation included, has the deadline
//! [`Settings::timeout`] (30 s by default; `--plugin-timeout` sets it for the daemon). The
//! daemon's registry is [`Registry::global`], configured once at start: plugins are a property
//! of the host, not of one engine.
//!
//! Locking: `active` and `settings` are std locks held only to read or replace an entry, never
//! across an await.

pub mod authz;
pub mod client;
pub mod discovery;
mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use discovery::{Address, SearchPath};
pub use error::PluginError;

/// dockerd's deadline of a plugin call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The first and the longest pause between looks for a plugin that is not there yet.
const FIND_FIRST: Duration = Duration::from_millis(50);
const FIND_MAX: Duration = Duration::from_secs(1);

/// Where plugins are looked for and how long the daemon waits on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub search: SearchPath,
    /// The deadline of every call.
    pub timeout: Duration,
    /// How long a plugin that is not there yet is waited for.
    pub find_wait: Duration,
}

impl Settings {
    /// Docker's directories with `timeout` as the call deadline, and half of it as the wait for
    /// a plugin to appear (dockerd's 30 s retry window gives up after about 15 s of pauses).
    pub fn with_timeout(timeout: Duration) -> Settings {
        Settings {
            search: SearchPath::default(),
            timeout,
            find_wait: timeout / 2,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::with_timeout(DEFAULT_TIMEOUT)
    }
}

/// An activated plugin: where it listens and what it implements.
#[derive(Debug)]
pub struct Plugin {
    name: String,
    address: Address,
    implements: Vec<String>,
    timeout: Duration,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Whether its manifest lists `interface` (`VolumeDriver`, `authz`, ...).
    pub fn implements(&self, interface: &str) -> bool {
        self.implements.iter().any(|i| i == interface)
    }

    /// Calls `method` (`VolumeDriver.Create`) with `args` and decodes its 2xx answer.
    pub async fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, PluginError> {
        client::call(&self.target(), method, Some(args)).await
    }

    fn target(&self) -> client::Target<'_> {
        client::Target {
            name: &self.name,
            address: &self.address,
            deadline: self.timeout,
        }
    }
}

/// The answer to `/Plugin.Activate`.
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "Implements", default)]
    implements: Option<Vec<String>>,
}

/// The plugins the daemon has activated, and where it looks for others.
#[derive(Debug, Default)]
pub struct Registry {
    settings: RwLock<Settings>,
    active: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl Registry {
    pub fn new(settings: Settings) -> Registry {
        Registry {
            settings: RwLock::new(settings),
            active: Mutex::new(HashMap::new()),
        }
    }

    /// The daemon's registry (Docker's directories and deadline until [`Self::configure`]).
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::default)
    }

    /// Replaces the settings; plugins activated before are activated again at their next use.
    pub fn configure(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The plugin `name`, activated, if it implements `interface`. Waits for a plugin that is
    /// not there yet (bounded by [`Settings::find_wait`]); the activation has the call deadline.
    pub async fn get(&self, name: &str, interface: &str) -> Result<Arc<Plugin>, PluginError> {
        self.get_waiting(name, interface, true).await
    }

    /// [`Self::get`] without waiting for a plugin that is not there now (`plugin "x" not found`
    /// at once): for walks over every plugin, which must not stall on a missing one.
    pub async fn get_present(
        &self,
        name: &str,
        interface: &str,
    ) -> Result<Arc<Plugin>, PluginError> {
        self.get_waiting(name, interface, false).await
    }

    /// The names of the activated plugins that implement `interface`, sorted.
    pub fn active(&self, interface: &str) -> Vec<String> {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = active
            .values()
            .filter(|p| p.implements(interface))
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names
    }

    async fn get_waiting(
        &self,
        name: &str,
        interface: &str,
        wait: bool,
    ) -> Result<Arc<Plugin>, PluginError> {
        discovery::check_name(name)?;
        let plugin = match self.cached(name) {
            Some(p) => p,
            None => {
                let mut settings = self.settings();
                if !wait {
                    settings.find_wait = Duration::ZERO;
                }
                let address = wait_for(name, &settings).await?;
                let plugin = Arc::new(activate(name, address, settings.timeout).await?);
                self.active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), plugin.clone());
                plugin
            }
        };
        if !plugin.implements(interface) {
            return Err(PluginError::Unsupported {
                name: name.to_string(),
                interface: interface.to_string(),
            });
        }
        Ok(plugin)
    }

    /// An activated plugin whose socket is still there.
    fn cached(&self, name: &str) -> Option<Arc<Plugin>> {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let plugin = active.get(name)?.clone();
        if let Address::Unix(path) = &plugin.address {
            if std::fs::symlink_metadata(path).is_err() {
                tracing::info!(
                    plugin = name,
                    "plugin socket gone; looking for the plugin again"
                );
                active.remove(name);
                return None;
            }
        }
        Some(plugin)
    }
}

/// Looks for `name` until it appears or `find_wait` passes.
async fn wait_for(name: &str, settings: &Settings) -> Result<Address, PluginError> {
    let end = Instant::now() + settings.find_wait;
    let mut pause = FIND_FIRST;
    loop {
        if let Some(address) = discovery::find(name, &settings.search)? {
            return Ok(address);
        }
        let now = Instant::now();
        if now >= end {
            return Err(PluginError::NotFound {
                name: name.to_string(),
            });
        }
        tracing::debug!(plugin = name, "plugin not found yet, looking again");
        tokio::time::sleep(pause.min(end - now)).await;
        pause = (pause * 2).min(FIND_MAX);
    }
}

/// `POST /Plugin.Activate` (no body, as dockerd sends it).
async fn activate(name: &str, address: Address, timeout: Duration) -> Result<Plugin, PluginError> {
    let target = client::Target {
        name,
        address: &address,
        deadline: timeout,
    };
    let manifest: Manifest = client::call::<(), _>(&target, "Plugin.Activate", None).await?;
    let implements = manifest.implements.unwrap_or_default();
    tracing::info!(plugin = name, %address, ?implements, "plugin activated");
    Ok(Plugin {
        name: name.to_string(),
        address,
        implements,
        timeout,
    })
}

#[cfg(test)]
mod authz_tests;
#[cfg(test)]
mod tests;
