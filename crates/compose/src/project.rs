//! The last step of loading: profiles applied, defaults filled in as Compose does (the `default`
//! network, engine names `<project>_<key>` for networks and volumes, `env_file` contents under
//! `environment`, the `env_file` key then dropped), references checked (image or build,
//! depends_on, networks, named volumes, secrets and configs, dependency cycles), keys put in
//! Compose v2's order for `config` ([`crate::order`]), and the typed [`Project`] built.

use crate::error::{LoadError, Result};
use crate::loader::{decode, set};
use crate::model::{FileObject, Network, Project, Service, Volume};
use crate::yaml::{Entry, Node, Value};
use std::collections::BTreeMap;

fn sorted(node: &Node) -> Node {
    match &node.value {
        Value::Map(entries) => {
            let mut es: Vec<Entry> = entries
                .iter()
                .map(|e| Entry {
                    key: e.key.clone(),
                    key_mark: e.key_mark.clone(),
                    value: sorted(&e.value),
                })
                .collect();
            es.sort_by(|a, b| a.key.cmp(&b.key));
            Node::map(es, &node.mark)
        }
        // List items (ports, volumes) keep their long-syntax field order.
        Value::Seq(_) => node.clone(),
        _ => node.clone(),
    }
}

/// Services in dependency order (dependencies first; ties by name). A cycle is an error that
/// names the services in it.
pub fn dependency_order(
    deps: &BTreeMap<String, Vec<String>>,
) -> std::result::Result<Vec<String>, String> {
    let mut done: Vec<String> = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        n: &'a str,
        deps: &'a BTreeMap<String, Vec<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        done: &mut Vec<String>,
    ) -> std::result::Result<(), String> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle: Vec<&str> = stack[start..].to_vec();
                cycle.push(n);
                return Err(cycle.join(" -> "));
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if deps.contains_key(d) {
                visit(d, deps, state, stack, done)?;
            }
        }
        stack.pop();
        state.insert(n, 2);
        done.push(n.to_string());
        Ok(())
    }
    for n in deps.keys() {
        visit(n, deps, &mut state, &mut Vec::new(), &mut done)?;
    }
    Ok(done)
}

/// Builds the project from the merged, extended model.
/// `volumes_from: [svc]` makes `svc` a dependency started first (`service_started`, required),
/// as Compose adds it to `depends_on`; `container:name` sources are outside the project.
fn volumes_from_dependencies(svc: &mut Node) {
    let sources: Vec<String> = svc
        .get("volumes_from")
        .and_then(|v| match &v.value {
            Value::Seq(items) => Some(items.iter().filter_map(Node::scalar_text).collect()),
            _ => None,
        })
        .unwrap_or_default();
    let m = svc.mark.clone();
    let mut deps = svc
        .get("depends_on")
        .cloned()
        .unwrap_or_else(|| Node::map(Vec::new(), &m));
    let mut added = false;
    for source in sources.iter().filter(|s| !s.starts_with("container:")) {
        let name = source.split(':').next().unwrap_or_default();
        if deps.get(name).is_some() {
            continue;
        }
        let field = |k: &str, v: Value| Entry {
            key: k.into(),
            key_mark: m.clone(),
            value: Node::new(v, m.clone()),
        };
        let dep = Node::map(
            vec![
                field("condition", Value::Str("service_started".into())),
                field("required", Value::Bool(true)),
                field("restart", Value::Bool(false)),
            ],
            &m,
        );
        set(&mut deps, name, dep);
        added = true;
    }
    if added {
        set(svc, "depends_on", deps);
    }
}

