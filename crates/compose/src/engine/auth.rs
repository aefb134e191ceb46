//! Registry credentials for pull and push, as the docker CLI keeps them: `config.json` in
//! `$DOCKER_CONFIG` (else `~/.docker`), `auths.<server>.auth` (base64 `user:password`) or
//! `identitytoken`, or a helper (`credHelpers.<server>`, else `credsStore`) run as
//! `docker-credential-<name> get`. Docker Hub's key is `https://index.docker.io/v1/`. The engine
//! gets them as `X-Registry-Auth` (base64url JSON). No credentials: no header, as docker does.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The registry host of an image reference (`docker.io` when it names none).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The `auths` key of a registry host.
fn config_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_KEY.into(),
        h => h.into(),
    }
}

/// The `X-Registry-Auth` value for `image` from a parsed `config.json`, if it has credentials.
pub fn header_from(config: &Value, image: &str) -> Option<String> {
    let key = config_key(registry_of(image));
    let entry = config["auths"].get(&key).or_else(|| {
        // Keys written as URLs (`https://host/v2/`) also count.
        config["auths"].as_object()?.iter().find_map(|(k, v)| {
            let bare = k
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            (bare.split('/').next() == Some(key.as_str())).then_some(v)
        })
    });
    let helper = config["credHelpers"][&key]
        .as_str()
        .or(config["credsStore"].as_str());
    let creds = if let Some(token) = entry.and_then(|e| e["identitytoken"].as_str()) {
        json!({ "identitytoken": token, "serveraddress": key })
    } else if let Some(auth) = entry.and_then(|e| e["auth"].as_str()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        json!({ "username": user, "password": pass, "serveraddress": key })
    } else {
        let out = run_helper(helper?, &key)?;
        let user = out["Username"].as_str()?;
        let secret = out["Secret"].as_str()?;
        if user == "<token>" {
            json!({ "identitytoken": secret, "serveraddress": key })
        } else {
            json!({ "username": user, "password": secret, "serveraddress": key })
        }
    };
    Some(base64::engine::general_purpose::URL_SAFE.encode(creds.to_string()))
}

fn run_helper(name: &str, key: &str) -> Option<Value> {
    let mut child = Command::new(format!("docker-credential-{name}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(key.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The header for `image` from the user's docker config, if it holds credentials for its registry.
pub fn header(image: &str) -> Option<String> {
    let dir = match std::env::var("DOCKER_CONFIG") {
        Ok(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => std::path::PathBuf::from(std::env::var("HOME").ok()?).join(".docker"),
    };
    let text = std::fs::read(dir.join("config.json")).ok()?;
    header_from(&serde_json::from_slice(&text).ok()?, image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(h: &str) -> Value {
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(h)
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn credentials_by_registry() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox:1"), "docker.io");
        assert_eq!(registry_of("localhost:5000/a/b"), "localhost:5000");
        assert_eq!(registry_of("reg.example/a"), "reg.example");
        let b64 = base64::engine::general_purpose::STANDARD.encode("me:pw");
        let config = json!({"auths": {
            "localhost:5000": {"auth": b64},
            "https://index.docker.io/v1/": {"identitytoken": "tok"},
            "https://reg.example/v2/": {"auth": b64},
        }});
        let h = decode(&header_from(&config, "localhost:5000/app:1").unwrap_or_default());
        assert_eq!(h["username"], "me");
        assert_eq!(h["password"], "pw");
        assert_eq!(h["serveraddress"], "localhost:5000");
        let h = decode(&header_from(&config, "busybox").unwrap_or_default());
        assert_eq!(h["identitytoken"], "tok");
        let h = decode(&header_from(&config, "reg.example/x").unwrap_or_default());
        assert_eq!(h["username"], "me");
        assert!(header_from(&config, "other.example/x").is_none());
    }
}
