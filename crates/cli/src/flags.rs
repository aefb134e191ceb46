//! A small pflag-style command-line parser, so that berth's flags, usage texts, error messages and
//! exit codes match the docker CLI's (cobra/pflag) exactly: `--name value`, `--name=value`,
//! combined shorthands (`-it`, `-eA=B`), repeatable list flags, `--` and, for commands such as
//! `run` and `exec`, no flag parsing after the first positional argument.

use crate::error::CliError;
use std::collections::HashMap;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A switch; `--x`, `--x=true`, `--x=false`.
    Bool,
    /// One value; the last occurrence wins.
    Value,
    /// A repeatable value; every occurrence is kept, in order.
    List,
}

/// One flag of a command.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// The type shown in the help text (`string`, `list`, `int`, `bytes`...), empty for switches.
    pub ty: &'static str,
    pub help: &'static str,
}

/// One flag table made of two (commands that share a group of flags, e.g. the resource flags
/// of `run` and `update`); `C` must be `A + B`, checked when the constant is evaluated. The help
/// text sorts the rows, so the order of the parts does not show.
pub const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [Flag; A],
    b: [Flag; B],
) -> [Flag; C] {
    assert!(A + B == C, "concat: C must be A + B");
    let mut out = [HELP; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Shorthand constructors keep command flag tables readable.
pub const fn switch(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::Bool,
        ty: "",
        help,
    }
}
pub const fn value(
    long: &'static str,
    short: Option<char>,
    ty: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::Value,
        ty,
        help,
    }
}
pub const fn list(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::List,
        ty: "list",
        help,
    }
}

/// How many positional arguments a command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    Any,
    None,
    Exact(usize),
    AtLeast(usize),
    /// cobra's `RequiresMaxArgs` (`volume create [VOLUME]`).
    AtMost(usize),
    Range(usize, usize),
}

/// A command's static description: name (as typed after `berth`), usage, flags.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
    pub args: Args,
    /// Stop parsing flags at the first positional argument (run, create, exec).
    pub stop_at_positional: bool,
}

/// The result of parsing: flag values by long name, and positional arguments.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
    pub help: bool,
}

impl Parsed {
    /// Whether the switch is on (last occurrence wins).
    pub fn bool(&self, long: &str) -> bool {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "true")
    }
    /// A switch that defaults to on (`--pause`, `-H`): off only when given as false.
    pub fn bool_default_true(&self, long: &str) -> bool {
        !self.is_set(long) || self.bool(long)
    }
    /// Whether the flag was given at all.
    pub fn is_set(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }
    /// The value of a single-valued flag, if given.
    pub fn string(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
    /// The value of a single-valued flag or "".
    pub fn str_or_empty(&self, long: &str) -> &str {
        self.string(long).unwrap_or("")
    }
    /// Every value of a list flag, in order.
    pub fn list(&self, long: &str) -> Vec<String> {
        self.values.get(long).cloned().unwrap_or_default()
    }
    /// Sets a value programmatically (tests, defaults).
    pub fn set(&mut self, long: &'static str, v: &str) {
        self.values.entry(long).or_default().push(v.to_string());
    }
}

impl Spec {
    fn find_long(&self, name: &str) -> Option<&Flag> {
        self.flags
            .iter()
            .find(|f| f.long == name)
            .or_else(|| HELP.long.eq(name).then_some(&HELP))
    }
    fn find_short(&self, c: char) -> Option<&Flag> {
        self.flags.iter().find(|f| f.short == Some(c))
    }

