//! Legacy links (`--link NAME[:ALIAS]`, default bridge only): the rules Docker applies, as pure
//! functions the container verbs call at start. A link named `/PARENT/ALIAS` gives the parent
//!
//! - environment variables ([`env`]): `ALIAS_NAME=/PARENT/ALIAS`, for each port the child exposes
//!   (ascending, tcp first at the same number) `ALIAS_PORT_80_TCP=tcp://IP:80` with `_ADDR`,
//!   `_PORT`, `_PROTO`, `ALIAS_PORT` for the first one, `_START`/`_END` entries for runs of
//!   consecutive ports, and `ALIAS_ENV_X=v` for each of the child's `Env` (not `HOME`, `PATH`);
//!   the alias is upper-cased with `-` turned into `_`. They come before the parent's own `Env`,
//!   which wins on a clash;
//! - an `/etc/hosts` line ([`hosts_names`]): the child's address with the alias, the child's
//!   hostname and, when it differs from the alias, the child's name;
//! - inspect's `HostConfig.Links` entry ([`inspect_form`]): `/CHILD:/PARENT/ALIAS`.
//!
//! The child must run on the default bridge when the parent starts; the caller, which knows the
//! containers, checks that and builds Docker's errors.

use std::net::Ipv4Addr;

use berth_network::ports::Proto;

use super::publish::parse_port_key;
use crate::error::DaemonError;

/// One `--link` as given: the child's name or ID and the alias in the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub child: String,
    pub alias: String,
}

/// Parses `NAME[:ALIAS]` (a leading `/` on either part is dropped, as Docker does).
pub fn parse(link: &str) -> Result<LinkSpec, DaemonError> {
    let (child, alias) = link.split_once(':').unwrap_or((link, link));
    let child = child.trim_start_matches('/');
    let alias = alias.trim_start_matches('/');
    if child.is_empty() || alias.is_empty() || alias.contains('/') {
        return Err(DaemonError::InvalidArgument(format!(
            "invalid link {link:?}: use NAME or NAME:ALIAS"
        )));
    }
    Ok(LinkSpec {
        child: child.to_string(),
        alias: alias.to_string(),
    })
}

/// What a link needs to know of the child when the parent starts.
#[derive(Debug, Clone)]
pub struct Child<'a> {
    /// Without the leading `/`.
    pub name: &'a str,
    pub hostname: &'a str,
    /// Its address on the default bridge.
    pub ip: Ipv4Addr,
    /// Its `Config.Env`.
    pub env: &'a [String],
    /// Its `Config.ExposedPorts` keys (`80/tcp`, `53/udp`, `8000-8002/tcp`).
    pub exposed: Vec<&'a str>,
}

/// Inspect's `HostConfig.Links` entry.
pub fn inspect_form(child: &str, parent: &str, alias: &str) -> String {
    format!(
        "/{}:/{}/{}",
        child.trim_start_matches('/'),
        parent.trim_start_matches('/'),
        alias
    )
}

/// The names of the child's `/etc/hosts` line in the parent.
pub fn hosts_names(alias: &str, child: &Child<'_>) -> String {
    let mut names = format!("{alias} {}", child.hostname);
    if alias != child.name {
        names.push(' ');
        names.push_str(child.name);
    }
    names
}

/// The child's exposed ports, one per number, ascending with tcp first at the same number.
fn ports(exposed: &[&str]) -> Vec<(u16, Proto)> {
    let mut out: Vec<(u16, Proto)> = exposed
        .iter()
        .filter_map(|k| parse_port_key(k).ok())
        .flat_map(|((lo, hi), proto)| (lo..=hi).map(move |p| (p, proto)))
        .collect();
    out.sort_by_key(|(p, proto)| (*p, *proto != Proto::Tcp));
    out.dedup();
    out
}

