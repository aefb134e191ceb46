//! A container's record → OCI runtime spec, as Docker builds it. The pieces live in submodules:
//! [`mounts`] (defaults, binds, tmpfs), [`resources`] (cgroup limits, devices), [`security`]
//! (capabilities, seccomp, no-new-privileges), [`devices`] (the host's, when privileged), [`user`] (names from the image's passwd/group), [`userns`] (the user namespace of `--userns-remap`),
//! [`namespaces`] (Docker's PID, IPC, UTS, cgroup and user namespace modes), [`rootfs`] (safe
//! reads and mkdirs inside the image) and [`init`] (`--init`). [`build`] puts them together for
//! one start: the rootfs must already be mounted, because users are resolved and the working
//! directory is created inside it. [`settle`] is the create-time half: the modes and the runtime
//! name checked and filled in as Docker records them.

pub mod devices;
pub mod init;
pub mod mounts;
pub mod namespaces;
pub mod resources;
pub mod rootfs;
pub mod security;
pub mod user;
pub mod userns;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::model::Container;
use crate::error::DaemonError;

/// The PATH Docker sets when the image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Paths Docker masks in every unprivileged container.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// [`MASKED_PATHS`] and, as Docker masks them too, every CPU's `thermal_throttle` directory in
/// the host's sysfs (the CPUs are listed once per daemon).
fn default_masked_paths() -> Vec<String> {
    static THERMAL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let thermal =
        THERMAL.get_or_init(|| thermal_throttle_dirs(Path::new("/sys/devices/system/cpu")));
    MASKED_PATHS
        .iter()
        .map(|s| s.to_string())
        .chain(thermal.iter().cloned())
        .collect()
}

/// `<cpus>/cpuN/thermal_throttle` for each CPU that has one, in CPU order, as container paths.
fn thermal_throttle_dirs(cpus: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(cpus) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_prefix("cpu")?.parse().ok()?;
            e.path().join("thermal_throttle").is_dir().then(|| {
                (
                    n,
                    format!("/sys/devices/system/cpu/{name}/thermal_throttle"),
                )
            })
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Paths Docker makes read-only in every unprivileged container.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Why a container's spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// An invalid setting (400 at create).
    #[error("{0}")]
    Invalid(String),
    /// `User` names someone the image does not know (Docker's wording).
    #[error("{0}")]
    User(String),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    /// The command cannot run ([`check_command`]), with the runtime's kind for it.
    #[error("{message}")]
    Command {
        kind: berth_runtime::error::ErrorKind,
        message: String,
    },
}

impl From<SpecError> for DaemonError {
    fn from(e: SpecError) -> Self {
        match e {
            SpecError::Invalid(m) => DaemonError::InvalidArgument(m),
            SpecError::User(m) => DaemonError::InvalidArgument(m),
            SpecError::Rootfs(e) => DaemonError::Internal(e.to_string()),
            SpecError::Command { kind, message } => DaemonError::Runtime { kind, message },
        }
    }
}

/// The names of Berth's built-in runc-compatible runtime (`HostConfig.Runtime`): Docker's default
/// name, which tools expect, and Berth's own; daemon.json `runtimes` adds external ones
/// ([`crate::config::runtimes`]).
pub const RUNTIMES: [&str; 2] = crate::config::runtimes::BUILTIN;

/// The runtime a container gets when it names none and the daemon's `default-runtime` names no
/// other (Docker's default, shown by inspect).
pub const DEFAULT_RUNTIME: &str = crate::config::runtimes::DEFAULT;

/// At create: checks the namespace modes ([`namespaces::settle`], donors among `containers`) and
/// the runtime name, and fills in what Docker records for them.
pub fn settle(
    containers: &super::ContainerService,
    host: &mut berth_api::container::HostConfig,
    hostname: &str,
) -> Result<(), DaemonError> {
    let remapped = containers.paths().remap.is_some();
    namespaces::settle(host, hostname, remapped, |n| Ok(containers.lookup(n)?.id()))?;
    let asked = host.runtime.as_deref().unwrap_or("");
    host.runtime = Some(containers.runtimes().choose(asked)?);
    Ok(())
}

/// Where the container's own files are.
#[derive(Debug, Clone)]
pub struct SpecPaths {
    /// The mounted rootfs.
    pub rootfs: PathBuf,
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
    /// `linux.cgroupsPath`.
    pub cgroup: String,
    /// The prepared network namespace (private modes); `None`: the runtime makes a bare one.
    pub netns: Option<PathBuf>,
    /// The PID and IPC namespaces of other containers to join ([`namespaces::joins`]).
    pub joins: namespaces::Joins,
    /// The id maps of a daemon with `--userns-remap` ([`crate::userns`]).
    pub userns: Option<berth_image::layer::IdMap>,
}

