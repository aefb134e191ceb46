//! Word splitting and variable expansion, as Docker's shell lexer does them for the instructions
//! that expand (`ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR ARG ONBUILD`-less):
//! single quotes are literal, double quotes allow `$` expansions and escape only `"`, `$` and the
//! escape character, an unquoted escape makes the next character literal. Expansions: `$v`, `${v}`,
//! `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`; an unset variable is empty.
//! Pure: the environment is a lookup function.

use std::iter::Peekable;
use std::str::Chars;

/// Why a word could not be expanded; the parser adds the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    #[error("missing ':' in substitution")]
    MissingColon,
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("unsupported modifier ({0}) in substitution")]
    Unsupported(char),
    #[error("bad substitution: empty variable name")]
    EmptyName,
}

/// Splits `s` into words at unquoted, unescaped whitespace, keeping quotes and escapes in each
/// word (they are processed by [`expand`]).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            _ if c == escape && quote != Some('\'') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Expands one word: quotes removed, escapes applied, variables substituted from `env`.
pub fn expand(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LexError> {
    Lexer {
        it: word.chars().peekable(),
        escape,
        env,
    }
    .word(None)
}

/// Removes quotes and escapes without substituting anything (`$` stays literal).
pub fn unquote(word: &str, escape: char) -> Result<String, LexError> {
    let mut out = String::new();
    let mut it = word.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => loop {
                match it.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err(LexError::Unterminated("single quote")),
                }
            },
            '"' => loop {
                match it.next() {
                    Some('"') => break,
                    Some(c) if c == escape => match it.peek() {
                        Some(&n) if n == '"' || n == '$' || n == escape => {
                            out.push(n);
                            it.next();
                        }
                        Some(_) => out.push(c),
                        None => {}
                    },
                    Some(c) => out.push(c),
                    None => return Err(LexError::Unterminated("double-quote")),
                }
            },
            c if c == escape => {
                if let Some(n) = it.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

struct Lexer<'a> {
    it: Peekable<Chars<'a>>,
    escape: char,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    /// Reads until the end (or until an unquoted `stop`, which is consumed).
    fn word(&mut self, stop: Option<char>) -> Result<String, LexError> {
        let mut out = String::new();
        loop {
            let Some(&c) = self.it.peek() else {
                if stop.is_some() {
                    return Err(LexError::Unterminated("'}'"));
                }
                return Ok(out);
            };
            if Some(c) == stop {
                self.it.next();
                return Ok(out);
            }
            match c {
                '\'' => {
                    self.it.next();
                    loop {
                        match self.it.next() {
                            Some('\'') => break,
                            Some(c) => out.push(c),
                            None => return Err(LexError::Unterminated("single quote")),
                        }
                    }
                }
                '"' => {
                    self.it.next();
                    self.double_quoted(&mut out)?;
                }
                '$' => {
                    self.it.next();
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                c if c == self.escape => {
                    self.it.next();
                    if let Some(n) = self.it.next() {
                        out.push(n);
                    }
                }
                c => {
                    self.it.next();
                    out.push(c);
                }
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), LexError> {
        loop {
            match self.it.next() {
                None => return Err(LexError::Unterminated("double-quote")),
                Some('"') => return Ok(()),
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(c) if c == self.escape => match self.it.peek() {
                    Some(&n) if n == '"' || n == '$' || n == self.escape => {
                        out.push(n);
                        self.it.next();
                    }
                    Some(_) => out.push(c),
                    None => {}
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.it.peek().is_some_and(|c| c.is_ascii_digit()) {
            while let Some(&c) = self.it.peek().filter(|c| c.is_ascii_digit()) {
                name.push(c);
                self.it.next();
            }
            return name;
        }
        while let Some(&c) = self.it.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
            name.push(c);
            self.it.next();
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// After a `$`: a name, `{...}`, or a literal `$`.
    fn dollar(&mut self) -> Result<String, LexError> {
        if self.it.peek() != Some(&'{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.it.next();
        let name = self.name();
        if name.is_empty() {
            return Err(LexError::EmptyName);
        }
        let value = self.lookup(&name);
        let Some(c) = self.it.next() else {
            return Err(LexError::Unterminated("'}'"));
        };
        let (colon, op) = match c {
            '}' => return Ok(value.unwrap_or_default()),
            ':' => match self.it.next() {
                Some(op @ ('-' | '+' | '?')) => (true, op),
                Some(other) => return Err(LexError::Unsupported(other)),
                None => return Err(LexError::Unterminated("'}'")),
            },
            op @ ('-' | '+' | '?') => (false, op),
            other => return Err(LexError::Unsupported(other)),
        };
        let word = self.word(Some('}'))?;
        let set = match (&value, colon) {
            (Some(v), true) => !v.is_empty(),
            (Some(_), false) => true,
            (None, _) => false,
        };
        Ok(match op {
            '-' if set => value.unwrap_or_default(),
            '-' => word,
            '+' if set => word,
            '+' => String::new(),
            _ if set => value.unwrap_or_default(),
            _ => {
                let message = if word.is_empty() {
                    "is not allowed to be unset".to_string()
                } else {
                    word
                };
                return Err(LexError::Required { name, message });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "a" => Some("apple".into()),
            "e" => Some(String::new()),
            "sp" => Some("x y".into()),
            "1" => Some("one".into()),
            _ => None,
        }
    }

    fn x(w: &str) -> String {
        expand(w, '\\', &env).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn plain_and_braced_names() {
        assert_eq!(x("$a"), "apple");
        assert_eq!(x("${a}"), "apple");
        assert_eq!(x("${a}s"), "apples");
        assert_eq!(x("$a.txt"), "apple.txt");
        assert_eq!(x("pre$a-post"), "preapple-post");
        assert_eq!(x("$nope"), "");
        assert_eq!(x("${nope}"), "");
        assert_eq!(x("$1x"), "onex");
    }

    #[test]
    fn dollar_alone_is_literal() {
        assert_eq!(x("$"), "$");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$-x"), "$-x");
        assert_eq!(x("100$ "), "100$ ");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(x("${a:-w}"), "apple");
        assert_eq!(x("${e:-w}"), "w");
        assert_eq!(x("${nope:-w}"), "w");
        assert_eq!(x("${a-w}"), "apple");
        assert_eq!(x("${e-w}"), "");
        assert_eq!(x("${nope-w}"), "w");
        assert_eq!(x("${a:+w}"), "w");
        assert_eq!(x("${e:+w}"), "");
        assert_eq!(x("${nope:+w}"), "");
        assert_eq!(x("${a+w}"), "w");
        assert_eq!(x("${e+w}"), "w");
        assert_eq!(x("${nope+w}"), "");
    }

    #[test]
    fn nested_words_expand() {
        assert_eq!(x("${nope:-$a}"), "apple");
        assert_eq!(x("${nope:-${e:-deep}}"), "deep");
        assert_eq!(x("${a:+[$a]}"), "[apple]");
        assert_eq!(x("${nope:-a b}"), "a b");
    }

    #[test]
    fn required_variables() {
        assert_eq!(x("${a:?gone}"), "apple");
        assert_eq!(x("${nope:?gone}"), "ERR nope: gone");
        assert_eq!(x("${e:?}"), "ERR e: is not allowed to be unset");
        assert_eq!(x("${e?}"), "");
    }

    #[test]
    fn quotes() {
        assert_eq!(x("'$a'"), "$a");
        assert_eq!(x("\"$a\""), "apple");
        assert_eq!(x("\"a b\""), "a b");
        assert_eq!(x("'a\\b'"), "a\\b");
        assert_eq!(x("\"a\\\"b\""), "a\"b");
        assert_eq!(x("\"a\\$a\""), "a$a");
        assert_eq!(x("\"a\\nb\""), "a\\nb");
        assert_eq!(x("x'y'\"z\""), "xyz");
    }

    #[test]
    fn escapes() {
        assert_eq!(x("\\$a"), "$a");
        assert_eq!(x("\\\\"), "\\");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("\\${a}"), "${a}");
        assert_eq!(x("end\\"), "end");
        assert_eq!(expand("`$a", '`', &env).as_deref(), Ok("$a"));
        assert_eq!(expand("c:\\dir", '`', &env).as_deref(), Ok("c:\\dir"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            x("'open"),
            "ERR unexpected end of statement while looking for matching single quote"
        );
        assert_eq!(
            x("\"open"),
            "ERR unexpected end of statement while looking for matching double-quote"
        );
        assert_eq!(
            x("${a"),
            "ERR unexpected end of statement while looking for matching '}'"
        );
        assert_eq!(
            x("${a:-w"),
            "ERR unexpected end of statement while looking for matching '}'"
        );
        assert_eq!(x("${}"), "ERR bad substitution: empty variable name");
        assert_eq!(x("${a%b}"), "ERR unsupported modifier (%) in substitution");
    }

    #[test]
    fn splitting_keeps_quotes_for_expansion() {
        assert_eq!(split_words("a  b\tc", '\\'), ["a", "b", "c"]);
        assert_eq!(
            split_words("a=\"x y\" b='1 2'", '\\'),
            ["a=\"x y\"", "b='1 2'"]
        );
        assert_eq!(split_words("a\\ b c", '\\'), ["a\\ b", "c"]);
        assert_eq!(split_words("a`  b", '`'), ["a` ", "b"]);
        assert!(split_words("   ", '\\').is_empty());
    }

    #[test]
    fn unquote_leaves_dollars() {
        assert_eq!(unquote("\"$a b\"", '\\').as_deref(), Ok("$a b"));
        assert_eq!(unquote("'x'y\\ z", '\\').as_deref(), Ok("xy z"));
        assert!(unquote("'x", '\\').is_err());
    }
}
