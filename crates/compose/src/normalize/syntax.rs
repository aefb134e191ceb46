//! The short syntaxes of the Compose Specification turned into their long forms, one pure
//! function each: ports (`[ip:][published:]target[/proto]`, ranges), volumes
//! (`source:target[:mode]`), shell command strings, Go durations, byte sizes, and the
//! list-or-mapping forms of environment, labels and the like.

use crate::error::{LoadError, Result};
use crate::yaml::{Entry, Mark, Node, Value};

/// A port mapping in long form (`ports:` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub host_ip: Option<String>,
    pub target: u16,
    pub published: Option<String>,
    pub protocol: String,
}

/// Parses one short-syntax port; a range gives several entries.
pub fn parse_port(text: &str) -> std::result::Result<Vec<Port>, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, p)) => (s, p.to_lowercase()),
        None => (text, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {protocol:?} in port {text:?}"));
    }
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (host_ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| format!("invalid IPv6 address in port {text:?}"))?;
        let after = after.strip_prefix(':').unwrap_or(after);
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec),
            3 => (Some(parts[0].to_string()), &spec[parts[0].len() + 1..]),
            _ => return Err(format!("invalid port {text:?}")),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    let range = |s: &str| -> std::result::Result<(u16, u16), String> {
        let num = |x: &str| {
            x.parse::<u16>()
                .map_err(|_| format!("invalid port number {x:?} in {text:?}"))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(format!("invalid port range {s:?} in {text:?}"));
                }
                Ok((a, b))
            }
            None => {
                let a = num(s)?;
                Ok((a, a))
            }
        }
    };
    let (t0, t1) = range(target)?;
    let published = published.filter(|p| !p.is_empty());
    let pub_range = published.map(range).transpose()?;
    let count = usize::from(t1 - t0) + 1;
    if let Some((p0, p1)) = pub_range {
        let pc = usize::from(p1 - p0) + 1;
        if pc != count && !(count == 1 && pc > 1) {
            return Err(format!(
                "port ranges don't match in {text:?}: {pc} published for {count} targets"
            ));
        }
    }
    let host_ip = host_ip.filter(|h| !h.is_empty());
    let mut out = Vec::new();
    for i in 0..count {
        let target = t0 + i as u16;
        let published = match pub_range {
            None => None,
            Some((p0, p1)) if count == 1 && p1 > p0 => Some(format!("{p0}-{p1}")),
            Some((p0, _)) => Some((p0 + i as u16).to_string()),
        };
        out.push(Port {
            host_ip: host_ip.clone(),
            target,
            published,
            protocol: protocol.clone(),
        });
    }
    Ok(out)
}

/// A volume mount in long form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub kind: &'static str,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub extra: Vec<String>,
}

/// Parses a short-syntax volume (`/data`, `name:/data`, `./dir:/data:ro`); relative and `~`
/// sources are binds resolved against `base_dir`.
pub fn parse_volume(text: &str, base_dir: &str) -> std::result::Result<Volume, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => {
            return Err(format!(
                "invalid volume specification {text:?}: too many colons"
            ))
        }
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(format!(
            "invalid volume specification {text:?}: the container path must be absolute"
        ));
    }
    let mut read_only = false;
    let mut extra = Vec::new();
    for m in mode.into_iter().flat_map(|m| m.split(',')) {
        match m {
            "ro" => read_only = true,
            "rw" => {}
            "" => {}
            other => extra.push(other.to_string()),
        }
    }
    let (kind, source) = match source {
        None => ("volume", None),
        Some(s) if s.starts_with('/') => ("bind", Some(s.to_string())),
        Some(s) if s.starts_with('.') || s.starts_with('~') => {
            ("bind", Some(resolve_path(s, base_dir)))
        }
        Some(s) => ("volume", Some(s.to_string())),
    };
    Ok(Volume {
        kind,
        source,
        target: target.to_string(),
        read_only,
        extra,
    })
}

/// A bind propagation mode, as a short-syntax volume option may name one.
pub fn is_propagation(option: &str) -> bool {
    matches!(
        option,
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
    )
}

/// Resolves a path from a compose file against its directory (`~` is the home directory).
pub fn resolve_path(p: &str, base_dir: &str) -> String {
    if let Some(rest) = p.strip_prefix('~') {
        let home = std::env::var("HOME").unwrap_or_default();
        return clean(&format!("{home}{rest}"));
    }
    if p.starts_with('/') {
        return clean(p);
    }
    clean(&format!("{base_dir}/{p}"))
}

