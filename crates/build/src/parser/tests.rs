//! Parser tests: one case per rule of the Dockerfile reference the parser implements.

use super::*;

fn ok(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?} did not parse: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(d) => panic!("{text:?} parsed: {d:?}"),
        Err(e) => e,
    }
}

/// The instructions of the only stage.
fn steps(text: &str) -> Vec<Instruction> {
    ok(text).stages[0]
        .steps
        .iter()
        .map(|s| s.instruction.clone())
        .collect()
}

fn one(text: &str) -> Instruction {
    let s = steps(&format!("FROM scratch\n{text}"));
    assert_eq!(s.len(), 1, "{text:?} gave {s:?}");
    s[0].clone()
}

fn shell(s: &str) -> Command {
    Command::Shell(s.to_string())
}

fn exec(v: &[&str]) -> Command {
    Command::Exec(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn from_forms() {
    let d = ok("FROM busybox\nFROM --platform=linux/amd64 alpine:3 AS Build\nFROM build as final");
    assert_eq!(d.stages.len(), 3);
    assert_eq!(d.stages[0].base, "busybox");
    assert_eq!(d.stages[1].name.as_deref(), Some("build"));
    assert_eq!(d.stages[1].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(d.stages[2].base, "build");
    assert_eq!(d.stage_index("BUILD"), Some(1));
    assert_eq!(d.stage_index("2"), Some(2));
    assert_eq!(d.stage_index("9"), None);
    assert_eq!(ok("from scratch").stages[0].base, "scratch");
}

#[test]
fn from_errors() {
    assert_eq!(
        err("FROM a b").message,
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM").message,
        "FROM requires either one or three arguments"
    );
    assert!(err("FROM a AS 1x")
        .message
        .contains("invalid name for build stage"));
    assert!(err("FROM a AS x\nFROM b AS X")
        .message
        .contains("duplicate stage name"));
    assert_eq!(err("FROM a AS x\nFROM b AS X").line, 2);
    assert_eq!(err("FROM --foo=1 a").message, "unknown flag: foo");
}

#[test]
fn arg_before_from() {
    let d = ok("ARG V=3\nARG B\nFROM alpine:$V\nARG V\nRUN echo $V");
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(
        d.meta_args[0].instruction,
        Instruction::Arg(vec![("V".into(), Some("3".into()))])
    );
    assert_eq!(d.stages[0].base, "alpine:$V");
    assert_eq!(
        d.stages[0].steps[0].instruction,
        Instruction::Arg(vec![("V".into(), None)])
    );
}

#[test]
fn instruction_before_from_is_refused() {
    let e = err("# comment\nRUN true\nFROM a");
    assert_eq!(e.line, 2);
    assert!(e.message.starts_with("no build stage in current context"));
    assert!(err("ARG a").message.contains("has no FROM"));
}

#[test]
fn empty_files() {
    assert!(err("").message.contains("no instructions"));
    assert!(err("# only a comment\n\n   \n")
        .message
        .contains("no instructions"));
}

#[test]
fn unknown_instruction_names_its_line() {
    let e = err("FROM a\nRUN true\n\nRNU false\n");
    assert_eq!(e.line, 4);
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 4: unknown instruction: RNU (did you mean run?)"
    );
    assert_eq!(err("FROM a\n-x y").message, "unknown instruction: -x");
    assert_eq!(
        err("FROM a\nCOPPY a b").message,
        "unknown instruction: COPPY (did you mean copy?)"
    );
    assert_eq!(
        err("FROM a\nFROBNICATE x").message,
        "unknown instruction: FROBNICATE"
    );
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        one("rUn echo hi"),
        Instruction::Run {
            command: shell("echo hi"),
            mounts: vec![],
            network: None,
            security: None,
            heredocs: vec![],
        }
    );
}

#[test]
fn comments_and_blank_lines() {
    let s = steps("FROM a\n# c1\n   # indented comment\n\nRUN a # not a comment\n\t\n");
    assert_eq!(s.len(), 1);
    match &s[0] {
        Instruction::Run { command, .. } => assert_eq!(*command, shell("a # not a comment")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn continuations_with_backslash() {
    let d = ok("FROM a\nRUN echo a \\\n  b \\  \n# inner comment\n\n  c\nRUN x");
    let s = &d.stages[0].steps;
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].line, 2);
    assert_eq!(s[1].line, 7);
    match &s[0].instruction {
        Instruction::Run { command, .. } => assert_eq!(*command, shell("echo a   b   c")),
        other => panic!("{other:?}"),
    }
    assert_eq!(s[0].original, "RUN echo a   b   c");
}

#[test]
fn continuation_at_end_of_file() {
    match &steps("FROM a\nRUN echo \\")[0] {
        Instruction::Run { command, .. } => assert_eq!(*command, shell("echo")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn crlf_line_endings() {
    let s = steps("FROM a\r\nRUN echo a \\\r\n b\r\nENV X=1\r\n");
    assert_eq!(s.len(), 2);
    assert_eq!(s[1], Instruction::Env(vec![("X".into(), "1".into())]));
}

#[test]
fn escape_directive_backtick() {
    let d = ok("# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\nCOPY a` b c:\\dst\\");
    assert_eq!(d.escape, '`');
    match &d.stages[0].steps[0].instruction {
        Instruction::Run { command, .. } => assert_eq!(*command, shell("dir c:\\   /b")),
        other => panic!("{other:?}"),
    }
    match &d.stages[0].steps[1].instruction {
        Instruction::Copy(c) => {
            assert_eq!(c.sources, ["a` b"]);
            assert_eq!(c.dest, "c:\\dst\\");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn directives() {
    let d = ok("# syntax=docker/dockerfile:1\n#escape = \\\nFROM a");
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '\\');
    assert_eq!(ok("# check=skip=all\nFROM a").stages.len(), 1);
    // After an instruction or a non-directive comment it is a comment.
    assert_eq!(ok("FROM a\n# escape=`\nRUN a \\\n b").escape, '\\');
    assert_eq!(ok("# hello\n# escape=`\nFROM a").escape, '\\');
    assert_eq!(ok("\n# escape=`\nFROM a").escape, '\\');
    let e = err("# escape=x\nFROM a");
    assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
    let e = err("# escape=`\n# escape=\\\nFROM a");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "only one escape parser directive can be used")
    );
}

#[test]
fn byte_order_mark() {
    assert_eq!(ok("\u{feff}# escape=`\nFROM a").escape, '`');
}

#[test]
fn run_forms() {
    assert!(
        matches!(one("RUN [\"a\", \"b c\"]"), Instruction::Run { command: Command::Exec(v), .. } if v == ["a", "b c"])
    );
    // Not valid JSON: the shell form, as written.
    assert!(
        matches!(one("RUN [a, b]"), Instruction::Run { command: Command::Shell(s), .. } if s == "[a, b]")
    );
    assert!(matches!(
        one("RUN [\"a\", 1]"),
        Instruction::Run {
            command: Command::Shell(_),
            ..
        }
    ));
    assert_eq!(
        err("FROM a\nRUN").message,
        "RUN requires at least one argument"
    );
    // RUN never expands: the shell does.
    assert!(
        matches!(one("RUN echo $HOME ${X:-y}"), Instruction::Run { command: Command::Shell(s), .. } if s == "echo $HOME ${X:-y}")
    );
}

#[test]
fn run_flags() {
    let Instruction::Run { mounts, network, security, .. } = one(
        "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked --mount=type=bind,source=.,target=/src,readonly --mount=type=secret,id=tok --network=none --security=sandbox make",
    ) else {
        panic!("not a RUN");
    };
    assert_eq!(mounts.len(), 3);
    assert_eq!(mounts[0].kind, "cache");
    assert_eq!(mounts[0].target.as_deref(), Some("/root/.cache"));
    assert!(mounts[0]
        .options
        .contains(&("id".into(), Some("pip".into()))));
    assert_eq!(mounts[1].kind, "bind");
    assert!(mounts[1].options.contains(&("readonly".into(), None)));
    assert_eq!(mounts[2].kind, "secret");
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(security.as_deref(), Some("sandbox"));
    let Instruction::Run { mounts, .. } = one("RUN --mount=target=/x true") else {
        panic!("not a RUN");
    };
    assert_eq!(mounts[0].kind, "bind");
}

#[test]
fn run_flag_errors() {
    assert_eq!(
        err("FROM a\nRUN --mount=type=nfs,target=/x a").message,
        "unsupported mount type \"nfs\""
    );
    assert!(err("FROM a\nRUN --mount=type=cache a")
        .message
        .contains("requires a target"));
    assert!(err("FROM a\nRUN --mount=type=secret a")
        .message
        .contains("requires an id"));
    assert!(err("FROM a\nRUN --network=bridge a")
        .message
        .contains("unsupported network mode"));
    assert!(err("FROM a\nRUN --security=x a")
        .message
        .contains("unsupported security mode"));
    assert_eq!(err("FROM a\nRUN --nope a").message, "unknown flag: nope");
    assert_eq!(
        err("FROM a\nRUN --network=none --network=host a").message,
        "duplicate flag specified: network"
    );
    assert_eq!(
        err("FROM a\nRUN --mount a").message,
        "missing a value on flag: mount"
    );
}

#[test]
fn run_heredoc() {
    let d = ok("FROM a\nRUN <<EOF\necho one\n  echo two\nEOF\nRUN true");
    let s = &d.stages[0].steps;
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].line, 6);
    let Instruction::Run {
        heredocs, command, ..
    } = &s[0].instruction
    else {
        panic!("not a RUN");
    };
    assert_eq!(*command, shell("<<EOF"));
    assert_eq!(heredocs.len(), 1);
    assert_eq!(heredocs[0].name, "EOF");
    assert_eq!(heredocs[0].body, "echo one\n  echo two\n");
    assert!(heredocs[0].expand);
}

#[test]
fn heredoc_variants() {
    let Instruction::Run { heredocs, .. } = one("RUN <<-\"A\" cat 3<<'B'\n\tx $y\n\tA\nb\nB")
    else {
        panic!("not a RUN");
    };
    assert_eq!(heredocs.len(), 2);
    assert_eq!(
        (
            heredocs[0].name.as_str(),
            heredocs[0].body.as_str(),
            heredocs[0].expand
        ),
        ("A", "x $y\n", false)
    );
    assert_eq!(
        (
            heredocs[1].name.as_str(),
            heredocs[1].body.as_str(),
            heredocs[1].word.as_str()
        ),
        ("B", "b\n", "3<<'B'")
    );
    // `<<` inside words that are not heredocs.
    assert!(
        matches!(one("RUN echo a<<b"), Instruction::Run { heredocs, .. } if heredocs.is_empty())
    );
    let e = err("FROM a\nRUN <<EOF\nnever ends");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unterminated heredoc EOF"));
    // Other instructions do not take heredocs.
    assert_eq!(steps("FROM a\nENV A=<<EOF\nRUN x").len(), 2);
}

#[test]
fn copy_heredoc() {
    let Instruction::Copy(c) = one("COPY <<one <<two /dst/\nhello\none\nworld\ntwo") else {
        panic!("not a COPY");
    };
    assert_eq!(c.sources, ["<<one", "<<two"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.heredocs.len(), 2);
    assert_eq!(c.heredocs[1].body, "world\n");
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD [\"sh\", \"-c\", \"x\"]"),
        Instruction::Cmd(exec(&["sh", "-c", "x"]))
    );
    assert_eq!(one("CMD echo hi"), Instruction::Cmd(shell("echo hi")));
    assert_eq!(one("CMD []"), Instruction::Cmd(exec(&[])));
    assert_eq!(
        one("ENTRYPOINT [\"/bin/app\"]"),
        Instruction::Entrypoint(exec(&["/bin/app"]))
    );
    assert_eq!(
        one("ENTRYPOINT top -b"),
        Instruction::Entrypoint(shell("top -b"))
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert_eq!(
        err("FROM a\nSHELL /bin/bash -c").message,
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        err("FROM a\nSHELL []").message,
        "SHELL requires the arguments to be in JSON form"
    );
}

#[test]
fn env_forms() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C=three\\ words D="),
        Instruction::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "three\\ words".into()),
            ("D".into(), "".into()),
        ])
    );
    assert_eq!(
        one("ENV NAME  the rest of it"),
        Instruction::Env(vec![("NAME".into(), "the rest of it".into())])
    );
    assert_eq!(
        err("FROM a\nENV").message,
        "ENV requires at least one argument"
    );
    assert_eq!(err("FROM a\nENV A").message, "ENV must have two arguments");
    assert!(err("FROM a\nENV A=1 B")
        .message
        .contains("can't find = in \"B\""));
    assert!(err("FROM a\nENV =1").message.contains("can't find ="));
}

