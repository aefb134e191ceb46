//! Legacy links (`--link NAME[:ALIAS]`): the rules Docker applies, as functions the container
//! verbs and the endpoint hooks call. Two kinds, by the linking container's network:
//!
//! **On the default bridge** a link `/PARENT/ALIAS` to a running child gives the parent
//!
//! - environment variables ([`env`]): `ALIAS_PORT=PROTO://IP:PORT` for the first exposed port,
//!   for each port of the child (tcp ones ascending, then the others) `ALIAS_PORT_80_TCP=
//!   tcp://IP:80` with `_ADDR`, `_PORT`, `_PROTO`, after the last port of a run of consecutive
//!   ones `_START`, `_PORT_START`, `_END`, `_PORT_END` entries keyed by its first port,
//!   `ALIAS_NAME=/PARENT/ALIAS`, and `ALIAS_ENV_X=v` for each of the child's `Env` (not `HOME`,
//!   `PATH`); the alias is upper-cased with `-` turned into `_`. They come before the parent's
//!   own `Env`, which wins on a clash (Docker 28's rules: API 1.52 stopped setting them);
//! - an `/etc/hosts` line ([`hosts_names`]): the child's address with the alias, the child's
//!   hostname and, when it differs from the alias, the child's name;
//! - inspect's `HostConfig.Links` entry ([`inspect_form`]): `/CHILD:/PARENT/ALIAS`.
//!
//! The child must be on the default bridge and running when the parent starts; the caller
//! (`containers::links`), which knows the containers, checks that and builds Docker's errors.
//!
//! **On a user-defined network** a link is only a name: the endpoint's `Links` make `ALIAS`
//! resolve, for the linking container's embedded DNS alone, to what `NAME` resolves to on that
//! network ([`refresh_aliases`]): no environment, no hosts line, no check that `NAME` exists.

use std::net::Ipv4Addr;

use berth_network::dns::DnsTable;
use berth_network::ports::Proto;
use serde::{Deserialize, Serialize};

use super::model::Network;
use super::publish::parse_port_key;
use crate::error::DaemonError;

/// One link: the child (its name or ID as given; a container's record holds the ID, resolved
/// at create) and the alias the parent knows it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpec {
    pub child: String,
    pub alias: String,
}

impl LinkSpec {
    /// As an endpoint's `Links` show it: `NAME:ALIAS`, or `NAME` when both are the same.
    pub fn shown(&self) -> String {
        if self.child == self.alias {
            self.child.clone()
        } else {
            format!("{}:{}", self.child, self.alias)
        }
    }
}

