//! The parser of the Go `text/template` subset docker's `--format` uses: text and `{{ }}` actions
//! with `{{-`/`-}}` trimming and comments; pipelines of commands joined by `|`; operands `.`,
//! `.A.B`, `$`, `$x.A`, string/raw-string/number/bool literals, `(sub pipelines)` and function
//! calls; `if`/`else if`/`else`, `range` (with `$i, $e :=`), `with`, and `$x := ...` variables.

use std::fmt;

/// A template parse error, with the offending position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template parsing error: {}", self.0)
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipeline),
    If {
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `$a, $b := cmd | cmd`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub decl: Vec<String>,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.A.B` (empty path: `.`).
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the name "").
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// A function name.
    Func(String),
    /// `(pipeline).A.B`.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Ident(String),
    Pipe,
    Open,
    Close(Vec<String>),
    Declare,
    Comma,
}

/// Parses a template text.
pub fn parse(src: &str) -> Result<Template, ParseError> {
    let items = split_actions(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(&items, &mut pos)?;
    match end {
        None => Ok(Template { nodes }),
        Some(kw) => Err(ParseError(format!("unexpected {{{{{kw}}}}}"))),
    }
}

enum Item {
    Text(String),
    Action(Vec<Tok>),
}

fn split_actions(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next { rest.trim_start() } else { rest };
            items.push(Item::Text(text.to_string()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let body_start = if trim_left { 2 } else { 0 };
        let close =
            find_close(&after[body_start..]).ok_or_else(|| ParseError("unclosed action".into()))?;
        let mut inner = &after[body_start..body_start + close];
        trim_next = false;
        if inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-") {
            inner = &inner[..inner.len() - 2];
            trim_next = true;
        }
        rest = &after[body_start + close + 2..];
        let inner_t = inner.trim();
        if inner_t.starts_with("/*") {
            if !inner_t.ends_with("*/") {
                return Err(ParseError("unclosed comment".into()));
            }
            continue;
        }
        items.push(Item::Action(lex(inner_t)?));
    }
    Ok(items)
}

/// Finds the `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(s: &str) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let fields = |i: &mut usize| -> Vec<String> {
        let mut path = Vec::new();
        while *i < chars.len()
            && chars[*i] == '.'
            && chars.get(*i + 1).is_some_and(|c| is_ident(*c))
        {
            *i += 1;
            let start = *i;
            while *i < chars.len() && is_ident(chars[*i]) {
                *i += 1;
            }
            path.push(chars[start..*i].iter().collect());
        }
        path
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1
            }
            ')' => {
                i += 1;
                toks.push(Tok::Close(fields(&mut i)));
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2
            }
            '=' => {
                toks.push(Tok::Declare);
                i += 1
            }
            '.' => {
                let path = fields(&mut i);
                if path.is_empty() {
                    i += 1;
                }
                toks.push(Tok::Field(path));
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                toks.push(Tok::Var(name, fields(&mut i)));
            }
            '"' => {
                i += 1;
                let mut out = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(ParseError("unterminated quoted string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().unwrap_or('\\');
                            i += 1;
                            out.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        }
                        c => out.push(c),
                    }
                }
                toks.push(Tok::Str(out));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or_else(|| ParseError("unterminated raw quoted string".into()))?;
                toks.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                toks.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(ParseError(format!("unexpected {other:?} in command"))),
        }
    }
    Ok(toks)
}

const KEYWORDS: [&str; 6] = ["if", "else", "end", "range", "with", "template"];

fn parse_list(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), ParseError> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        let toks = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Item::Action(t) => t,
        };
        let kw = match toks.first() {
            Some(Tok::Ident(k)) if KEYWORDS.contains(&k.as_str()) => k.as_str(),
            _ => {
                nodes.push(Node::Action(parse_pipeline(toks)?));
                continue;
            }
        };
        match kw {
            "end" => return Ok((nodes, Some("end".into()))),
            "else" => {
                // `else if ...` is passed up as its own terminator with the rest of the action.
                if toks.len() > 1 {
                    return Ok((nodes, Some(format!("else:{}", *pos - 1))));
                }
                return Ok((nodes, Some("else".into())));
            }
            "template" => return Err(ParseError("{{template}} is not supported".into())),
            _ => {
                let pipe = parse_pipeline(&toks[1..])?;
                nodes.push(parse_block(kw, pipe, items, pos)?);
            }
        }
    }
    Ok((nodes, None))
}

