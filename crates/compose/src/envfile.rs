//! `.env` and `env_file` files as Compose reads them: `KEY=VALUE` lines, `export KEY=VALUE`,
//! comments, single quotes (literal), double quotes (`\n`, `\t`, `\\`, `\"` escapes, and
//! `${VAR}` interpolated from what is already known), unquoted values with a trailing ` #`
//! comment cut off, and a bare `KEY` taking its value from the environment (or left unset).

use crate::interpolate::interpolate;

/// A `.env` line Compose cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct EnvFileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Parses an env file's text. `lookup` gives values for interpolation and bare keys (the process
/// environment, then earlier lines of the same file). Returns pairs in file order; a bare key
/// with no value anywhere maps to `None`.
pub fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, EnvFileError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let err = |line: usize, message: String| EnvFileError {
        file: file.to_string(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, rest) = match line.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v)),
            None => (line.trim_end(), None),
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(err(line_no, format!("invalid variable name {key:?}")));
        }
        let known = |name: &str| -> Option<String> {
            lookup(name).or_else(|| {
                out.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.clone())
            })
        };
        let value = match rest {
            None => known(key),
            Some(v) => {
                let v = v.trim_start();
                if let Some(body) = v.strip_prefix('\'') {
                    let mut body = body.to_string();
                    while !body.contains('\'') {
                        match lines.next() {
                            Some((_, more)) => {
                                body.push('\n');
                                body.push_str(more);
                            }
                            None => {
                                return Err(err(line_no, format!("unterminated quote in {key}")))
                            }
                        }
                    }
                    let end = body.find('\'').unwrap_or(body.len());
                    Some(body[..end].to_string())
                } else if let Some(body) = v.strip_prefix('"') {
                    let mut body = body.to_string();
                    while closing_quote(&body).is_none() {
                        match lines.next() {
                            Some((_, more)) => {
                                body.push('\n');
                                body.push_str(more);
                            }
                            None => {
                                return Err(err(line_no, format!("unterminated quote in {key}")))
                            }
                        }
                    }
                    let end = closing_quote(&body).unwrap_or(body.len());
                    let unescaped = unescape(&body[..end]);
                    Some(
                        interpolate(&unescaped, &known)
                            .map_err(|e| err(line_no, format!("{key}: {e}")))?,
                    )
                } else {
                    let v = match v.find(" #") {
                        Some(i) => &v[..i],
                        None => v,
                    };
                    Some(
                        interpolate(v.trim_end(), &known)
                            .map_err(|e| err(line_no, format!("{key}: {e}")))?,
                    )
                }
            }
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn parse_ok(text: &str) -> Vec<(String, Option<String>)> {
        parse(text, ".env", &|k| {
            (k == "HOME").then(|| "/root".to_string())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn get(v: &[(String, Option<String>)], k: &str) -> Option<String> {
        v.iter().find(|(x, _)| x == k).and_then(|(_, v)| v.clone())
    }

    #[test]
    fn forms_of_lines() {
        let v = parse_ok(
            "# comment\nA=1\nexport B=two\nC = spaced \nD='lit $A # x'\nE=\"q\\n$A\"\nF=x #comment\nG=a#b\nHOME\nNOPE\nH=${A}-${MISSING:-d}\n",
        );
        assert_eq!(get(&v, "A").as_deref(), Some("1"));
        assert_eq!(get(&v, "B").as_deref(), Some("two"));
        assert_eq!(get(&v, "C").as_deref(), Some("spaced"));
        assert_eq!(get(&v, "D").as_deref(), Some("lit $A # x"));
        assert_eq!(get(&v, "E").as_deref(), Some("q\n1"));
        assert_eq!(get(&v, "F").as_deref(), Some("x"));
        assert_eq!(get(&v, "G").as_deref(), Some("a#b"));
        assert_eq!(get(&v, "HOME").as_deref(), Some("/root"));
        assert!(v.iter().any(|(k, v)| k == "NOPE" && v.is_none()));
        assert_eq!(get(&v, "H").as_deref(), Some("1-d"));
    }

    #[test]
    fn multi_line_quotes_and_later_lines_win() {
        let v = parse_ok("A=\"one\ntwo\"\nB='x\ny'\nA=3\n");
        assert_eq!(get(&v, "A").as_deref(), Some("3"));
        assert_eq!(get(&v, "B").as_deref(), Some("x\ny"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("A=1\nBAD KEY=2\n", "x.env", &none).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("x.env:2: invalid variable name \"BAD KEY\"".into())
        );
        assert!(parse("A=\"open\n", "x.env", &none).is_err());
        assert!(parse("A=${B:?needed}\n", "x.env", &none).is_err());
    }
}
