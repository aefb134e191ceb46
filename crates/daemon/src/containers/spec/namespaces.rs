//! Docker's namespace modes — `PidMode`, `IpcMode`, `UTSMode`, `CgroupnsMode`, `UsernsMode` — and
//! what they make of the spec. The network namespace is the network mode's
//! ([`super::SpecPaths::netns`]).
//!
//! - At create, [`settle`] checks the modes with Docker's words (400), fills in Docker's defaults
//!   (`IpcMode` `private`; `CgroupnsMode` `host` on cgroup v1, `private` on v2) and records a
//!   `container:<x>` donor by its ID, as Docker does (a rename keeps the link; an unknown name is
//!   refused now).
//! - At start, [`ContainerService::namespace_joins`] finds each donor's namespaces, refusing one
//!   that is not running, and [`apply`] turns modes and joins into the spec's namespaces and its
//!   `/dev/shm`.
//!
//! `/dev/shm` by IPC mode: `private` and `shareable` a tmpfs of the container's own; `none` no
//! mount at all; `host` the host's `/dev/shm`; `container:<x>` the donor's, named
//! `/proc/<pid>/root/dev/shm`, which the runtime clones out of the donor's mount namespace
//! (`berth_runtime::rootfs::foreign`). As Docker, only a `shareable` donor (or a `host` one, or
//! one that joined another) is shared. None of the host modes changes the capabilities, the
//! seccomp profile or the masked paths.
//!
//! `UsernsMode` is `host` or empty (anything else is refused, as Docker does). On a daemon with
//! `--userns-remap` ([`crate::userns`]) an empty one gets a user namespace of its own with the
//! daemon's id maps, or the donor's when it joins another container's PID namespace
//! ([`super::userns::user_namespace`]); `host` opts out.
//! Remapped, `--privileged`, `--pid host` and `--network host` are refused with dockerd's
//! words: they need `--userns host`.

use std::path::PathBuf;

use berth_api::container::HostConfig;
use serde_json::{json, Value};

use super::SpecError;
use crate::containers::model::Container;
use crate::containers::state::Status;
use crate::containers::ContainerService;
use crate::error::DaemonError;

/// The prefix of a mode that joins another container's namespace.
const CONTAINER: &str = "container:";

/// `PidMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidMode {
    Private,
    Host,
    /// The PID namespace of another container (its name or ID as recorded).
    Container(String),
}

/// `IpcMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcMode {
    Private,
    /// Private, and other containers may join it.
    Shareable,
    /// Private, with no `/dev/shm`.
    None,
    Host,
    Container(String),
}

/// The namespace modes of one container, parsed from its host config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modes {
    pub pid: PidMode,
    pub ipc: IpcMode,
    /// `UTSMode` `host`: the host's hostname, no UTS namespace.
    pub uts_host: bool,
    /// `CgroupnsMode` `private`: a cgroup namespace of its own.
    pub cgroupns_private: bool,
    /// `UsernsMode` `host`: never a user namespace of its own, even on a remapped daemon.
    pub userns_host: bool,
}

/// `container:<x>` → `x` (Docker's rule: the name must not be empty).
fn donor(mode: &str) -> Option<&str> {
    mode.strip_prefix(CONTAINER).filter(|x| !x.is_empty())
}

/// The default `CgroupnsMode` of this host, as Docker picks it: `private` on cgroup v2, `host` on
/// v1 (and for a privileged container on v1). The hierarchy is found once per daemon (it reads
/// the whole mountinfo, which every running container makes longer; create must not pay that).
fn default_cgroupns(privileged: bool) -> &'static str {
    static V2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let v2 = *V2.get_or_init(|| {
        matches!(
            berth_runtime::cgroups::detect(),
            Ok(berth_runtime::cgroups::Hierarchy::V2(_))
        )
    });
    if v2 && !privileged {
        "private"
    } else {
        "host"
    }
}

