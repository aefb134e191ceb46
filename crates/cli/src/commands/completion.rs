//! `berth completion bash|zsh|fish`: shell completion scripts generated from the CLI's own
//! definition — the dispatch table ([`super::COMMANDS`]: every command's [`Spec`] with its
//! flags and usage), the management groups of docker's command forms (`container ls`, `image
//! rm`, `network create`, resolved by [`super::resolve_alias`] as the dispatcher does) and the
//! group listings of the global help. Nothing here lists a command or a flag by hand, so a new
//! command or flag completes as soon as it is dispatched.
//!
//! Positional arguments complete by the word the usage names at that place: `CONTAINER` with
//! the daemon's container names, `IMAGE`/`NAME[:TAG]` with its images, `NETWORK` with its
//! networks, `VOLUME` with its volumes (not `[VOLUME]`, a name to make up), `PATH`/`file` with
//! files, `a|b|c` with those words.

use crate::commands::Ctx;
use crate::error::{CliError, Result};
use crate::flags::{Args, Flag, Kind, Parsed, Spec};

pub const COMPLETION: Spec = Spec {
    name: "completion",
    usage: "bash|zsh|fish",
    about: "Generate the autocompletion script for the specified shell",
    flags: &[],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `berth completion SHELL`: prints the script.
pub async fn completion(_ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let model = Model::build();
    let script = match p.args[0].as_str() {
        "bash" => bash(&model),
        "zsh" => zsh(&model),
        "fish" => fish(&model),
        other => {
            return Err(CliError::Message(format!(
                "berth {}: unsupported shell {other:?}: use bash, zsh or fish",
                spec.name
            )))
        }
    };
    super::out(&script);
    Ok(())
}

/// The global flags the dispatcher reads before the command (`commands::dispatch`); the ones
/// with a value come first.
pub const GLOBAL_FLAGS: [(&str, Option<char>, bool, &str); 5] = [
    ("host", Some('H'), true, "Daemon socket to connect to"),
    ("log-level", Some('l'), true, "Set the logging level"),
    ("debug", Some('D'), false, "Enable debug mode"),
    (
        "version",
        Some('v'),
        false,
        "Print version information and quit",
    ),
    ("help", None, false, "Print usage"),
];

/// One completable command: its words as typed after `berth` and the spec it runs.
pub struct Command {
    pub path: String,
    pub spec: &'static Spec,
}

/// A management group (`container`, `image`, `network`, `volume`, `system`) and its
/// sub-commands.
pub struct Group {
    pub name: &'static str,
    pub about: &'static str,
    pub subs: Vec<String>,
}

/// Everything the scripts and the man pages are generated from.
pub struct Model {
    pub commands: Vec<Command>,
    pub groups: Vec<Group>,
}

/// The groups, their help text and the heading of the global help that lists their members.
const GROUPS: [(&str, &str, Option<&str>, &[&str]); 6] = [
    (
        "container",
        "Manage containers",
        Some("Container Commands:"),
        &["ls", "list", "ps"],
    ),
    (
        "image",
        "Manage images",
        Some("Image Commands:"),
        &["ls", "list", "remove"],
    ),
    ("network", "Manage networks", None, &["list", "remove"]),
    ("volume", "Manage volumes", None, &["list", "remove"]),
    ("builder", "Manage builds", None, &["build"]),
    (
        "system",
        "Manage Berth",
        Some("System Commands:"),
        &["info"],
    ),
];

impl Model {
    pub fn build() -> Model {
        let table = super::COMMANDS;
        let spec_of = |name: &str| table.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        let mut commands: Vec<Command> = table
            .iter()
            .filter(|(n, _)| !n.contains(' '))
            .map(|(n, s)| Command {
                path: n.to_string(),
                spec: s,
            })
            .collect();
        let mut groups = Vec::new();
        for (group, about, heading, extra) in GROUPS {
            let mut words: Vec<String> = table
                .iter()
                .filter_map(|(n, _)| n.strip_prefix(group)?.strip_prefix(' '))
                .map(str::to_string)
                .collect();
            words.extend(heading.map(help_section).unwrap_or_default());
            words.extend(extra.iter().map(|w| w.to_string()));
            let mut subs = Vec::new();
            for sub in words {
                let argv = [sub.clone()];
                let (name, _) = super::resolve_alias(group, &argv);
                if subs.contains(&sub) {
                    continue;
                }
                if let Some(spec) = spec_of(name) {
                    commands.push(Command {
                        path: format!("{group} {sub}"),
                        spec,
                    });
                    subs.push(sub);
                }
            }
            subs.sort();
            groups.push(Group {
                name: group,
                about,
                subs,
            });
        }
        commands.sort_by(|a, b| a.path.cmp(&b.path));
        Model { commands, groups }
    }

    /// The top-level words: single-word commands, the groups and `compose`.
    pub fn top(&self) -> Vec<(String, &'static str)> {
        let mut top: Vec<(String, &'static str)> = self
            .commands
            .iter()
            .filter(|c| !c.path.contains(' '))
            .map(|c| (c.path.clone(), c.spec.about))
            .collect();
        top.extend(self.groups.iter().map(|g| (g.name.to_string(), g.about)));
        top.push((
            "compose".to_string(),
            "Define and run multi-container applications",
        ));
        top.sort();
        top
    }
}

/// The command words listed under `heading` in the global help.
fn help_section(heading: &str) -> Vec<String> {
    let text = super::GLOBAL_HELP;
    let Some(start) = text.find(heading) else {
        return Vec::new();
    };
    text[start + heading.len()..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect()
}

/// What the positional arguments complete with, by place; the last repeats when the usage says
/// `...`.
pub fn arg_kinds(usage: &str) -> (Vec<&'static str>, bool) {
    let first_line = usage.lines().next().unwrap_or("");
    let mut kinds = Vec::new();
    let mut repeats = false;
    for token in first_line.split_whitespace() {
        if token == "[OPTIONS]" {
            continue;
        }
        if token.contains("...") {
            repeats = true;
            continue;
        }
        let kind = if token.contains("CONTAINER") {
            "container"
        } else if token.contains("IMAGE")
            || token.contains("NAME[:TAG")
            || token.contains("REPOSITORY")
        {
            "image"
        } else if token.contains("NETWORK") {
            "network"
        } else if token.contains("VOLUME") && !token.starts_with('[') {
            "volume"
        } else if token.contains("PATH") || token.starts_with("file") {
            "file"
        } else if token.contains('|') && token.chars().all(|c| c.is_ascii_lowercase() || c == '|') {
            "choice"
        } else {
            "none"
        };
        kinds.push(kind);
    }
    (kinds, repeats)
}

/// The words of a `a|b|c` usage (the choices of `berth completion`).
fn choices(usage: &str) -> String {
    usage
        .split_whitespace()
        .find(|t| t.contains('|') && t.chars().all(|c| c.is_ascii_lowercase() || c == '|'))
        .map(|t| t.replace('|', " "))
        .unwrap_or_default()
}

fn flag_words(flags: &[Flag]) -> (String, String) {
    let mut all = Vec::new();
    let mut valued = Vec::new();
    for f in flags {
        let mut names = vec![format!("--{}", f.long)];
        names.extend(f.short.map(|c| format!("-{c}")));
        if f.kind != Kind::Bool {
            valued.extend(names.iter().cloned());
        }
        all.extend(names);
    }
    all.push("--help".to_string());
    (all.join(" "), valued.join(" "))
}

/// One command's row of the tables: `(path, flags, value flags, kinds, repeats, stops at the
/// first positional)`.
type Row = (String, String, String, String, bool, bool);

/// The tables every script starts from.
fn rows(model: &Model) -> Vec<Row> {
    model
        .commands
        .iter()
        .map(|c| {
            let (flags, valued) = flag_words(c.spec.flags);
            let (kinds, repeats) = arg_kinds(c.spec.usage);
            let kinds = kinds
                .iter()
                .map(|k| match *k {
                    "choice" => format!("choice:{}", choices(c.spec.usage).replace(' ', ",")),
                    k => k.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            (
                c.path.clone(),
                flags,
                valued,
                kinds,
                repeats,
                c.spec.stop_at_positional,
            )
        })
        .collect()
}

fn global_words(valued_only: bool) -> String {
    GLOBAL_FLAGS
        .iter()
        .filter(|f| !valued_only || f.2)
        .flat_map(|(long, short, _, _)| {
            std::iter::once(format!("--{long}")).chain(short.map(|c| format!("-{c}")))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shell function both bash and zsh run: walks the words before the cursor to the command
/// path and the positional index, then completes. `$1` is the index of the first word after
/// `berth`, so the same text serves bash (0-based words) and zsh (1-based).
const WALK: &str = r#"  local cur="$1" host="" cmd="" npos=0 skip=0 i w
  shift
  for w in "$@"; do
    if ((skip)); then skip=0; [[ -z $cmd && -n $hostnext ]] && host="$w"; hostnext=""; continue; fi
    case "$w" in
      -*)
        if [[ -z $cmd ]]; then
          [[ " __GLOBAL_VALUED__ " == *" $w "* ]] && skip=1
          [[ $w == -H || $w == --host ]] && hostnext=1
          [[ $w == --host=* ]] && host="${w#--host=}"
        elif ((!npos || !${_berth_stop[$cmd]:-0})); then
          [[ $w != *=* && " ${_berth_vals[$cmd]} " == *" $w "* ]] && skip=1
        fi
        continue;;
    esac
    if [[ -z $cmd ]]; then cmd="$w"
    elif ((!npos)) && [[ -n ${_berth_subs[$cmd]} && " ${_berth_subs[$cmd]} " == *" $w "* ]]; then cmd="$cmd $w"
    else npos=$((npos+1)); fi
  done
  _berth_cmd="$cmd" _berth_npos=$npos _berth_host="$host"
"#;

/// An associative array: bash's `[key]=value` form, or zsh's `key value` pairs (`zsh -n`
/// cannot know the array is associative).
fn assoc_lines(zsh: bool, name: &str, pairs: &[(String, String)]) -> String {
    let mut s = format!("_berth_{name}=(\n");
    for (k, v) in pairs {
        let (k, v) = (shell_quote(k), shell_quote(v));
        if zsh {
            s.push_str(&format!("  {k} {v}\n"));
        } else {
            s.push_str(&format!("  [{k}]={v}\n"));
        }
    }
    s.push_str(")\n");
    s
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The assignments of the tables (bash and zsh read the same `[key]=value` form).
fn tables(model: &Model, zsh: bool) -> String {
    let rows = rows(model);
    let pick = |f: &dyn Fn(&Row) -> Option<String>| {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.0.clone(), v)))
            .collect::<Vec<_>>()
    };
    let subs: Vec<(String, String)> = model
        .groups
        .iter()
        .map(|g| (g.name.to_string(), g.subs.join(" ")))
        .collect();
    let top: Vec<String> = model.top().into_iter().map(|(w, _)| w).collect();
    let mut s = String::new();
    s.push_str(&assoc_lines(zsh, "flags", &pick(&|r| Some(r.1.clone()))));
    s.push_str(&assoc_lines(zsh, "vals", &pick(&|r| Some(r.2.clone()))));
    s.push_str(&assoc_lines(zsh, "args", &pick(&|r| Some(r.3.clone()))));
    s.push_str(&assoc_lines(
        zsh,
        "rep",
        &pick(&|r| r.4.then(|| "1".to_string())),
    ));
    s.push_str(&assoc_lines(
        zsh,
        "stop",
        &pick(&|r| r.5.then(|| "1".to_string())),
    ));
    s.push_str(&assoc_lines(zsh, "subs", &subs));
    s.push_str(&format!("_berth_top={}\n", shell_quote(&top.join(" "))));
    s
}

/// The lines that print the candidates of a positional kind (`$kind`), one a line.
const OBJECTS: &str = r#"_berth_objects() {
  local -a h=()
  [[ -n $_berth_host ]] && h=(-H "$_berth_host")
  case "$1" in
    container) berth "${h[@]}" ps -a --format '{{.Names}}' 2>/dev/null;;
    image) berth "${h[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>';;
    network) berth "${h[@]}" network ls --format '{{.Name}}' 2>/dev/null;;
    volume) berth "${h[@]}" volume ls -q 2>/dev/null;;
    choice:*) local c="${1#choice:}"; printf '%s\n' ${=c//,/ };;
  esac
}
_berth_kind() {
  local -a kinds=(${=_berth_args[$_berth_cmd]})
  local n=${#kinds[@]} i=$_berth_npos
  if ((i >= n)); then ((n && ${_berth_rep[$_berth_cmd]:-0})) && i=$((n-1)) || { echo none; return; }; fi
  echo "${kinds[@]:$i:1}"
}
"#;

/// `berth completion bash`.
pub fn bash(model: &Model) -> String {
    let mut s = String::from(
        "# bash completion for berth, generated by `berth completion bash` from the CLI's definition.\n\
         # Load it with `source <(berth completion bash)`, or install it as\n\
         # /usr/share/bash-completion/completions/berth.\n\n",
    );
    // -g: bash-completion sources this file inside a function.
    s.push_str(
        "declare -gA _berth_flags _berth_vals _berth_args _berth_rep _berth_stop _berth_subs\n",
    );
    s.push_str(&tables(model, false));
    // bash has no ${=x} word-splitting flag: a plain expansion splits.
    s.push_str(&OBJECTS.replace("${=", "${"));
    s.push_str("_berth_walk() {\n  local hostnext=\"\"\n");
    s.push_str(&WALK.replace("__GLOBAL_VALUED__", &global_words(true)));
    s.push_str("}\n");
    s.push_str(&format!(
        r#"_berth() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  _berth_walk "$cur" "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"
  COMPREPLY=()
  if [[ -z $_berth_cmd ]]; then
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W {global} -- "$cur"))
    else COMPREPLY=($(compgen -W "$_berth_top" -- "$cur")); fi
    return
  fi
  if [[ -n ${{_berth_subs[$_berth_cmd]}} ]]; then
    COMPREPLY=($(compgen -W "${{_berth_subs[$_berth_cmd]}} --help" -- "$cur")); return
  fi
  if [[ $cur == -* ]] && ((!_berth_npos || !${{_berth_stop[$_berth_cmd]:-0}})); then
    COMPREPLY=($(compgen -W "${{_berth_flags[$_berth_cmd]}}" -- "$cur")); return
  fi
  [[ $prev == -* && " ${{_berth_vals[$_berth_cmd]}} " == *" $prev "* ]] && return
  local kind; kind=$(_berth_kind)
  case "$kind" in
    file|none) return;;
    *) local IFS=$'\n'; COMPREPLY=($(compgen -W "$(_berth_objects "$kind")" -- "$cur"));;
  esac
}}
complete -o bashdefault -o default -F _berth berth
"#,
        global = shell_quote(&global_words(false)),
    ));
    s
}

