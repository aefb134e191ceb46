//! The Dockerfile corpus in `tests/corpus/`: real-world shaped files (a static Go build, a
//! non-root Node app, heredocs, a multi-stage Python app, Windows-style escapes, ONBUILD, variable
//! expansion) parsed whole, with the facts each one is there to pin down.

use super::*;

fn corpus(name: &str) -> Dockerfile {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ins(d: &Dockerfile, stage: usize, step: usize) -> &Instruction {
    &d.stages[stage].steps[step].instruction
}

fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |n| {
        pairs
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn every_corpus_file_parses() {
    let dir = format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("corpus dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        corpus(&name);
        n += 1;
    }
    assert!(n >= 7, "{n} files");
}

#[test]
fn go_static() {
    let d = corpus("go-static.Dockerfile");
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.meta_args.len(), 1);
    assert_eq!(d.stages.len(), 2);
    let s = &d.stages[0];
    assert_eq!(
        (s.name.as_deref(), s.platform.as_deref()),
        (Some("build"), Some("$BUILDPLATFORM"))
    );
    let base = lex::expand(&s.base, '\\', &env_of(&[("GO_VERSION", "1.22")])).expect("expand");
    assert_eq!(base, "golang:1.22-alpine");
    let Instruction::Run {
        mounts, command, ..
    } = ins(&d, 0, 3)
    else {
        panic!("not a RUN");
    };
    assert_eq!(
        (mounts[0].kind.as_str(), mounts[0].target.as_deref()),
        ("cache", Some("/go/pkg/mod"))
    );
    assert_eq!(*command, Command::Shell("go mod download".into()));
    assert_eq!(
        *ins(&d, 0, 5),
        Instruction::Arg(vec![("TARGETOS".into(), None), ("TARGETARCH".into(), None)])
    );
    assert_eq!(d.stages[1].base, "scratch");
    assert!(matches!(ins(&d, 1, 0), Instruction::Copy(c) if c.from.as_deref() == Some("build")));
    assert_eq!(
        *ins(&d, 1, 3),
        Instruction::Entrypoint(Command::Exec(vec!["/app".into()]))
    );
}

#[test]
fn node_nonroot() {
    let d = corpus("node-nonroot.Dockerfile");
    assert_eq!(
        *ins(&d, 0, 0),
        Instruction::Env(vec![
            ("NODE_ENV".into(), "production".into()),
            ("APP_HOME".into(), "/home/node/app".into())
        ])
    );
    let Instruction::Healthcheck(Some(h)) = ins(&d, 0, 7) else {
        panic!("not a HEALTHCHECK");
    };
    assert_eq!(h.test, ["CMD-SHELL", "node healthcheck.js || exit 1"]);
    assert_eq!(
        (h.interval, h.timeout, h.start_period, h.retries),
        (30_000_000_000, 3_000_000_000, 5_000_000_000, 3)
    );
    assert!(
        matches!(ins(&d, 0, 2), Instruction::Copy(c) if c.chown.as_deref() == Some("node:node") && c.sources == ["package*.json"])
    );
}

#[test]
fn heredocs() {
    let d = corpus("heredocs.Dockerfile");
    let Instruction::Run {
        heredocs, command, ..
    } = ins(&d, 0, 0)
    else {
        panic!("not a RUN");
    };
    assert_eq!(*command, Command::Shell("<<EOT bash".into()));
    assert_eq!(heredocs[0].body.lines().count(), 4);
    let Instruction::Copy(c) = ins(&d, 0, 1) else {
        panic!("not a COPY");
    };
    assert_eq!(
        (c.heredocs[0].body.as_str(), c.heredocs[0].expand),
        ("Welcome, $USER (not expanded)\n", false)
    );
    let Instruction::Run { heredocs, .. } = ins(&d, 0, 2) else {
        panic!("not a RUN");
    };
    assert!(heredocs[0].body.starts_with("#!/usr/bin/env python3\n"));
    let Instruction::Copy(c) = ins(&d, 0, 3) else {
        panic!("not a COPY");
    };
    assert_eq!((c.heredocs.len(), c.dest.as_str()), (2, "/etc/app/"));
}

#[test]
fn python_app() {
    let d = corpus("python-app.Dockerfile");
    let names: Vec<Option<&str>> = d.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("base"), Some("deps"), Some("final")]);
    assert_eq!(
        (d.stages[1].base.as_str(), d.stages[2].base.as_str()),
        ("base", "deps")
    );
    assert!(matches!(ins(&d, 2, 1), Instruction::Copy(c) if c.chmod.as_deref() == Some("0755")));
    assert!(matches!(ins(&d, 2, 3), Instruction::Label(l) if l.len() == 2));
    assert_eq!(
        *ins(&d, 2, 4),
        Instruction::Volume(vec!["/app/data".into()])
    );
}

#[test]
fn windows_escape() {
    let d = corpus("windows-escape.Dockerfile");
    assert_eq!(d.escape, '`');
    assert_eq!(*ins(&d, 0, 1), Instruction::Workdir("C:\\app".into()));
    let Instruction::Copy(c) = ins(&d, 0, 2) else {
        panic!("not a COPY");
    };
    assert_eq!(
        (c.sources[0].as_str(), c.dest.as_str()),
        ("app\\", "C:\\app\\")
    );
    assert!(
        matches!(ins(&d, 0, 3), Instruction::Run { command: Command::Shell(s), .. } if s == "Write-Host 'one' ;     Write-Host 'two'")
    );
    assert_eq!(
        *ins(&d, 0, 4),
        Instruction::Cmd(Command::Exec(vec!["C:\\app\\app.exe".into()]))
    );
}

#[test]
fn onbuild_base() {
    let d = corpus("onbuild-base.Dockerfile");
    assert_eq!(
        *ins(&d, 0, 0),
        Instruction::Maintainer("someone@example.com".into())
    );
    assert_eq!(*ins(&d, 0, 1), Instruction::OnBuild("COPY . /src".into()));
    assert!(
        matches!(ins(&d, 0, 3), Instruction::Add(c) if c.sources == ["https://example.com/release.tar.gz"] && c.chown.as_deref() == Some("1000:1000"))
    );
}

#[test]
fn expansion() {
    let d = corpus("expansion.Dockerfile");
    let base =
        lex::expand(&d.stages[0].base, '\\', &env_of(&[("BASE", "busybox")])).expect("expand");
    assert_eq!(base, "busybox:latest");
    let Instruction::Env(pairs) = ins(&d, 0, 2) else {
        panic!("not an ENV");
    };
    let env = env_of(&[("HOME", "/home/u")]);
    let values: Vec<String> = pairs
        .iter()
        .map(|(_, v)| lex::expand(v, '\\', &env).expect("expand"))
        .collect();
    assert_eq!(values, ["hello world", "$NOT_EXPANDED", "$HOME"]);
    let Instruction::Label(pairs) = ins(&d, 0, 4) else {
        panic!("not a LABEL");
    };
    let values: Vec<String> = pairs
        .iter()
        .map(|(_, v)| lex::expand(v, '\\', &env_of(&[])).expect("expand"))
        .collect();
    assert_eq!(values, ["", "fallback"]);
}
