//! The keys of a service that point elsewhere or carry policy: depends_on, networks, secrets and
//! configs, healthcheck, ulimits, deploy, extends.

use super::service::{boolean, entry, err, float, int, mapping, only_keys, text};
use super::syntax::{bytes, duration, string_list};
use crate::error::Result;
use crate::yaml::{Mark, Node, Value};

pub(super) fn depends_on(v: &Node, p: &str) -> Result<Node> {
    let m = &v.mark;
    let mut out = Vec::new();
    let dep = |m: &Mark, cond: &str, restart: bool, required: bool| {
        Node::map(
            vec![
                entry("condition", m, Node::str(cond, m)),
                entry("required", m, Node::new(Value::Bool(required), m.clone())),
                entry("restart", m, Node::new(Value::Bool(restart), m.clone())),
            ],
            m,
        )
    };
    match &v.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.as_str().ok_or_else(|| {
                    err(&item.mark, &format!("{p}[{i}]"), "must be a service name")
                })?;
                out.push(entry(
                    name,
                    &item.mark,
                    dep(&item.mark, "service_started", false, true),
                ));
            }
        }
        Value::Map(entries) => {
            for e in entries {
                let ep = format!("{p}.{}", e.key);
                let em = &e.value.mark;
                if matches!(e.value.value, Value::Null) {
                    out.push(entry(
                        &e.key,
                        &e.key_mark,
                        dep(em, "service_started", false, true),
                    ));
                    continue;
                }
                only_keys(&e.value, &ep, &["condition", "restart", "required"])?;
                let cond = match e.value.get("condition") {
                    Some(c) => c.as_str().unwrap_or_default().to_string(),
                    None => "service_started".into(),
                };
                if !matches!(
                    cond.as_str(),
                    "service_started" | "service_healthy" | "service_completed_successfully"
                ) {
                    return Err(err(
                        em,
                        &format!("{ep}.condition"),
                        format!("unknown condition {cond:?} (service_started, service_healthy or service_completed_successfully)"),
                    ));
                }
                let flag = |k: &str, d: bool| -> Result<bool> {
                    match e.value.get(k) {
                        Some(x) => Ok(matches!(
                            boolean(x, &format!("{ep}.{k}"))?.value,
                            Value::Bool(true)
                        )),
                        None => Ok(d),
                    }
                };
                out.push(entry(
                    &e.key,
                    &e.key_mark,
                    dep(em, &cond, flag("restart", false)?, flag("required", true)?),
                ));
            }
        }
        _ => {
            return Err(err(
                m,
                p,
                format!("must be a list or a mapping, not {}", v.kind()),
            ))
        }
    }
    Ok(Node::map(out, m))
}

pub(super) fn networks(v: &Node, p: &str) -> Result<Node> {
    let m = &v.mark;
    let mut out = Vec::new();
    match &v.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.as_str().ok_or_else(|| {
                    err(&item.mark, &format!("{p}[{i}]"), "must be a network name")
                })?;
                out.push(entry(
                    name,
                    &item.mark,
                    Node::new(Value::Null, item.mark.clone()),
                ));
            }
        }
        Value::Map(entries) => {
            for e in entries {
                let ep = format!("{p}.{}", e.key);
                if !matches!(e.value.value, Value::Null) {
                    only_keys(
                        &e.value,
                        &ep,
                        &[
                            "aliases",
                            "ipv4_address",
                            "ipv6_address",
                            "link_local_ips",
                            "mac_address",
                            "priority",
                            "gw_priority",
                            "driver_opts",
                            "interface_name",
                        ],
                    )?;
                }
                let mut n = e.value.clone();
                if let Some(a) = e.value.get("aliases") {
                    let a = string_list(a, &format!("{ep}.aliases"))?;
                    if let Some(slot) = n.get_mut("aliases") {
                        *slot = a;
                    }
                }
                out.push(entry(&e.key, &e.key_mark, n));
            }
        }
        _ => {
            return Err(err(
                m,
                p,
                format!("must be a list or a mapping, not {}", v.kind()),
            ))
        }
    }
    Ok(Node::map(out, m))
}

