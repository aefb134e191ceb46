//! The daemon's configuration: command-line flags ([`DaemonArgs`], embedded by the `berth daemon`
//! subcommand) merged with a daemon.json-style `--config-file` into one [`DaemonConfig`]. As Docker
//! does, a setting given both as a flag and in the file is an error, not a silent override.
//!
//! daemon.json keys understood: [`file::KEYS`], each documented in `docs/daemon-json.md`;
//! unknown keys are refused with their names so typos do not go unnoticed. `SIGHUP` reloads
//! the [`reload::Reloadable`] ones.
//!
//! Hosts are `unix:///path` (or a bare absolute path), `fd://` (the sockets systemd passes,
//! `fd://N` one of them) and `tcp://ADDR:PORT` (or a bare `ADDR:PORT`). `--docker-socket`
//! adds a UNIX socket at `/var/run/docker.sock` (or the path given). A TCP host needs TLS (`--tlsverify`: client certificates signed by
//! `--tlscacert` required; `--tls`: server TLS only) unless plain TCP is asked for explicitly
//! with `--tls=false` or `--tlsverify=false` ([`TcpSecurity`]); see `docs/daemon-tls.md`.

pub mod file;
pub mod reload;
pub mod runtimes;

use std::path::{Path, PathBuf};

use crate::error::DaemonError;
use file::{DockerSocketKey, FileConfig};
pub use reload::{Live, Reloadable};

/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// Default exec root (sockets, pid file).
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
/// Default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Config file read when `--config-file` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// Where `--docker-socket` listens when given no path: the socket tools that assume Docker use.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// How layers and container roots are stored (`storage-driver`, named as Docker names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageDriver {
    /// overlayfs (production; needs root).
    #[default]
    Overlay,
    /// Plain copies (no privileges, slow).
    Vfs,
}

impl StorageDriver {
    /// Parses `overlay`, `overlay2` or `vfs`.
    pub fn parse(s: &str) -> Result<Self, DaemonError> {
        match s {
            "overlay" | "overlay2" | "overlayfs" => Ok(StorageDriver::Overlay),
            "vfs" => Ok(StorageDriver::Vfs),
            other => Err(DaemonError::Config(format!(
                "unknown storage driver {other:?}: use overlay or vfs"
            ))),
        }
    }

    /// The name `docker info` shows.
    pub fn name(self) -> &'static str {
        match self {
            StorageDriver::Overlay => "overlay2",
            StorageDriver::Vfs => "vfs",
        }
    }
}