#[test]
fn label_and_arg() {
    assert_eq!(
        one("LABEL a=b \"c d\"=e"),
        Instruction::Label(vec![
            ("a".into(), "b".into()),
            ("\"c d\"".into(), "e".into())
        ])
    );
    assert_eq!(
        one("ARG A B=2 C=\"x y\""),
        Instruction::Arg(vec![
            ("A".into(), None),
            ("B".into(), Some("2".into())),
            ("C".into(), Some("\"x y\"".into()))
        ])
    );
    assert_eq!(
        err("FROM a\nARG").message,
        "ARG requires at least one argument"
    );
    assert_eq!(err("FROM a\nARG =x").message, "ARG names can not be blank");
}

#[test]
fn expose_user_workdir_volume_stopsignal() {
    assert_eq!(
        one("EXPOSE 80 443/tcp $P"),
        Instruction::Expose(vec!["80".into(), "443/tcp".into(), "$P".into()])
    );
    assert_eq!(one("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(
        err("FROM a\nUSER a b").message,
        "USER requires exactly one argument"
    );
    assert_eq!(
        one("WORKDIR /my dir"),
        Instruction::Workdir("/my dir".into())
    );
    assert_eq!(
        err("FROM a\nWORKDIR").message,
        "WORKDIR requires at least one argument"
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b c\"]"),
        Instruction::Volume(vec!["/a".into(), "/b c".into()])
    );
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        Instruction::StopSignal("SIGTERM".into())
    );
    assert_eq!(
        err("FROM a\nSTOPSIGNAL").message,
        "STOPSIGNAL requires exactly one argument"
    );
    assert_eq!(
        one("MAINTAINER \"Jo <jo@x>\""),
        Instruction::Maintainer("Jo <jo@x>".into())
    );
}