fn parse_block(
    kw: &str,
    pipe: Pipeline,
    items: &[Item],
    pos: &mut usize,
) -> Result<Node, ParseError> {
    let (body, end) = parse_list(items, pos)?;
    let otherwise = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => {
            let (o, end2) = parse_list(items, pos)?;
            if end2.as_deref() != Some("end") {
                return Err(ParseError(format!(
                    "expected {{{{end}}}} after {{{{else}}}} of {{{{{kw}}}}}"
                )));
            }
            o
        }
        Some(e) if e.starts_with("else:") => {
            // `{{else if cond}}` / `{{else with x}}`: a nested block that consumes our `end`.
            let idx: usize = e[5..].parse().map_err(|_| ParseError("bad else".into()))?;
            let Item::Action(toks) = &items[idx] else {
                return Err(ParseError("bad else".into()));
            };
            let Some(Tok::Ident(inner_kw)) = toks.get(1) else {
                return Err(ParseError("expected if or with after else".into()));
            };
            let inner_pipe = parse_pipeline(&toks[2..])?;
            vec![parse_block(&inner_kw.clone(), inner_pipe, items, pos)?]
        }
        _ => {
            return Err(ParseError(format!(
                "unexpected EOF: missing {{{{end}}}} for {{{{{kw}}}}}"
            )))
        }
    };
    Ok(match kw {
        "if" => Node::If {
            pipe,
            then: body,
            otherwise,
        },
        "range" => Node::Range {
            pipe,
            body,
            otherwise,
        },
        "with" => Node::With {
            pipe,
            body,
            otherwise,
        },
        other => return Err(ParseError(format!("unexpected {other}"))),
    })
}

fn parse_pipeline(toks: &[Tok]) -> Result<Pipeline, ParseError> {
    let mut decl = Vec::new();
    let mut rest = toks;
    if let Some(p) = toks.iter().position(|t| *t == Tok::Declare) {
        for t in &toks[..p] {
            match t {
                Tok::Var(v, path) if path.is_empty() => decl.push(v.clone()),
                Tok::Comma => {}
                _ => return Err(ParseError("bad variable declaration".into())),
            }
        }
        rest = &toks[p + 1..];
    }
    let mut cmds = Vec::new();
    let mut i = 0;
    let mut cur = Vec::new();
    while i < rest.len() {
        match &rest[i] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err(ParseError("missing command before |".into()));
                }
                cmds.push(std::mem::take(&mut cur));
                i += 1;
            }
            _ => {
                let (arg, next) = parse_arg(rest, i)?;
                cur.push(arg);
                i = next;
            }
        }
    }
    if cur.is_empty() {
        return Err(ParseError("missing value for command".into()));
    }
    cmds.push(cur);
    Ok(Pipeline { decl, cmds })
}

fn parse_arg(toks: &[Tok], i: usize) -> Result<(Arg, usize), ParseError> {
    let arg = match &toks[i] {
        Tok::Field(p) => Arg::Field(p.clone()),
        Tok::Var(v, p) => Arg::Var(v.clone(), p.clone()),
        Tok::Str(s) => Arg::Str(s.clone()),
        Tok::Num(n) => match n.parse::<i64>() {
            Ok(v) => Arg::Int(v),
            Err(_) => Arg::Float(
                n.parse()
                    .map_err(|_| ParseError(format!("bad number syntax: {n:?}")))?,
            ),
        },
        Tok::Ident(w) => match w.as_str() {
            "true" => Arg::Bool(true),
            "false" => Arg::Bool(false),
            "nil" => Arg::Nil,
            _ => Arg::Func(w.clone()),
        },
        Tok::Open => {
            let mut depth = 0;
            let mut j = i;
            loop {
                match toks.get(j) {
                    Some(Tok::Open) => depth += 1,
                    Some(Tok::Close(path)) => {
                        depth -= 1;
                        if depth == 0 {
                            let inner = parse_pipeline(&toks[i + 1..j])?;
                            return Ok((Arg::Sub(Box::new(inner), path.clone()), j + 1));
                        }
                    }
                    None => return Err(ParseError("unclosed left paren".into())),
                    _ => {}
                }
                j += 1;
            }
        }
        Tok::Close(_) => return Err(ParseError("unexpected right paren".into())),
        Tok::Comma | Tok::Declare | Tok::Pipe => {
            return Err(ParseError("unexpected token in operand".into()))
        }
    };
    Ok((arg, i + 1))
}