/// Parses `NAME[:ALIAS]` as Docker does, including the form inspect shows (`/NAME:/PARENT/ALIAS`).
pub fn parse(link: &str) -> Result<LinkSpec, DaemonError> {
    if link.is_empty() {
        return Err(DaemonError::InvalidArgument(
            "empty string specified for links".into(),
        ));
    }
    let parts: Vec<&str> = link.split(':').collect();
    let (child, alias) = match parts.as_slice() {
        [one] => (one.trim_start_matches('/'), one.trim_start_matches('/')),
        [child, alias] if child.starts_with('/') => {
            (&child[1..], alias.rsplit('/').next().unwrap_or(alias))
        }
        [child, alias] => (*child, *alias),
        _ => {
            return Err(DaemonError::InvalidArgument(format!(
                "bad format for links: {link}"
            )))
        }
    };
    if child.is_empty() || alias.is_empty() || alias.contains('/') {
        return Err(DaemonError::InvalidArgument(format!(
            "bad format for links: {link}"
        )));
    }
    // The alias becomes a line of `/etc/hosts` and part of environment variable names: a
    // container name's characters only, so no newline or space can make it more than one entry.
    let mut chars = alias.chars();
    let name_like = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !name_like {
        return Err(DaemonError::InvalidArgument(format!(
            "invalid link alias {alias:?} in {link:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
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
    /// Its `Config.ExposedPorts` keys (`80/tcp`, `53/udp`).
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

/// The child's exposed ports, one per number: tcp ones ascending, then udp ones.
fn ports(exposed: &[&str]) -> Vec<(u16, Proto)> {
    let mut out: Vec<(u16, Proto)> = exposed
        .iter()
        .filter_map(|k| parse_port_key(k).ok())
        .flat_map(|((lo, hi), proto)| (lo..=hi).map(move |p| (p, proto)))
        .collect();
    out.sort_by_key(|(p, proto)| (*proto != Proto::Tcp, *p));
    out.dedup();
    out
}

/// The environment variables the link gives the parent (see the module header).
pub fn env(parent: &str, alias: &str, child: &Child<'_>) -> Vec<String> {
    let name = format!("/{}/{alias}", parent.trim_start_matches('/'));
    let up = alias.to_uppercase().replace('-', "_");
    let ip = child.ip;
    let key = |p: u16, proto: Proto| format!("{up}_PORT_{p}_{}", proto.to_string().to_uppercase());
    let ports = ports(&child.exposed);
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{up}_PORT={proto}://{ip}:{p}"));
    }
    // The run of consecutive ports of one protocol that the current port continues.
    let mut run: Option<((u16, Proto), u16)> = None;
    for (i, &(p, proto)) in ports.iter().enumerate() {
        let k = key(p, proto);
        env.push(format!("{k}={proto}://{ip}:{p}"));
        env.push(format!("{k}_ADDR={ip}"));
        env.push(format!("{k}_PORT={p}"));
        env.push(format!("{k}_PROTO={proto}"));
        let ((start, start_proto), end) = run.unwrap_or(((p, proto), p));
        let continues = start_proto == proto && u32::from(p) == u32::from(end) + 1;
        if continues && i + 1 < ports.len() {
            run = Some(((start, start_proto), p));
            continue;
        }
        // The run ends here: with this port when it continued it, before it otherwise.
        let end = if continues { p } else { end };
        if end != start {
            let k = key(start, start_proto);
            env.push(format!("{k}_START={start_proto}://{ip}:{start}"));
            env.push(format!("{k}_PORT_START={start}"));
            env.push(format!("{k}_END={start_proto}://{ip}:{end}"));
            env.push(format!("{k}_PORT_END={end}"));
        }
        run = Some(((p, proto), p));
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

/// The DNS table's key of the aliases that container `id`'s links give it on network `net`:
/// its embedded DNS serves this key after the network's own.
pub fn alias_key(net: &str, id: &str) -> String {
    format!("{net}/links/{id}")
}

/// Makes the link aliases of every running member of `n` resolve to what their targets resolve
/// to on `n` now (a container name, a network alias or an ID prefix of 12 digits or more, of a
/// running member); a member that stopped, or a target that is not there, answers nothing.
/// Called whenever a member of `n` starts, stops, connects, disconnects or is renamed.
pub fn refresh_aliases(table: &DnsTable, n: &Network) {
    if !n.has_dns() {
        return;
    }
    for (id, ep) in n.endpoints.iter().filter(|(_, e)| !e.links.is_empty()) {
        let key = alias_key(&n.id, id);
        table.remove_network(&key);
        if !ep.active {
            continue;
        }
        for l in &ep.links {
            let target = n.endpoints.iter().find(|(tid, t)| {
                t.active
                    && (t.container_name == l.child
                        || t.aliases.contains(&l.child)
                        || (l.child.len() >= 12 && tid.starts_with(&l.child)))
            });
            if let Some((_, t)) = target {
                table.insert(&key, &l.alias, t.ip);
                if let Some(ip6) = t.ip6 {
                    table.insert(&key, &l.alias, ip6);
                }
            }
        }
    }
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
    fn an_alias_that_would_be_more_than_one_hosts_entry_is_refused() {
        for bad in ["db:a\n1.2.3.4 evil", "db:a b", "db:a=b", "db:-x", "db:x\t"] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid link alias"), "{bad}: {err}");
        }
        assert_eq!(parse("db:my-db.1").expect("a valid alias").alias, "my-db.1");
    }

    #[test]
    fn parses_as_docker_does() {
        let spec = |c: &str, a: &str| LinkSpec {
            child: c.into(),
            alias: a.into(),
        };
        assert_eq!(parse("db:my-db").unwrap(), spec("db", "my-db"));
        assert_eq!(parse("db").unwrap(), spec("db", "db"));
        // The form inspect shows, as compose and `docker run` of an inspected config send it.
        assert_eq!(parse("/db:/web/alias").unwrap(), spec("db", "alias"));
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "empty string specified for links"
        );
        assert_eq!(
            parse("a:b:c").unwrap_err().to_string(),
            "bad format for links: a:b:c"
        );
        assert!(parse(":x").is_err() && parse("db:").is_err() && parse("db:a/b").is_err());
        assert_eq!(spec("db", "db").shown(), "db");
        assert_eq!(spec("db", "x").shown(), "db:x");
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
                "MY_DB_PORT_5432_TCP=tcp://172.17.0.3:5432",
                "MY_DB_PORT_5432_TCP_ADDR=172.17.0.3",
                "MY_DB_PORT_5432_TCP_PORT=5432",
                "MY_DB_PORT_5432_TCP_PROTO=tcp",
                "MY_DB_PORT_80_UDP=udp://172.17.0.3:80",
                "MY_DB_PORT_80_UDP_ADDR=172.17.0.3",
                "MY_DB_PORT_80_UDP_PORT=80",
                "MY_DB_PORT_80_UDP_PROTO=udp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_PASSWORD=s=3",
            ]
        );
        // No ports: the name and the environment only.
        assert_eq!(env("web", "db", &child(&[], vec![])), ["DB_NAME=/web/db"]);
    }

    #[test]
    fn runs_of_ports_get_start_and_end_after_their_last_port() {
        let got = env(
            "web",
            "db",
            &child(&[], vec!["8000/tcp", "8001/tcp", "9000/tcp", "8002/udp"]),
        );
        let p = |n: u16, proto: &str| {
            let up = proto.to_uppercase();
            vec![
                format!("DB_PORT_{n}_{up}={proto}://172.17.0.3:{n}"),
                format!("DB_PORT_{n}_{up}_ADDR=172.17.0.3"),
                format!("DB_PORT_{n}_{up}_PORT={n}"),
                format!("DB_PORT_{n}_{up}_PROTO={proto}"),
            ]
        };
        let mut want = vec!["DB_PORT=tcp://172.17.0.3:8000".to_string()];
        want.extend(p(8000, "tcp"));
        want.extend(p(8001, "tcp"));
        // The run 8000-8001 ends at 9000: its entries follow 9000's.
        want.extend(p(9000, "tcp"));
        want.extend([
            "DB_PORT_8000_TCP_START=tcp://172.17.0.3:8000".to_string(),
            "DB_PORT_8000_TCP_PORT_START=8000".into(),
            "DB_PORT_8000_TCP_END=tcp://172.17.0.3:8001".into(),
            "DB_PORT_8000_TCP_PORT_END=8001".into(),
        ]);
        want.extend(p(8002, "udp"));
        want.push("DB_NAME=/web/db".into());
        assert_eq!(got, want);
        // A run that lasts to the last port ends with it.
        let got = env("web", "db", &child(&[], vec!["8000-8001/tcp"]));
        assert_eq!(got.len(), 1 + 8 + 4 + 1);
        assert_eq!(got[9], "DB_PORT_8000_TCP_START=tcp://172.17.0.3:8000");
        assert_eq!(got[12], "DB_PORT_8000_TCP_PORT_END=8001");
    }

    #[test]
    fn hosts_line_and_inspect_form() {
        let c = child(&[], vec![]);
        assert_eq!(hosts_names("alias", &c), "alias 0123456789ab db");
        assert_eq!(hosts_names("db", &c), "db 0123456789ab");
        assert_eq!(inspect_form("/db", "/web", "alias"), "/db:/web/alias");
    }

    #[test]
    fn aliases_on_a_user_network_follow_their_targets() {
        use crate::networks::model::fixtures::{endpoint, network};
        use crate::networks::model::Endpoint;
        let table = std::sync::Arc::new(DnsTable::default());
        let linker = Endpoint {
            links: vec![
                parse("db:database").unwrap(),
                parse("gone:nothing").unwrap(),
            ],
            ..endpoint()
        };
        let mut n = network("front", false, Some(linker));
        let db_id = "d".repeat(64);
        let db = Endpoint {
            container_name: "db".into(),
            ip: Ipv4Addr::new(10, 5, 0, 3),
            ..endpoint()
        };
        n.endpoints.insert(db_id.clone(), db);
        let key = alias_key(&n.id, &"c".repeat(64));
        // What the linker's embedded DNS (the network's names, then its aliases) and another
        // member's (the network's names only) answer.
        let ask = |nets: Vec<String>, name: &str| {
            let r = berth_network::dns::Resolver {
                table: table.clone(),
                networks: nets,
                upstreams: vec![],
                forward: false,
                timeout: std::time::Duration::from_secs(1),
            };
            let q = berth_network::dns::build_query(7, name, 1);
            r.answer(&q)
                .and_then(|a| berth_network::dns::parse_response(&a))
                .map(|(_, ips)| ips)
                .unwrap_or_default()
        };
        let linker_view = || vec![n.id.clone(), key.clone()];
        refresh_aliases(&table, &n);
        let db_ip = vec![Ipv4Addr::new(10, 5, 0, 3)];
        assert_eq!(ask(linker_view(), "database"), db_ip);
        assert!(ask(linker_view(), "nothing").is_empty());
        assert!(ask(vec![n.id.clone()], "database").is_empty());
        // The target stops: the alias answers nothing.
        let mut n2 = n.clone();
        if let Some(t) = n2.endpoints.get_mut(&db_id) {
            t.active = false;
        }
        refresh_aliases(&table, &n2);
        assert!(ask(linker_view(), "database").is_empty());
        // It runs again, known by an ID prefix; then the linker stops.
        let by_id = Endpoint {
            links: vec![parse(&format!("{}:database", &db_id[..12])).unwrap()],
            ..endpoint()
        };
        n.endpoints.insert("c".repeat(64), by_id);
        refresh_aliases(&table, &n);
        assert_eq!(ask(linker_view(), "database"), db_ip);
        if let Some(l) = n.endpoints.get_mut(&"c".repeat(64)) {
            l.active = false;
        }
        refresh_aliases(&table, &n);
        assert!(ask(linker_view(), "database").is_empty());
    }
}
