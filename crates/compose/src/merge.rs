//! Merging normalised compose files (`-f a.yml -f b.yml`, override files, `extends`) by the
//! Compose Specification's rules: mappings merge key by key, scalars are replaced; command,
//! entrypoint and healthcheck.test are replaced whole; ports, volumes, secrets and configs merge
//! by their identity (a later entry for the same target replaces the earlier one); other lists
//! append what is not there yet. `!reset` removes a value, `!override` replaces it whole.

use crate::yaml::{Entry, Node, Value};

/// Merges `over` onto `base` (both normalised files or services).
pub fn merge(base: &Node, over: &Node) -> Node {
    merge_at(base, over, "")
}

/// The rule-bearing shape of a path: service, network... names replaced by `*`.
fn shape(path: &str, key: &str) -> String {
    let p = if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    };
    let parts: Vec<&str> = p.split('.').collect();
    let named = ["services", "networks", "volumes", "secrets", "configs"];
    if parts.len() >= 2 && named.contains(&parts[0]) {
        let mut v = vec![parts[0], "*"];
        v.extend(&parts[2..]);
        return v.join(".");
    }
    p
}

fn identity(path: &str, item: &Node) -> Option<String> {
    let field = |k: &str| item.get(k).and_then(Node::scalar_text).unwrap_or_default();
    match path.trim_start_matches("services.*.") {
        "ports" => Some(format!(
            "{}|{}|{}|{}",
            field("host_ip"),
            field("target"),
            field("published"),
            field("protocol")
        )),
        "volumes" => Some(field("target")),
        "secrets" | "configs" | "build.secrets" => {
            let t = field("target");
            Some(if t.is_empty() { field("source") } else { t })
        }
        "env_file" => Some(field("path")),
        _ => None,
    }
}

fn merge_at(base: &Node, over: &Node, path: &str) -> Node {
    if over.tag.as_deref() == Some("override") {
        let mut o = over.clone();
        o.tag = None;
        return o;
    }
    let replace_whole = matches!(
        path,
        "services.*.command" | "services.*.entrypoint" | "services.*.healthcheck.test"
    );
    match (&base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) if !replace_whole => {
            let mut out: Vec<Entry> = b.clone();
            for e in o {
                let p = shape(path, &e.key);
                if e.value.tag.as_deref() == Some("reset") {
                    out.retain(|x| x.key != e.key);
                    continue;
                }
                match out.iter_mut().find(|x| x.key == e.key) {
                    Some(x) => x.value = merge_at(&x.value, &e.value, &p),
                    None => {
                        let mut v = e.value.clone();
                        v.tag = None;
                        out.push(Entry {
                            key: e.key.clone(),
                            key_mark: e.key_mark.clone(),
                            value: v,
                        })
                    }
                }
            }
            Node::map(out, &over.mark)
        }
        (Value::Seq(b), Value::Seq(o)) if !replace_whole => {
            let mut out = b.clone();
            for item in o {
                match identity(path, item) {
                    Some(id) => {
                        match out
                            .iter_mut()
                            .find(|x| identity(path, x).as_deref() == Some(&id))
                        {
                            Some(slot) => *slot = item.clone(),
                            None => out.push(item.clone()),
                        }
                    }
                    None => {
                        if !out.iter().any(|x| x.value == item.value) {
                            out.push(item.clone());
                        }
                    }
                }
            }
            Node::new(Value::Seq(out), over.mark.clone())
        }
        _ => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Node {
        let n = crate::yaml::parse(text, "f.yml").unwrap_or_else(|e| panic!("{e}"));
        crate::normalize::file(&n, "/p").unwrap_or_else(|e| panic!("{e}"))
    }

    fn svc(n: &Node) -> serde_json::Value {
        n.get("services")
            .and_then(|s| s.get("web"))
            .map(Node::to_json)
            .unwrap_or_default()
    }

    #[test]
    fn scalars_replace_and_maps_merge() {
        let a = norm("services:\n  web:\n    image: a\n    environment: {A: '1', B: '2'}\n    labels: [x=1]\n");
        let b = norm("services:\n  web:\n    image: b\n    environment: [B=3, C=4]\n");
        let m = svc(&merge(&a, &b));
        assert_eq!(m["image"], "b");
        assert_eq!(
            m["environment"],
            serde_json::json!({"A": "1", "B": "3", "C": "4"})
        );
        assert_eq!(m["labels"], serde_json::json!({"x": "1"}));
    }

    #[test]
    fn commands_replace_and_lists_append() {
        let a = norm("services:\n  web:\n    command: a b\n    dns: [1.1.1.1]\n    healthcheck: {test: [CMD, a], retries: 3}\n");
        let b = norm("services:\n  web:\n    command: [c]\n    dns: [8.8.8.8, 1.1.1.1]\n    healthcheck: {test: x}\n");
        let m = svc(&merge(&a, &b));
        assert_eq!(m["command"], serde_json::json!(["c"]));
        assert_eq!(m["dns"], serde_json::json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(
            m["healthcheck"]["test"],
            serde_json::json!(["CMD-SHELL", "x"])
        );
        assert_eq!(m["healthcheck"]["retries"], 3);
    }

    #[test]
    fn ports_and_volumes_merge_by_identity() {
        let a =
            norm("services:\n  web:\n    ports: ['8080:80']\n    volumes: ['./a:/data', 'v:/x']\n");
        let b = norm(
            "services:\n  web:\n    ports: ['8080:80', '9090:90']\n    volumes: ['./b:/data:ro']\n",
        );
        let m = svc(&merge(&a, &b));
        assert_eq!(m["ports"].as_array().map(Vec::len), Some(2));
        let vols = m["volumes"].as_array().cloned().unwrap_or_default();
        assert_eq!(vols.len(), 2);
        assert_eq!(vols[0]["source"], "/p/b");
        assert_eq!(vols[0]["read_only"], true);
    }

    #[test]
    fn reset_and_override_tags() {
        let a =
            norm("services:\n  web:\n    image: a\n    ports: ['80']\n    environment: {A: '1'}\n");
        let b =
            norm("services:\n  web:\n    ports: !reset []\n    environment: !override {B: '2'}\n");
        let m = svc(&merge(&a, &b));
        assert!(m.get("ports").is_none());
        assert_eq!(m["environment"], serde_json::json!({"B": "2"}));
    }

    #[test]
    fn new_services_and_networks_are_added() {
        let a = norm("services:\n  web: {image: a}\n");
        let b = norm("services:\n  db: {image: d}\nnetworks:\n  back: {}\n");
        let m = merge(&a, &b).to_json();
        assert!(m["services"]["db"].is_object());
        assert!(m["services"]["web"].is_object());
        assert!(m["networks"]["back"].is_object());
    }
}