/// The environment variables the link gives the parent (see the module header).
pub fn env(parent: &str, alias: &str, child: &Child<'_>) -> Vec<String> {
    let name = format!("/{}/{alias}", parent.trim_start_matches('/'));
    let up = alias.to_uppercase().replace('-', "_");
    let ip = child.ip;
    let ports = ports(&child.exposed);
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{up}_PORT={proto}://{ip}:{p}"));
    }
    // Runs of consecutive ports of one protocol, in the order above.
    let mut i = 0;
    while i < ports.len() {
        let (start, proto) = ports[i];
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].1 == proto
            && u32::from(ports[j + 1].0) == u32::from(ports[j].0) + 1
        {
            j += 1;
        }
        let end = ports[j].0;
        if end != start {
            let key = format!("{up}_PORT_{start}_{}", proto.to_string().to_uppercase());
            env.push(format!("{key}_START={proto}://{ip}:{start}"));
            env.push(format!("{key}_ADDR={ip}"));
            env.push(format!("{key}_PROTO={proto}"));
            env.push(format!("{key}_PORT_START={start}"));
            env.push(format!("{key}_END={proto}://{ip}:{end}"));
            env.push(format!("{key}_PORT_END={end}"));
        }
        i = j + 1;
    }
    for (p, proto) in &ports {
        let key = format!("{up}_PORT_{p}_{}", proto.to_string().to_uppercase());
        env.push(format!("{key}={proto}://{ip}:{p}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={p}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    env.push(format!("{up}_NAME={name}"));
    for kv in child.env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        if k != "HOME" && k != "PATH" {
            env.push(format!("{up}_ENV_{k}={v}"));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child<'a>(env: &'a [String], exposed: Vec<&'a str>) -> Child<'a> {
        Child {
            name: "db",
            hostname: "0123456789ab",
            ip: Ipv4Addr::new(172, 17, 0, 3),
            env,
            exposed,
        }
    }

    #[test]
    fn parses_name_and_alias() {
        assert_eq!(
            parse("db:my-db").unwrap(),
            LinkSpec {
                child: "db".into(),
                alias: "my-db".into()
            }
        );
        assert_eq!(parse("/db").unwrap().alias, "db");
        assert!(parse(":x").is_err() && parse("db:").is_err() && parse("db:a/b").is_err());
    }

    #[test]
    fn env_as_docker_writes_it() {
        let e = vec![
            "PATH=/bin".to_string(),
            "HOME=/root".into(),
            "PASSWORD=s=3".into(),
        ];
        let got = env(
            "/web",
            "my-db",
            &child(&e, vec!["5432/tcp", "80/udp", "80/tcp"]),
        );
        assert_eq!(
            got,
            [
                "MY_DB_PORT=tcp://172.17.0.3:80",
                "MY_DB_PORT_80_TCP=tcp://172.17.0.3:80",
                "MY_DB_PORT_80_TCP_ADDR=172.17.0.3",
                "MY_DB_PORT_80_TCP_PORT=80",
                "MY_DB_PORT_80_TCP_PROTO=tcp",
                "MY_DB_PORT_80_UDP=udp://172.17.0.3:80",
                "MY_DB_PORT_80_UDP_ADDR=172.17.0.3",
                "MY_DB_PORT_80_UDP_PORT=80",
                "MY_DB_PORT_80_UDP_PROTO=udp",
                "MY_DB_PORT_5432_TCP=tcp://172.17.0.3:5432",
                "MY_DB_PORT_5432_TCP_ADDR=172.17.0.3",
                "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_PASSWORD=s=3",
            ]
        );
    }

    #[test]
    fn runs_of_ports_get_start_and_end() {
        let got = env("web", "db", &child(&[], vec!["8000-8001/tcp"]));
        assert_eq!(
            &got[..7],
            [
                "DB_PORT=tcp://172.17.0.3:8000",
                "DB_PORT_8000_TCP_START=tcp://172.17.0.3:8000",
                "DB_PORT_8000_TCP_ADDR=172.17.0.3",
                "DB_PORT_8000_TCP_PROTO=tcp",
                "DB_PORT_8000_TCP_PORT_START=8000",
                "DB_PORT_8000_TCP_END=tcp://172.17.0.3:8001",
                "DB_PORT_8000_TCP_PORT_END=8001",
            ]
        );
        assert_eq!(got.len(), 7 + 8 + 1);
    }

    #[test]
    fn hosts_line_and_inspect_form() {
        let c = child(&[], vec![]);
        assert_eq!(hosts_names("alias", &c), "alias 0123456789ab db");
        assert_eq!(hosts_names("db", &c), "db 0123456789ab");
        assert_eq!(inspect_form("/db", "/web", "alias"), "/db:/web/alias");
    }
}
