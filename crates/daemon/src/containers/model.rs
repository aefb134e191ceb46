//! The container record: identity (64-hex ID, `/name`), the configuration it was created with, and
//! its run state. This is what the store persists (as one JSON document per container) and what
//! every verb reads and updates.
//!
//! [`Settings`] holds what a front door parsed into the engine's terms (mounts, healthcheck,
//! security, ports, log, DNS), which the verbs run by. `config` and `host_config` are Docker's request
//! as given (merged with the image's defaults), kept for inspect to echo; the settings not yet
//! moved into [`Settings`] (resources, restart policy, network mode, user, env...) are still
//! read from them (issue #13).

use berth_api::container::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use super::settings::Settings;
use super::state::Status;
use crate::error::DaemonError;

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// 64 lowercase hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// Nanoseconds since the epoch.
    pub created: i64,
    /// The image as the user named it (`busybox`).
    pub image_name: String,
    /// The image ID (`sha256:...`).
    pub image_id: String,
    /// The request's config merged with the image's defaults (what inspect shows as `Config`).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The process: `Path` and `Args` of inspect.
    pub path: String,
    pub args: Vec<String>,
    pub state: RunState,
    /// Warnings given at create.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// How to assemble the container's rootfs (from the image store, at create).
    #[serde(default)]
    pub rootfs_mounts: Vec<berth_image::snapshot::Mount>,
    /// Mounts, healthcheck and security in the engine's terms: what the verbs run by.
    #[serde(default)]
    pub settings: Settings,
}

/// The run state of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    /// Host PID of the container's init while it runs, else 0.
    pub pid: i64,
    pub exit_code: i64,
    /// Why the last start failed, if it did.
    pub error: String,
    pub oom_killed: bool,
    /// Nanoseconds since the epoch; 0 for never.
    pub started_at: i64,
    pub finished_at: i64,
    pub restart_count: i64,
    /// Stopped by the user (`stop`, `kill`): restart policies leave it alone.
    pub manually_stopped: bool,
    /// Started at least once (restart policies only apply then).
    pub has_been_started: bool,
    /// The healthcheck's state; `None` for a container without one (see [`super::health`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: 0,
            finished_at: 0,
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            health: None,
        }
    }
}

impl Container {
    /// The first 12 hex digits.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// The command line as `docker ps` shows it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The labels (empty when none).
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }
}

/// A fresh random container ID.
pub fn new_id() -> Result<String, DaemonError> {
    berth_api::id::new_id().map_err(|e| DaemonError::Internal(e.to_string()))
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a leading `/` allowed).
pub fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn names() {
        assert!(valid_name("web"));
        assert!(valid_name("/web_1.a-b"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_web"));
        assert!(!valid_name("we b"));
        assert!(!valid_name(""));
    }
}
