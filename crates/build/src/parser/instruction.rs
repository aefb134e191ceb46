//! Typed instructions: each `Node` checked against the Dockerfile reference (arguments, forms,
//! allowed flags) into an [`Instruction`]. Words that the instruction expands are kept raw (with
//! their quotes) for the executor to expand with the stage's variables; `RUN`, `CMD`,
//! `ENTRYPOINT` and `SHELL` never expand (the shell does that at run time).

use super::lex::{self, split_words};
use super::lines::{Heredoc, Node};

/// How a command was written: exec form (`["a","b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// One `RUN --mount=` (parsed; the executor says which it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `bind` (the default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    pub target: Option<String>,
    /// The remaining `key[=value]` options (`id`, `source`, `from`, `readonly`, `sharing`, ...).
    pub options: Vec<(String, Option<String>)>,
}

/// `COPY` and `ADD` (raw words; the last source is the destination).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    /// Here-documents among the sources (`COPY <<EOF /dst`), in order.
    pub heredocs: Vec<Heredoc>,
    /// Whether the sources came in JSON form (then they are not split again).
    pub json: bool,
}

/// `HEALTHCHECK` options (durations in nanoseconds, as in the image config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// One Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        mounts: Vec<Mount>,
        network: Option<String>,
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    User(String),
    Workdir(String),
    Volume(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    /// `None` is `HEALTHCHECK NONE`.
    Healthcheck(Option<Health>),
    StopSignal(String),
    /// The trigger as written (`RUN echo hi`).
    OnBuild(String),
    Maintainer(String),
}

/// What was wrong with one instruction; the caller adds the line.
pub type Invalid = String;

pub(super) fn json_form(rest: &str) -> Option<Vec<String>> {
    if !rest.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest.trim()).ok()
}

fn command(rest: &str) -> Command {
    match json_form(rest) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(rest.to_string()),
    }
}

/// Checks the node's flags against `allowed` (names that may repeat end in `*`).
pub(super) fn check_flags(n: &Node, allowed: &[&str]) -> Result<(), Invalid> {
    for (name, _) in &n.flags {
        let ok = allowed
            .iter()
            .any(|a| a.trim_end_matches('*') == name.as_str());
        if !ok {
            return Err(format!("unknown flag: {name}"));
        }
        let once = allowed.contains(&name.as_str());
        if once && n.flags.iter().filter(|(m, _)| m == name).count() > 1 {
            return Err(format!("duplicate flag specified: {name}"));
        }
    }
    Ok(())
}

fn flag<'a>(n: &'a Node, name: &str) -> Option<&'a Option<String>> {
    n.flags.iter().find(|(m, _)| m == name).map(|(_, v)| v)
}

pub(super) fn string_flag(n: &Node, name: &str) -> Result<Option<String>, Invalid> {
    match flag(n, name) {
        None => Ok(None),
        Some(Some(v)) => Ok(Some(v.clone())),
        Some(None) => Err(format!("missing a value on flag: {name}")),
    }
}

fn bool_flag(n: &Node, name: &str) -> Result<bool, Invalid> {
    match flag(n, name) {
        None => Ok(false),
        Some(None) => Ok(true),
        Some(Some(v)) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expecting boolean value for flag {name}, not: {v}")),
        },
    }
}

/// `key=value` pairs (ENV, LABEL); `legacy` allows `ENV key value`.
fn name_values(n: &Node, escape: char, what: &str) -> Result<Vec<(String, String)>, Invalid> {
    let words = split_words(&n.rest, escape);
    if words.is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    if !words[0].contains('=') {
        // The legacy `ENV name value...` form: the value is the rest of the line.
        if what != "ENV" && what != "LABEL" {
            return Err(format!("{what} names can not be blank"));
        }
        let (name, value) = match n.rest.split_once(char::is_whitespace) {
            Some((k, v)) => (k.to_string(), v.trim().to_string()),
            None => return Err(format!("{what} must have two arguments")),
        };
        return Ok(vec![(name, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(format!(
                    "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
                ))
            }
        }
    }
    Ok(out)
}

fn parse_mount(spec: &str) -> Result<Mount, Invalid> {
    let mut kind = "bind".to_string();
    let mut target = None;
    let mut options = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match (k.as_str(), v) {
            ("type", Some(t)) => {
                if !matches!(t.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
                    return Err(format!("unsupported mount type {t:?}"));
                }
                kind = t;
            }
            ("target" | "dst" | "destination", Some(t)) => target = Some(t),
            (k, v) => options.push((k.to_string(), v)),
        }
    }
    if target.is_none() && matches!(kind.as_str(), "bind" | "cache" | "tmpfs") {
        return Err(format!(
            "mount type {kind} requires a target (--mount=type={kind},target=/path)"
        ));
    }
    if kind == "secret" && target.is_none() && !options.iter().any(|(k, _)| k == "id") {
        return Err("mount type secret requires an id or a target".to_string());
    }
    Ok(Mount {
        kind,
        target,
        options,
    })
}