#[test]
fn copy_flags() {
    let Instruction::Copy(c) = one("COPY --from=build --chown=app:app --chmod=0755 --link --exclude=*.md --exclude=x a b /dst/") else {
        panic!("not a COPY");
    };
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link);
    assert_eq!(c.exclude, ["*.md", "x"]);
    assert_eq!(c.sources, ["a", "b"]);
    assert_eq!(c.dest, "/dst/");
    assert!(!c.json);
    let Instruction::Copy(c) = one("COPY [\"a b\", \"/d\"]") else {
        panic!("not a COPY");
    };
    assert!(c.json);
    assert_eq!(c.sources, ["a b"]);
    assert!(matches!(one("COPY --link=false a b"), Instruction::Copy(c) if !c.link));
}

#[test]
fn copy_and_add_errors() {
    assert_eq!(
        err("FROM a\nCOPY a").message,
        "COPY requires at least two arguments, but only 1 provided"
    );
    assert_eq!(
        err("FROM a\nADD").message,
        "ADD requires at least two arguments, but only 0 provided"
    );
    assert_eq!(
        err("FROM a\nADD --from=x a b").message,
        "unknown flag: from"
    );
    assert_eq!(
        err("FROM a\nCOPY --checksum=sha256:0 a b").message,
        "unknown flag: checksum"
    );
    assert_eq!(
        err("FROM a\nCOPY --from a b").message,
        "missing a value on flag: from"
    );
    assert_eq!(
        err("FROM a\nCOPY --link=maybe a b").message,
        "expecting boolean value for flag link, not: maybe"
    );
    assert!(err("FROM a\nCOPY --parents a b")
        .message
        .contains("not supported"));
}

