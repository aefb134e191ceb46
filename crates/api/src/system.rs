//! System endpoints: `/version`, `/info` and `/system/df` answers. Read leniently, as every answer
//! a client reads: a left-out field is its default, Docker's `null` for a list or map the empty
//! one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::ContainerSummary;
use crate::image::ImageSummary;

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    pub platform: Platform,
    #[serde(deserialize_with = "null_as_default")]
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experimental: Option<bool>,
    pub build_time: String,
}

/// `Platform` of `/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

/// One component of `/version` (`Engine`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(deserialize_with = "null_as_default")]
    pub details: BTreeMap<String, String>,
}

/// Docker's `null` for an empty list or map (its Go nil) read as the empty value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /info`: the fields the docker CLI prints and compose reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    #[serde(deserialize_with = "null_as_default")]
    pub driver_status: Vec<[String; 2]>,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    pub n_fd: i64,
    pub n_goroutines: i64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub n_events_listener: i64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub index_server_address: String,
    pub docker_root_dir: String,
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    #[serde(deserialize_with = "null_as_default")]
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    /// The versions of containerd, runc and the init (`docker info` prints their IDs); left out
    /// when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd_commit: Option<Commit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runc_commit: Option<Commit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_commit: Option<Commit>,
    #[serde(deserialize_with = "null_as_default")]
    pub security_options: Vec<String>,
    /// The registries the daemon trusts without TLS, its mirrors; left out when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_config: Option<RegistryConfig>,
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

/// `ContainerdCommit`, `RuncCommit`, `InitCommit` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
}

/// `RegistryConfig` of `/info` (the part clients print).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "null_as_default")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub mirrors: Vec<String>,
}

/// `Plugins` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    #[serde(deserialize_with = "null_as_default")]
    pub volume: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    #[serde(deserialize_with = "null_as_default")]
    pub log: Vec<String>,
}

/// One entry of `Runtimes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
    #[serde(
        default,
        rename = "runtimeArgs",
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_args: Option<Vec<String>>,
}

/// `Swarm` of `/info`; Berth is never part of a swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<String>>,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        SwarmInfo {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".to_string(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        }
    }
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiskUsage {
    /// Bytes of all image layers; read as -1 when left out (a client then adds up the images).
    #[serde(default = "not_computed")]
    pub layers_size: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub images: Vec<ImageSummary>,
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<ContainerSummary>,
    /// [`crate::volume::Volume`]s with their `UsageData`.
    #[serde(deserialize_with = "null_as_default")]
    pub volumes: Vec<serde_json::Value>,
    #[serde(deserialize_with = "null_as_default")]
    pub build_cache: Vec<BuildCache>,
}

fn not_computed() -> i64 {
    -1
}

/// One build cache record of `/system/df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCache {
    #[serde(rename = "ID")]
    pub id: String,
    /// `regular`, `source.local`, `exec.cachemount`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: String,
    pub in_use: bool,
    pub shared: bool,
    pub size: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent when never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    pub usage_count: i64,
}
