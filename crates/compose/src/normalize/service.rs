//! One service definition checked key by key and brought to its long form (the shape `compose
//! config` prints): unknown keys are refused with their place, short syntaxes are expanded, paths
//! are made absolute against the file's directory. Partial definitions (override files, extends
//! bases) are fine here; completeness is checked after merging.

use super::syntax::{self, bytes, duration, map_or_list, string_list};
use crate::error::{LoadError, Result};
use crate::yaml::{Entry, Mark, Node, Value};

/// Keys taken as they are (any YAML value): valid Compose keys Berth passes through or ignores.
const PASSTHROUGH: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "external_links",
    "gpus",
    "isolation",
    "links",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "post_start",
    "pre_stop",
    "provider",
    "runtime",
    "storage_opt",
    "use_api_socket",
    "label_file",
    "lifecycle_hooks",
];

/// Keys whose value is one string (numbers and booleans are taken as their text).
const STRINGS: &[&str] = &[
    "container_name",
    "domainname",
    "hostname",
    "image",
    "ipc",
    "mac_address",
    "network_mode",
    "pid",
    "platform",
    "pull_policy",
    "restart",
    "stop_signal",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "working_dir",
];

const BOOLS: &[&str] = &[
    "init",
    "privileged",
    "read_only",
    "stdin_open",
    "tty",
    "oom_score_adj_disabled",
];

const LISTS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "expose",
    "group_add",
    "profiles",
    "security_opt",
    "tmpfs",
    "volumes_from",
];

pub(super) fn err(mark: &Mark, path: &str, message: impl Into<String>) -> LoadError {
    LoadError::schema(mark, path, message)
}

pub(super) fn entry(key: &str, mark: &Mark, value: Node) -> Entry {
    Entry {
        key: key.to_string(),
        key_mark: mark.clone(),
        value,
    }
}

pub(super) fn int(node: &Node, path: &str) -> Result<Node> {
    match &node.value {
        Value::Int(_) => Ok(node.clone()),
        Value::Str(s) => s
            .trim()
            .parse::<i64>()
            .map(|i| Node::new(Value::Int(i), node.mark.clone()))
            .map_err(|_| err(&node.mark, path, format!("must be an integer, not {s:?}"))),
        _ => Err(err(
            &node.mark,
            path,
            format!("must be an integer, not {}", node.kind()),
        )),
    }
}

pub(super) fn boolean(node: &Node, path: &str) -> Result<Node> {
    match &node.value {
        Value::Bool(_) => Ok(node.clone()),
        Value::Str(s) => match s.to_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => {
                Ok(Node::new(Value::Bool(true), node.mark.clone()))
            }
            "false" | "no" | "n" | "off" | "0" => {
                Ok(Node::new(Value::Bool(false), node.mark.clone()))
            }
            _ => Err(err(
                &node.mark,
                path,
                format!("must be a boolean, not {s:?}"),
            )),
        },
        _ => Err(err(
            &node.mark,
            path,
            format!("must be a boolean, not {}", node.kind()),
        )),
    }
}

pub(super) fn float(node: &Node, path: &str) -> Result<Node> {
    match &node.value {
        Value::Float(_) => Ok(node.clone()),
        Value::Int(i) => Ok(Node::new(Value::Float(*i as f64), node.mark.clone())),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map(|f| Node::new(Value::Float(f), node.mark.clone()))
            .map_err(|_| err(&node.mark, path, format!("must be a number, not {s:?}"))),
        _ => Err(err(
            &node.mark,
            path,
            format!("must be a number, not {}", node.kind()),
        )),
    }
}

pub(super) fn text(node: &Node, path: &str) -> Result<Node> {
    node.scalar_text()
        .map(|t| Node::str(t, &node.mark))
        .ok_or_else(|| {
            err(
                &node.mark,
                path,
                format!("must be a string, not {}", node.kind()),
            )
        })
}

pub(super) fn mapping<'a>(node: &'a Node, path: &str) -> Result<&'a Vec<Entry>> {
    node.as_map().ok_or_else(|| {
        err(
            &node.mark,
            path,
            format!("must be a mapping, not {}", node.kind()),
        )
    })
}