fn copy_spec(n: &Node, escape: char, add: bool) -> Result<CopySpec, Invalid> {
    let what = if add { "ADD" } else { "COPY" };
    if add {
        check_flags(
            n,
            &[
                "chown",
                "chmod",
                "link",
                "exclude*",
                "checksum",
                "keep-git-dir",
            ],
        )?;
    } else {
        check_flags(
            n,
            &["from", "chown", "chmod", "link", "exclude*", "parents"],
        )?;
    }
    let (words, json) = match json_form(&n.rest) {
        Some(v) => (v, true),
        None => (split_words(&n.rest, escape), false),
    };
    if words.len() < 2 {
        return Err(format!(
            "{what} requires at least two arguments, but only {} provided",
            words.len()
        ));
    }
    let (dest, sources) = words
        .split_last()
        .ok_or_else(|| format!("{what} requires at least two arguments"))?;
    if bool_flag(n, "parents")? {
        return Err("COPY --parents is not supported by this builder".to_string());
    }
    let mut exclude = Vec::new();
    for (name, v) in &n.flags {
        if name == "exclude" {
            exclude.push(v.clone().ok_or("missing a value on flag: exclude")?);
        }
    }
    let heredocs = n
        .heredocs
        .iter()
        .filter(|h| sources.contains(&h.word))
        .cloned()
        .collect();
    Ok(CopySpec {
        sources: sources.to_vec(),
        dest: dest.clone(),
        from: string_flag(n, "from")?,
        chown: string_flag(n, "chown")?,
        chmod: string_flag(n, "chmod")?,
        link: bool_flag(n, "link")?,
        exclude,
        checksum: string_flag(n, "checksum")?,
        heredocs,
        json,
    })
}

fn require(n: &Node, what: &str) -> Result<(), Invalid> {
    if n.rest.trim().is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    Ok(())
}

fn exactly_one(n: &Node, escape: char, what: &str) -> Result<String, Invalid> {
    let words = split_words(&n.rest, escape);
    if words.len() != 1 {
        return Err(format!("{what} requires exactly one argument"));
    }
    Ok(words[0].clone())
}

