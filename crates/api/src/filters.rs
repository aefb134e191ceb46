//! The `filters` query parameter: a JSON object mapping a filter name to its values. The Go CLI sends
//! `{"label":{"a=b":true}}`, docker-py and compose send `{"label":["a=b"]}`; both parse to the same
//! [`Filters`]. Values of one name are kept in order and without duplicates. Written as the Go CLI
//! writes them (names and values sorted, as Go marshals its maps).

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// Parsed filters: name → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

/// A malformed or unsupported filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiltersError {
    #[error("invalid filters {text:?}: {reason}")]
    Malformed { text: String, reason: String },
    /// Docker's wording.
    #[error("invalid filter '{0}'")]
    Unknown(String),
    #[error("invalid filter '{name}={value}'")]
    Value { name: String, value: String },
}

impl Filters {
    /// Parses the JSON text of a `filters` parameter; empty text means no filters.
    pub fn parse(text: &str) -> Result<Self, FiltersError> {
        let mut out = Filters::default();
        if text.trim().is_empty() {
            return Ok(out);
        }
        let malformed = |reason: String| FiltersError::Malformed {
            text: text.to_string(),
            reason,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let Value::Object(map) = v else {
            return Err(malformed("expected a JSON object".into()));
        };
        for (name, values) in map {
            match values {
                Value::Object(m) => {
                    for (value, on) in m {
                        if on != Value::Bool(false) {
                            out.add(&name, &value);
                        }
                    }
                }
                Value::Array(a) => {
                    for value in a {
                        match value {
                            Value::String(s) => out.add(&name, &s),
                            other => {
                                return Err(malformed(format!(
                                    "filter {name:?}: expected strings, got {other}"
                                )))
                            }
                        }
                    }
                }
                Value::String(s) => out.add(&name, &s),
                other => {
                    return Err(malformed(format!(
                        "filter {name:?}: expected an object or an array, got {other}"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Adds one value.
    pub fn add(&mut self, name: &str, value: &str) {
        let values = self.0.entry(name.to_string()).or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
        }
    }

    /// The values of `name` (empty when absent).
    pub fn get(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The filters' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Fails with Docker's `invalid filter 'x'` for a name outside `allowed`.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), FiltersError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FiltersError::Unknown(k.clone())),
            None => Ok(()),
        }
    }

    /// A boolean filter (`dangling=true`): `None` when absent; `1`/`true` and `0`/`false` accepted.
    /// Several different values are an error.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, FiltersError> {
        let mut out = None;
        for value in self.get(name) {
            let b = match value.to_ascii_lowercase().as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(FiltersError::Value {
                        name: name.to_string(),
                        value: value.clone(),
                    })
                }
            };
            if out.is_some_and(|o| o != b) {
                return Err(FiltersError::Value {
                    name: name.to_string(),
                    value: value.clone(),
                });
            }
            out = Some(b);
        }
        Ok(out)
    }
}

impl Serialize for Filters {
    /// `{"name":{"value":true,...},...}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, values) in &self.0 {
            let set: BTreeMap<&str, bool> = values.iter().map(|v| (v.as_str(), true)).collect();
            map.serialize_entry(name, &set)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_shapes() {
        let cli = Filters::parse(r#"{"label":{"a=b":true,"c":true},"dangling":{"true":true}}"#);
        let py = Filters::parse(r#"{"label":["a=b","c"],"dangling":["true"]}"#);
        assert_eq!(cli, py);
        let f = cli.unwrap_or_default();
        assert_eq!(f.get("label"), ["a=b", "c"]);
        assert_eq!(f.bool("dangling"), Ok(Some(true)));
        assert_eq!(f.bool("nope"), Ok(None));
        assert!(f.get("nope").is_empty());
    }

    #[test]
    fn written_in_the_go_clis_shape() {
        let mut f = Filters::default();
        f.add("status", "exited");
        f.add("label", "b");
        f.add("label", "a=1");
        assert_eq!(
            serde_json::to_string(&f).unwrap_or_default(),
            r#"{"label":{"a=1":true,"b":true},"status":{"exited":true}}"#
        );
        let back = Filters::parse(&serde_json::to_string(&f).unwrap_or_default());
        assert_eq!(back.unwrap_or_default().get("label"), ["a=1", "b"]);
    }

    #[test]
    fn empty_and_malformed() {
        assert_eq!(Filters::parse(""), Ok(Filters::default()));
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).is_err());
    }

    #[test]
    fn unknown_names_and_bad_bools_use_dockers_words() {
        let f = Filters::parse(r#"{"bogus":["x"],"dangling":["maybe"]}"#).unwrap_or_default();
        assert_eq!(
            f.allow_only(&["dangling"]).map_err(|e| e.to_string()),
            Err("invalid filter 'bogus'".to_string())
        );
        assert!(f.bool("dangling").is_err());
    }
}