/// Checks a mapping's keys against `allowed` (and `x-` extensions).
pub fn only_keys(node: &Node, path: &str, allowed: &[&str]) -> Result<()> {
    for e in mapping(node, path)? {
        if !allowed.contains(&e.key.as_str()) && !e.key.starts_with("x-") {
            return Err(err(
                &e.key_mark,
                &format!("{path}.{}", e.key),
                format!(
                    "unknown key {:?} (not in the Compose Specification; extensions start with x-)",
                    e.key
                ),
            ));
        }
    }
    Ok(())
}

/// Normalises the service at `path` (`services.<name>`).
pub fn service(node: &Node, path: &str, base_dir: &str) -> Result<Node> {
    let mark = &node.mark;
    let entries = match &node.value {
        Value::Null => return Ok(Node::map(Vec::new(), mark)),
        _ => mapping(node, path)?,
    };
    let mut out: Vec<Entry> = Vec::new();
    for e in entries {
        let key = e.key.as_str();
        let p = format!("{path}.{key}");
        let v = &e.value;
        let value = if key.starts_with("x-") || PASSTHROUGH.contains(&key) {
            v.clone()
        } else if STRINGS.contains(&key) {
            text(v, &p)?
        } else if BOOLS.contains(&key) {
            boolean(v, &p)?
        } else if LISTS.contains(&key) {
            string_list(v, &p)?
        } else {
            match key {
                "build" => build(v, &p, base_dir)?,
                "command" | "entrypoint" => command(v, &p)?,
                "environment" => map_or_list(v, &p, '=')?,
                "labels" | "sysctls" => map_or_list(v, &p, '=')?,
                "env_file" => env_file(v, &p, base_dir)?,
                "extra_hosts" => extra_hosts(v, &p)?,
                "ports" => super::mounts::ports(v, &p)?,
                "volumes" => super::mounts::volumes(v, &p, base_dir)?,
                "depends_on" => super::relations::depends_on(v, &p)?,
                "networks" => super::relations::networks(v, &p)?,
                "secrets" | "configs" => super::relations::file_refs(v, &p)?,
                "healthcheck" => super::relations::healthcheck(v, &p)?,
                "stop_grace_period" => duration(v, &p)?,
                "mem_limit" | "memswap_limit" | "mem_reservation" | "shm_size" => bytes(v, &p)?,
                "cpus" => float(v, &p)?,
                "pids_limit" | "scale" | "oom_score_adj" => int(v, &p)?,
                "ulimits" => super::relations::ulimits(v, &p)?,
                "logging" => {
                    only_keys(v, &p, &["driver", "options"])?;
                    let mut l = v.clone();
                    if let Some(o) = v.get("options") {
                        let o = map_or_list(o, &format!("{p}.options"), '=')?;
                        if let Some(slot) = l.get_mut("options") {
                            *slot = o;
                        }
                    }
                    l
                }
                "deploy" => super::relations::deploy(v, &p)?,
                "extends" => super::relations::extends(v, &p)?,
                _ => {
                    return Err(err(
                        &e.key_mark,
                        &p,
                        format!("unknown key {key:?} (not in the Compose Specification; extensions start with x-)"),
                    ))
                }
            }
        };
        let mut value = value;
        value.tag = v.tag.clone();
        out.push(entry(key, &e.key_mark, value));
    }
    Ok(Node::map(out, mark))
}

