//! A container's settings in the engine's own terms, parsed once by a front door (the Docker API's
//! is `server::container_request`) and kept in the container's record: the user's mounts (binds,
//! tmpfs mounts and volumes, with the containers whose mounts it takes), the healthcheck, the security settings, the published ports, the log and the DNS settings. The verbs read these and never a front door's syntax
//! (`Binds` strings, `SecurityOpt` text, a healthcheck's JSON), so another front door can drive
//! the engine by filling them in.
//!
//! Vocabulary: mount options are mount(8)'s and the OCI spec's words (`rslave`, `size=65536k`,
//! `mode=1770`); capabilities Linux's names (`CAP_NET_ADMIN`, or `ALL`); durations of a
//! healthcheck are zero when not set (the image's value, then the default, applies).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use berth_network::ports::Proto;
use serde::{Deserialize, Serialize};

/// What a container runs with, beside its process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The user's mounts, in the order they are mounted (a later one at the same destination wins).
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// The healthcheck: a front door gives the request's, create merges it with the image's;
    /// `None`: neither has one.
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub ports: Ports,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub dns: DnsSettings,
    /// Containers whose mounts this one takes at create (Docker's `VolumesFrom`); create puts
    /// them in [`Settings::mounts`].
    #[serde(default)]
    pub volumes_from: Vec<VolumesFrom>,
    /// The driver of the volumes a request names without one, and of the image's volumes
    /// (Docker's `VolumeDriver`); empty: `local`.
    #[serde(default)]
    pub volume_driver: String,
    /// Legacy links on the default bridge (`--link`), each child by ID once created
    /// (`containers::links`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<crate::networks::links::LinkSpec>,
}

/// One container whose mounts (binds and volumes) another takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumesFrom {
    /// Its name or ID, as given.
    pub container: String,
    /// Every mount taken read-only (`:ro`); otherwise each keeps its own mode.
    pub read_only: bool,
}

/// The container's own resolver settings (beside the host's and the embedded DNS server's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSettings {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    /// resolv.conf `options` (`ndots:2`...).
    pub options: Vec<String>,
}

/// Where a container's output goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// The json-file log the shim writes (`docker logs` reads it).
    #[default]
    JsonFile,
    /// Nowhere.
    None,
}

/// A container's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    pub driver: LogDriver,
    /// Bytes after which the log file is rotated; 0: never.
    pub max_size: u64,
    /// Log files kept, the current one included (at least 1).
    pub max_files: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            driver: LogDriver::JsonFile,
            max_size: 0,
            max_files: 1,
        }
    }
}

/// A container port range with its protocol (`80/tcp`, `8000-8001/udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
    pub proto: Proto,
}

/// One publication asked for: a container port range on a host address and port range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container: PortRange,
    /// `None`: every address.
    pub host_ip: Option<Ipv4Addr>,
    /// `None`: ephemeral ports; otherwise the first and last host port.
    pub host_ports: Option<(u16, u16)>,
}

/// The ports a container publishes while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// Explicit publications, in order.
    pub published: Vec<PublishedPort>,
    /// Publish every exposed port without an explicit publication on an ephemeral host port.
    pub publish_all: bool,
    /// The ports the container exposes (its own, else its image's).
    pub exposed: Vec<PortRange>,
}

/// The kind of a user mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path bound in.
    Bind,
    /// A new tmpfs.
    Tmpfs,
    /// A volume (named by the mount's `source`), bound in at start.
    Volume,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Volume => "volume",
        }
    }
}

/// One user mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// The host path of a bind; the name of a volume (empty for an anonymous one until create
    /// names it); empty for a tmpfs.
    pub source: String,
    /// Absolute, never `/`.
    pub destination: String,
    pub read_only: bool,
    /// Further options: a bind's propagation (`rslave`...), a tmpfs's `size=`/`mode=`/flags.
    pub options: Vec<String>,
    /// A missing bind source is made as a directory (the Docker CLI's `-v`); otherwise it is
    /// refused.
    #[serde(default)]
    pub create_source: bool,
    /// The front door's own words for the options, shown back unchanged (Docker's `Mode`).
    #[serde(default)]
    pub mode: String,
    /// How a mount of kind [`MountKind::Volume`] takes its volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeMount>,
}

