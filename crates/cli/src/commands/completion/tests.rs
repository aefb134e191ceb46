//! The generated scripts, checked by the shells themselves.

use super::*;

#[test]
fn the_model_covers_every_dispatched_command_and_the_groups() {
    let m = Model::build();
    for (name, _) in crate::commands::COMMANDS {
        assert!(
            m.commands.iter().any(|c| c.path == *name),
            "{name} is not completed"
        );
    }
    let paths: Vec<&str> = m.commands.iter().map(|c| c.path.as_str()).collect();
    for p in [
        "run",
        "network create",
        "container ls",
        "image rm",
        "system df",
        "container attach",
        "completion",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let top: Vec<String> = m.top().into_iter().map(|t| t.0).collect();
    for w in [
        "run",
        "container",
        "image",
        "network",
        "system",
        "compose",
        "completion",
    ] {
        assert!(top.contains(&w.to_string()), "{w}");
    }
}

#[test]
fn usage_words_give_the_argument_kinds() {
    assert_eq!(
        arg_kinds("[OPTIONS] IMAGE [COMMAND] [ARG...]"),
        (vec!["image", "none"], true)
    );
    assert_eq!(
        arg_kinds("[OPTIONS] NETWORK CONTAINER"),
        (vec!["network", "container"], false)
    );
    assert_eq!(
        arg_kinds("[OPTIONS] CONTAINER [CONTAINER...]"),
        (vec!["container"], true)
    );
    assert_eq!(arg_kinds("bash|zsh|fish"), (vec!["choice"], false));
    assert_eq!(choices("bash|zsh|fish"), "bash zsh fish");
}

#[test]
fn scripts_carry_the_flags_of_their_commands() {
    let m = Model::build();
    let b = bash(&m);
    assert!(b.contains("complete -o bashdefault -o default -F _berth berth"));
    assert!(b.contains("['run']=") && b.contains("--publish"));
    let z = zsh(&m);
    assert!(z.starts_with("#compdef berth"));
    let f = fish(&m);
    assert!(f.contains("-l publish -s p -r"));
}

/// Runs `script` in `shell` with `args`; `None` when the shell is not installed.
fn run_shell(shell: &str, args: &[&str], script: &str) -> Option<std::process::Output> {
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("completion");
    std::fs::write(&path, script).ok()?;
    let mut cmd = std::process::Command::new(shell);
    cmd.args(args).arg(&path);
    cmd.output().ok()
}

#[test]
fn bash_loads_the_script_and_completes_from_the_tables() {
    let script = bash(&Model::build());
    let check = run_shell("bash", &["-n"], &script);
    assert!(check.is_some_and(|o| o.status.success()), "bash -n failed");
    let probe = format!(
        "{script}\ncomplete -p berth\n{}",
        r#"t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _berth; echo "${COMPREPLY[*]}"; }
t berth netw
t berth network cr
t berth run --pub
t berth -H unix:///x completion ''
t berth container l
t berth image rm --f
t berth run -d busybox --pu
"#
    );
    let out = run_shell("bash", &["-c", "source \"$0\""], &probe);
    let out = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let out = out.unwrap_or_default();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "complete -o bashdefault -o default -F _berth berth",
            "network",
            "create",
            "--publish --publish-all",
            "bash zsh fish",
            "list logs ls",
            "--force",
            "",
        ],
        "{out}"
    );
}

#[test]
fn zsh_and_fish_parse_the_scripts_where_installed() {
    let m = Model::build();
    for (shell, args, script) in [
        ("zsh", &["-n"][..], zsh(&m)),
        ("fish", &["--no-execute"][..], fish(&m)),
    ] {
        match run_shell(shell, args, &script) {
            None => eprintln!("{shell} is not installed: its script is not checked"),
            Some(o) => assert!(
                o.status.success(),
                "{shell}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }
}
