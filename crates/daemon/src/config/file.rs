//! daemon.json: the keys Berth reads ([`KEYS`], each documented in `docs/daemon-json.md`), read
//! into [`FileConfig`]. Unknown keys are refused with their names, in dockerd's words, before
//! anything else is looked at, so a typo never goes unnoticed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::DaemonError;

/// Every daemon.json key Berth understands; anything else is refused at start and on reload.
pub const KEYS: &[&str] = &[
    "authorization-plugins",
    "build-context-limit",
    "data-root",
    "debug",
    "default-runtime",
    "docker-socket",
    "exec-root",
    "group",
    "hosts",
    "insecure-registries",
    "labels",
    "log-level",
    "no-new-privileges",
    "registry-mirrors",
    "runtimes",
    "storage-driver",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userns-remap",
];

/// `docker-socket`: `true` for `/var/run/docker.sock`, or another path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DockerSocketKey {
    On(bool),
    Path(PathBuf),
}

/// daemon.json as read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
    pub group: Option<String>,
    pub log_level: Option<String>,
    pub storage_driver: Option<String>,
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub debug: Option<bool>,
    pub default_runtime: Option<String>,
    pub runtimes: Option<std::collections::BTreeMap<String, super::runtimes::FileRuntime>>,
    pub labels: Option<Vec<String>>,
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub docker_socket: Option<DockerSocketKey>,
    pub authorization_plugins: Option<Vec<String>>,
    pub no_new_privileges: Option<bool>,
    pub userns_remap: Option<String>,
    /// Berth's own: the most a build context may hold (`crate::build::parse_context_limit`).
    pub build_context_limit: Option<String>,
}

/// Reads and checks daemon.json at `path`.
pub fn read(path: &Path) -> Result<FileConfig, DaemonError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DaemonError::io("reading config file", path, e))?;
    parse(&text).map_err(|e| DaemonError::Config(format!("config file {}: {e}", path.display())))
}

/// Parses daemon.json text: unknown keys first (all of them named), then the values' types.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Some(object) = value.as_object() else {
        return Err("the configuration must be a JSON object".to_string());
    };
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the following directives don't match any configuration option: {}; \
             see docs/daemon-json.md for the keys Berth reads",
            unknown.join(", ")
        ));
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        // Name the key: the first one that fails on its own.
        let bad = object.iter().find_map(|(k, v)| {
            let alone = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
            serde_json::from_value::<FileConfig>(alone)
                .err()
                .map(|e| format!("key {k:?}: {e}"))
        });
        bad.unwrap_or_else(|| e.to_string())
    })
}

/// Checks `labels` as dockerd does: each is `key=value` with a non-empty key, and a key given
/// twice must keep one value.
pub fn check_labels(labels: &[String]) -> Result<(), DaemonError> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for label in labels {
        let (k, v) = label
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| DaemonError::Config(format!("label {label:?}: a label is key=value")))?;
        if seen.iter().any(|(k2, v2)| *k2 == k && *v2 != v) {
            return Err(DaemonError::Config(format!(
                "label {k:?} is given twice with different values; keep one"
            )));
        }
        seen.push((k, v));
    }
    Ok(())
}

/// Checks `authorization-plugins`: each a plugin name the daemon can look up (a socket or spec
/// file name, [`crate::plugins::discovery::check_name`]).
pub fn check_plugin_names(names: &[String]) -> Result<(), DaemonError> {
    for name in names {
        crate::plugins::discovery::check_name(name)
            .map_err(|e| DaemonError::Config(format!("authorization plugin: {e}")))?;
    }
    Ok(())
}

/// Checks `registry-mirrors`: each an `http://` or `https://` URL without a query or fragment.
pub fn check_mirrors(mirrors: &[String]) -> Result<(), DaemonError> {
    for m in mirrors {
        let rest = m
            .strip_prefix("https://")
            .or_else(|| m.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !r.contains('?') && !r.contains('#')
        });
        if !ok {
            return Err(DaemonError::Config(format!(
                "registry mirror {m:?}: give an http:// or https:// URL such as https://mirror.example.com"
            )));
        }
    }
    Ok(())
}

/// Checks `insecure-registries`: `host[:port]` or a CIDR, no scheme.
pub fn check_insecure(registries: &[String]) -> Result<(), DaemonError> {
    for r in registries {
        if r.is_empty() || r.contains("://") || r.contains(char::is_whitespace) {
            return Err(DaemonError::Config(format!(
                "insecure registry {r:?}: give host[:port] or a CIDR such as 10.0.0.0/8, without a scheme"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named_all_at_once() {
        let e = parse(r#"{"debug":true,"data_root":"/x","bogus":1}"#).err();
        let e = e.unwrap_or_default();
        assert!(e.contains("don't match any configuration option"), "{e}");
        assert!(e.contains("data_root") && e.contains("bogus"), "{e}");
        assert!(!e.contains("debug"), "{e}");
    }

    #[test]
    fn bad_types_name_the_key() {
        let e = parse(r#"{"labels":"a=b"}"#).err().unwrap_or_default();
        assert!(e.contains("labels"), "{e}");
        assert!(parse("[1]").is_err());
        let f = parse(r#"{"docker-socket":true,"labels":["a=b"]}"#);
        assert!(f.is_ok_and(|f| f.docker_socket == Some(DockerSocketKey::On(true))));
        let f = parse(r#"{"docker-socket":"/tmp/d.sock"}"#);
        assert!(
            f.is_ok_and(|f| f.docker_socket == Some(DockerSocketKey::Path("/tmp/d.sock".into())))
        );
    }

    #[test]
    fn values_are_checked() {
        assert!(check_labels(&["a=b".into(), "c=".into(), "a=b".into()]).is_ok());
        assert!(check_labels(&["nokey".into()]).is_err());
        assert!(check_labels(&["=v".into()]).is_err());
        assert!(check_labels(&["a=b".into(), "a=c".into()]).is_err());
        assert!(check_mirrors(&[
            "https://m.example.com".into(),
            "http://10.0.0.1:5000/".into()
        ])
        .is_ok());
        assert!(check_mirrors(&["m.example.com".into()]).is_err());
        assert!(check_insecure(&["10.0.0.0/8".into(), "reg:5000".into()]).is_ok());
        assert!(check_insecure(&["http://reg".into()]).is_err());
        assert!(check_plugin_names(&["authz-1".into(), "my_plugin.v2".into()]).is_ok());
        assert!(check_plugin_names(&["../x".into()]).is_err());
        assert!(check_plugin_names(&["".into()]).is_err());
    }
}