/// `berth completion zsh`.
pub fn zsh(model: &Model) -> String {
    let mut s = String::from(
        "#compdef berth\n# zsh completion for berth, generated by `berth completion zsh` from the CLI's definition.\n\
         # Install it as _berth in a directory of $fpath (or: source <(berth completion zsh) after compinit).\n\n",
    );
    s.push_str(
        "typeset -gA _berth_flags _berth_vals _berth_args _berth_rep _berth_stop _berth_subs\n",
    );
    s.push_str(&tables(model, true));
    s.push_str(OBJECTS);
    s.push_str("_berth_walk() {\n  local hostnext=\"\"\n");
    s.push_str(&WALK.replace("__GLOBAL_VALUED__", &global_words(true)));
    s.push_str("}\n");
    s.push_str(&format!(
        r#"_berth() {{
  local cur="${{words[CURRENT]}}" prev="${{words[CURRENT-1]}}"
  _berth_walk "$cur" "${{(@)words[2,CURRENT-1]}}"
  if [[ -z $_berth_cmd ]]; then
    if [[ $cur == -* ]]; then compadd -- {global}
    else compadd -- ${{=_berth_top}}; fi
    return
  fi
  if [[ -n ${{_berth_subs[$_berth_cmd]}} ]]; then compadd -- ${{=_berth_subs[$_berth_cmd]}} --help; return; fi
  if [[ $cur == -* ]] && ((!_berth_npos || !${{_berth_stop[$_berth_cmd]:-0}})); then
    compadd -- ${{=_berth_flags[$_berth_cmd]}}; return
  fi
  [[ $prev == -* && " ${{_berth_vals[$_berth_cmd]}} " == *" $prev "* ]] && {{ _files; return; }}
  local kind; kind=$(_berth_kind)
  case "$kind" in
    file) _files;;
    none) ;;
    *) compadd -- ${{(f)"$(_berth_objects "$kind")"}};;
  esac
}}
if [[ $funcstack[1] == _berth ]]; then _berth "$@"; else compdef _berth berth; fi
"#,
        global = global_words(false),
    ));
    s
}

