//! `.dockerignore`: one pattern a line (`#` comments, blank lines skipped), cleaned like Go's
//! `filepath.Clean` with a leading `/` dropped; `!` makes an exception; the last pattern that
//! matches a path decides; a path is also excluded when one of its parent directories is.
//! Patterns are Go's `filepath.Match` (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) plus `**` for any
//! number of directories.

/// One line of a `.dockerignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    exception: bool,
}

/// The patterns of a `.dockerignore` (empty: nothing is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// `filepath.Clean` on a slash-separated relative path (`..` kept when it leads out).
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

impl Ignore {
    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, line),
            };
            let cleaned = clean(body.trim_start_matches('/'));
            if cleaned.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                segments: cleaned.split('/').map(str::to_string).collect(),
                exception,
            });
        }
        Ignore { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() || self.patterns.is_empty() {
            return false;
        }
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            // The path itself or one of its parents.
            let hit = (1..=parts.len()).any(|n| match_segments(&p.segments, &parts[..n]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether some exception might re-include something under the excluded directory `dir`
    /// (then the walk must still look inside it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|i| match_segments(rest, &path[i..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob(first, p) && match_segments(rest, prest),
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one path segment.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| glob_at(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some((&c, rest)) = n.split_first() else {
                return false;
            };
            match class(&p[1..], c) {
                Some((true, used)) => glob_at(&p[1 + used..], rest),
                _ => false,
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

/// Matches `c` against a class body (after `[`); returns (matched, chars used incl. `]`).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &lo = p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
            let mut hi = *p.get(i + 1)?;
            i += 2;
            if hi == '\\' {
                hi = *p.get(i)?;
                i += 1;
            }
            hit |= lo <= c && c <= hi;
        } else {
            hit |= lo == c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.md", "README.md"));
        assert!(!glob("*.md", "README.mdx"));
        assert!(glob("a?c", "abc"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[^a-c]x", "bx"));
        assert!(glob("[!a-c]x", "dx"));
        assert!(glob("\\*", "*"));
        assert!(!glob("\\*", "a"));
        assert!(!glob("[a", "a"));
    }

    #[test]
    fn patterns_and_parents() {
        let i = Ignore::parse("# comment\n\n*.log\n/build\nsecret.txt\ndocs/**/*.tmp\n");
        assert!(i.excludes("x.log"));
        assert!(!i.excludes("sub/x.log"));
        assert!(i.excludes("build"));
        assert!(i.excludes("build/out/a.o"));
        assert!(i.excludes("secret.txt"));
        assert!(i.excludes("./secret.txt"));
        assert!(i.excludes("docs/a.tmp"));
        assert!(i.excludes("docs/x/y/a.tmp"));
        assert!(!i.excludes("docs/a.txt"));
        assert!(!i.excludes("src/main.rs"));
    }

    #[test]
    fn exceptions_last_wins() {
        let i = Ignore::parse("*.md\n!README.md\nREADME*.md\n");
        assert!(i.excludes("a.md"));
        assert!(i.excludes("README.md"));
        let i = Ignore::parse("*.md\n!README.md\n");
        assert!(!i.excludes("README.md"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn double_star() {
        let i = Ignore::parse("**/node_modules\n**\n!keep\n");
        assert!(i.excludes("a"));
        assert!(!i.excludes("keep"));
        assert!(i.excludes("x/node_modules"));
        let i = Ignore::parse("**/*.go");
        assert!(i.excludes("a.go"));
        assert!(i.excludes("a/b/c.go"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/../../b"), "../b");
        let i = Ignore::parse("a/../b\n/\n.\n");
        assert!(i.excludes("b"));
        assert!(!i.excludes("a"));
    }
}