/// How a mount takes its volume: what to create it with when it does not exist yet, and what to
/// do with it at start and at removal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The driver asked for (empty: the existing volume's, else `local`); create records the
    /// volume's own.
    pub driver: String,
    /// Labels and driver options of a volume this mount makes (an existing one keeps its own).
    pub labels: BTreeMap<String, String>,
    pub driver_options: BTreeMap<String, String>,
    /// Do not copy the image's files at the destination into the empty volume.
    pub nocopy: bool,
    /// The request named no volume (`-v /path`, the image's `VOLUME`): `rm -v` removes it.
    pub anonymous: bool,
    /// Made for a destination of `Config.Volumes` (the image's `VOLUME`, the request's
    /// `-v /path`) or taken from another container (`VolumesFrom`), which Docker shows without
    /// a mode.
    pub from_config: bool,
    /// The volume's host path as create found it (Docker's `Source` of the mount).
    #[serde(default)]
    pub mountpoint: String,
    /// `volume-subpath`: the path inside the volume that is mounted instead of its root
    /// (relative, never leading out of it; empty: the whole volume).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

impl Mount {
    /// The bind's propagation option, if one was given.
    pub fn propagation(&self) -> Option<&str> {
        self.options
            .iter()
            .map(String::as_str)
            .find(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
    }
}

/// How a probe runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthTest {
    /// No test given: the image's applies.
    #[default]
    Inherit,
    /// Checks are off (Docker's `NONE`), the image's too.
    Disabled,
    /// The arguments are executed as they are.
    Exec(Vec<String>),
    /// The command runs in the container's shell.
    Shell(Vec<String>),
    /// A kind of test the engine does not know: nothing runs.
    Unknown(String),
}

/// A healthcheck as configured; zero durations and retries are not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    pub test: HealthTest,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

impl Healthcheck {
    /// This check with each unset field taken from `base` (an image's): the test when it is
    /// [`HealthTest::Inherit`], each zero duration or retry count.
    pub fn over(&self, base: &Healthcheck) -> Healthcheck {
        let pick = |mine: Duration, theirs: Duration| if mine.is_zero() { theirs } else { mine };
        Healthcheck {
            test: match &self.test {
                HealthTest::Inherit => base.test.clone(),
                t => t.clone(),
            },
            interval: pick(self.interval, base.interval),
            timeout: pick(self.timeout, base.timeout),
            start_period: pick(self.start_period, base.start_period),
            start_interval: pick(self.start_interval, base.start_interval),
            retries: if self.retries == 0 {
                base.retries
            } else {
                self.retries
            },
        }
    }
}

/// Seccomp filtering of the container's syscalls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    /// The default profile (none when privileged).
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in Docker's seccomp JSON format, converted for this host at start.
    Profile(String),
}

/// The container's privileges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// Every capability and device, no seccomp filter, `/sys` writable.
    pub privileged: bool,
    /// Capabilities added to and dropped from the default set (`CAP_...` or `ALL`).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges[=bool]`; `None` when not given, and the daemon's
    /// `no-new-privileges` default decides at create (records hold the decision).
    pub no_new_privileges: Option<bool>,
    pub seccomp: Seccomp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_takes_the_unset_fields_of_its_base() {
        let image = Healthcheck {
            test: HealthTest::Shell(vec!["true".into()]),
            interval: Duration::from_secs(5),
            retries: 7,
            ..Default::default()
        };
        let own = Healthcheck {
            interval: Duration::from_secs(1),
            ..Default::default()
        };
        let m = own.over(&image);
        assert_eq!(m.test, image.test);
        assert_eq!(m.interval, Duration::from_secs(1));
        assert_eq!(m.retries, 7);
        let off = Healthcheck {
            test: HealthTest::Disabled,
            ..Default::default()
        };
        assert_eq!(off.over(&image).test, HealthTest::Disabled);
    }
}