    /// The `--help` text.
    pub fn help_text(&self) -> String {
        let mut out = format!(
            "\nUsage:  berth {} {}\n\n{}\n",
            self.name, self.usage, self.about
        );
        if !self.flags.is_empty() {
            out.push_str("\nOptions:\n");
            let mut rows: Vec<(String, &str)> = self
                .flags
                .iter()
                .chain(std::iter::once(&HELP))
                .map(|f| {
                    let short = f
                        .short
                        .map(|c| format!("-{c}, "))
                        .unwrap_or_else(|| "    ".into());
                    let ty = if f.ty.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", f.ty)
                    };
                    (format!("  {short}--{}{ty}", f.long), f.help)
                })
                .collect();
            rows.sort_by(|a, b| {
                a.0.trim_start_matches([' ', '-'])
                    .cmp(b.0.trim_start_matches([' ', '-']))
            });
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0) + 3;
            for (left, help) in rows {
                out.push_str(&format!("{left:width$}{help}\n"));
            }
        }
        out
    }

    fn flag_error(&self, msg: String) -> CliError {
        CliError::Flag {
            message: format!(
                "{msg}\n\nUsage:  berth {} {}\n\nRun 'berth {} --help' for more information",
                self.name, self.usage, self.name
            ),
        }
    }

    fn arg_error(&self, requirement: String) -> CliError {
        let hint = match self.args {
            Args::AtLeast(_) => "See",
            _ => "Run",
        };
        CliError::Args {
            message: format!(
                "berth: 'berth {}' {requirement}\n\nUsage:  berth {} {}\n\n{hint} 'berth {} --help' for more information",
                self.name, self.name, self.usage, self.name
            ),
        }
    }

    /// An error for a flag value that does not parse, worded like pflag's.
    pub fn invalid_value(&self, long: &str, value: &str, why: &str) -> CliError {
        let name = match self.find_long(long).and_then(|f| f.short) {
            Some(c) => format!("-{c}, --{long}"),
            None => format!("--{long}"),
        };
        self.flag_error(format!(
            "invalid argument \"{value}\" for \"{name}\" flag: {why}"
        ))
    }

    /// Parses `args` (without the command name itself).
    pub fn parse(&self, args: &[String]) -> Result<Parsed, CliError> {
        let mut p = Parsed::default();
        let mut i = 0;
        let mut only_positional = false;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if only_positional || a == "-" || !a.starts_with('-') {
                p.args.push(a.clone());
                if self.stop_at_positional {
                    only_positional = true;
                }
                continue;
            }
            if a == "--" {
                only_positional = true;
                continue;
            }
            if let Some(body) = a.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (body, None),
                };
                let Some(flag) = self.find_long(name) else {
                    return Err(self.flag_error(format!("unknown flag: --{name}")));
                };
                let v = match (flag.kind, inline) {
                    (Kind::Bool, Some(v)) => parse_bool(&v).ok_or_else(|| {
                        self.invalid_value(
                            flag.long,
                            &v,
                            &format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"),
                        )
                    })?,
                    (Kind::Bool, None) => "true".to_string(),
                    (_, Some(v)) => v,
                    (_, None) => match args.get(i) {
                        Some(v) => {
                            i += 1;
                            v.clone()
                        }
                        None => {
                            return Err(self.flag_error(format!("flag needs an argument: --{name}")))
                        }
                    },
                };
                store(&mut p, flag, v);
                continue;
            }
            // Shorthand cluster: -it, -eA=B, -e A=B, -p8080:80.
            let cluster: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < cluster.len() {
                let c = cluster[j];
                j += 1;
                let flag = match self.find_short(c) {
                    Some(f) => f,
                    None if c == 'h' => &HELP,
                    None => {
                        return Err(self.flag_error(format!("unknown shorthand flag: '{c}' in {a}")))
                    }
                };
                if flag.kind == Kind::Bool {
                    let mut v = "true".to_string();
                    if cluster.get(j) == Some(&'=') {
                        let rest: String = cluster[j + 1..].iter().collect();
                        v = parse_bool(&rest).ok_or_else(|| {
                            self.invalid_value(flag.long, &rest, "invalid syntax")
                        })?;
                        j = cluster.len();
                    }
                    store(&mut p, flag, v);
                    continue;
                }
                let mut rest: String = cluster[j..].iter().collect();
                if let Some(r) = rest.strip_prefix('=') {
                    rest = r.to_string();
                }
                let v = if !rest.is_empty() || j < cluster.len() {
                    rest
                } else if let Some(v) = args.get(i) {
                    i += 1;
                    v.clone()
                } else {
                    return Err(self.flag_error(format!("flag needs an argument: '{c}' in {a}")));
                };
                store(&mut p, flag, v);
                break;
            }
        }
        if p.help {
            return Ok(p);
        }
        let n = p.args.len();
        let err = match self.args {
            Args::Any => None,
            Args::None if n > 0 => Some("accepts no arguments".to_string()),
            Args::None => None,
            Args::Exact(k) if n != k => Some(format!("requires {k} argument{}", plural(k))),
            Args::AtLeast(k) if n < k => {
                Some(format!("requires at least {k} argument{}", plural(k)))
            }
            Args::AtMost(k) if n > k => Some(format!("requires at most {k} argument{}", plural(k))),
            Args::Range(lo, hi) if n < lo || n > hi => {
                Some(format!("requires at least {lo} and at most {hi} arguments"))
            }
            _ => None,
        };
        match err {
            Some(e) => Err(self.arg_error(e)),
            None => Ok(p),
        }
    }
}

