//! Ports and volumes of a service: short syntax expanded to the long form, long syntax checked.

use super::service::{entry, err, int, only_keys, text};
use super::syntax;
use crate::error::Result;
use crate::yaml::{Node, Value};

pub(super) fn ports(v: &Node, p: &str) -> Result<Node> {
    let Value::Seq(items) = &v.value else {
        return Err(err(&v.mark, p, format!("must be a list, not {}", v.kind())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let m = &item.mark;
        if let Some(t) = item.scalar_text().filter(|_| item.as_map().is_none()) {
            for port in syntax::parse_port(&t).map_err(|msg| err(m, &ip, msg))? {
                let mut es = vec![entry("mode", m, Node::str("ingress", m))];
                if let Some(h) = port.host_ip {
                    es.push(entry("host_ip", m, Node::str(h, m)));
                }
                es.push(entry(
                    "target",
                    m,
                    Node::new(Value::Int(i64::from(port.target)), m.clone()),
                ));
                if let Some(pb) = port.published {
                    es.push(entry("published", m, Node::str(pb, m)));
                }
                es.push(entry("protocol", m, Node::str(port.protocol, m)));
                out.push(Node::map(es, m));
            }
            continue;
        }
        only_keys(
            item,
            &ip,
            &[
                "name",
                "target",
                "published",
                "host_ip",
                "protocol",
                "mode",
                "app_protocol",
            ],
        )?;
        let target = item
            .get("target")
            .ok_or_else(|| err(m, &ip, "a long-syntax port needs a target"))?;
        let target = int(target, &format!("{ip}.target"))?;
        let mut es = vec![entry(
            "mode",
            m,
            match item.get("mode") {
                Some(x) => text(x, &format!("{ip}.mode"))?,
                None => Node::str("ingress", m),
            },
        )];
        if let Some(h) = item.get("host_ip") {
            es.push(entry("host_ip", m, text(h, &format!("{ip}.host_ip"))?));
        }
        es.push(entry("target", m, target));
        if let Some(pb) = item.get("published") {
            es.push(entry("published", m, text(pb, &format!("{ip}.published"))?));
        }
        let proto = match item.get("protocol") {
            Some(x) => text(x, &format!("{ip}.protocol"))?,
            None => Node::str("tcp", m),
        };
        es.push(entry("protocol", m, proto));
        if let Some(n) = item.get("name") {
            es.push(entry("name", m, text(n, &format!("{ip}.name"))?));
        }
        out.push(Node::map(es, m));
    }
    Ok(Node::new(Value::Seq(out), v.mark.clone()))
}

pub(super) fn volumes(v: &Node, p: &str, base_dir: &str) -> Result<Node> {
    let Value::Seq(items) = &v.value else {
        return Err(err(&v.mark, p, format!("must be a list, not {}", v.kind())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let m = &item.mark;
        if let Some(t) = item.as_str() {
            let vol = syntax::parse_volume(t, base_dir).map_err(|msg| err(m, &ip, msg))?;
            let mut es = vec![entry("type", m, Node::str(vol.kind, m))];
            if let Some(s) = &vol.source {
                es.push(entry("source", m, Node::str(s.clone(), m)));
            }
            es.push(entry("target", m, Node::str(vol.target, m)));
            if vol.read_only {
                es.push(entry(
                    "read_only",
                    m,
                    Node::new(Value::Bool(true), m.clone()),
                ));
            }
            if vol.kind == "bind" {
                // Compose's short syntax: the host path is created when missing; `z`/`Z` and
                // a propagation mode among the options go with the bind.
                let mut bind = vec![entry(
                    "create_host_path",
                    m,
                    Node::new(Value::Bool(true), m.clone()),
                )];
                for x in &vol.extra {
                    if matches!(x.as_str(), "z" | "Z") {
                        bind.push(entry("selinux", m, Node::str(x.clone(), m)));
                    } else if syntax::is_propagation(x) {
                        bind.push(entry("propagation", m, Node::str(x.clone(), m)));
                    }
                }
                es.push(entry("bind", m, Node::map(bind, m)));
            } else if vol.extra.iter().any(|x| x == "nocopy") {
                {
                    es.push(entry(
                        "volume",
                        m,
                        Node::map(
                            vec![entry("nocopy", m, Node::new(Value::Bool(true), m.clone()))],
                            m,
                        ),
                    ));
                }
            }
            out.push(Node::map(es, m));
            continue;
        }
        only_keys(
            item,
            &ip,
            &[
                "type",
                "source",
                "target",
                "read_only",
                "consistency",
                "bind",
                "volume",
                "tmpfs",
                "image",
            ],
        )?;
        let kind = item.get("type").and_then(Node::as_str).ok_or_else(|| {
            err(
                m,
                &ip,
                "a long-syntax volume needs a type (volume, bind, tmpfs, npipe, image)",
            )
        })?;
        if !matches!(
            kind,
            "volume" | "bind" | "tmpfs" | "npipe" | "image" | "cluster"
        ) {
            return Err(err(
                m,
                &format!("{ip}.type"),
                format!("unknown volume type {kind:?}"),
            ));
        }
        if item.get("target").and_then(Node::as_str).is_none() {
            return Err(err(m, &ip, "a long-syntax volume needs a target"));
        }
        let mut n = item.clone();
        if kind == "bind" {
            if let Some(src) = n.get_mut("source") {
                if let Some(s) = src.as_str() {
                    *src = Node::str(syntax::resolve_path(s, base_dir), &src.mark);
                }
            }
        }
        out.push(n);
    }
    Ok(Node::new(Value::Seq(out), v.mark.clone()))
}
