//! Executes parsed templates over JSON values with Go's semantics (truthiness, `<no value>`
//! for missing keys, Go-style printing of maps and lists) and docker's template functions:
//! `json`, `join`, `split`, `lower`, `upper`, `title`, `truncate`, `pad`, `index`, `len`,
//! `print`, `printf`, `println`, `eq`/`ne`/`lt`/`le`/`gt`/`ge`, `and`, `or`, `not`.

use super::template::{Arg, Node, Pipeline, Template};
use serde_json::Value;
use std::fmt::Write as _;

/// An execution error (bad function, wrong argument types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError(pub String);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

type R<T> = Result<T, ExecError>;

/// A missing map key: prints as `<no value>`, is false, and is distinct from JSON null.
fn missing() -> Value {
    Value::String("\u{0}<no value>".into())
}

struct Scope<'a> {
    dot: Value,
    vars: Vec<(String, Value)>,
    out: &'a mut String,
}

/// Renders `t` with `data` as `.` (and `$`).
pub fn execute(t: &Template, data: &Value) -> R<String> {
    let mut out = String::new();
    let mut s = Scope {
        dot: data.clone(),
        vars: vec![(String::new(), data.clone())],
        out: &mut out,
    };
    walk(&t.nodes, &mut s)?;
    Ok(out)
}

fn walk(nodes: &[Node], s: &mut Scope<'_>) -> R<()> {
    for n in nodes {
        match n {
            Node::Text(t) => s.out.push_str(t),
            Node::Action(p) => {
                let v = pipeline(p, s)?;
                if p.decl.is_empty() {
                    s.out.push_str(&to_text(&v));
                }
            }
            Node::If {
                pipe,
                then,
                otherwise,
            } => {
                let v = pipeline(pipe, s)?;
                walk(if truthy(&v) { then } else { otherwise }, s)?;
            }
            Node::With {
                pipe,
                body,
                otherwise,
            } => {
                let v = pipeline(pipe, s)?;
                if truthy(&v) {
                    let saved = std::mem::replace(&mut s.dot, v);
                    walk(body, s)?;
                    s.dot = saved;
                } else {
                    walk(otherwise, s)?;
                }
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                let v = pipeline(
                    &Pipeline {
                        decl: Vec::new(),
                        cmds: pipe.cmds.clone(),
                    },
                    s,
                )?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (Value::from(i), e.clone()))
                        .collect(),
                    Value::Object(m) => {
                        let mut keys: Vec<&String> = m.keys().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| (Value::String(k.clone()), m[k].clone()))
                            .collect()
                    }
                    Value::Null => Vec::new(),
                    v if is_missing(v) => Vec::new(),
                    Value::Number(n) => (0..n.as_i64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    other => {
                        return Err(ExecError(format!(
                            "range can't iterate over {}",
                            to_text(other)
                        )))
                    }
                };
                if items.is_empty() {
                    walk(otherwise, s)?;
                    continue;
                }
                let saved_dot = s.dot.clone();
                let depth = s.vars.len();
                for (k, e) in items {
                    s.vars.truncate(depth);
                    match pipe.decl.as_slice() {
                        [one] => s.vars.push((one.clone(), e.clone())),
                        [a, b] => {
                            s.vars.push((a.clone(), k));
                            s.vars.push((b.clone(), e.clone()));
                        }
                        _ => {}
                    }
                    s.dot = e;
                    walk(body, s)?;
                }
                s.vars.truncate(depth);
                s.dot = saved_dot;
            }
        }
    }
    Ok(())
}

fn pipeline(p: &Pipeline, s: &mut Scope<'_>) -> R<Value> {
    let mut piped: Option<Value> = None;
    for cmd in &p.cmds {
        piped = Some(command(cmd, piped.take(), s)?);
    }
    let v = piped.unwrap_or(Value::Null);
    if let Some(name) = p.decl.first() {
        s.vars.push((name.clone(), v.clone()));
    }
    Ok(v)
}