/// Every instruction's keyword.
const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// The keyword a typo most likely meant (edit distance at most 2, BuildKit's hint).
fn suggestion(word: &str) -> Option<&'static str> {
    // Optimal string alignment: a swap of two neighbours counts one edit (`rnu` → `run`).
    let distance = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1)
                    .min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[i - 2][j - 2] + 1);
                }
                d[i][j] = best;
            }
        }
        d[a.len()][b.len()]
    };
    KEYWORDS
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Interprets one node.
pub fn instruction(n: &Node, escape: char) -> Result<Instruction, Invalid> {
    let kw = n.keyword.as_str();
    let upper = kw.to_ascii_uppercase();
    let no_flags = |n: &Node| check_flags(n, &[]);
    Ok(match kw {
        "from" => {
            check_flags(n, &["platform"])?;
            let words = split_words(&n.rest, escape);
            let (image, name) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, kw, name] if kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                    if !ok {
                        return Err(format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols"));
                    }
                    (image.clone(), Some(name))
                }
                _ => return Err("FROM requires either one or three arguments".to_string()),
            };
            Instruction::From {
                image,
                name,
                platform: string_flag(n, "platform")?,
            }
        }
        "run" => {
            check_flags(n, &["mount*", "network", "security"])?;
            require(n, "RUN")?;
            let mut mounts = Vec::new();
            for (name, v) in &n.flags {
                if name == "mount" {
                    mounts.push(parse_mount(
                        v.as_deref().ok_or("missing a value on flag: mount")?,
                    )?);
                }
            }
            let network = string_flag(n, "network")?;
            if let Some(net) = &network {
                if !matches!(net.as_str(), "default" | "none" | "host") {
                    return Err(format!(
                        "unsupported network mode {net:?} (default, none or host)"
                    ));
                }
            }
            let security = string_flag(n, "security")?;
            if let Some(s) = &security {
                if !matches!(s.as_str(), "sandbox" | "insecure") {
                    return Err(format!(
                        "unsupported security mode {s:?} (sandbox or insecure)"
                    ));
                }
            }
            Instruction::Run {
                command: command(&n.rest),
                mounts,
                network,
                security,
                heredocs: n.heredocs.clone(),
            }
        }
        "cmd" | "entrypoint" => {
            no_flags(n)?;
            let c = command(&n.rest);
            if kw == "cmd" {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            }
        }
        "shell" => {
            no_flags(n)?;
            match json_form(&n.rest) {
                Some(v) if !v.is_empty() => Instruction::Shell(v),
                _ => return Err("SHELL requires the arguments to be in JSON form".to_string()),
            }
        }
        "env" => {
            no_flags(n)?;
            Instruction::Env(name_values(n, escape, "ENV")?)
        }
        "label" => {
            no_flags(n)?;
            Instruction::Label(name_values(n, escape, "LABEL")?)
        }
        "arg" => {
            no_flags(n)?;
            let words = split_words(&n.rest, escape);
            if words.is_empty() {
                return Err("ARG requires at least one argument".to_string());
            }
            let mut args = Vec::new();
            for w in words {
                let (name, default) = match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".to_string());
                }
                args.push((name, default));
            }
            Instruction::Arg(args)
        }
        "expose" => {
            no_flags(n)?;
            require(n, "EXPOSE")?;
            Instruction::Expose(split_words(&n.rest, escape))
        }
        "user" => {
            no_flags(n)?;
            Instruction::User(exactly_one(n, escape, "USER")?)
        }
        "workdir" => {
            no_flags(n)?;
            require(n, "WORKDIR")?;
            // WORKDIR takes the rest of the line (a path may contain spaces).
            Instruction::Workdir(n.rest.clone())
        }
        "volume" => {
            no_flags(n)?;
            require(n, "VOLUME")?;
            let v = match json_form(&n.rest) {
                Some(v) => v,
                None => split_words(&n.rest, escape),
            };
            if v.is_empty() {
                return Err("VOLUME specified can not be an empty string".to_string());
            }
            Instruction::Volume(v)
        }
        "copy" => Instruction::Copy(copy_spec(n, escape, false)?),
        "add" => Instruction::Add(copy_spec(n, escape, true)?),
        "healthcheck" => Instruction::Healthcheck(super::healthcheck::healthcheck(n)?),
        "stopsignal" => {
            no_flags(n)?;
            Instruction::StopSignal(exactly_one(n, escape, "STOPSIGNAL")?)
        }
        "onbuild" => {
            no_flags(n)?;
            require(n, "ONBUILD")?;
            let (trigger, _) = n
                .rest
                .split_once(char::is_whitespace)
                .unwrap_or((&n.rest, ""));
            match trigger.to_ascii_lowercase().as_str() {
                "onbuild" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string())
                }
                "from" | "maintainer" => {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        trigger.to_ascii_uppercase()
                    ))
                }
                _ => {}
            }
            Instruction::OnBuild(n.rest.clone())
        }
        "maintainer" => {
            no_flags(n)?;
            require(n, "MAINTAINER")?;
            Instruction::Maintainer(
                lex::unquote(&n.rest, escape).unwrap_or_else(|_| n.rest.clone()),
            )
        }
        _ => {
            return Err(match suggestion(kw) {
                Some(k) => format!("unknown instruction: {upper} (did you mean {k}?)"),
                None => format!("unknown instruction: {upper}"),
            })
        }
    })
}
