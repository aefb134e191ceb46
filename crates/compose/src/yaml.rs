//! The marked YAML tree the loader works on: every node remembers the file, line and column it
//! came from, so that any later error (interpolation, schema, merge) can name its place.
//!
//! Parsing uses yaml-rust2's event parser (YAML 1.2, pure Rust); this module builds the tree
//! itself and so owns anchors and aliases (an alias is a copy of the anchored node), `<<` merge
//! keys (explicit keys win, then the merged maps in order), duplicate-key errors, and the
//! resolution of plain scalars by the YAML 1.2 core schema (null, bool, int, float, string).

use std::fmt;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node came from: file name (as the user named it), 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mark {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// A YAML value with its mark.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
    /// A `!reset` or `!override` tag (the Compose merge directives), if any.
    pub tag: Option<String>,
}

/// One entry of a mapping: the key's text and mark, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_mark: Mark,
    pub value: Node,
}

/// The value of a node. Mapping keys are strings (Compose has no other kind); order is kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

impl Node {
    /// A node with no source (made by the loader itself).
    pub fn new(value: Value, mark: Mark) -> Node {
        Node {
            value,
            mark,
            tag: None,
        }
    }

    pub fn str(s: impl Into<String>, mark: &Mark) -> Node {
        Node::new(Value::Str(s.into()), mark.clone())
    }

    pub fn map(entries: Vec<Entry>, mark: &Mark) -> Node {
        Node::new(Value::Map(entries), mark.clone())
    }