impl Modes {
    /// Parses the modes of `host` (empty ones as Docker's defaults), with Docker's errors.
    pub fn parse(host: &HostConfig) -> Result<Modes, SpecError> {
        let pid = match host.pid_mode.as_deref().unwrap_or("") {
            "" => PidMode::Private,
            "host" => PidMode::Host,
            m => match donor(m) {
                Some(x) => PidMode::Container(x.to_string()),
                None => return Err(SpecError::Invalid(format!("invalid PID mode: {m}"))),
            },
        };
        let ipc = match host.ipc_mode.as_deref().unwrap_or("") {
            "" | "private" => IpcMode::Private,
            "shareable" => IpcMode::Shareable,
            "none" => IpcMode::None,
            "host" => IpcMode::Host,
            m => match donor(m) {
                Some(x) => IpcMode::Container(x.to_string()),
                None => return Err(SpecError::Invalid(format!("invalid IPC mode: {m}"))),
            },
        };
        let uts_host = match host.uts_mode.as_deref().unwrap_or("") {
            "" => false,
            "host" => true,
            m => return Err(SpecError::Invalid(format!("invalid UTS mode: {m}"))),
        };
        let cgroupns = match host.cgroupns_mode.as_deref().unwrap_or("") {
            "" => default_cgroupns(host.privileged),
            m @ ("host" | "private") => m,
            m => {
                return Err(SpecError::Invalid(format!(
                    "invalid cgroup namespace mode: {m}"
                )))
            }
        };
        let userns_host = match host.userns_mode.as_deref().unwrap_or("") {
            "" => false,
            "host" => true,
            m => return Err(SpecError::Invalid(format!("invalid UsernsMode: {m}"))),
        };
        Ok(Modes {
            pid,
            ipc,
            uts_host,
            cgroupns_private: cgroupns == "private",
            userns_host,
        })
    }
}

/// At create: checks the modes (with the container's `Hostname`; `remapped`: the daemon has
/// `--userns-remap`), fills in Docker's defaults and records each donor by the ID `lookup` finds
/// for it (Docker's 400 when there is none).
pub fn settle(
    host: &mut HostConfig,
    hostname: &str,
    remapped: bool,
    lookup: impl Fn(&str) -> Result<String, DaemonError>,
) -> Result<(), DaemonError> {
    let modes = Modes::parse(host)?;
    if remapped && !modes.userns_host {
        let network_host = host.network_mode.as_deref() == Some("host");
        super::userns::remap_conflicts(host.privileged, network_host, &modes)?;
    }
    if modes.uts_host && !hostname.is_empty() {
        return Err(DaemonError::InvalidArgument(
            "conflicting options: hostname and the UTS mode".into(),
        ));
    }
    let by_id = |x: &str| match lookup(x) {
        Ok(id) => Ok(format!("{CONTAINER}{id}")),
        Err(DaemonError::NoSuchContainer(_) | DaemonError::NotFound(_)) => Err(
            DaemonError::InvalidArgument(format!("No such container: {x}")),
        ),
        Err(e) => Err(e),
    };
    if let PidMode::Container(x) = &modes.pid {
        host.pid_mode = Some(by_id(x)?);
    }
    match &modes.ipc {
        IpcMode::Container(x) => host.ipc_mode = Some(by_id(x)?),
        _ if host.ipc_mode.as_deref().unwrap_or("").is_empty() => {
            host.ipc_mode = Some("private".into())
        }
        _ => {}
    }
    if host.cgroupns_mode.as_deref().unwrap_or("").is_empty() {
        let m = if modes.cgroupns_private {
            "private"
        } else {
            "host"
        };
        host.cgroupns_mode = Some(m.into());
    }
    Ok(())
}

/// The namespaces a start joins, found from the donors' state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joins {
    /// `/proc/<pid>/ns/pid` of the PID donor.
    pub pid: Option<PathBuf>,
    /// The IPC donor's namespace and the `/dev/shm` to bind.
    pub ipc: Option<IpcJoin>,
}

/// What `IpcMode: container:<x>` joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcJoin {
    /// `/proc/<pid>/ns/ipc` of the donor.
    pub namespace: PathBuf,
    /// The donor's `/dev/shm`: the host's for a `host` donor, else `/proc/<pid>/root/dev/shm`.
    pub shm: PathBuf,
}

