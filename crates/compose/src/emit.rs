//! YAML out, in the block style `docker compose config` prints: two-space indentation, list items
//! under their key, strings quoted only where YAML would read them as something else.

use crate::yaml::{format_float, resolve_plain, Node, Value};

/// Renders a tree as a YAML document.
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    match &node.value {
        Value::Map(entries) if !entries.is_empty() => emit_map(node, 0, &mut out),
        Value::Seq(items) if !items.is_empty() => emit_seq(node, 0, &mut out),
        _ => {
            out.push_str(&scalar(node));
            out.push('\n');
        }
    }
    out
}

fn emit_map(node: &Node, indent: usize, out: &mut String) {
    let Value::Map(entries) = &node.value else {
        return;
    };
    for e in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote_if_needed(&e.key));
        out.push(':');
        emit_value(&e.value, indent, out);
    }
}

fn emit_seq(node: &Node, indent: usize, out: &mut String) {
    let Value::Seq(items) = &node.value else {
        return;
    };
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match &item.value {
            Value::Map(entries) if !entries.is_empty() => {
                // The first key sits on the dash's line.
                let mut inner = String::new();
                emit_map(item, indent + 2, &mut inner);
                out.push_str(inner.trim_start());
            }
            Value::Seq(inner_items) if !inner_items.is_empty() => {
                let mut inner = String::new();
                emit_seq(item, indent + 2, &mut inner);
                out.push_str(inner.trim_start());
            }
            _ => {
                out.push_str(&scalar(item));
                out.push('\n');
            }
        }
    }
}

fn emit_value(v: &Node, indent: usize, out: &mut String) {
    match &v.value {
        Value::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            emit_map(v, indent + 2, out);
        }
        Value::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn scalar(n: &Node) -> String {
    match &n.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float(*f),
        Value::Str(s) => quote_if_needed(s),
        Value::Seq(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// Quotes a string that plain YAML would misread (numbers, booleans, null, special characters).
pub fn quote_if_needed(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && matches!(resolve_plain(s), Value::Str(_))
        && !s.starts_with([
            ' ', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
        ])
        && !matches!(s, "-" | "?" | ":")
        && !s.starts_with("- ")
        && !s.starts_with("? ")
        && !s.starts_with(": ")
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(|c| c.is_control())
        && !matches!(
            s,
            "yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "On" | "Off"
        );
    if plain_ok {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => q.push_str(&format!("\\u{:04X}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_parser() {
        let text = "name: p\nservices:\n  web:\n    command:\n      - sh\n      - -c\n      - 'echo \"a: b\"'\n    environment:\n      A: \"1\"\n      B: null\n      C: \"yes\"\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n    x: []\n";
        let n = crate::yaml::parse(text, "f").unwrap_or_else(|e| panic!("{e}"));
        let out = to_yaml(&n);
        let back = crate::yaml::parse(&out, "g").unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(n.to_json(), back.to_json(), "{out}");
        assert!(
            out.contains(
                "      - mode: ingress\n        target: 80\n        published: \"8080\"\n"
            ),
            "{out}"
        );
        assert!(out.contains("      A: \"1\"\n"), "{out}");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_if_needed("busybox"), "busybox");
        assert_eq!(quote_if_needed("8080"), "\"8080\"");
        assert_eq!(quote_if_needed("true"), "\"true\"");
        assert_eq!(quote_if_needed(""), "\"\"");
        assert_eq!(quote_if_needed("-c"), "-c");
        assert_eq!(quote_if_needed("-"), "\"-\"");
        assert_eq!(quote_if_needed("a\nb"), "\"a\\nb\"");
        assert_eq!(quote_if_needed("/srv/www"), "/srv/www");
    }
}