/// `berth daemon` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DaemonArgs {
    /// Daemon socket(s) to listen on (unix:///path, tcp://ADDR:PORT).
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory of execution state (sockets, pid file).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Daemon configuration file (daemon.json).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Group owning the API socket(s).
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Log level (trace, debug, info, warn, error).
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Storage driver (overlay, vfs).
    #[arg(short = 's', long)]
    pub storage_driver: Option<String>,
    /// The executable run as `<exe> shim ...` for each container (default: this binary).
    #[arg(long, hide = true)]
    pub shim_binary: Option<PathBuf>,
    /// Use TLS on TCP hosts; implied by --tlsverify (--tls=false: plain TCP, insecure).
    #[arg(long = "tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Use TLS and require client certificates signed by --tlscacert.
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: Option<bool>,
    /// Trust client certificates signed only by this CA (default: $DOCKER_CERT_PATH/ca.pem or ~/.docker/ca.pem).
    #[arg(long = "tlscacert")]
    pub tls_ca_cert: Option<PathBuf>,
    /// Path to the server's TLS certificate (default: $DOCKER_CERT_PATH/cert.pem or ~/.docker/cert.pem).
    #[arg(long = "tlscert")]
    pub tls_cert: Option<PathBuf>,
    /// Path to the server's TLS key (default: $DOCKER_CERT_PATH/key.pem or ~/.docker/key.pem).
    #[arg(long = "tlskey")]
    pub tls_key: Option<PathBuf>,
    /// Enable debug mode (debug logging; reloaded on SIGHUP).
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set key=value labels on the daemon (repeatable; reloaded on SIGHUP).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Preferred Docker Hub mirror (repeatable; reloaded on SIGHUP).
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// Registry reached without verified TLS (repeatable; reloaded on SIGHUP).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Also listen on Docker's socket (default /var/run/docker.sock), unless a dockerd answers there.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = DEFAULT_DOCKER_SOCKET, value_name = "PATH")]
    pub docker_socket: Option<PathBuf>,
    /// Check the stores of a stopped daemon and exit (`check.rs`).
    #[arg(long, hide = true)]
    pub check: bool,
    /// Deadline of each call to a plugin, in seconds; a missing plugin is waited for half of
    /// it (default 30, dockerd's).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub plugin_timeout: Option<u64>,
    /// Authorization plugin asked about every API request, in order (repeatable; reloaded on
    /// SIGHUP).
    #[arg(long = "authorization-plugin", value_name = "NAME")]
    pub authorization_plugins: Vec<String>,
    /// Register an external runc-compatible runtime, NAME=PATH (repeatable; reloaded on SIGHUP).
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    pub add_runtime: Vec<String>,
    /// The runtime of containers that name none (default: runc, the built-in one; reloaded on
    /// SIGHUP).
    #[arg(long, value_name = "NAME")]
    pub default_runtime: Option<String>,
    /// Set no-new-privileges by default for new containers.
    #[arg(long)]
    pub no_new_privileges: bool,
    /// Run containers in user namespaces whose root is this user (default, USER[:GROUP] or
    /// UID[:GID]; `default` is `dockremap`).
    #[arg(long, value_name = "USER[:GROUP]")]
    pub userns_remap: Option<String>,
}

/// The TLS settings as given (flags merged with daemon.json); [`TlsOptions::security`] decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--tls` / `"tls"`: `Some(false)` is an explicit opt-out of TLS.
    pub tls: Option<bool>,
    /// `--tlsverify` / `"tlsverify"`: implies TLS; `Some(false)` is an explicit opt-out too.
    pub verify: Option<bool>,
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// How the TCP listeners are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpSecurity {
    /// TLS with client certificates required and verified against `ca` (`--tlsverify`).
    MutualTls {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
    /// TLS with the server's certificate only; any client may connect (`--tls`).
    ServerTls { cert: PathBuf, key: PathBuf },
    /// No TLS at all, asked for explicitly (`--tls=false` or `--tlsverify=false`).
    Plain,
}

impl TlsOptions {
    /// Whether TLS is on (`--tls`, or `--tlsverify` which implies it).
    pub fn enabled(&self) -> bool {
        self.tls == Some(true) || self.verify == Some(true)
    }

    /// The security of TCP listeners; `None` when TLS is neither on nor explicitly refused
    /// (then TCP hosts are refused). Missing file paths default to `cert_dir`'s `ca.pem`,
    /// `cert.pem` and `key.pem`, as dockerd's do.
    pub fn security(&self, cert_dir: &Path) -> Option<TcpSecurity> {
        let pick =
            |p: &Option<PathBuf>, name: &str| p.clone().unwrap_or_else(|| cert_dir.join(name));
        if self.verify == Some(true) {
            return Some(TcpSecurity::MutualTls {
                ca: pick(&self.ca_cert, "ca.pem"),
                cert: pick(&self.cert, "cert.pem"),
                key: pick(&self.key, "key.pem"),
            });
        }
        if self.tls == Some(true) {
            return Some(TcpSecurity::ServerTls {
                cert: pick(&self.cert, "cert.pem"),
                key: pick(&self.key, "key.pem"),
            });
        }
        (self.tls == Some(false) || self.verify == Some(false)).then_some(TcpSecurity::Plain)
    }
}