/// Lexical path cleaning (Go's `filepath.Clean`): drops `.`, folds `..`, no trailing slash.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Splits a command string as a POSIX shell would (quotes and backslashes; no expansion).
pub fn shell_split(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated single quote in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated double quote in {text:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated double quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Formats nanoseconds as Go's `time.Duration.String` does (`1m30s`, `500ms`, `0s`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 1_000_000))
    } else {
        let secs = u / 1_000_000_000;
        let rem = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let s_text = frac(s * 1_000_000_000 + rem, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{s_text}s")
        } else if m > 0 {
            format!("{m}m{s_text}s")
        } else {
            format!("{s_text}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn frac(v: u64, unit: u64) -> String {
    let whole = v / unit;
    let rest = v % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A duration value (Go syntax string, or a number of seconds) in canonical Go form.
pub fn duration(node: &Node, path: &str) -> Result<Node> {
    let ns = match &node.value {
        Value::Str(s) => berth_api::units::parse_go_duration(s).map_err(|e| {
            LoadError::schema(&node.mark, path, format!("invalid duration {s:?}: {e}"))
        })?,
        Value::Int(i) => i.saturating_mul(1_000_000_000),
        _ => {
            return Err(LoadError::schema(
                &node.mark,
                path,
                format!("must be a duration such as \"30s\", not {}", node.kind()),
            ))
        }
    };
    Ok(Node::str(format_duration(ns), &node.mark))
}

/// A byte size (`256m`, `1g`, a number of bytes) as an integer node.
pub fn bytes(node: &Node, path: &str) -> Result<Node> {
    let n = match &node.value {
        Value::Int(i) => *i,
        Value::Str(s) => berth_api::units::ram_in_bytes(s)
            .map_err(|e| LoadError::schema(&node.mark, path, format!("invalid size {s:?}: {e}")))?,
        _ => {
            return Err(LoadError::schema(
                &node.mark,
                path,
                format!("must be a size such as \"256m\", not {}", node.kind()),
            ))
        }
    };
    Ok(Node::new(Value::Int(n), node.mark.clone()))
}

/// A string or a list of strings, as a list of string nodes.
pub fn string_list(node: &Node, path: &str) -> Result<Node> {
    let items = match &node.value {
        Value::Seq(items) => items.clone(),
        Value::Null => Vec::new(),
        _ => vec![node.clone()],
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.scalar_text().ok_or_else(|| {
            LoadError::schema(
                &item.mark,
                &format!("{path}[{i}]"),
                format!("must be a string, not {}", item.kind()),
            )
        })?;
        out.push(Node::str(text, &item.mark));
    }
    Ok(Node::new(Value::Seq(out), node.mark.clone()))
}

/// A `KEY=VALUE` list or a mapping, as a mapping of strings (`null` for a bare `KEY` in a list
/// or a null value). `sep` is the list separator (`=` for environment and labels).
pub fn map_or_list(node: &Node, path: &str, sep: char) -> Result<Node> {
    let mut out: Vec<Entry> = Vec::new();
    let mut put = |key: String, mark: &Mark, value: Node| {
        out.retain(|e| e.key != key);
        out.push(Entry {
            key,
            key_mark: mark.clone(),
            value,
        });
    };
    match &node.value {
        Value::Null => {}
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let text = item.scalar_text().ok_or_else(|| {
                    LoadError::schema(
                        &item.mark,
                        &format!("{path}[{i}]"),
                        format!("must be a \"KEY{sep}VALUE\" string, not {}", item.kind()),
                    )
                })?;
                match text.split_once(sep) {
                    Some((k, v)) => put(k.to_string(), &item.mark, Node::str(v, &item.mark)),
                    None => put(text, &item.mark, Node::new(Value::Null, item.mark.clone())),
                }
            }
        }
        Value::Map(entries) => {
            for e in entries {
                let value = match &e.value.value {
                    Value::Null => Node::new(Value::Null, e.value.mark.clone()),
                    _ => Node::str(
                        e.value.scalar_text().ok_or_else(|| {
                            LoadError::schema(
                                &e.value.mark,
                                &format!("{path}.{}", e.key),
                                format!(
                                    "must be a string, number or boolean, not {}",
                                    e.value.kind()
                                ),
                            )
                        })?,
                        &e.value.mark,
                    ),
                };
                put(e.key.clone(), &e.key_mark, value);
            }
        }
        _ => {
            return Err(LoadError::schema(
                &node.mark,
                path,
                format!("must be a mapping or a list, not {}", node.kind()),
            ))
        }
    }
    Ok(Node::map(out, &node.mark))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(published: Option<&str>, target: u16) -> Port {
        Port {
            host_ip: None,
            target,
            published: published.map(str::to_string),
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn short_ports() {
        assert_eq!(parse_port("80"), Ok(vec![port(None, 80)]));
        assert_eq!(parse_port("8080:80"), Ok(vec![port(Some("8080"), 80)]));
        let p = parse_port("127.0.0.1:8080:80/udp").unwrap_or_default();
        assert_eq!(p[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p[0].protocol, "udp");
        assert_eq!(
            parse_port("8000-8001:80-81"),
            Ok(vec![port(Some("8000"), 80), port(Some("8001"), 81)])
        );
        assert_eq!(
            parse_port("127.0.0.1::80").map(|p| p[0].published.clone()),
            Ok(None)
        );
        assert_eq!(
            parse_port("[::1]:9000:90").map(|p| p[0].host_ip.clone()),
            Ok(Some("::1".into()))
        );
        assert_eq!(
            parse_port("9000-9010:80").map(|p| p[0].published.clone()),
            Ok(Some("9000-9010".into()))
        );
        assert!(parse_port("80/xyz").is_err());
        assert!(parse_port("a:80").is_err());
        assert!(parse_port("1:2:3:4").is_err());
        assert!(parse_port("8000-8002:80-81").is_err());
        assert!(parse_port("70000").is_err());
    }

    #[test]
    fn short_volumes() {
        let v = parse_volume("/data", "/p").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v.kind, v.source, v.target.as_str()),
            ("volume", None, "/data")
        );
        let v = parse_volume("db:/var/lib/db:ro", "/p").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v.kind, v.source.as_deref(), v.read_only),
            ("volume", Some("db"), true)
        );
        let v = parse_volume("./site/../www:/srv:rw,z", "/p").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.kind, v.source.as_deref()), ("bind", Some("/p/www")));
        assert_eq!(v.extra, ["z"]);
        assert!(parse_volume("data", "/p").is_err());
        assert!(parse_volume("a:b:c:d", "/p").is_err());
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split(r#"sh -c 'echo "hi there"' x\ y "a\"b""#),
            Ok(vec![
                "sh".to_string(),
                "-c".into(),
                "echo \"hi there\"".into(),
                "x y".into(),
                "a\"b".into()
            ])
        );
        assert_eq!(shell_split("  "), Ok(vec![]));
        assert!(shell_split("echo 'open").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_duration(0), "0s");
        let n = Node::str("1m30s", &Mark::default());
        assert_eq!(
            duration(&n, "x").ok().map(|n| n.to_json()),
            Some(serde_json::json!("1m30s"))
        );
        let bad = Node::str("10 parsecs", &Mark::default());
        assert!(duration(&bad, "x").is_err());
    }

    #[test]
    fn paths_clean() {
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(resolve_path("./x", "/p/q"), "/p/q/x");
        assert_eq!(resolve_path("../x", "/p/q"), "/p/x");
    }

    #[test]
    fn lists_and_maps() {
        let n = crate::yaml::parse("e: [A=1, B, C=x=y]\nm: {A: 1, B: null, C: true}\n", "f")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = n.get("e").map(|e| map_or_list(e, "e", '='));
        assert_eq!(
            e.and_then(|e| e.ok()).map(|e| e.to_json()),
            Some(serde_json::json!({"A": "1", "B": null, "C": "x=y"}))
        );
        let m = n.get("m").map(|m| map_or_list(m, "m", '='));
        assert_eq!(
            m.and_then(|m| m.ok()).map(|m| m.to_json()),
            Some(serde_json::json!({"A": "1", "B": null, "C": "true"}))
        );
        let bad = crate::yaml::parse("e: [[1]]\n", "f").unwrap_or_else(|e| panic!("{e}"));
        let err = bad
            .get("e")
            .map(|e| map_or_list(e, "services.a.environment", '='));
        assert_eq!(
            err.and_then(|e| e.err()).map(|e| e.to_string()),
            Some(
                "f:1:5: services.a.environment[0]: must be a \"KEY=VALUE\" string, not a list"
                    .into()
            )
        );
    }
}
