//! Variable interpolation as the Compose Specification defines it: `$VAR`, `${VAR}`,
//! `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` /
//! `${VAR?message}` (required), `${VAR:+alt}` / `${VAR+alt}` (replacement), nested expressions in
//! defaults, and `$$` for a literal `$`. Applied to every string value of a file (never to keys).

use crate::yaml::{Mark, Node, Value};

/// What interpolation can fail with; the loader adds the file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("invalid interpolation format {text:?}: you may need to escape any $ with another $")]
    Syntax { text: String },
}

/// The error with the place and the key path where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{mark}: {path}: {source}")]
pub struct PlacedError {
    pub mark: Mark,
    pub path: String,
    pub source: InterpolateError,
}

/// Interpolates one string with `lookup` giving a variable's value (None when unset).
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let chars: Vec<char> = text.chars().collect();
    let (out, end) = expand(&chars, 0, lookup, None, text)?;
    debug_assert_eq!(end, chars.len());
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands from `i` until the end, or until an unmatched `}` when `stop` is set (inside a
/// default); returns the text and the index of the stop character.
fn expand(
    s: &[char],
    mut i: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    stop: Option<char>,
    whole: &str,
) -> Result<(String, usize), InterpolateError> {
    let syntax = || InterpolateError::Syntax {
        text: whole.to_string(),
    };
    let mut out = String::new();
    while i < s.len() {
        let c = s[i];
        if Some(c) == stop {
            return Ok((out, i));
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match s.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let mut j = i + 2;
                if !s.get(j).is_some_and(|c| is_name_start(*c)) {
                    return Err(syntax());
                }
                let start = j;
                while s.get(j).is_some_and(|c| is_name(*c)) {
                    j += 1;
                }
                let name: String = s[start..j].iter().collect();
                let value = lookup(&name);
                match s.get(j) {
                    Some('}') => {
                        out.push_str(value.as_deref().unwrap_or(""));
                        i = j + 1;
                    }
                    Some(':' | '-' | '?' | '+') => {
                        let colon = s[j] == ':';
                        if colon {
                            j += 1;
                        }
                        let op = *s.get(j).ok_or_else(syntax)?;
                        if !matches!(op, '-' | '?' | '+') {
                            return Err(syntax());
                        }
                        let (arg, end) = expand(s, j + 1, lookup, Some('}'), whole)?;
                        if s.get(end) != Some(&'}') {
                            return Err(syntax());
                        }
                        let set = match &value {
                            None => false,
                            Some(v) => !(colon && v.is_empty()),
                        };
                        match op {
                            '-' if set => out.push_str(value.as_deref().unwrap_or("")),
                            '-' => out.push_str(&arg),
                            '?' if set => out.push_str(value.as_deref().unwrap_or("")),
                            '?' => return Err(InterpolateError::Required { name, message: arg }),
                            _ if set => out.push_str(&arg),
                            _ => {}
                        }
                        i = end + 1;
                    }
                    _ => return Err(syntax()),
                }
            }
            Some(c) if is_name_start(*c) => {
                let start = i + 1;
                let mut j = start;
                while s.get(j).is_some_and(|c| is_name(*c)) {
                    j += 1;
                }
                let name: String = s[start..j].iter().collect();
                out.push_str(lookup(&name).as_deref().unwrap_or(""));
                i = j;
            }
            _ => return Err(syntax()),
        }
    }
    if stop.is_some() {
        return Err(syntax());
    }
    Ok((out, i))
}

