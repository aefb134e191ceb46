//! `--format` handling shared by every listing command: docker's `table` (default columns or a
//! template with a header row), `json` (one JSON object per line), or a raw Go template, rendered
//! through our [`template`] engine and aligned by [`table`].

pub mod eval;
pub mod table;
pub mod template;

use crate::error::{CliError, Result};
use serde_json::{Map, Value};

/// A compiled `--format` choice.
pub enum Format {
    /// `table` or `table TEMPLATE`: a header row then one row per item, aligned.
    Table(template::Template),
    /// A raw template, one rendering per item followed by a newline.
    Raw(template::Template),
}

impl Format {
    /// Compiles the user's `--format` (empty: `default_table`, which must start with "table ").
    pub fn new(user: Option<&str>, default_table: &str) -> Result<Format> {
        let f = match user.map(str::trim) {
            None | Some("") | Some("table") => default_table.to_string(),
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
        };
        let f = f.replace("\\t", "\t").replace("\\n", "\n");
        let (is_table, body) = match f.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start_matches(' ').to_string())
            }
            _ => (false, f),
        };
        let t = compile(&body)?;
        Ok(if is_table {
            Format::Table(t)
        } else {
            Format::Raw(t)
        })
    }

    /// Renders `rows`; `headers` maps field names to column titles for the table header.
    pub fn render(&self, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
        match self {
            Format::Raw(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&run(t, r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(t) => {
                let header: Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect();
                let mut out = run(t, &Value::Object(header))?;
                out.push('\n');
                for r in rows {
                    out.push_str(&run(t, r)?);
                    out.push('\n');
                }
                Ok(table::align(&out))
            }
        }
    }
}

/// Compiles one template, wording errors as docker does.
pub fn compile(src: &str) -> Result<template::Template> {
    template::parse(src).map_err(|e| CliError::Message(format!("{e}")))
}

/// Renders a template for one value.
pub fn run(t: &template::Template, v: &Value) -> Result<String> {
    eval::execute(t, v).map_err(|e| CliError::Message(e.to_string()))
}

/// Renders an `inspect -f` style template (no table, no trailing newline added).
pub fn render_one(src: &str, v: &Value) -> Result<String> {
    run(&compile(&src.replace("\\t", "\t").replace("\\n", "\n"))?, v)
}

/// docker's `stringid.TruncateID`: drop an algorithm prefix and keep 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    id.chars().take(12).collect()
}

/// docker's ellipsis truncation: at most `n` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(src: &str, v: Value) -> String {
        render_one(src, &v).unwrap()
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"Name": "web", "Tags": ["a", "b"], "Labels": {"x": "1", "y": "2"}, "N": 3, "State": {"Running": true}});
        assert_eq!(r("{{.Name}}", v.clone()), "web");
        assert_eq!(r("{{.State.Running}}", v.clone()), "true");
        assert_eq!(r("{{.Missing}}", v.clone()), "<no value>");
        assert_eq!(r("{{json .Tags}}", v.clone()), r#"["a","b"]"#);
        assert_eq!(r("{{json .Labels}}", v.clone()), r#"{"x":"1","y":"2"}"#);
        assert_eq!(
            r("{{json .}}", json!({"P": "a->b & <c>"})),
            r#"{"P":"a-\u003eb \u0026 \u003cc\u003e"}"#
        );
        assert_eq!(r("{{.Tags}} {{.Labels}}", v.clone()), "[a b] map[x:1 y:2]");
        assert_eq!(r("{{join .Tags \",\"}}", v.clone()), "a,b");
        assert_eq!(r("{{.Name | upper}} {{lower \"AB\"}}", v.clone()), "WEB ab");
        assert_eq!(r("{{truncate .Name 2}}", v.clone()), "we");
        assert_eq!(
            r("{{index .Labels \"y\"}} {{index .Tags 1}}", v.clone()),
            "2 b"
        );
        assert_eq!(
            r("{{printf \"%-5s|%3d\" .Name .N}}", v.clone()),
            "web  |  3"
        );
        assert_eq!(r("{{.Name | printf \"%q\"}}", v.clone()), "\"web\"");
        assert_eq!(
            r("{{len .Tags}} {{title \"hello world\"}}", v.clone()),
            "2 Hello World"
        );
        assert_eq!(r("{{(index .Tags 0) | upper}}", v), "A");
    }

    #[test]
    fn control_flow() {
        let v = json!({"Tags": ["a", "b"], "Labels": {"x": "1"}, "Empty": [], "On": false, "N": 2});
        assert_eq!(r("{{range .Tags}}<{{.}}>{{end}}", v.clone()), "<a><b>");
        assert_eq!(
            r("{{range $i, $t := .Tags}}{{$i}}={{$t}};{{end}}", v.clone()),
            "0=a;1=b;"
        );
        assert_eq!(
            r("{{range $k, $v := .Labels}}{{$k}}:{{$v}}{{end}}", v.clone()),
            "x:1"
        );
        assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}", v.clone()), "none");
        assert_eq!(
            r(
                "{{if .On}}on{{else if eq .N 2}}two{{else}}off{{end}}",
                v.clone()
            ),
            "two"
        );
        assert_eq!(r("{{if not .On}}off{{end}}", v.clone()), "off");
        assert_eq!(r("{{with .Labels}}{{.x}}{{end}}", v.clone()), "1");
        assert_eq!(
            r("{{$n := .N}}{{range .Tags}}{{$n}}{{end}}", v.clone()),
            "22"
        );
        assert_eq!(r("a  {{- .N -}}  b{{/* c */}}", v.clone()), "a2b");
        assert_eq!(r("{{if and .N (gt .N 1)}}big{{end}}", v), "big");
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(compile("{{.A").is_err());
        assert!(compile("{{if .A}}x").is_err());
        assert!(compile("{{end}}").is_err());
        assert!(render_one("{{nosuch .A}}", &json!({})).is_err());
    }

    #[test]
    fn tables_and_json() {
        let rows = vec![
            json!({"ID": "abc", "Name": "web"}),
            json!({"ID": "defdefdefdef", "Name": "db"}),
        ];
        let f = Format::new(None, "table {{.ID}}\t{{.Name}}").unwrap();
        assert_eq!(
            f.render(&rows, &[("ID", "CONTAINER ID"), ("Name", "NAMES")])
                .unwrap(),
            "CONTAINER ID   NAMES\nabc            web\ndefdefdefdef   db\n"
        );
        let f = Format::new(Some("json"), "table {{.ID}}").unwrap();
        assert_eq!(
            f.render(&rows[..1], &[]).unwrap(),
            "{\"ID\":\"abc\",\"Name\":\"web\"}\n"
        );
        let f = Format::new(Some("{{.Name}}\\t{{.ID}}"), "table {{.ID}}").unwrap();
        assert_eq!(f.render(&rows[..1], &[]).unwrap(), "web\tabc\n");
        let f = Format::new(Some("table {{.Name}}"), "table {{.ID}}").unwrap();
        assert_eq!(
            f.render(&rows, &[("Name", "NAMES")]).unwrap(),
            "NAMES\nweb\ndb\n"
        );
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(ellipsis("abcdefghij", 5), "abcd…");
        assert_eq!(ellipsis("short", 20), "short");
    }
}
