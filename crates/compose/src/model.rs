//! The typed project the planner works from, decoded from the loader's normalised tree (which is
//! already checked, so decoding names a path only if the two disagree — a bug, not bad input).
//! Only what the planner reads is typed; every service keeps its normalised JSON for the config
//! hash and for `config`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A loaded project.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub name: String,
    pub working_dir: String,
    pub config_files: Vec<String>,
    /// Services in file order.
    pub services: Vec<Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// Where `up` writes the files of environment- and content-sourced secrets and configs
    /// (`<data>/secrets/<name>`, `<data>/configs/<name>`); set by the command line.
    pub data_dir: String,
    /// Services left out by profiles (kept so that `down` and orphan checks know them).
    pub disabled: Vec<String>,
    /// The normalised model as `config` prints it.
    pub tree: crate::yaml::Node,
}

impl Project {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// One service: the fields the planner uses, and the normalised definition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    /// The normalised definition (hashing and `config`).
    #[serde(skip)]
    pub raw: serde_json::Value,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    pub expose: Vec<String>,
    pub volumes: Vec<VolumeMount>,
    /// `service[:ro|rw]` or `container:name[:ro|rw]`.
    pub volumes_from: Vec<String>,
    pub tmpfs: Vec<String>,
    pub depends_on: BTreeMap<String, Dependency>,
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    pub network_mode: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub container_name: Option<String>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub read_only: bool,
    pub init: Option<bool>,
    pub tty: bool,
    pub stdin_open: bool,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<String>,
    pub mem_limit: Option<i64>,
    pub memswap_limit: Option<i64>,
    pub mem_reservation: Option<i64>,
    pub shm_size: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub ulimits: BTreeMap<String, serde_json::Value>,
    pub sysctls: BTreeMap<String, Option<String>>,
    pub security_opt: Vec<String>,
    pub group_add: Vec<String>,
    pub logging: Option<Logging>,
    pub deploy: Option<Deploy>,
    pub scale: Option<i64>,
    pub profiles: Vec<String>,
    pub ipc: Option<String>,
    /// The driver of the volumes the engine makes for the service (`HostConfig.VolumeDriver`).
    pub volume_driver: Option<String>,
    pub pid: Option<String>,
    pub platform: Option<String>,
    pub pull_policy: Option<String>,
    pub secrets: Vec<FileRef>,
    pub configs: Vec<FileRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Build {
    pub context: String,
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, Option<String>>,
    pub tags: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Port {
    pub target: u16,
    pub published: Option<String>,
    pub host_ip: Option<String>,
    pub protocol: String,
    pub mode: String,
}

/// One entry of a service's `volumes:` (long syntax; the short one is expanded at load).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeMount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub consistency: Option<String>,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
    pub tmpfs: Option<TmpfsOptions>,
}

/// `bind:` of a service volume (`create_host_path` is set by the short syntax).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BindOptions {
    pub create_host_path: bool,
    pub propagation: Option<String>,
    /// `z` or `Z`.
    pub selinux: Option<String>,
}

/// `volume:` of a service volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeOptions {
    pub nocopy: bool,
    pub subpath: Option<String>,
}

/// `tmpfs:` of a service volume: `size` in bytes or with a unit (`64m`), `mode` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TmpfsOptions {
    pub size: Option<serde_json::Value>,
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Dependency {
    pub condition: String,
    pub required: bool,
    pub restart: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<i64>,
    pub disable: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Deploy {
    pub replicas: Option<i64>,
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub limits: Option<Limits>,
    pub reservations: Option<Limits>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub cpus: Option<f64>,
    pub memory: Option<i64>,
    pub pids: Option<i64>,
}

/// A top-level network (its engine name resolved: `<project>_<key>` unless `name:` is set).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Network {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, Option<String>>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: Option<bool>,
    pub external: bool,
    pub labels: BTreeMap<String, Option<String>>,
    pub ipam: Option<serde_json::Value>,
}

/// A top-level named volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Volume {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, Option<String>>,
    pub external: bool,
    pub labels: BTreeMap<String, Option<String>>,
}

impl Service {
    /// The number of replicas asked for: `scale`, else `deploy.replicas`, else 1.
    pub fn replicas(&self) -> u32 {
        let n = self
            .scale
            .or(self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1);
        u32::try_from(n.max(0)).unwrap_or(1)
    }

    /// The image the containers run: `image:`, else `<project>-<service>` for a build.
    pub fn image_name(&self, project: &str) -> String {
        match &self.image {
            Some(i) => i.clone(),
            None => format!("{project}-{}", self.name),
        }
    }
}

/// A top-level secret or config: where its content comes from (`content` also holds the value of
/// an `environment` source, read at load; `config` never prints it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileObject {
    pub name: Option<String>,
    pub file: Option<String>,
    pub environment: Option<String>,
    pub content: Option<String>,
    pub external: bool,
}

/// A service's use of a secret or config (long syntax).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileRef {
    pub source: String,
    pub target: Option<String>,
    pub uid: Option<serde_json::Value>,
    pub gid: Option<serde_json::Value>,
    pub mode: Option<serde_json::Value>,
}