    pub fn as_map(&self) -> Option<&Vec<Entry>> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entry `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value)
    }

    /// A scalar as text (strings, numbers and bools; what Compose accepts where it wants a string).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON (the model is decoded from the normalised tree through serde).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Go's `%v` of a float: integers without a fraction, otherwise the shortest form.
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A YAML syntax error, or a structure Compose cannot use, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{mark}: {message}")]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
}

/// Parses one YAML document (an empty file is an empty mapping).
pub fn parse(text: &str, file: &str) -> Result<Node, YamlError> {
    let file: Arc<str> = Arc::from(file);
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: std::collections::HashMap::new(),
        docs: Vec::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        mark: mark_of(&file, e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    if builder.docs.len() > 1 {
        return Err(YamlError {
            mark: builder.docs[1].mark.clone(),
            message: "a compose file must hold one YAML document, found several".into(),
        });
    }
    Ok(builder.docs.pop().unwrap_or_else(|| {
        Node::new(
            Value::Map(Vec::new()),
            Mark {
                file,
                line: 1,
                col: 1,
            },
        )
    }))
}

fn mark_of(file: &Arc<str>, m: &Marker) -> Mark {
    Mark {
        file: file.clone(),
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        mark: Mark,
        tag: Option<String>,
    },
    Map {
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, Mark)>,
        anchor: usize,
        mark: Mark,
        tag: Option<String>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    docs: Vec<Node>,
    error: Option<YamlError>,
}

fn tag_text(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| t.suffix)
}

impl Builder {
    fn fail(&mut self, mark: Mark, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError { mark, message });
        }
    }

    /// Hands a finished node to its parent (or the document list).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let mut failure = None;
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => match &node.value {
                    Value::Str(s) => *key = Some((s.clone(), node.mark.clone())),
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                        *key = Some((node.scalar_text().unwrap_or_default(), node.mark.clone()))
                    }
                    Value::Null => *key = Some((String::new(), node.mark.clone())),
                    _ => {
                        failure = Some((
                            node.mark.clone(),
                            format!("mapping keys must be strings, found {}", node.kind()),
                        ))
                    }
                },
                Some((k, key_mark)) if k == "<<" && node.tag.is_none() => match &node.value {
                    Value::Map(_) => merges.push(node),
                    Value::Seq(items) if items.iter().all(|n| n.as_map().is_some()) => {
                        merges.extend(items.iter().cloned())
                    }
                    _ => {
                        failure = Some((
                            key_mark,
                            "a merge key (<<) must point at a mapping or a list of mappings".into(),
                        ))
                    }
                },
                Some((k, key_mark)) => {
                    if let Some(prev) = entries.iter().find(|e| e.key == k) {
                        failure = Some((
                            key_mark,
                            format!(
                                "mapping key {k:?} already defined at line {}",
                                prev.key_mark.line
                            ),
                        ));
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_mark,
                            value: node,
                        });
                    }
                }
            },
        }
        if let Some((m, msg)) = failure {
            self.fail(m, msg);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = mark_of(&self.file, &marker);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag_text(tag);
                let value = if style == TScalarStyle::Plain
                    && tag
                        .as_deref()
                        .is_none_or(|t| t == "reset" || t == "override")
                {
                    resolve_plain(&text)
                } else {
                    Value::Str(text)
                };
                let node = Node { value, mark, tag };
                self.push(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let n = n.clone();
                    self.push(n, 0)
                }
                None => self.fail(mark, "alias to an unknown anchor".into()),
            },
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                anchor,
                mark,
                tag: tag_text(tag),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                merges: Vec::new(),
                key: None,
                anchor,
                mark,
                tag: tag_text(tag),
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    anchor,
                    mark,
                    tag,
                }) = self.stack.pop()
                {
                    let node = Node {
                        value: Value::Seq(items),
                        mark,
                        tag,
                    };
                    self.push(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut entries,
                    merges,
                    anchor,
                    mark,
                    tag,
                    ..
                }) = self.stack.pop()
                {
                    for m in merges {
                        if let Value::Map(more) = m.value {
                            for e in more {
                                if !entries.iter().any(|x| x.key == e.key) {
                                    entries.push(e);
                                }
                            }
                        }
                    }
                    let node = Node {
                        value: Value::Map(entries),
                        mark,
                        tag,
                    };
                    self.push(node, anchor);
                }
            }
            _ => {}
        }
    }
}

/// The YAML 1.2 core schema for a plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(h) = text.strip_prefix("0x").filter(|h| digits(h, 16)) {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Value::Int(i);
        }
    }
    if let Some(o) = text.strip_prefix("0o").filter(|o| digits(o, 8)) {
        if let Ok(i) = i64::from_str_radix(o, 8) {
            return Value::Int(i);
        }
    }
    let float_chars = unsigned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if float_chars && unsigned.chars().any(|c| c.is_ascii_digit()) {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        match parse(text, "c.yaml") {
            Ok(n) => n,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let n = p("a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: \"x\"\nh: 0x1F\ni: 80:80\n");
        assert_eq!(n.get("a").map(|n| &n.value), Some(&Value::Int(1)));
        assert_eq!(n.get("b").map(|n| &n.value), Some(&Value::Str("1".into())));
        assert_eq!(n.get("c").map(|n| &n.value), Some(&Value::Bool(true)));
        assert_eq!(
            n.get("d").map(|n| &n.value),
            Some(&Value::Str("yes".into()))
        );
        assert_eq!(n.get("e").map(|n| &n.value), Some(&Value::Null));
        assert_eq!(n.get("f").map(|n| &n.value), Some(&Value::Float(1.5)));
        assert_eq!(n.get("h").map(|n| &n.value), Some(&Value::Int(31)));
        assert_eq!(n.get("i").and_then(Node::as_str), Some("80:80"));
    }

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let n = p("services:\n  web:\n    image: busybox\n");
        let image = n
            .get("services")
            .and_then(|s| s.get("web"))
            .and_then(|w| w.get("image"));
        let m = image.map(|i| i.mark.clone()).unwrap_or_default();
        assert_eq!((m.line, m.col), (3, 12));
        assert_eq!(m.to_string(), "c.yaml:3:12");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x-base: &base\n  image: busybox\n  environment:\n    A: '1'\nservices:\n  a:\n    <<: *base\n    image: alpine\n  b: *base\n");
        let a = n.get("services").and_then(|s| s.get("a"));
        assert_eq!(
            a.and_then(|a| a.get("image")).and_then(Node::as_str),
            Some("alpine")
        );
        assert!(a.and_then(|a| a.get("environment")).is_some());
        let b = n.get("services").and_then(|s| s.get("b"));
        assert_eq!(
            b.and_then(|b| b.get("image")).and_then(Node::as_str),
            Some("busybox")
        );
        // Explicit keys stay first, merged ones follow.
        let keys: Vec<_> = a
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["image", "environment"]);
    }

    #[test]
    fn merge_of_a_list_prefers_the_first_map() {
        let n = p("a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n");
        let c = n.get("c");
        assert_eq!(
            c.and_then(|c| c.get("x")).map(|n| &n.value),
            Some(&Value::Int(1))
        );
        assert_eq!(
            c.and_then(|c| c.get("z")).map(|n| &n.value),
            Some(&Value::Int(2))
        );
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n", "f.yml").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("f.yml:3:1: mapping key \"a\" already defined at line 1".into())
        );
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = parse("services:\n  web:\n    image: [busybox\n", "f.yml").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("f.yml:"), "{e}");
    }

    #[test]
    fn bad_merge_and_unknown_alias() {
        assert!(parse("a:\n  <<: 1\n", "f").is_err());
        assert!(parse("a: *nope\n", "f").is_err());
        assert!(parse("? [a]\n: 1\n", "f").is_err());
    }

    #[test]
    fn reset_tags_are_kept() {
        let n = p("a: !reset []\nb: !override {x: 1}\n");
        assert_eq!(n.get("a").and_then(|n| n.tag.as_deref()), Some("reset"));
        assert_eq!(n.get("b").and_then(|n| n.tag.as_deref()), Some("override"));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(p("").as_map().map(Vec::len), Some(0));
        assert!(parse("a: 1\n---\nb: 2\n", "f").is_err());
    }
}