fn command(args: &[Arg], piped: Option<Value>, s: &mut Scope<'_>) -> R<Value> {
    if let Some(Arg::Func(name)) = args.first() {
        let mut vals = Vec::with_capacity(args.len());
        for a in &args[1..] {
            vals.push(operand(a, s)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        return call(name, &vals);
    }
    if args.len() > 1 || piped.is_some() {
        return Err(ExecError("can't give argument to non-function".into()));
    }
    match args.first() {
        Some(a) => operand(a, s),
        None => Ok(Value::Null),
    }
}

fn operand(a: &Arg, s: &mut Scope<'_>) -> R<Value> {
    Ok(match a {
        Arg::Field(path) => lookup(&s.dot, path),
        Arg::Var(name, path) => {
            let v = s
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone());
            let v = v.ok_or_else(|| ExecError(format!("undefined variable: ${name}")))?;
            lookup(&v, path)
        }
        Arg::Str(t) => Value::String(t.clone()),
        Arg::Int(i) => Value::from(*i),
        Arg::Float(f) => Value::from(*f),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Nil => Value::Null,
        Arg::Func(name) => call(name, &[])?,
        Arg::Sub(p, path) => {
            let v = pipeline(p, s)?;
            lookup(&v, path)
        }
    })
}

fn lookup(v: &Value, path: &[String]) -> Value {
    let mut cur = v.clone();
    for key in path {
        cur = match &cur {
            Value::Object(m) => m.get(key).cloned().unwrap_or_else(missing),
            _ => return missing(),
        };
    }
    cur
}

fn is_missing(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == "\u{0}<no value>")
}