/// A donor as a start sees it.
#[derive(Debug, Clone)]
pub struct Donor {
    pub id: String,
    pub status: Status,
    pub pid: i64,
    pub ipc: IpcMode,
}

/// Docker's refusal of a donor that does not run (wrapped as Docker wraps it: `failed to join
/// PID namespace: container <id> is not running`).
fn running(d: &Donor, what: &str) -> Result<i64, DaemonError> {
    match d.status {
        Status::Restarting => Err(DaemonError::Conflict(format!(
            "failed to join {what} namespace: Container {} is restarting, wait until the container is running",
            d.id
        ))),
        Status::Running | Status::Paused if d.pid > 0 => Ok(d.pid),
        _ => Err(DaemonError::Conflict(format!(
            "failed to join {what} namespace: container {} is not running",
            d.id
        ))),
    }
}

/// The joins of `modes`, the donors found by `find`.
pub fn joins(
    modes: &Modes,
    find: impl Fn(&str) -> Result<Donor, DaemonError>,
) -> Result<Joins, DaemonError> {
    let mut joins = Joins::default();
    let found = |x: &str, what: &str| {
        find(x).map_err(|e| match e {
            DaemonError::NoSuchContainer(_) | DaemonError::NotFound(_) => {
                DaemonError::InvalidArgument(format!(
                    "failed to join {what} namespace: No such container: {x}"
                ))
            }
            e => e,
        })
    };
    if let PidMode::Container(x) = &modes.pid {
        let d = found(x, "PID")?;
        let pid = running(&d, "PID")?;
        joins.pid = Some(PathBuf::from(format!("/proc/{pid}/ns/pid")));
    }
    if let IpcMode::Container(x) = &modes.ipc {
        let d = found(x, "IPC")?;
        let pid = running(&d, "IPC")?;
        let shm = match d.ipc {
            IpcMode::Host => PathBuf::from("/dev/shm"),
            IpcMode::Shareable | IpcMode::Container(_) => {
                PathBuf::from(format!("/proc/{pid}/root/dev/shm"))
            }
            IpcMode::Private | IpcMode::None => {
                return Err(DaemonError::InvalidArgument(format!(
                    "failed to join IPC namespace: container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
                    d.id
                )))
            }
        };
        joins.ipc = Some(IpcJoin {
            namespace: PathBuf::from(format!("/proc/{pid}/ns/ipc")),
            shm,
        });
    }
    Ok(joins)
}

impl ContainerService {
    /// At start: the namespaces of `c`'s donors, which must be running.
    pub(crate) fn namespace_joins(&self, c: &Container) -> Result<Joins, DaemonError> {
        let modes = Modes::parse(&c.host_config)?;
        joins(&modes, |x| {
            let d = self.lookup(x)?.snapshot();
            // A record without a mode (made before modes were kept) was private.
            let ipc = Modes::parse(&d.host_config)
                .map(|m| m.ipc)
                .unwrap_or(IpcMode::Private);
            Ok(Donor {
                id: d.id.clone(),
                status: d.state.status,
                pid: d.state.pid,
                ipc,
            })
        })
    }
}

/// The spec's namespaces: pid, ipc, uts, mount (and cgroup) as the modes and joins say; the
/// caller adds the network's.
pub fn namespaces(modes: &Modes, joins: &Joins) -> Vec<Value> {
    let mut out = Vec::new();
    match (&modes.pid, &joins.pid) {
        (PidMode::Host, _) => {}
        (_, Some(path)) => out.push(json!({"type": "pid", "path": path})),
        _ => out.push(json!({"type": "pid"})),
    }
    match (&modes.ipc, &joins.ipc) {
        (IpcMode::Host, _) => {}
        (_, Some(j)) => out.push(json!({"type": "ipc", "path": j.namespace})),
        _ => out.push(json!({"type": "ipc"})),
    }
    if !modes.uts_host {
        out.push(json!({"type": "uts"}));
    }
    out.push(json!({"type": "mount"}));
    if modes.cgroupns_private {
        out.push(json!({"type": "cgroup"}));
    }
    out
}