/// The network mode's effect on the spec.
fn network_namespace(mode: &str) -> Result<bool, SpecError> {
    // `container:<x>` and user networks: a namespace prepared by the start (its path in `SpecPaths`).
    Ok(mode != "host")
}

/// Privileged: the cgroup tree read-write, as Docker clears `ro` from its cgroup mount (`/sys`
/// is read-write already, [`mounts::default_mounts`]).
fn writable_cgroups(mounts: &mut [Value]) {
    for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
        if let Some(options) = m["options"].as_array_mut() {
            options.retain(|o| o != "ro");
        }
    }
}

/// The process environment: the configured one plus `HOSTNAME`, `TERM` with a tty, `HOME`.
pub fn process_env(c: &Container, hostname: &str, home: &str) -> Vec<String> {
    let mut env = vec![];
    let configured = c.config.env.clone().unwrap_or_default();
    let has = |k: &str| configured.iter().any(|e| e.split('=').next() == Some(k));
    if !has("PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env.push(format!("HOSTNAME={hostname}"));
    if c.config.tty && !has("TERM") {
        env.push("TERM=xterm".to_string());
    }
    env.extend(configured.iter().cloned());
    if !has("HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The hostname the container runs with.
pub fn hostname(c: &Container) -> String {
    if !c.config.hostname.is_empty() {
        return c.config.hostname.clone();
    }
    let host_net = c.host_config.network_mode.as_deref() == Some("host");
    if host_net || c.host_config.uts_mode.as_deref() == Some("host") {
        return nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| c.short_id().to_string());
    }
    c.short_id().to_string()
}

/// Builds the OCI spec of `c`. Pushes warnings (limits the host cannot apply).
pub fn build(
    c: &Container,
    paths: &SpecPaths,
    warnings: &mut Vec<String>,
) -> Result<Value, SpecError> {
    let host = &c.host_config;
    let group_add = host.group_add.clone().unwrap_or_default();
    let ident = user::resolve(&paths.rootfs, &c.config.user, &group_add)?;
    let cwd = if c.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        c.config.working_dir.clone()
    };
    let modes = namespaces::Modes::parse(host)?;
    let userns = userns::user_namespace(&modes, &paths.joins, paths.userns.as_ref());
    if cwd != "/" {
        // Made as the container's user is seen from the host (shifted into a remapped range).
        let (uid, gid) = match paths.userns.as_ref().filter(|_| userns.is_some()) {
            Some(map) => map
                .to_host(ident.uid, ident.gid, &cwd)
                .map_err(|e| SpecError::Invalid(e.to_string()))?,
            None => (ident.uid, ident.gid),
        };
        rootfs::mkdir_all(&paths.rootfs, &cwd, uid, gid)?;
    }
    let hostname = hostname(c);
    let sec = &c.settings.security;
    let cap_names = security::capabilities(&sec.cap_add, &sec.cap_drop, sec.privileged)?;
    let mut rlimits = Vec::new();
    for u in host.ulimits.iter().flatten() {
        rlimits.push(
            json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                            "soft": u.soft.max(0), "hard": u.hard.max(0)}),
        );
    }
    let mut process = json!({
        "terminal": c.config.tty,
        "user": {"uid": ident.uid, "gid": ident.gid, "additionalGids": ident.additional_gids},
        "args": std::iter::once(c.path.clone()).chain(c.args.iter().cloned()).collect::<Vec<_>>(),
        "env": process_env(c, &hostname, &ident.home),
        "cwd": cwd,
        "capabilities": {"bounding": cap_names, "effective": cap_names, "permitted": cap_names},
        // Create decided it; a record from before that decision has none (no).
        "noNewPrivileges": sec.no_new_privileges.unwrap_or(false),
        "rlimits": rlimits,
    });
    if let (Some([h, w]), true) = (host.console_size, c.config.tty) {
        if h > 0 && w > 0 {
            process["consoleSize"] = json!({"height": h, "width": w});
        }
    }
    if let Some(adj) = host.oom_score_adj.filter(|a| *a != 0) {
        process["oomScoreAdj"] = json!(adj);
    }
    let mut mounts = mounts::default_mounts(host.shm_size.unwrap_or(0), sec.privileged);
    // In a user namespace the cgroup mount cannot be made read-only again (dockerd clears it too).
    if sec.privileged || userns.is_some() {
        writable_cgroups(&mut mounts);
    }
    namespaces::shm_mount(&mut mounts, &modes, &paths.joins);
    let net_ns = network_namespace(host.network_mode.as_deref().unwrap_or(""))?;
    let ro = host.readonly_rootfs;
    mounts::push_mount(
        &mut mounts,
        mounts::file_bind(&paths.resolv_conf, "/etc/resolv.conf", ro),
    );
    mounts::push_mount(
        &mut mounts,
        mounts::file_bind(&paths.hostname, "/etc/hostname", ro),
    );
    mounts::push_mount(
        &mut mounts,
        mounts::file_bind(&paths.hosts, "/etc/hosts", ro),
    );
    mounts::prepare_sources(&c.settings.mounts)?;
    for m in &c.settings.mounts {
        mounts::push_mount(&mut mounts, mounts::oci_mount(m));
    }
    let mut namespaces = namespaces::namespaces(&modes, &paths.joins);
    if net_ns {
        match &paths.netns {
            Some(p) => namespaces.push(json!({"type": "network", "path": p})),
            None => namespaces.push(json!({"type": "network"})),
        }
    }
    let mut id_maps = None;
    if let Some((ns, maps)) = userns {
        namespaces.insert(0, ns);
        id_maps = maps;
    }
    let (res, devices) = resources::resources(host, warnings)?;
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": res,
        "devices": devices,
        "cgroupsPath": paths.cgroup,
        "sysctl": host.sysctls.clone().unwrap_or_default(),
    });
    if let Some((uids, gids)) = id_maps {
        linux["uidMappings"] = uids;
        linux["gidMappings"] = gids;
    }
    if !sec.privileged {
        linux["maskedPaths"] = json!(host
            .masked_paths
            .clone()
            .unwrap_or_else(default_masked_paths));
        linux["readonlyPaths"] = json!(host
            .readonly_paths
            .clone()
            .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
    }
    if let Some(profile) = security::seccomp(&sec.seccomp, &cap_names, sec.privileged)? {
        linux["seccomp"] = profile;
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": paths.rootfs, "readonly": ro},
        "mounts": mounts,
        "linux": linux,
    });
    // With the host's UTS namespace the container keeps the host's name (the runtime refuses to
    // set one without a namespace of its own).
    if !modes.uts_host {
        spec["hostname"] = json!(hostname);
    }
    check_command(
        c,
        &paths.rootfs,
        spec["process"]["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect::<Vec<_>>()
            })
            .as_deref()
            .unwrap_or_default(),
    )?;
    if let (Some(true), Some(init_exe)) = (host.init, init::binary()) {
        init::apply(&mut spec, &init_exe);
    }
    // The runtime's own types are the contract: refuse anything they would not read.
    serde_json::from_value::<berth_oci::runtime::Spec>(spec.clone())
        .map_err(|e| SpecError::Invalid(format!("building the runtime spec: {e}")))?;
    Ok(spec)
}