/// dockerd's default directory of TLS files: `$DOCKER_CERT_PATH`, else `~/.docker`.
pub fn default_cert_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The merged configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Listen addresses (`unix:///path`, `tcp://ADDR:PORT`).
    pub hosts: Vec<String>,
    /// Group owning the sockets; `None` leaves root's group.
    pub group: Option<String>,
    pub log_level: String,
    pub storage_driver: StorageDriver,
    /// The shim executable (`None`: the daemon's own binary, `berth shim`).
    pub shim_binary: Option<PathBuf>,
    /// TLS for TCP hosts.
    pub tls: TlsOptions,
    /// Where TLS files not named default to ([`default_cert_dir`]).
    pub cert_dir: PathBuf,
    /// What `SIGHUP` reloads.
    pub reloadable: Reloadable,
    /// `--docker-socket`: a second UNIX socket where Docker's clients look for the daemon.
    pub docker_socket: Option<PathBuf>,
    /// The daemon.json this configuration was read from (`SIGHUP` reads it again).
    pub config_file: Option<PathBuf>,
    /// `--plugin-timeout`: the deadline of every call to a plugin (`crate::plugins`).
    pub plugin_timeout: std::time::Duration,
    /// `no-new-privileges`: containers created without `--security-opt no-new-privileges=false`
    /// get no_new_privs (dockerd's default for new containers).
    pub no_new_privileges: bool,
    /// `userns-remap` as given ([`crate::userns::resolve`] reads it at start).
    pub userns_remap: Option<String>,
    /// The remapping in force, resolved at start (`Daemon::start`), when `data_root` became the
    /// remapped one.
    pub remap: Option<crate::userns::Remap>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            data_root: PathBuf::from(DEFAULT_DATA_ROOT),
            exec_root: PathBuf::from(DEFAULT_EXEC_ROOT),
            hosts: vec![DEFAULT_HOST.to_string()],
            group: None,
            log_level: "info".to_string(),
            storage_driver: StorageDriver::default(),
            shim_binary: None,
            tls: TlsOptions::default(),
            cert_dir: default_cert_dir(),
            reloadable: Reloadable::default(),
            docker_socket: None,
            config_file: None,
            plugin_timeout: crate::plugins::DEFAULT_TIMEOUT,
            no_new_privileges: false,
            userns_remap: None,
            remap: None,
        }
    }
}

impl DaemonConfig {
    /// Merges flags with the config file (`--config-file`, else [`DEFAULT_CONFIG_FILE`] if present).
    pub fn from_args(args: &DaemonArgs) -> Result<Self, DaemonError> {
        let path = match &args.config_file {
            Some(path) => Some(path.clone()),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Some(DEFAULT_CONFIG_FILE.into()),
            None => None,
        };
        let file = match &path {
            Some(p) => file::read(p)?,
            None => FileConfig::default(),
        };
        let mut config = Self::merge(args, file, default_cert_dir())?;
        config.config_file = path;
        Ok(config)
    }

