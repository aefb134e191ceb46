//! Parsers for the structured values of `run`'s flags, as the docker CLI reads them: env and
//! label files, `-p`/`--expose`, `--device`, `--ulimit`, `--security-opt`
//! (seccomp profiles inlined), capability names and the default endpoint settings, each into
//! its `berth_api` wire type.

use crate::error::{CliError, Result};
use berth_api::container::{DeviceMapping, EndpointSettings, PortBinding, Ulimit};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Reads an env/label file: `KEY=value` lines, `#` comments and blank lines skipped.
pub fn read_kv_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Message(format!("open {path}: {e}")))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect())
}

/// `-e NAME` without a value takes NAME's value from this environment when set.
pub fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// `ExposedPorts` and `PortBindings`.
pub type PortMaps = (
    BTreeMap<String, Value>,
    BTreeMap<String, Option<Vec<PortBinding>>>,
);

/// The `{}` Docker writes for a set member (`ExposedPorts`, `Volumes`: Go's `struct{}`).
pub fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// `-p` and `--expose` values → (`ExposedPorts`, `PortBindings`). Errors carry (value, reason).
pub fn ports(
    publish: &[String],
    expose: &[String],
) -> std::result::Result<PortMaps, (String, String)> {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    let proto_split = |s: &str| match s.rsplit_once('/') {
        Some((p, proto)) => (p.to_string(), proto.to_string()),
        None => (s.to_string(), "tcp".to_string()),
    };
    for e in expose {
        let (port, proto) = proto_split(e);
        for p in port_range(&port).map_err(|r| (e.clone(), r))? {
            exposed.insert(format!("{p}/{proto}"), empty_object());
        }
    }
    for spec in publish {
        let (rest, proto) = proto_split(spec);
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => ("", "", *c),
            [c, h] => ("", *h, *c),
            [c, h, ip] => (ip.trim_start_matches('[').trim_end_matches(']'), *h, *c),
            _ => return Err((spec.clone(), "invalid port format".into())),
        };
        let ctr_ports = port_range(ctr).map_err(|r| (spec.clone(), r))?;
        let host_ports = if host.is_empty() {
            vec![]
        } else {
            port_range(host).map_err(|r| (spec.clone(), r))?
        };
        for (i, cp) in ctr_ports.iter().enumerate() {
            let key = format!("{cp}/{proto}");
            exposed.insert(key.clone(), empty_object());
            let hp = match host_ports.len() {
                0 => String::new(),
                1 if ctr_ports.len() > 1 => host_ports[0].to_string(),
                _ => host_ports.get(i).map(|p| p.to_string()).unwrap_or_default(),
            };
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: ip.to_string(),
                    host_port: hp,
                });
        }
    }
    Ok((exposed, bindings))
}

fn port_range(s: &str) -> std::result::Result<Vec<u16>, String> {
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid port {p:?}"));
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("invalid range {s:?}"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![parse(s)?]),
    }
}

/// `--device host[:container][:perms]`.
pub fn device(v: &str) -> std::result::Result<DeviceMapping, String> {
    let parts: Vec<&str> = v.split(':').collect();
    let is_perm = |s: &str| !s.is_empty() && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perm(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perm(p) => (*h, *c, *p),
        _ => return Err(format!("bad format for path: {v}")),
    };
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: ctr.into(),
        cgroup_permissions: perms.into(),
    })
}

/// `--ulimit name=soft[:hard]`.
pub fn ulimit(v: &str) -> std::result::Result<Ulimit, String> {
    let (name, limits) = v
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("invalid ulimit argument: {v}"))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(limits)?, num(limits)?),
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// `--security-opt`: `seccomp=<file>` is replaced by the file's compacted JSON, as docker does.
pub fn security_opt(v: &str) -> std::result::Result<String, String> {
    match v.split_once(['=', ':']) {
        Some(("seccomp", f)) if f != "unconfined" && f != "builtin" => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("opening seccomp profile ({f}) failed: {e}"))?;
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("compacting json for seccomp profile ({f}) failed: {e}"))?;
            Ok(format!("seccomp={}", compact_json(&text)))
        }
        _ => Ok(v.to_string()),
    }
}

/// Removes insignificant whitespace from JSON text, keeping key order.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut esc) = (false, false);
    for c in text.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// `net_admin` → `CAP_NET_ADMIN`; `ALL` stays.
pub fn normalize_cap(c: &str) -> String {
    let u = c.trim().to_uppercase();
    if u == "ALL" || u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

/// The endpoint settings the docker CLI sends for the implicit `default` network: every field
/// empty, `GwPriority` 0.
pub fn default_endpoint() -> EndpointSettings {
    EndpointSettings {
        gw_priority: Some(0),
        ..EndpointSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_like_docker() {
        let (e, b) = ports(
            &["127.0.0.1:8080:80/udp".into(), "9000".into()],
            &["7000".into()],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            json!({"7000/tcp": {}, "80/udp": {}, "9000/tcp": {}})
        );
        assert_eq!(
            serde_json::to_value(b).unwrap(),
            json!({"80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "9000/tcp": [{"HostIp": "", "HostPort": ""}]})
        );
    }

    #[test]
    fn devices_ulimits() {
        assert_eq!(
            serde_json::to_value(device("/dev/fuse").unwrap()).unwrap(),
            json!({"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"})
        );
        assert_eq!(
            device("/dev/null:/dev/x:r").unwrap().cgroup_permissions,
            "r"
        );
        assert_eq!(
            serde_json::to_value(ulimit("nproc=10").unwrap()).unwrap(),
            json!({"Name": "nproc", "Hard": 10, "Soft": 10})
        );
        assert!(ulimit("nofile=10:5").is_err());
        assert_eq!(
            compact_json("{ \"a\" : [1, 2],\n \"b c\": \"x y\" }\n"),
            "{\"a\":[1,2],\"b c\":\"x y\"}"
        );
        assert_eq!(normalize_cap("net_admin"), "CAP_NET_ADMIN");
    }

    #[test]
    fn default_endpoint_is_written_as_docker_writes_it() {
        assert_eq!(
            serde_json::to_value(default_endpoint()).unwrap(),
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": null
            })
        );
    }
}
