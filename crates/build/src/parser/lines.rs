//! The Dockerfile's physical layout → logical instructions (`Node`s): parser directives at the
//! top (`# escape=`, `# syntax=`, `# check=`), comments and blank lines skipped, line
//! continuations with the escape character (comment and blank lines inside a continuation are
//! dropped, as BuildKit does), the instruction keyword, leading `--flags`, and the here-documents
//! (`<<EOF`, `<<-EOF`, `<<"EOF"`) that follow `RUN`, `COPY` and `ADD` lines.

use super::ParseError;

/// One here-document: its name, its body (each line with its newline), and whether variables in
/// it expand (an unquoted name) as BuildKit does for `COPY <<EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    pub expand: bool,
    /// The whole word as written (`<<-"EOF"`, `3<<EOF`).
    pub word: String,
}

/// One logical instruction, before its arguments are interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The keyword in lower case (`run`, `copy`).
    pub keyword: String,
    /// `--name=value` (or `--name`, value `None`) flags before the arguments, in order.
    pub flags: Vec<(String, Option<String>)>,
    /// The arguments after the flags, continuations joined.
    pub rest: String,
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written, continuations joined (for messages and history).
    pub original: String,
}

/// The parsed directives and instructions of one Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub escape: char,
    pub syntax: Option<String>,
    pub nodes: Vec<Node>,
}

/// `# name=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim_start().strip_prefix('#')?.trim();
    let (name, value) = body.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing escape character (and whitespace after it); true when the line continues.
fn continues(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(head) => (head, true),
        None => (line, false),
    }
}

/// Splits the logical line `KEYWORD [--flags] args`.
fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(|c: char| c.is_whitespace()) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// Leading `--name[=value]` flags (a lone `--` is an argument, as in BuildKit).
fn split_flags(mut rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        if after.is_empty() || after.starts_with(char::is_whitespace) {
            break;
        }
        let end = flag_end(after);
        let word = &after[..end];
        match word.split_once('=') {
            Some((n, v)) => flags.push((n.to_ascii_lowercase(), Some(v.to_string()))),
            None => flags.push((word.to_ascii_lowercase(), None)),
        }
        rest = after[end..].trim_start();
    }
    (flags, rest)
}

/// The end of a flag word: the first unquoted whitespace.
fn flag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match quote {
            None if c.is_whitespace() => return i,
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if q == c => quote = None,
            _ => {}
        }
    }
    s.len()
}

/// The here-document words in an instruction's arguments, in order.
fn heredoc_words(rest: &str, escape: char) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    for word in super::lex::split_words(rest, escape) {
        let digits = word.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(after) = digits.strip_prefix("<<") else {
            continue;
        };
        let (strip_tabs, name) = match after.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, after),
        };
        if name.is_empty() || name.starts_with('<') {
            continue;
        }
        let quoted = name.contains('"') || name.contains('\'');
        let name = super::lex::unquote(name, escape).unwrap_or_else(|_| name.to_string());
        if name.is_empty() {
            continue;
        }
        out.push((word.clone(), name, strip_tabs, !quoted));
    }
    out
}

/// Parses the text of a Dockerfile into directives and logical instructions.
pub fn parse_lines(text: &str) -> Result<Parsed, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen: Vec<String> = Vec::new();
    let mut i = 0;
    // A UTF-8 byte-order mark on the first line is ignored.
    let first = lines.first().map(|l| l.trim_start_matches('\u{feff}'));
    while i < lines.len() {
        let line = if i == 0 {
            first.unwrap_or("")
        } else {
            lines[i]
        };
        let Some((name, value)) = directive(line) else {
            break;
        };
        if !matches!(name.as_str(), "escape" | "syntax" | "check") {
            break;
        }
        if seen.contains(&name) {
            return Err(ParseError::at(
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        seen.push(name.clone());
        match name.as_str() {
            "escape" => {
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::at(
                            i + 1,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(value),
            _ => {}
        }
        i += 1;
    }

    let mut nodes = Vec::new();
    while i < lines.len() {
        let raw = if i == 0 {
            first.unwrap_or("")
        } else {
            lines[i]
        };
        if raw.trim().is_empty() || is_comment(raw) {
            i += 1;
            continue;
        }
        let start = i + 1;
        let (head, mut more) = continues(raw.trim_start(), escape);
        let mut logical = head.to_string();
        i += 1;
        while more && i < lines.len() {
            let l = lines[i];
            i += 1;
            if is_comment(l) || l.trim().is_empty() {
                continue;
            }
            let (part, again) = continues(l, escape);
            logical.push_str(part);
            more = again;
        }
        let (keyword, rest) = split_keyword(&logical);
        if !keyword.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ParseError::at(
                start,
                format!("unknown instruction: {keyword}"),
            ));
        }
        let keyword = keyword.to_ascii_lowercase();
        let (flags, args) = split_flags(rest);
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "run" | "copy" | "add") {
            for (word, name, strip_tabs, expand) in heredoc_words(args, escape) {
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == name {
                        closed = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !closed {
                    return Err(ParseError::at(
                        start,
                        format!("unterminated heredoc {name}: no line '{name}' ends it"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    body,
                    expand,
                    word,
                });
            }
        }
        nodes.push(Node {
            line: start,
            keyword,
            flags,
            rest: args.trim_end().to_string(),
            heredocs,
            original: logical.trim().to_string(),
        });
    }
    Ok(Parsed {
        escape,
        syntax,
        nodes,
    })
}
