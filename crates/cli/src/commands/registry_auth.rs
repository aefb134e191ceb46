//! Registry credentials as the docker CLI keeps them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) with `auths.<server>.auth` = base64(`user:password`), or a credential
//! helper named by `credHelpers.<server>` / `credsStore`, run as `docker-credential-<name>
//! get|store|erase` with docker's JSON on stdin/stdout. Docker Hub's key is
//! `https://index.docker.io/v1/`. [`registry_auth_header`] builds the `X-Registry-Auth` value.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::{CliError, Result};

/// Docker Hub's key in `config.json`.
pub const HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and secret for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
}

/// The directory of `config.json`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The registry host of an image reference's first component, as docker decides it.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The `config.json` key of a registry host.
pub fn config_key(registry: &str) -> String {
    let host = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" | "index.docker.io/v1" => {
            HUB_KEY.to_string()
        }
        h => h.split('/').next().unwrap_or(h).to_string(),
    }
}

fn read_config() -> Result<Map<String, Value>> {
    let path = config_dir().join("config.json");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CliError::Message(format!(
                "{} is not a JSON object; fix or remove it",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(CliError::Message(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

fn write_config(m: &Map<String, Value>) -> Result<()> {
    let dir = config_dir();
    let err = |e: std::io::Error| CliError::Message(format!("writing {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(err)?;
    let text = serde_json::to_string_pretty(m).map_err(|e| CliError::Message(e.to_string()))?;
    // A new file of this process's own (never one left behind, whose mode it would keep, nor a
    // link someone put there), 0600 from its creation, renamed over config.json.
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("config.json"))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(err)
}

/// The helper for `key`, if any: `credHelpers.<key>`, else `credsStore`.
fn helper_for(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| m.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Message(format!("running {program} {verb}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CliError::Message(format!("running {program} {verb}: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(CliError::Message(format!(
            "{program} {verb} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(text)
}

/// The stored credentials of `registry` (none when not logged in).
pub fn load(registry: &str) -> Result<Option<Auth>> {
    let m = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&m, &key) {
        return match run_helper(&helper, "get", &key) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let s = |k: &str| {
                    v.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                Ok(Some(Auth {
                    username: s("Username"),
                    password: s("Secret"),
                }))
            }
            // "credentials not found in native keychain" is how helpers say none.
            Err(_) => Ok(None),
        };
    }
    let Some(encoded) = m
        .get("auths")
        .and_then(|a| a.get(&key))
        .and_then(|e| e.get("auth"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| CliError::Message(format!("bad auth for {key} in config.json: {e}")))?;
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (u, p) = raw.split_once(':').unwrap_or((&raw, ""));
    Ok(Some(Auth {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

/// Stores credentials for `registry` (helper or `auths`).
pub fn store(registry: &str, auth: &Auth) -> Result<()> {
    let mut m = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&m, &key) {
        let input = json!({"ServerURL": key, "Username": auth.username, "Secret": auth.password});
        run_helper(&helper, "store", &input.to_string())?;
        let auths = m.entry("auths").or_insert_with(|| json!({}));
        if let Some(a) = auths.as_object_mut() {
            a.insert(key, json!({}));
        }
        return write_config(&m);
    }
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.username, auth.password));
    let auths = m.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(a) = auths.as_object_mut() {
        a.insert(key, json!({ "auth": encoded }));
    }
    write_config(&m)
}

/// Removes the credentials of `registry`; returns whether there were any.
pub fn erase(registry: &str) -> Result<bool> {
    let mut m = read_config()?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&m, &key) {
        let _ = run_helper(&helper, "erase", &key);
    }
    let removed = m
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&key))
        .is_some();
    write_config(&m)?;
    Ok(removed)
}

/// `X-Registry-Auth` for an image's registry: base64url JSON of the stored credentials, or `{}`.
pub fn registry_auth_header(image: &str) -> Result<String> {
    let registry = registry_of(image);
    let v = match load(&registry)? {
        Some(a) => {
            json!({"username": a.username, "password": a.password, "serveraddress": config_key(&registry)})
        }
        None => json!({}),
    };
    Ok(base64::engine::general_purpose::URL_SAFE.encode(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_keys_as_docker() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("127.0.0.1:5000/bb"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/bb"), "localhost");
        assert_eq!(config_key("docker.io"), HUB_KEY);
        assert_eq!(config_key("https://index.docker.io/v1/"), HUB_KEY);
        assert_eq!(config_key("reg.example:5000"), "reg.example:5000");
    }
}