const HELP: Flag = switch("help", None, "Print usage");

fn plural(k: usize) -> &'static str {
    if k == 1 {
        ""
    } else {
        "s"
    }
}

fn store(p: &mut Parsed, flag: &Flag, v: String) {
    if flag.long == "help" {
        p.help = true;
        return;
    }
    p.values.entry(flag.long).or_default().push(v);
}

fn parse_bool(v: &str) -> Option<String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some("true".into()),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some("false".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_keeps_both_parts_in_order() {
        const JOINED: [Flag; 3] = concat::<1, 2, 3>(
            [switch("a", None, "first")],
            [
                switch("b", None, "second"),
                value("c", Some('c'), "int", "third"),
            ],
        );
        let names: Vec<&str> = JOINED.iter().map(|f| f.long).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(JOINED[2].short, Some('c'));
    }

    const FLAGS: &[Flag] = &[
        switch("interactive", Some('i'), "Keep STDIN open"),
        switch("tty", Some('t'), "Allocate a pseudo-TTY"),
        list("env", Some('e'), "Set environment variables"),
        value("name", None, "string", "Assign a name"),
        switch("rm", None, "Remove"),
    ];
    const RUN: Spec = Spec {
        name: "run",
        usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        about: "Run",
        flags: FLAGS,
        args: Args::AtLeast(1),
        stop_at_positional: true,
    };

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_clusters_values_and_stops_at_positional() {
        let p = RUN
            .parse(&s(&[
                "-it",
                "-eA=B",
                "-e",
                "C=D",
                "--name=web",
                "--rm=false",
                "busybox",
                "ls",
                "-l",
                "--rm",
            ]))
            .unwrap();
        assert!(p.bool("interactive") && p.bool("tty"));
        assert!(!p.bool("rm"));
        assert_eq!(p.list("env"), vec!["A=B", "C=D"]);
        assert_eq!(p.string("name"), Some("web"));
        assert_eq!(p.args, s(&["busybox", "ls", "-l", "--rm"]));
    }

    #[test]
    fn errors_read_like_docker() {
        let e = RUN.parse(&s(&["--x", "busybox"])).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(
            e.to_string()
                .starts_with("unknown flag: --x\n\nUsage:  berth run [OPTIONS]"),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with("Run 'berth run --help' for more information"));
        let e = RUN.parse(&s(&["-z"])).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown shorthand flag: 'z' in -z"));
        let e = RUN.parse(&s(&["--name"])).unwrap_err();
        assert!(e.to_string().starts_with("flag needs an argument: --name"));
        let e = RUN.parse(&[]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string()
                .starts_with("berth: 'berth run' requires at least 1 argument\n\nUsage:"),
            "{e}"
        );
    }

    #[test]
    fn help_flag_skips_argument_checks() {
        let p = RUN.parse(&s(&["--help"])).unwrap();
        assert!(p.help);
        assert!(RUN.help_text().contains("  -e, --env list"));
    }
}