pub(super) fn file_refs(v: &Node, p: &str) -> Result<Node> {
    let Value::Seq(items) = &v.value else {
        return Err(err(&v.mark, p, format!("must be a list, not {}", v.kind())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        if let Some(s) = item.as_str() {
            out.push(Node::map(
                vec![entry("source", &item.mark, Node::str(s, &item.mark))],
                &item.mark,
            ));
            continue;
        }
        only_keys(item, &ip, &["source", "target", "uid", "gid", "mode"])?;
        if item.get("source").and_then(Node::as_str).is_none() {
            return Err(err(&item.mark, &ip, "needs a source"));
        }
        out.push(item.clone());
    }
    Ok(Node::new(Value::Seq(out), v.mark.clone()))
}

pub(super) fn healthcheck(v: &Node, p: &str) -> Result<Node> {
    only_keys(
        v,
        p,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
    )?;
    let mut out = Vec::new();
    for e in mapping(v, p)? {
        let ep = format!("{p}.{}", e.key);
        let value = match e.key.as_str() {
            "test" => match &e.value.value {
                Value::Seq(_) => string_list(&e.value, &ep)?,
                _ => {
                    let t = text(&e.value, &ep)?;
                    let m = &e.value.mark;
                    Node::new(Value::Seq(vec![Node::str("CMD-SHELL", m), t]), m.clone())
                }
            },
            "interval" | "timeout" | "start_period" | "start_interval" => duration(&e.value, &ep)?,
            "retries" => int(&e.value, &ep)?,
            "disable" => boolean(&e.value, &ep)?,
            _ => e.value.clone(),
        };
        out.push(entry(&e.key, &e.key_mark, value));
    }
    Ok(Node::map(out, &v.mark))
}

pub(super) fn ulimits(v: &Node, p: &str) -> Result<Node> {
    let mut out = Vec::new();
    for e in mapping(v, p)? {
        let ep = format!("{p}.{}", e.key);
        let value = match &e.value.value {
            Value::Map(_) => {
                only_keys(&e.value, &ep, &["soft", "hard"])?;
                let soft = e
                    .value
                    .get("soft")
                    .ok_or_else(|| err(&e.value.mark, &ep, "needs soft"))?;
                let hard = e
                    .value
                    .get("hard")
                    .ok_or_else(|| err(&e.value.mark, &ep, "needs hard"))?;
                let m = &e.value.mark;
                Node::map(
                    vec![
                        entry("soft", m, int(soft, &format!("{ep}.soft"))?),
                        entry("hard", m, int(hard, &format!("{ep}.hard"))?),
                    ],
                    m,
                )
            }
            _ => int(&e.value, &ep)?,
        };
        out.push(entry(&e.key, &e.key_mark, value));
    }
    Ok(Node::map(out, &v.mark))
}

pub(super) fn deploy(v: &Node, p: &str) -> Result<Node> {
    only_keys(
        v,
        p,
        &[
            "mode",
            "replicas",
            "labels",
            "resources",
            "restart_policy",
            "placement",
            "update_config",
            "rollback_config",
            "endpoint_mode",
        ],
    )?;
    let mut n = v.clone();
    if let Some(r) = v.get("replicas") {
        let r = int(r, &format!("{p}.replicas"))?;
        if let Some(slot) = n.get_mut("replicas") {
            *slot = r;
        }
    }
    if let Some(res) = v.get("resources") {
        let rp = format!("{p}.resources");
        only_keys(res, &rp, &["limits", "reservations"])?;
        for part in ["limits", "reservations"] {
            let Some(lim) = res.get(part) else { continue };
            let lp = format!("{rp}.{part}");
            only_keys(
                lim,
                &lp,
                &["cpus", "memory", "pids", "devices", "generic_resources"],
            )?;
            let mut lim_out = lim.clone();
            if let Some(c) = lim.get("cpus") {
                let c = float(c, &format!("{lp}.cpus"))?;
                if let Some(slot) = lim_out.get_mut("cpus") {
                    *slot = c;
                }
            }
            if let Some(mem) = lim.get("memory") {
                let mem = bytes(mem, &format!("{lp}.memory"))?;
                if let Some(slot) = lim_out.get_mut("memory") {
                    *slot = mem;
                }
            }
            if let Some(slot) = n.get_mut("resources").and_then(|r| r.get_mut(part)) {
                *slot = lim_out;
            }
        }
    }
    Ok(n)
}

pub(super) fn extends(v: &Node, p: &str) -> Result<Node> {
    if let Some(s) = v.as_str() {
        return Ok(Node::map(
            vec![entry("service", &v.mark, Node::str(s, &v.mark))],
            &v.mark,
        ));
    }
    only_keys(v, p, &["service", "file"])?;
    if v.get("service").and_then(Node::as_str).is_none() {
        return Err(err(&v.mark, p, "needs the name of the service to extend"));
    }
    Ok(v.clone())
}