pub fn finish(
    mut model: Node,
    name: String,
    working_dir: String,
    config_files: Vec<String>,
    profiles: &[String],
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Project> {
    let mark = model.mark.clone();
    let all = profiles.iter().any(|p| p == "*");
    let services_node = model
        .get("services")
        .cloned()
        .unwrap_or_else(|| Node::map(Vec::new(), &mark));
    let mut enabled: Vec<Entry> = Vec::new();
    let mut disabled = Vec::new();
    for e in services_node.as_map().into_iter().flatten() {
        if e.key.starts_with("x-") {
            continue;
        }
        let svc_profiles: Vec<String> = e
            .value
            .get("profiles")
            .and_then(|p| match &p.value {
                Value::Seq(items) => Some(items.iter().filter_map(Node::scalar_text).collect()),
                _ => None,
            })
            .unwrap_or_default();
        if svc_profiles.is_empty() || all || svc_profiles.iter().any(|p| profiles.contains(p)) {
            enabled.push(e.clone());
        } else {
            disabled.push(e.key.clone());
        }
    }
    if enabled.is_empty() && disabled.is_empty() {
        return Err(LoadError::Project(format!(
            "{}: no service is defined (a compose file needs a services: section)",
            config_files.join(", ")
        )));
    }

    let mut uses_default = false;
    for e in enabled.iter_mut() {
        let path = format!("services.{}", e.key);
        let svc = &mut e.value;
        if svc.get("image").is_none() && svc.get("build").is_none() {
            return Err(LoadError::schema(
                &e.key_mark,
                &path,
                "has neither an image nor a build context",
            ));
        }
        if svc.get("networks").is_none() && svc.get("network_mode").is_none() {
            let m = svc.mark.clone();
            set(
                svc,
                "networks",
                Node::map(
                    vec![Entry {
                        key: "default".into(),
                        key_mark: m.clone(),
                        value: Node::new(Value::Null, m.clone()),
                    }],
                    &m,
                ),
            );
        }
        if svc.get("networks").and_then(|n| n.get("default")).is_some() {
            uses_default = true;
        }
        // env_file contents go under environment (environment wins).
        if let Some(Value::Seq(files)) = svc.get("env_file").map(|f| f.value.clone()) {
            let mut env: Vec<Entry> = Vec::new();
            for f in files {
                let path_text = f
                    .get("path")
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_string();
                let required = !matches!(
                    f.get("required").map(|r| &r.value),
                    Some(Value::Bool(false))
                );
                let text = match std::fs::read_to_string(&path_text) {
                    Ok(t) => t,
                    Err(_) if !required => continue,
                    Err(err) => {
                        return Err(LoadError::schema(
                            &f.mark,
                            &format!("{path}.env_file"),
                            format!("cannot read {path_text}: {err}"),
                        ))
                    }
                };
                for (k, v) in crate::envfile::parse(&text, &path_text, vars)? {
                    env.retain(|x| x.key != k);
                    let value = match v {
                        Some(v) => Node::str(v, &f.mark),
                        None => Node::new(Value::Null, f.mark.clone()),
                    };
                    env.push(Entry {
                        key: k,
                        key_mark: f.mark.clone(),
                        value,
                    });
                }
            }
            let merged = match svc.get("environment") {
                Some(have) => crate::merge::merge(&Node::map(env, &svc.mark), have),
                None => Node::map(env, &svc.mark),
            };
            set(svc, "environment", merged);
            // Merged: `config` shows the variables, not the files (as Compose v2).
            if let Some(m) = svc.as_map_mut() {
                m.retain(|e| e.key != "env_file");
            }
        }
    }
    let names: Vec<String> = enabled.iter().map(|e| e.key.clone()).collect();

    // Top-level networks and volumes with their engine names.
    let mut networks_node = model
        .get("networks")
        .cloned()
        .unwrap_or_else(|| Node::map(Vec::new(), &mark));
    if uses_default && networks_node.get("default").is_none() {
        set(&mut networks_node, "default", Node::map(Vec::new(), &mark));
    }
    let mut volumes_node = model
        .get("volumes")
        .cloned()
        .unwrap_or_else(|| Node::map(Vec::new(), &mark));
    for (node, _) in [
        (&mut networks_node, "networks"),
        (&mut volumes_node, "volumes"),
    ] {
        if let Some(m) = node.as_map_mut() {
            m.retain(|e| !e.key.starts_with("x-"));
            for e in m.iter_mut() {
                if e.value.get("name").is_none() {
                    let external = matches!(
                        e.value.get("external").map(|x| &x.value),
                        Some(Value::Bool(true))
                    );
                    let engine = if external {
                        e.key.clone()
                    } else {
                        format!("{name}_{}", e.key)
                    };
                    let m = e.value.mark.clone();
                    set(&mut e.value, "name", Node::str(engine, &m));
                }
            }
        }
    }

    for e in enabled.iter_mut() {
        volumes_from_dependencies(&mut e.value);
    }

    // References.
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &enabled {
        let path = format!("services.{}", e.key);
        let mut mine = Vec::new();
        for d in e
            .value
            .get("depends_on")
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
        {
            let required = !matches!(
                d.value.get("required").map(|r| &r.value),
                Some(Value::Bool(false))
            );
            if names.contains(&d.key) {
                mine.push(d.key.clone());
            } else if required {
                let why = if disabled.contains(&d.key) {
                    "is not enabled by the active profiles"
                } else {
                    "is not defined"
                };
                return Err(LoadError::schema(
                    &d.key_mark,
                    &format!("{path}.depends_on"),
                    format!("service {:?} {why}", d.key),
                ));
            }
        }
        deps.insert(e.key.clone(), mine);
        for n in e
            .value
            .get("networks")
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
        {
            if networks_node.get(&n.key).is_none() {
                return Err(LoadError::schema(
                    &n.key_mark,
                    &format!("{path}.networks"),
                    format!(
                        "network {:?} is not defined in the top-level networks:",
                        n.key
                    ),
                ));
            }
        }
        for (i, v) in e
            .value
            .get("volumes")
            .and_then(|v| match &v.value {
                Value::Seq(s) => Some(s.clone()),
                _ => None,
            })
            .into_iter()
            .flatten()
            .enumerate()
        {
            if v.get("type").and_then(Node::as_str) == Some("volume") {
                if let Some(src) = v.get("source").and_then(Node::as_str) {
                    if volumes_node.get(src).is_none() {
                        return Err(LoadError::schema(
                            &v.mark,
                            &format!("{path}.volumes[{i}]"),
                            format!(
                                "named volume {src:?} is not declared in the top-level volumes:"
                            ),
                        ));
                    }
                }
            }
        }
    }
    let mut objects: [BTreeMap<String, FileObject>; 2] = Default::default();
    for (i, k) in ["secrets", "configs"].iter().enumerate() {
        for e in model.get(k).and_then(Node::as_map).into_iter().flatten() {
            if e.key.starts_with("x-") {
                continue;
            }
            let mut o: FileObject = decode(&e.value.to_json(), &format!("{k}.{}", e.key))?;
            if let Some(var) = &o.environment {
                match vars(var) {
                    Some(v) => o.content = Some(v),
                    None => {
                        return Err(LoadError::schema(
                            &e.value.mark,
                            &format!("{k}.{}.environment", e.key),
                            format!("environment variable {var} is not set"),
                        ))
                    }
                }
            }
            objects[i].insert(e.key.clone(), o);
        }
        for svc in &enabled {
            let refs = svc.value.get(k).and_then(|v| match &v.value {
                Value::Seq(items) => Some(items.clone()),
                _ => None,
            });
            for (j, r) in refs.into_iter().flatten().enumerate() {
                let src = r.get("source").and_then(Node::as_str).unwrap_or_default();
                if !objects[i].contains_key(src) {
                    return Err(LoadError::schema(
                        &r.mark,
                        &format!("services.{}.{k}[{j}]", svc.key),
                        format!("{src:?} is not declared in the top-level {k}:"),
                    ));
                }
            }
        }
    }
    let [secrets, configs] = objects;
    dependency_order(&deps).map_err(|cycle| {
        LoadError::Project(format!("dependency cycle between services: {cycle}"))
    })?;

    // The tree `config` prints.
    let mut tree = Node::map(
        vec![Entry {
            key: "name".into(),
            key_mark: mark.clone(),
            value: Node::str(name.clone(), &mark),
        }],
        &mark,
    );
    set(
        &mut tree,
        "services",
        sorted(&Node::map(enabled.clone(), &mark)),
    );
    for (k, n) in [("networks", &networks_node), ("volumes", &volumes_node)] {
        if n.as_map().is_some_and(|m| !m.is_empty()) {
            set(&mut tree, k, sorted(n));
        }
    }
    for k in ["secrets", "configs"] {
        if let Some(n) = model.get(k) {
            set(&mut tree, k, sorted(n));
        }
    }
    for e in model.as_map().into_iter().flatten() {
        if e.key.starts_with("x-") {
            set(&mut tree, &e.key.clone(), e.value.clone());
        }
    }
    let tree = crate::order::arrange(&tree, crate::order::Kind::Top);
    if let Some(m) = model.as_map_mut() {
        m.clear();
    }

    let mut services = Vec::new();
    for e in &enabled {
        let raw = sorted(&e.value).to_json();
        let mut s: Service = decode(&raw, &format!("services.{}", e.key))?;
        s.name = e.key.clone();
        s.raw = raw;
        services.push(s);
    }
    let mut networks = BTreeMap::new();
    for e in networks_node.as_map().into_iter().flatten() {
        let n: Network = decode(&e.value.to_json(), &format!("networks.{}", e.key))?;
        networks.insert(e.key.clone(), n);
    }
    let mut volumes = BTreeMap::new();
    for e in volumes_node.as_map().into_iter().flatten() {
        let v: Volume = decode(&e.value.to_json(), &format!("volumes.{}", e.key))?;
        volumes.insert(e.key.clone(), v);
    }
    Ok(Project {
        name,
        working_dir,
        config_files,
        services,
        networks,
        volumes,
        secrets,
        configs,
        data_dir: String::new(),
        disabled,
        tree,
    })
}