/// `berth completion fish`.
pub fn fish(model: &Model) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"));
    let mut s = String::from(
        "# fish completion for berth, generated by `berth completion fish` from the CLI's definition.\n\
         # Install it as ~/.config/fish/completions/berth.fish or /usr/share/fish/vendor_completions.d/berth.fish.\n\n",
    );
    let groups: Vec<&str> = model.groups.iter().map(|g| g.name).collect();
    s.push_str("function __berth_subs\n    switch $argv[1]\n");
    for g in &model.groups {
        s.push_str(&format!(
            "        case {}\n            string split ' ' -- {}\n",
            g.name,
            q(&g.subs.join(" "))
        ));
    }
    s.push_str("    end\nend\n\nfunction __berth_vals\n    switch $argv[1]\n");
    for (path, _, valued, ..) in rows(model) {
        if !valued.is_empty() {
            s.push_str(&format!(
                "        case {}\n            string split ' ' -- {}\n",
                q(&path),
                q(&valued)
            ));
        }
    }
    s.push_str(&format!(
        r#"    end
end

# The command path before the cursor: `run`, `network create`...; empty before the command.
function __berth_cmd
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmd ''
    set -l skip 0
    for w in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            if test -z "$cmd"
                contains -- $w {global_valued}; and set skip 1
            else if not string match -q -- '*=*' $w
                contains -- $w (__berth_vals $cmd); and set skip 1
            end
            continue
        end
        if test -z "$cmd"
            set cmd $w
        else if contains -- $cmd {groups}; and contains -- $w (__berth_subs $cmd)
            set cmd "$cmd $w"
        else
            break
        end
    end
    echo $cmd
end

function __berth_is
    test (__berth_cmd) = "$argv[1]"
end

function __berth_objects
    switch $argv[1]
        case container
            berth ps -a --format '{{{{.Names}}}}' 2>/dev/null
        case image
            berth images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' 2>/dev/null | string match -v '*<none>*'
        case network
            berth network ls --format '{{{{.Name}}}}' 2>/dev/null
        case volume
            berth volume ls -q 2>/dev/null
    end
end

complete -c berth -f
"#,
        global_valued = global_words(true),
        groups = groups.join(" "),
    ));
    for (long, short, valued, help) in GLOBAL_FLAGS {
        let short = short.map(|c| format!(" -s {c}")).unwrap_or_default();
        let r = if valued { " -r" } else { "" };
        s.push_str(&format!(
            "complete -c berth -n '__berth_is \"\"' -l {long}{short}{r} -d {}\n",
            q(help)
        ));
    }
    for (word, about) in model.top() {
        s.push_str(&format!(
            "complete -c berth -n '__berth_is \"\"' -a {} -d {}\n",
            q(&word),
            q(about)
        ));
    }
    for g in &model.groups {
        for sub in &g.subs {
            let path = format!("{} {sub}", g.name);
            let about = model
                .commands
                .iter()
                .find(|c| c.path == path)
                .map_or("", |c| c.spec.about);
            s.push_str(&format!(
                "complete -c berth -n '__berth_is {}' -a {} -d {}\n",
                g.name,
                q(sub),
                q(about)
            ));
        }
    }
    for c in &model.commands {
        let cond = q(&format!("__berth_is {}", q(&c.path)));
        for f in c.spec.flags {
            let short = f.short.map(|c| format!(" -s {c}")).unwrap_or_default();
            let r = if f.kind == Kind::Bool { "" } else { " -r" };
            s.push_str(&format!(
                "complete -c berth -n {cond} -l {}{short}{r} -d {}\n",
                f.long,
                q(f.help)
            ));
        }
        let (kinds, _) = arg_kinds(c.spec.usage);
        for kind in kinds
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
        {
            match kind {
                "container" | "image" | "network" | "volume" => s.push_str(&format!(
                    "complete -c berth -n {cond} -a '(__berth_objects {kind})'\n"
                )),
                "file" => s.push_str(&format!("complete -c berth -n {cond} -F\n")),
                "choice" => s.push_str(&format!(
                    "complete -c berth -n {cond} -a {}\n",
                    q(&choices(c.spec.usage))
                )),
                _ => {}
            }
        }
    }
    s
}

#[cfg(test)]
mod tests;