/// Replaces the default `/dev/shm` mount (the first with that destination) as the IPC mode says.
/// Runs before the user's mounts, so a `--tmpfs /dev/shm` or a volume there still wins.
pub fn shm_mount(mounts: &mut Vec<Value>, modes: &Modes, joins: &Joins) {
    let Some(at) = mounts.iter().position(|m| m["destination"] == "/dev/shm") else {
        return;
    };
    let bind = |source: &std::path::Path| {
        json!({"destination": "/dev/shm", "type": "bind", "source": source,
               "options": ["rbind", "nosuid", "noexec", "nodev"]})
    };
    match (&modes.ipc, &joins.ipc) {
        (IpcMode::None, _) => {
            mounts.remove(at);
        }
        (IpcMode::Host, _) => mounts[at] = bind(std::path::Path::new("/dev/shm")),
        (IpcMode::Container(_), Some(j)) => mounts[at] = bind(&j.shm),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pid: &str, ipc: &str, uts: &str, cgroupns: &str, userns: &str) -> HostConfig {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
        HostConfig {
            pid_mode: s(pid),
            ipc_mode: s(ipc),
            uts_mode: s(uts),
            cgroupns_mode: s(cgroupns),
            userns_mode: s(userns),
            ..Default::default()
        }
    }

    fn err(h: HostConfig) -> String {
        match Modes::parse(&h) {
            Err(e) => e.to_string(),
            Ok(m) => panic!("accepted {m:?}"),
        }
    }

    #[test]
    fn modes_parse_as_dockers() {
        let m = Modes::parse(&host("host", "shareable", "host", "private", "host")).unwrap();
        assert_eq!(m.pid, PidMode::Host);
        assert_eq!(m.ipc, IpcMode::Shareable);
        assert!(m.uts_host && m.cgroupns_private);
        let m = Modes::parse(&host("container:db", "container:ab12", "", "host", "")).unwrap();
        assert_eq!(m.pid, PidMode::Container("db".into()));
        assert_eq!(m.ipc, IpcMode::Container("ab12".into()));
        assert!(!m.uts_host && !m.cgroupns_private);
        assert_eq!(
            err(host("private", "", "", "", "")),
            "invalid PID mode: private"
        );
        assert_eq!(
            err(host("container:", "", "", "", "")),
            "invalid PID mode: container:"
        );
        assert_eq!(
            err(host("", "shared", "", "", "")),
            "invalid IPC mode: shared"
        );
        assert_eq!(
            err(host("", "", "container:x", "", "")),
            "invalid UTS mode: container:x"
        );
        assert_eq!(
            err(host("", "", "", "nope", "")),
            "invalid cgroup namespace mode: nope"
        );
        assert_eq!(
            err(host("", "", "", "", "private")),
            "invalid UsernsMode: private"
        );
    }

    #[test]
    fn settle_fills_defaults_and_names_donors_by_id() {
        let lookup = |x: &str| match x {
            "db" => Ok("d".repeat(64)),
            other => Err(DaemonError::NoSuchContainer(other.to_string())),
        };
        let mut h = host("container:db", "", "", "", "");
        settle(&mut h, "", false, lookup).unwrap();
        assert_eq!(h.pid_mode, Some(format!("container:{}", "d".repeat(64))));
        assert_eq!(h.ipc_mode.as_deref(), Some("private"));
        assert!(matches!(
            h.cgroupns_mode.as_deref(),
            Some("host" | "private")
        ));
        let mut h = host("", "container:ghost", "", "", "");
        let e = settle(&mut h, "", false, lookup).unwrap_err();
        assert!(matches!(e, DaemonError::InvalidArgument(_)), "{e:?}");
        assert_eq!(e.to_string(), "No such container: ghost");
        let mut h = host("", "", "host", "", "");
        let e = settle(&mut h, "myhost", false, lookup).unwrap_err();
        assert_eq!(
            e.to_string(),
            "conflicting options: hostname and the UTS mode"
        );
    }

    #[test]
    fn settle_on_a_remapped_daemon_lets_userns_host_through() {
        let lookup = |x: &str| Err(DaemonError::NoSuchContainer(x.to_string()));
        let mut privileged = host("", "", "", "", "");
        privileged.privileged = true;
        let mut net = host("", "", "", "", "");
        net.network_mode = Some("host".into());
        for mut h in [privileged, net, host("host", "", "", "", "")] {
            let e = settle(&mut h.clone(), "", true, lookup).unwrap_err();
            assert!(matches!(e, DaemonError::InvalidArgument(_)), "{e:?}");
            assert!(settle(&mut h.clone(), "", false, lookup).is_ok());
            h.userns_mode = Some("host".into());
            assert!(settle(&mut h, "", true, lookup).is_ok());
        }
    }

    fn donor_of(status: Status, ipc: IpcMode) -> Donor {
        Donor {
            id: "d".repeat(64),
            status,
            pid: 4242,
            ipc,
        }
    }

    #[test]
    fn joins_need_a_running_donor_and_a_shareable_ipc() {
        let modes = Modes::parse(&host("container:x", "container:x", "", "", "")).unwrap();
        let j = joins(&modes, |_| {
            Ok(donor_of(Status::Running, IpcMode::Shareable))
        })
        .unwrap();
        assert_eq!(j.pid, Some(PathBuf::from("/proc/4242/ns/pid")));
        let ipc = j.ipc.unwrap();
        assert_eq!(ipc.namespace, PathBuf::from("/proc/4242/ns/ipc"));
        assert_eq!(ipc.shm, PathBuf::from("/proc/4242/root/dev/shm"));
        let host_donor = joins(&modes, |_| Ok(donor_of(Status::Running, IpcMode::Host))).unwrap();
        assert_eq!(host_donor.ipc.unwrap().shm, PathBuf::from("/dev/shm"));
        let e = joins(&modes, |_| Ok(donor_of(Status::Exited, IpcMode::Shareable))).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "failed to join PID namespace: container {} is not running",
                "d".repeat(64)
            )
        );
        assert!(matches!(e, DaemonError::Conflict(_)));
        let e = joins(&modes, |_| Ok(donor_of(Status::Running, IpcMode::Private))).unwrap_err();
        assert!(e.to_string().contains("non-shareable IPC"), "{e}");
        let e = joins(&modes, |x| Err(DaemonError::NoSuchContainer(x.into()))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to join PID namespace: No such container: x"
        );
    }

    #[test]
    fn namespaces_and_shm_follow_the_modes() {
        let types = |v: &[Value]| {
            v.iter()
                .map(|n| n["type"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        let private = Modes::parse(&host("", "", "", "host", "")).unwrap();
        let none = Joins::default();
        assert_eq!(
            types(&namespaces(&private, &none)),
            ["pid", "ipc", "uts", "mount"]
        );
        let hosts = Modes::parse(&host("host", "host", "host", "private", "")).unwrap();
        assert_eq!(types(&namespaces(&hosts, &none)), ["mount", "cgroup"]);
        let shm = || {
            vec![
                json!({"destination": "/dev", "type": "tmpfs"}),
                json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}),
            ]
        };
        let mut m = shm();
        shm_mount(&mut m, &hosts, &none);
        assert_eq!(m[1]["source"], "/dev/shm");
        assert_eq!(m[1]["type"], "bind");
        let mut m = shm();
        let no_shm = Modes::parse(&host("", "none", "", "", "")).unwrap();
        shm_mount(&mut m, &no_shm, &none);
        assert_eq!(m.len(), 1);
        let joined = Modes::parse(&host("", "container:x", "", "", "")).unwrap();
        let j = Joins {
            pid: None,
            ipc: Some(IpcJoin {
                namespace: "/proc/7/ns/ipc".into(),
                shm: "/proc/7/root/dev/shm".into(),
            }),
        };
        let ns = namespaces(&joined, &j);
        assert_eq!(ns[1], json!({"type": "ipc", "path": "/proc/7/ns/ipc"}));
        let mut m = shm();
        shm_mount(&mut m, &joined, &j);
        assert_eq!(m[1]["source"], "/proc/7/root/dev/shm");
    }
}