#[test]
fn add_flags() {
    let Instruction::Add(c) =
        one("ADD --chown=1:2 --checksum=sha256:abc --keep-git-dir https://x/y.tar.gz /d")
    else {
        panic!("not an ADD");
    };
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(c.sources, ["https://x/y.tar.gz"]);
}

#[test]
fn healthcheck() {
    assert_eq!(one("HEALTHCHECK NONE"), Instruction::Healthcheck(None));
    let Instruction::Healthcheck(Some(h)) = one(
        "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --retries=3 CMD curl -f x",
    ) else {
        panic!("not a HEALTHCHECK");
    };
    assert_eq!(h.test, ["CMD-SHELL", "curl -f x"]);
    assert_eq!(h.interval, 30_000_000_000);
    assert_eq!(h.timeout, 90_000_000_000);
    assert_eq!(h.start_period, 500_000_000);
    assert_eq!(h.retries, 3);
    let Instruction::Healthcheck(Some(h)) = one("HEALTHCHECK cmd [\"a\", \"b\"]") else {
        panic!("not a HEALTHCHECK");
    };
    assert_eq!(h.test, ["CMD", "a", "b"]);
    assert!(err("FROM a\nHEALTHCHECK --interval=5x CMD a")
        .message
        .contains("invalid duration"));
    assert!(err("FROM a\nHEALTHCHECK --interval=1ns CMD a")
        .message
        .contains("less than 1ms"));
    assert!(err("FROM a\nHEALTHCHECK --retries=-1 CMD a")
        .message
        .contains("non-negative"));
    assert!(err("FROM a\nHEALTHCHECK CMD")
        .message
        .contains("Missing command"));
    assert!(err("FROM a\nHEALTHCHECK RUN x")
        .message
        .contains("Unknown type"));
    assert!(err("FROM a\nHEALTHCHECK NONE x")
        .message
        .contains("takes no arguments"));
}

