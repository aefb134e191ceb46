//! The daemon's configuration: command-line flags ([`DaemonArgs`], embedded by the `berth daemon`
//! subcommand) merged with a daemon.json-style `--config-file` into one [`DaemonConfig`]. As Docker
//! does, a setting given both as a flag and in the file is an error, not a silent override.
//!
//! daemon.json keys understood: `data-root`, `exec-root`, `hosts`, `group`, `log-level`,
//! `storage-driver`; unknown keys are rejected so typos do not go unnoticed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DaemonError;

/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// Default exec root (sockets, pid file).
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
/// Default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Config file read when `--config-file` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

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
    /// Daemon socket(s) to listen on (unix:///path).
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
}

/// The merged configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Listen addresses (`unix:///path`).
    pub hosts: Vec<String>,
    /// Group owning the sockets; `None` leaves root's group.
    pub group: Option<String>,
    pub log_level: String,
    pub storage_driver: StorageDriver,
    /// The shim executable (`None`: the daemon's own binary, `berth shim`).
    pub shim_binary: Option<PathBuf>,
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
        }
    }
}

/// daemon.json.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    group: Option<String>,
    log_level: Option<String>,
    storage_driver: Option<String>,
}

impl DaemonConfig {
    /// Merges flags with the config file (`--config-file`, else [`DEFAULT_CONFIG_FILE`] if present).
    pub fn from_args(args: &DaemonArgs) -> Result<Self, DaemonError> {
        let file = match &args.config_file {
            Some(path) => Some(read_file(path)?),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Some(read_file(Path::new(DEFAULT_CONFIG_FILE))?)
            }
            None => None,
        };
        Self::merge(args, file.unwrap_or_default())
    }

    fn merge(args: &DaemonArgs, file: FileConfig) -> Result<Self, DaemonError> {
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
        let d = DaemonConfig::default();
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
        };
        if !conflicts.is_empty() {
            return Err(DaemonError::Config(format!(
                "the following directives are specified both as a flag and in the configuration file: {}; keep one of each",
                conflicts.join(", ")
            )));
        }
        for h in &config.hosts {
            socket_path(h)?;
        }
        Ok(config)
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

fn read_file(path: &Path) -> Result<FileConfig, DaemonError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DaemonError::io("reading config file", path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| DaemonError::Config(format!("config file {}: {e}", path.display())))
}

/// The socket path of a `unix://` host (a bare absolute path is accepted too).
pub fn socket_path(host: &str) -> Result<PathBuf, DaemonError> {
    let path = match host.strip_prefix("unix://") {
        Some(p) => p,
        None if host.starts_with('/') => host,
        None => {
            return Err(DaemonError::Config(format!(
                "host {host:?}: only unix:///path sockets are supported"
            )))
        }
    };
    if path.is_empty() {
        return Ok(PathBuf::from("/run/berth/berth.sock"));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> FileConfig {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn defaults_flags_and_file_merge() {
        let c = DaemonConfig::merge(&DaemonArgs::default(), FileConfig::default());
        assert_eq!(c.ok(), Some(DaemonConfig::default()));
        let args = DaemonArgs {
            data_root: Some("/d".into()),
            storage_driver: Some("vfs".into()),
            ..Default::default()
        };
        let c = DaemonConfig::merge(&args, file(r#"{"exec-root":"/e","hosts":["unix:///e/s"]}"#));
        let c = c.unwrap_or_default();
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.exec_root, PathBuf::from("/e"));
        assert_eq!(c.hosts, vec!["unix:///e/s".to_string()]);
        assert_eq!(c.storage_driver, StorageDriver::Vfs);
    }

    #[test]
    fn conflicts_and_bad_values_are_errors() {
        let args = DaemonArgs {
            data_root: Some("/d".into()),
            ..Default::default()
        };
        let e = DaemonConfig::merge(&args, file(r#"{"data-root":"/x"}"#)).err();
        assert!(e.is_some_and(|e| e.to_string().contains("data-root")));
        assert!(serde_json::from_str::<FileConfig>(r#"{"data_root":"/x"}"#).is_err());
        let args = DaemonArgs {
            hosts: vec!["tcp://0.0.0.0:2375".into()],
            ..Default::default()
        };
        assert!(DaemonConfig::merge(&args, FileConfig::default()).is_err());
        assert!(StorageDriver::parse("zfs").is_err());
    }

    #[test]
    fn socket_paths() {
        assert_eq!(
            socket_path("unix:///a/b.sock").ok(),
            Some(PathBuf::from("/a/b.sock"))
        );
        assert_eq!(
            socket_path("/a/b.sock").ok(),
            Some(PathBuf::from("/a/b.sock"))
        );
        assert!(socket_path("fd://").is_err());
    }
}