    fn merge(args: &DaemonArgs, file: FileConfig, cert_dir: PathBuf) -> Result<Self, DaemonError> {
        let mut conflicts = Vec::new();
        fn pick<T>(
            flag: Option<T>,
            file: Option<T>,
            name: &'static str,
            conflicts: &mut Vec<&'static str>,
        ) -> Option<T> {
            if flag.is_some() && file.is_some() {
                conflicts.push(name);
            }
            flag.or(file)
        }
        let hosts = (!args.hosts.is_empty()).then(|| args.hosts.clone());
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let d = DaemonConfig::default();
        let docker_socket = match file.docker_socket {
            Some(DockerSocketKey::On(true)) => Some(PathBuf::from(DEFAULT_DOCKER_SOCKET)),
            Some(DockerSocketKey::On(false)) => None,
            Some(DockerSocketKey::Path(p)) => Some(p),
            None => None,
        };
        let reloadable = Reloadable {
            debug: pick(
                args.debug.then_some(true),
                file.debug,
                "debug",
                &mut conflicts,
            )
            .unwrap_or(false),
            labels: pick(list(&args.labels), file.labels, "labels", &mut conflicts)
                .unwrap_or_default(),
            registry_mirrors: pick(
                list(&args.registry_mirrors),
                file.registry_mirrors,
                "registry-mirrors",
                &mut conflicts,
            )
            .unwrap_or_default(),
            insecure_registries: pick(
                list(&args.insecure_registries),
                file.insecure_registries,
                "insecure-registries",
                &mut conflicts,
            )
            .unwrap_or_default(),
            authorization_plugins: pick(
                list(&args.authorization_plugins),
                file.authorization_plugins,
                "authorization-plugins",
                &mut conflicts,
            )
            .unwrap_or_default(),
            runtimes: runtimes::merge(
                &args.add_runtime,
                args.default_runtime.clone(),
                file.runtimes,
                file.default_runtime,
                &mut conflicts,
            )?,
            build_context_limit: file
                .build_context_limit
                .as_deref()
                .map(crate::build::parse_context_limit)
                .transpose()
                .map_err(DaemonError::Config)?,
        };
        file::check_labels(&reloadable.labels)?;
        file::check_plugin_names(&reloadable.authorization_plugins)?;
        file::check_mirrors(&reloadable.registry_mirrors)?;
        file::check_insecure(&reloadable.insecure_registries)?;
        let config = DaemonConfig {
            data_root: pick(
                args.data_root.clone(),
                file.data_root,
                "data-root",
                &mut conflicts,
            )
            .unwrap_or(d.data_root),
            exec_root: pick(
                args.exec_root.clone(),
                file.exec_root,
                "exec-root",
                &mut conflicts,
            )
            .unwrap_or(d.exec_root),
            hosts: pick(hosts, file.hosts, "hosts", &mut conflicts).unwrap_or(d.hosts),
            group: pick(args.group.clone(), file.group, "group", &mut conflicts),
            log_level: pick(
                args.log_level.clone(),
                file.log_level,
                "log-level",
                &mut conflicts,
            )
            .unwrap_or(d.log_level),
            storage_driver: match pick(
                args.storage_driver.clone(),
                file.storage_driver,
                "storage-driver",
                &mut conflicts,
            ) {
                Some(s) => StorageDriver::parse(&s)?,
                None => d.storage_driver,
            },
            shim_binary: args.shim_binary.clone(),
            tls: TlsOptions {
                tls: pick(args.tls, file.tls, "tls", &mut conflicts),
                verify: pick(args.tls_verify, file.tlsverify, "tlsverify", &mut conflicts),
                ca_cert: pick(
                    args.tls_ca_cert.clone(),
                    file.tlscacert,
                    "tlscacert",
                    &mut conflicts,
                ),
                cert: pick(
                    args.tls_cert.clone(),
                    file.tlscert,
                    "tlscert",
                    &mut conflicts,
                ),
                key: pick(args.tls_key.clone(), file.tlskey, "tlskey", &mut conflicts),
            },
            cert_dir,
            reloadable,
            docker_socket: pick(
                args.docker_socket.clone(),
                docker_socket,
                "docker-socket",
                &mut conflicts,
            ),
            config_file: None,
            plugin_timeout: args
                .plugin_timeout
                .map_or(d.plugin_timeout, std::time::Duration::from_secs),
            no_new_privileges: pick(
                args.no_new_privileges.then_some(true),
                file.no_new_privileges,
                "no-new-privileges",
                &mut conflicts,
            )
            .unwrap_or(false),
            userns_remap: pick(
                args.userns_remap.clone(),
                file.userns_remap,
                "userns-remap",
                &mut conflicts,
            ),
            remap: None,
        };
        if !conflicts.is_empty() {
            return Err(DaemonError::Config(format!(
                "the following directives are specified both as a flag and in the configuration file: {}; keep one of each",
                conflicts.join(", ")
            )));
        }
        config.listeners()?;
        Ok(config)
    }

    /// The parsed hosts, each with its security; refuses a TCP host without TLS unless plain
    /// TCP was asked for explicitly (`--tls=false`).
    /// The `--docker-socket` listener comes last.
    pub fn listeners(&self) -> Result<Vec<Listen>, DaemonError> {
        let security = self.tls.security(&self.cert_dir);
        let mut listeners = self
            .hosts
            .iter()
            .map(|h| match parse_host(h, self.tls.enabled())? {
                Host::Unix(path) => Ok(Listen::Unix(path)),
                Host::Fd(fd) => Ok(Listen::Fd(fd)),
                Host::Tcp(addr) => match &security {
                    Some(s) => Ok(Listen::Tcp(addr, s.clone())),
                    None => Err(DaemonError::Config(format!(
                        "host {h:?}: the API over TCP without TLS gives root on this machine to anyone who can reach the port; \
                         use --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls for server TLS only), \
                         or pass --tls=false to run without TLS anyway"
                    ))),
                },
            })
            .collect::<Result<Vec<_>, DaemonError>>()?;
        if let Some(path) = &self.docker_socket {
            if !path.is_absolute() {
                return Err(DaemonError::Config(format!(
                    "docker socket {}: give an absolute path",
                    path.display()
                )));
            }
            listeners.push(Listen::DockerSocket(path.clone()));
        }
        Ok(listeners)
    }