fn build(v: &Node, p: &str, base_dir: &str) -> Result<Node> {
    if let Some(ctx) = v.scalar_text() {
        let m = &v.mark;
        return Ok(Node::map(
            vec![
                entry(
                    "context",
                    m,
                    Node::str(syntax::resolve_path(&ctx, base_dir), m),
                ),
                entry("dockerfile", m, Node::str("Dockerfile", m)),
            ],
            m,
        ));
    }
    only_keys(
        v,
        p,
        &[
            "context",
            "dockerfile",
            "dockerfile_inline",
            "args",
            "ssh",
            "cache_from",
            "cache_to",
            "additional_contexts",
            "extra_hosts",
            "isolation",
            "labels",
            "network",
            "no_cache",
            "platforms",
            "privileged",
            "pull",
            "secrets",
            "shm_size",
            "tags",
            "target",
            "ulimits",
            "entitlements",
        ],
    )?;
    let mut out = Vec::new();
    let ctx = match v.get("context") {
        Some(c) => text(c, &format!("{p}.context"))?
            .scalar_text()
            .unwrap_or_default(),
        None => ".".into(),
    };
    let is_url = ctx.contains("://") || ctx.starts_with("git@");
    let ctx = if is_url {
        ctx
    } else {
        syntax::resolve_path(&ctx, base_dir)
    };
    out.push(entry("context", &v.mark, Node::str(ctx, &v.mark)));
    if v.get("dockerfile").is_none() && v.get("dockerfile_inline").is_none() {
        out.push(entry(
            "dockerfile",
            &v.mark,
            Node::str("Dockerfile", &v.mark),
        ));
    }
    for e in mapping(v, p)? {
        let ep = format!("{p}.{}", e.key);
        let value = match e.key.as_str() {
            "context" => continue,
            "args" | "labels" => map_or_list(&e.value, &ep, '=')?,
            "dockerfile" | "target" | "network" => text(&e.value, &ep)?,
            "cache_from" | "cache_to" | "tags" | "platforms" => string_list(&e.value, &ep)?,
            "secrets" => super::relations::file_refs(&e.value, &ep)?,
            "no_cache" | "pull" | "privileged" => boolean(&e.value, &ep)?,
            _ => e.value.clone(),
        };
        out.push(entry(&e.key, &e.key_mark, value));
    }
    Ok(Node::map(out, &v.mark))
}

fn command(v: &Node, p: &str) -> Result<Node> {
    match &v.value {
        Value::Null => Ok(v.clone()),
        Value::Seq(_) => string_list(v, p),
        _ => {
            let t = text(v, p)?.scalar_text().unwrap_or_default();
            let words = syntax::shell_split(&t).map_err(|m| err(&v.mark, p, m))?;
            Ok(Node::new(
                Value::Seq(words.into_iter().map(|w| Node::str(w, &v.mark)).collect()),
                v.mark.clone(),
            ))
        }
    }
}

fn env_file(v: &Node, p: &str, base_dir: &str) -> Result<Node> {
    let items = match &v.value {
        Value::Seq(items) => items.clone(),
        _ => vec![v.clone()],
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let (path, required) = match item.scalar_text() {
            Some(s) => (s, true),
            None => {
                only_keys(item, &ip, &["path", "required", "format"])?;
                let path = item
                    .get("path")
                    .and_then(Node::scalar_text)
                    .ok_or_else(|| err(&item.mark, &ip, "needs a path"))?;
                let required = match item.get("required") {
                    Some(r) => matches!(boolean(r, &ip)?.value, Value::Bool(true)),
                    None => true,
                };
                (path, required)
            }
        };
        let m = &item.mark;
        out.push(Node::map(
            vec![
                entry(
                    "path",
                    m,
                    Node::str(syntax::resolve_path(&path, base_dir), m),
                ),
                entry("required", m, Node::new(Value::Bool(required), m.clone())),
            ],
            m,
        ));
    }
    Ok(Node::new(Value::Seq(out), v.mark.clone()))
}

fn extra_hosts(v: &Node, p: &str) -> Result<Node> {
    let list = match &v.value {
        Value::Map(_) => {
            let m = map_or_list(v, p, '=')?;
            let items = m
                .as_map()
                .map(|es| {
                    es.iter()
                        .map(|e| {
                            Node::str(
                                format!("{}={}", e.key, e.value.scalar_text().unwrap_or_default()),
                                &e.key_mark,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Node::new(Value::Seq(items), v.mark.clone()));
        }
        _ => string_list(v, p)?,
    };
    let mut out = Vec::new();
    if let Value::Seq(items) = &list.value {
        for (i, item) in items.iter().enumerate() {
            let t = item.scalar_text().unwrap_or_default();
            // host:ip and host=ip are both allowed; IPv6 addresses contain colons.
            let (h, ip) = t
                .split_once('=')
                .or_else(|| t.split_once(':'))
                .ok_or_else(|| {
                    err(
                        &item.mark,
                        &format!("{p}[{i}]"),
                        format!("{t:?} must be host=ip"),
                    )
                })?;
            out.push(Node::str(format!("{h}={ip}"), &item.mark));
        }
    }
    Ok(Node::new(Value::Seq(out), v.mark.clone()))
}
