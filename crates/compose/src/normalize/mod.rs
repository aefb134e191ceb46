//! One compose file, after interpolation, checked against the Compose Specification and brought
//! to its long form: the top-level keys here, services in [`service`], short syntaxes in
//! [`syntax`]. Each file is normalised alone, so that merging works on one shape.

mod mounts;
mod relations;
pub mod service;
pub mod syntax;

use crate::error::{LoadError, Result};
use crate::yaml::{Entry, Node, Value};
use service::only_keys;

const TOP: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include",
];

/// Normalises a whole file; `base_dir` resolves relative paths.
pub fn file(node: &Node, base_dir: &str) -> Result<Node> {
    if matches!(node.value, Value::Null) {
        return Ok(Node::map(Vec::new(), &node.mark));
    }
    only_keys(node, "", TOP).map_err(|e| match e {
        LoadError::Schema {
            mark,
            path,
            message,
        } => LoadError::Schema {
            mark,
            path: path.trim_start_matches('.').to_string(),
            message,
        },
        other => other,
    })?;
    let mut out = Vec::new();
    for e in node.as_map().into_iter().flatten() {
        let p = e.key.clone();
        let value = match e.key.as_str() {
            "services" => each(&e.value, &p, |n, ep| service::service(n, ep, base_dir))?,
            "networks" => each(&e.value, &p, network)?,
            "volumes" => each(&e.value, &p, volume)?,
            "secrets" | "configs" => each(&e.value, &p, |n, ep| file_object(n, ep, base_dir))?,
            "name" | "version" => match e.value.scalar_text() {
                Some(t) => Node::str(t, &e.value.mark),
                None => return Err(LoadError::schema(&e.value.mark, &p, "must be a string")),
            },
            _ => e.value.clone(),
        };
        out.push(Entry {
            key: e.key.clone(),
            key_mark: e.key_mark.clone(),
            value,
        });
    }
    Ok(Node::map(out, &node.mark))
}

fn each(node: &Node, path: &str, f: impl Fn(&Node, &str) -> Result<Node>) -> Result<Node> {
    let entries = match &node.value {
        Value::Null => return Ok(Node::map(Vec::new(), &node.mark)),
        Value::Map(entries) => entries,
        _ => {
            return Err(LoadError::schema(
                &node.mark,
                path,
                format!("must be a mapping, not {}", node.kind()),
            ))
        }
    };
    let mut out = Vec::new();
    for e in entries {
        let value = if e.key.starts_with("x-") {
            e.value.clone()
        } else {
            let mut v = f(&e.value, &format!("{path}.{}", e.key))?;
            v.tag = e.value.tag.clone();
            v
        };
        out.push(Entry {
            key: e.key.clone(),
            key_mark: e.key_mark.clone(),
            value,
        });
    }
    Ok(Node::map(out, &node.mark))
}

fn labels_in(node: &Node, path: &str) -> Result<Node> {
    let mut n = node.clone();
    for k in ["labels", "driver_opts"] {
        if let Some(l) = node.get(k) {
            let l = syntax::map_or_list(l, &format!("{path}.{k}"), '=')?;
            if let Some(slot) = n.get_mut(k) {
                *slot = l;
            }
        }
    }
    if let Some(ext) = node.get("external") {
        // external: {name: x} is the old form of external: true + name: x.
        if let Some(name) = ext.get("name").cloned() {
            if let Some(m) = n.as_map_mut() {
                m.retain(|e| e.key != "name");
                for e in m.iter_mut() {
                    if e.key == "external" {
                        e.value = Node::new(Value::Bool(true), e.value.mark.clone());
                    }
                }
                m.push(Entry {
                    key: "name".into(),
                    key_mark: name.mark.clone(),
                    value: name,
                });
            }
        } else if !matches!(ext.value, Value::Bool(_)) {
            return Err(LoadError::schema(
                &ext.mark,
                &format!("{path}.external"),
                "must be true or false",
            ));
        }
    }
    Ok(n)
}

fn network(node: &Node, path: &str) -> Result<Node> {
    if matches!(node.value, Value::Null) {
        return Ok(Node::map(Vec::new(), &node.mark));
    }
    only_keys(
        node,
        path,
        &[
            "driver",
            "driver_opts",
            "attachable",
            "enable_ipv4",
            "enable_ipv6",
            "ipam",
            "internal",
            "labels",
            "external",
            "name",
        ],
    )?;
    labels_in(node, path)
}

fn volume(node: &Node, path: &str) -> Result<Node> {
    if matches!(node.value, Value::Null) {
        return Ok(Node::map(Vec::new(), &node.mark));
    }
    only_keys(
        node,
        path,
        &["driver", "driver_opts", "external", "labels", "name"],
    )?;
    labels_in(node, path)
}

fn file_object(node: &Node, path: &str, base_dir: &str) -> Result<Node> {
    only_keys(
        node,
        path,
        &[
            "file",
            "environment",
            "content",
            "external",
            "name",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
        ],
    )?;
    let mut n = labels_in(node, path)?;
    let sources = ["file", "environment", "content", "external"]
        .iter()
        .filter(|k| node.get(k).is_some())
        .count();
    if sources == 0 {
        return Err(LoadError::schema(
            &node.mark,
            path,
            "needs a source: file, environment, content or external",
        ));
    }
    if let Some(f) = n.get_mut("file") {
        if let Some(s) = f.as_str() {
            *f = Node::str(syntax::resolve_path(s, base_dir), &f.mark);
        }
    }
    Ok(n)
}