/// Go's truth: false, 0, nil, and empty strings, lists and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && !is_missing(v),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Prints a value as Go's `fmt.Sprint` would print the equivalent Go value.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => {
                let f = n.as_f64().unwrap_or(0.0);
                if f.abs() >= 1e21 {
                    format!("{f:e}")
                } else {
                    f.to_string()
                }
            }
        },
        Value::String(s) if is_missing(v) => s[1..].to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", to_text(&m[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> R<()> {
    if args.len() != n {
        return Err(ExecError(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn as_int(name: &str, v: &Value) -> R<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ExecError(format!("{name}: expected an integer, got {}", to_text(v))))
}

fn call(name: &str, a: &[Value]) -> R<Value> {
    let text = |i: usize| a.get(i).map(to_text).unwrap_or_default();
    Ok(match name {
        "json" => {
            arity(name, a, 1)?;
            let v = if is_missing(&a[0]) {
                Value::Null
            } else {
                a[0].clone()
            };
            Value::String(go_json(&v)?)
        }
        "join" => {
            arity(name, a, 2)?;
            match &a[0] {
                Value::Array(items) => {
                    Value::String(items.iter().map(to_text).collect::<Vec<_>>().join(&text(1)))
                }
                other => Value::String(to_text(other)),
            }
        }
        "split" => {
            arity(name, a, 2)?;
            Value::Array(
                text(0)
                    .split(text(1).as_str())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            )
        }
        "lower" => Value::String(text(0).to_lowercase()),
        "upper" => Value::String(text(0).to_uppercase()),
        "title" => Value::String(
            text(0)
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "truncate" => {
            arity(name, a, 2)?;
            let n = as_int(name, &a[1])?.max(0) as usize;
            Value::String(text(0).chars().take(n).collect())
        }
        "pad" => {
            arity(name, a, 3)?;
            let (l, r) = (
                as_int(name, &a[1])?.max(0) as usize,
                as_int(name, &a[2])?.max(0) as usize,
            );
            Value::String(format!("{}{}{}", " ".repeat(l), text(0), " ".repeat(r)))
        }
        "len" => {
            arity(name, a, 1)?;
            Value::from(match &a[0] {
                Value::Array(x) => x.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                other => return Err(ExecError(format!("len of {}", to_text(other)))),
            })
        }
        "index" => {
            let mut cur = a.first().cloned().unwrap_or(Value::Null);
            for k in a.iter().skip(1) {
                cur = match (&cur, k) {
                    (Value::Object(m), k) => m.get(&to_text(k)).cloned().unwrap_or_else(missing),
                    (Value::Array(v), k) => {
                        let i = as_int(name, k)?;
                        v.get(i.max(0) as usize)
                            .cloned()
                            .ok_or_else(|| ExecError(format!("index out of range: {i}")))?
                    }
                    _ => {
                        return Err(ExecError(format!(
                            "can't index item of type {}",
                            to_text(&cur)
                        )))
                    }
                };
            }
            cur
        }
        "print" => Value::String(go_print(a, false)),
        "println" => Value::String(go_print(a, true) + "\n"),
        "printf" => {
            let Some(f) = a.first() else {
                return Err(ExecError("printf needs a format".into()));
            };
            Value::String(sprintf(&to_text(f), &a[1..]))
        }
        "not" => {
            arity(name, a, 1)?;
            Value::Bool(!truthy(&a[0]))
        }
        "and" => a
            .iter()
            .find(|v| !truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => a
            .iter()
            .find(|v| truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "eq" => Value::Bool(a.len() >= 2 && a[1..].iter().any(|b| equal(&a[0], b))),
        "ne" => {
            arity(name, a, 2)?;
            Value::Bool(!equal(&a[0], &a[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, a, 2)?;
            let ord = compare(&a[0], &a[1])
                .ok_or_else(|| ExecError(format!("{name}: incompatible types for comparison")))?;
            Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        other => return Err(ExecError(format!("function \"{other}\" not defined"))),
    })
}

/// `json.Marshal` as Go does it: HTML-sensitive characters and line separators escaped.
fn go_json(v: &Value) -> R<String> {
    let text = serde_json::to_string(v).map_err(|e| ExecError(e.to_string()))?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `fmt.Sprint` / `fmt.Sprintln`: spaces between operands when neither is a string (Sprint), always (Sprintln).
fn go_print(a: &[Value], ln: bool) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && (ln || !(matches!(v, Value::String(_)) || matches!(a[i - 1], Value::String(_))))
        {
            out.push(' ');
        }
        out.push_str(&to_text(v));
    }
    out
}

/// A `fmt.Sprintf` subset: `%v %s %d %q %t %x %f %%` with flags `-`, `0` and a width/precision.
pub fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&p) = it.peek() {
            if p.is_ascii_digit() || p == '-' || p == '.' || p == '+' || p == ' ' || p == '#' {
                spec.push(p);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = next.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let left = spec.starts_with('-');
        let zero = spec.trim_start_matches('-').starts_with('0');
        let (w, prec) = match spec
            .trim_start_matches(['-', '+', ' ', '#'])
            .split_once('.')
        {
            Some((w, p)) => (w.parse::<usize>().unwrap_or(0), p.parse::<usize>().ok()),
            None => (
                spec.trim_start_matches(['-', '+', ' ', '#'])
                    .parse::<usize>()
                    .unwrap_or(0),
                None,
            ),
        };
        let body = match verb {
            'q' => serde_json::to_string(&to_text(v)).unwrap_or_default(),
            'd' => v
                .as_f64()
                .map(|n| (n as i64).to_string())
                .unwrap_or_else(|| format!("%!d({})", to_text(v))),
            'f' => v
                .as_f64()
                .map(|n| format!("{n:.*}", prec.unwrap_or(6)))
                .unwrap_or_else(|| format!("%!f({})", to_text(v))),
            'x' => match v.as_i64() {
                Some(n) => format!("{n:x}"),
                None => to_text(v).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => {
                let t = to_text(v);
                match prec {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
        };
        let pad = w.saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&(if zero { "0" } else { " " }).repeat(pad));
            out.push_str(&body);
        }
    }
    out
}