/// Interpolates every string value of a tree in place (keys are left alone).
pub fn interpolate_tree(
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), PlacedError> {
    match &mut node.value {
        Value::Str(s) if s.contains('$') => {
            *s = interpolate(s, lookup).map_err(|source| PlacedError {
                mark: node.mark.clone(),
                path: path.to_string(),
                source,
            })?;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Map(entries) => {
            for e in entries.iter_mut() {
                let p = if path.is_empty() {
                    e.key.clone()
                } else {
                    format!("{path}.{}", e.key)
                };
                interpolate_tree(&mut e.value, &p, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("8080".into()),
            _ => None,
        }
    }

    fn i(s: &str) -> Result<String, InterpolateError> {
        interpolate(s, &env)
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(i("$SET"), Ok("value".into()));
        assert_eq!(i("${SET}"), Ok("value".into()));
        assert_eq!(i("a-$SET-b"), Ok("a-value-b".into()));
        assert_eq!(i("${PORT}:80"), Ok("8080:80".into()));
        assert_eq!(i("$UNSET"), Ok("".into()));
        assert_eq!(i("no vars"), Ok("no vars".into()));
        assert_eq!(i("$SET.x"), Ok("value.x".into()));
    }

    #[test]
    fn defaults_with_and_without_colon() {
        assert_eq!(i("${UNSET:-d}"), Ok("d".into()));
        assert_eq!(i("${EMPTY:-d}"), Ok("d".into()));
        assert_eq!(i("${EMPTY-d}"), Ok("".into()));
        assert_eq!(i("${UNSET-d}"), Ok("d".into()));
        assert_eq!(i("${SET:-d}"), Ok("value".into()));
        assert_eq!(i("${UNSET:-}"), Ok("".into()));
        assert_eq!(i("${UNSET:-a b:c}"), Ok("a b:c".into()));
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(i("${UNSET:-${SET}}"), Ok("value".into()));
        assert_eq!(i("${UNSET:-${ALSO:-deep}}"), Ok("deep".into()));
        assert_eq!(i("${UNSET:-x$$y}"), Ok("x$y".into()));
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            i("${UNSET:?set it}"),
            Err(InterpolateError::Required {
                name: "UNSET".into(),
                message: "set it".into()
            })
        );
        assert!(i("${EMPTY:?e}").is_err());
        assert_eq!(i("${EMPTY?e}"), Ok("".into()));
        assert!(i("${UNSET?e}").is_err());
        assert_eq!(i("${SET:?e}"), Ok("value".into()));
        assert_eq!(
            i("${UNSET:?}").map_err(|e| e.to_string()),
            Err("required variable UNSET is missing a value: ".into())
        );
    }

    #[test]
    fn replacement_values() {
        assert_eq!(i("${SET:+alt}"), Ok("alt".into()));
        assert_eq!(i("${EMPTY:+alt}"), Ok("".into()));
        assert_eq!(i("${EMPTY+alt}"), Ok("alt".into()));
        assert_eq!(i("${UNSET+alt}"), Ok("".into()));
    }

    #[test]
    fn dollar_escapes() {
        assert_eq!(i("$$"), Ok("$".into()));
        assert_eq!(i("$$SET"), Ok("$SET".into()));
        assert_eq!(i("a$$$SET"), Ok("a$value".into()));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "${",
            "${SET",
            "${}",
            "$",
            "a $ b",
            "${1A}",
            "${SET:x}",
            "${UNSET:-x",
        ] {
            assert!(
                matches!(i(bad), Err(InterpolateError::Syntax { .. })),
                "{bad:?} should fail"
            );
        }
    }

    #[test]
    fn trees_report_the_key_path_and_place() {
        let mut n = crate::yaml::parse(
            "services:\n  web:\n    image: ${IMG:?need an image}\n    environment: [A=$SET]\n",
            "c.yaml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = interpolate_tree(&mut n, "", &env).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("c.yaml:3:12: services.web.image: required variable IMG is missing a value: need an image".into())
        );
        let mut n =
            crate::yaml::parse("a: [x$SET]\nb: 3\n", "c.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert!(interpolate_tree(&mut n, "", &env).is_ok());
        assert_eq!(
            n.get("a").map(|a| a.to_json()),
            Some(serde_json::json!(["xvalue"]))
        );
    }
}