/// Finds the command as `execve` would, inside the rootfs, with Docker's errors: a missing one is
/// `executable file not found in $PATH` (the CLI exits 127), a directory or a file without exec
/// bits `permission denied` (126). Commands under a user mount are left to the runtime.
pub fn check_command(c: &Container, rootfs: &Path, env: &[String]) -> Result<(), SpecError> {
    let cmd = c.path.as_str();
    let under_mount = |p: &str| {
        c.settings
            .mounts
            .iter()
            .any(|m| p.starts_with(&m.destination))
    };
    let candidates: Vec<String> = if cmd.contains('/') {
        let abs = if cmd.starts_with('/') {
            cmd.to_string()
        } else {
            format!("{}/{cmd}", c.config.working_dir.trim_end_matches('/'))
        };
        vec![abs]
    } else {
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{}/{cmd}", d.trim_end_matches('/')))
            .collect()
    };
    let mut denied = false;
    for p in &candidates {
        if under_mount(p) {
            return Ok(());
        }
        if let Some(mode) = rootfs::mode_of(rootfs, p)? {
            let is_dir = mode & libc_s_ifmt() == 0o040000;
            if !is_dir && mode & 0o111 != 0 {
                return Ok(());
            }
            denied = true;
        }
    }
    use berth_runtime::error::ErrorKind;
    let (kind, message) = if denied {
        (
            ErrorKind::NotExecutable,
            format!("exec: \"{cmd}\": permission denied"),
        )
    } else if cmd.contains('/') {
        (
            ErrorKind::CommandNotFound,
            format!("exec: \"{cmd}\": stat {cmd}: no such file or directory"),
        )
    } else {
        (
            ErrorKind::CommandNotFound,
            format!("exec: \"{cmd}\": executable file not found in $PATH"),
        )
    };
    Err(SpecError::Command { kind, message })
}

fn libc_s_ifmt() -> u32 {
    0o170000
}

/// The `/etc/hosts` of a new container.
pub fn hosts_file(c: &Container) -> String {
    if c.host_config.network_mode.as_deref() == Some("host") {
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            return text;
        }
    }
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for extra in c.host_config.extra_hosts.iter().flatten() {
        if let Some((name, ip)) = extra.split_once(':') {
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    s
}

/// The `/etc/resolv.conf` of a new container: the host's.
pub fn resolv_conf(host_file: &Path) -> String {
    std::fs::read_to_string(host_file).unwrap_or_default()
}

#[cfg(test)]
mod tests;