#[test]
fn go_durations() {
    use super::healthcheck::go_duration;
    assert_eq!(go_duration("0"), Some(0));
    assert_eq!(go_duration("1h2m3s"), Some(3_723_000_000_000));
    assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(go_duration("10us"), Some(10_000));
    assert_eq!(go_duration(""), None);
    assert_eq!(go_duration("5"), None);
    assert_eq!(go_duration("s"), None);
}

#[test]
fn onbuild() {
    assert_eq!(
        one("ONBUILD RUN echo hi"),
        Instruction::OnBuild("RUN echo hi".into())
    );
    assert!(err("FROM a\nONBUILD ONBUILD RUN x")
        .message
        .contains("Chaining ONBUILD"));
    assert!(err("FROM a\nONBUILD FROM x")
        .message
        .contains("isn't allowed as an ONBUILD trigger"));
    assert!(err("FROM a\nONBUILD maintainer x")
        .message
        .contains("MAINTAINER isn't allowed"));
}

#[test]
fn flags_only_at_the_start() {
    assert!(
        matches!(one("RUN echo --mount=x"), Instruction::Run { mounts, .. } if mounts.is_empty())
    );
    // A lone `--` is an argument.
    assert!(
        matches!(one("RUN -- x"), Instruction::Run { command: Command::Shell(s), .. } if s == "-- x")
    );
    assert_eq!(err("FROM a\nCMD --x y").message, "unknown flag: x");
}

#[test]
fn lines_and_originals() {
    let d = ok("ARG X\n\nFROM a AS one\n  RUN one \\\n two\nFROM b\nCOPY --from=one /x /y\n");
    assert_eq!(d.meta_args[0].line, 1);
    assert_eq!(d.stages[0].from.line, 3);
    assert_eq!(d.stages[0].steps[0].line, 4);
    assert_eq!(d.stages[0].steps[0].original, "RUN one  two");
    assert_eq!(d.stages[1].steps[0].line, 7);
    assert_eq!(d.step_count(1), 5);
}

#[test]
fn errors_name_the_line_in_buildkits_words() {
    let e = err("FROM a\nCOPY x\n");
    assert_eq!(e.to_string(), "dockerfile parse error on line 2: COPY requires at least two arguments, but only 1 provided");
}