    /// The image store's root.
    pub fn image_root(&self) -> PathBuf {
        self.data_root.join("image")
    }

    /// The pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.exec_root.join("berth.pid")
    }
}

/// One parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A UNIX socket path.
    Unix(PathBuf),
    /// A TCP `ADDR:PORT` (a name, an IPv4 address or a bracketed IPv6 address).
    Tcp(String),
    /// `fd://`: every socket systemd passed (`None`), or `fd://N`: that one.
    Fd(Option<i32>),
}

/// A host with what the daemon needs to listen on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(String, TcpSecurity),
    /// Sockets passed by systemd's socket activation.
    Fd(Option<i32>),
    /// `--docker-socket`: a UNIX socket never taken over from a dockerd that answers on it.
    DockerSocket(PathBuf),
}

/// Parses a host as dockerd does: `unix:///path` (empty path: the default socket), a bare
/// absolute path, `tcp://ADDR:PORT` or a bare `ADDR:PORT`. A TCP host without an address means
/// `127.0.0.1`, without a port 2376 with TLS and 2375 without.
pub fn parse_host(host: &str, tls: bool) -> Result<Host, DaemonError> {
    let (scheme, rest) = match host.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None if host.starts_with('/') => ("unix", host),
        None => ("tcp", host),
    };
    match scheme {
        "unix" if rest.is_empty() => Ok(Host::Unix(PathBuf::from("/run/berth/berth.sock"))),
        "unix" => Ok(Host::Unix(PathBuf::from(rest))),
        "fd" if rest.is_empty() => Ok(Host::Fd(None)),
        "fd" => match rest.parse::<i32>() {
            Ok(fd) if fd >= 3 => Ok(Host::Fd(Some(fd))),
            _ => Err(DaemonError::Config(format!(
                "host {host:?}: use fd:// for every socket systemd passes, or fd://N (N >= 3) for one"
            ))),
        },
        "tcp" => tcp_addr(host, rest, tls).map(Host::Tcp),
        _ => Err(DaemonError::Config(format!(
            "host {host:?}: unsupported scheme {scheme:?}; use unix:///path, fd:// or tcp://ADDR:PORT"
        ))),
    }
}

fn tcp_addr(host: &str, rest: &str, tls: bool) -> Result<String, DaemonError> {
    let bad = |why: &str| DaemonError::Config(format!("host {host:?}: {why}; use tcp://ADDR:PORT"));
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('?') || rest.contains('@') {
        return Err(bad("a TCP host takes no path, query or user"));
    }
    let default_port = if tls { "2376" } else { "2375" };
    let (addr, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (a, p) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        let p = match p.strip_prefix(':') {
            Some(p) => p,
            None if p.is_empty() => "",
            None => return Err(bad("junk after the IPv6 address")),
        };
        (format!("[{a}]"), p)
    } else {
        match rest.rsplit_once(':') {
            Some((a, _)) if a.contains(':') => return Err(bad("IPv6 addresses go in brackets")),
            Some((a, p)) => (a.to_string(), p),
            None => (rest.to_string(), ""),
        }
    };
    let addr = if addr.is_empty() {
        "127.0.0.1".to_string()
    } else {
        addr
    };
    let port = if port.is_empty() { default_port } else { port };
    port.parse::<u16>()
        .map_err(|_| bad(&format!("invalid port {port:?}")))?;
    Ok(format!("{addr}:{port}"))
}

#[cfg(test)]
mod tests;
