//! RUN: failures, heredoc scripts, mounts.

use super::*;

#[test]
fn a_failing_run_stops_the_build() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let o = opts("FROM busybox\nRUN exit 7\nRUN write /never 1\n");
    let e = build(&mut h, &ctx, &o).expect_err("fails");
    assert_eq!(
        e.to_string(),
        "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    );
    assert_eq!(e.code(), Some(7));
    assert!(!h.tags.contains_key("x:latest"));
    assert_eq!(
        h.containers.len(),
        1,
        "Docker keeps the failed step's container"
    );
    let mut h = Fake::with_base();
    let o = BuildOptions {
        force_rm: true,
        ..o
    };
    build(&mut h, &ctx, &o).expect_err("fails");
    assert!(h.containers.is_empty());
}

#[test]
fn run_mounts_reach_the_host() {
    let (d, ctx) = context(&[("src/a", "1")]);
    let df = "FROM busybox\nWORKDIR /w\nRUN --mount=type=cache,target=.cache,id=pip,uid=5,mode=0700 --mount=type=tmpfs,target=/t,size=1024 \
--mount=type=bind,source=src,target=/s --mount=type=bind,target=/all,rw true\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let m = &h.runs[0].mounts;
    assert_eq!(m.len(), 4);
    assert_eq!(
        m[0],
        RunMount {
            source: MountSource::Cache {
                id: "pip".into(),
                uid: 5,
                gid: 0,
                mode: 0o700
            },
            target: "/w/.cache".into(),
            readonly: false
        }
    );
    assert_eq!(m[1].source, MountSource::Tmpfs { size: Some(1024) });
    assert_eq!(
        (m[2].source.clone(), m[2].readonly),
        (MountSource::Context(d.path().join("src")), true)
    );
    assert_eq!(
        (m[3].source.clone(), m[3].readonly),
        (MountSource::Context(d.path().to_path_buf()), false)
    );
    // A changed bound file is a new step; an unchanged one a cache hit.
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 2);
    std::fs::write(d.path().join("src/a"), "2").expect("write");
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 1);
}

#[test]
fn run_mounts_refused_with_reasons() {
    let (d, ctx) = context(&[("f", "1")]);
    std::os::unix::fs::symlink("/etc", d.path().join("link")).expect("symlink");
    let mut h = Fake::with_base();
    let cases = [
        (
            "RUN --mount=type=secret,id=tok,required true",
            "secret tok is required but was not given: berth build --secret id=tok,src=FILE",
        ),
        (
            "RUN --mount=type=secret,id=tok,env=TOKEN true",
            "env= is not supported",
        ),
        ("RUN --mount=type=secret true", "requires an id or a target"),
        (
            "RUN --mount=type=ssh,target=/s true",
            "forwards no SSH agents",
        ),
        (
            "RUN --mount=type=bind,from=x,target=/x true",
            "from=x is not supported",
        ),
        (
            "RUN --mount=type=bind,source=link,target=/x true",
            "is a symbolic link",
        ),
        (
            "RUN --mount=type=bind,source=../x,target=/x true",
            "forbidden path outside the build context",
        ),
        (
            "RUN --mount=type=cache,target=/c,sharing=odd true",
            "shared, private or locked",
        ),
        (
            "RUN --mount=type=cache,target=/c,uid=x true",
            "not a number",
        ),
    ];
    for (line, want) in cases {
        let e = build(&mut h, &ctx, &opts(&format!("FROM busybox\n{line}\n"))).expect_err(line);
        assert!(e.to_string().contains(want), "{line}: {e}");
    }
}

#[test]
fn heredoc_scripts_with_a_shebang_run_by_their_interpreter() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nRUN <<EOF\n#!/usr/bin/env python3\nprint('hi')\nEOF\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let script = &h.runs[0].argv[2];
    assert!(script.starts_with("f=$(mktemp) && cat > \"$f\" <<'BERTH_HEREDOC_END'\n#!/usr/bin/env python3\nprint('hi')\nBERTH_HEREDOC_END\n"), "{script}");
    assert!(script.ends_with("exit $rc"), "{script}");
    // A body holding the terminator gets another one.
    let df = "FROM busybox\nRUN <<EOF\n#!/bin/sh\nBERTH_HEREDOC_END\nEOF\n";
    run(&mut h, &ctx, &opts(df));
    assert!(
        h.runs[1].argv[2].contains("<<'BERTH_HEREDOC_END_'"),
        "{}",
        h.runs[1].argv[2]
    );
}

#[test]
fn a_cancelled_build_stops_before_its_next_step() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    h.cancel_at = Some(3); // the two base images and one step
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nRUN write /a 1\nRUN write /b 1\n"),
    )
    .expect_err("cancelled");
    assert!(matches!(e, BuildError::Cancelled), "{e}");
    assert_eq!(h.runs.len(), 1);
    assert!(!h.tags.contains_key("x:latest"));
}

#[test]
fn the_default_network_and_the_platform() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let o = BuildOptions {
        network: NetworkMode::None,
        ..opts("FROM busybox\nRUN true\nRUN --network=host true\n")
    };
    run(&mut h, &ctx, &o);
    assert_eq!(
        (h.runs[0].network, h.runs[1].network),
        (NetworkMode::None, NetworkMode::Host)
    );
    let native = platform_args()["BUILDPLATFORM"].clone();
    run(
        &mut h,
        &ctx,
        &opts(&format!("FROM --platform={native} busybox\n")),
    );
    run(
        &mut h,
        &ctx,
        &opts("FROM --platform=$TARGETPLATFORM busybox\n"),
    );
    let e =
        build(&mut h, &ctx, &opts("FROM --platform=linux/s390x busybox\n")).expect_err("foreign");
    assert!(
        e.to_string()
            .contains("platform linux/s390x is not supported by this builder"),
        "{e}"
    );
    let o = BuildOptions {
        platform: Some("windows/amd64".into()),
        ..opts("FROM busybox\n")
    };
    assert!(build(&mut h, &ctx, &o).is_err());
}

#[test]
fn source_date_epoch_reaches_run_and_the_cache_key() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let df = "FROM busybox\nRUN write /x 1\n";
    let plain = run(&mut h, &ctx, &opts(df));
    let mut o = opts(df);
    o.source_date_epoch = Some(1_700_000_000);
    o.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    let at = run(&mut h, &ctx, &o);
    assert_eq!(
        at.cache_hits, 0,
        "a step made at another time is another image"
    );
    assert_ne!(at.image, plain.image);
    let env = &h.runs.last().expect("run").env;
    assert!(
        env.contains(&"SOURCE_DATE_EPOCH=1700000000".to_string()),
        "{env:?}"
    );
    assert!(
        !h.lines.iter().any(|l| l.contains("were not consumed")),
        "a predefined arg: {:?}",
        h.lines
    );
    assert_eq!(h.config(&at.image).env_var("SOURCE_DATE_EPOCH"), None);
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 1);
}

#[test]
fn secret_mounts_name_the_secret_never_its_bytes() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let df = "FROM busybox\nWORKDIR /w\nRUN --mount=type=secret,id=tok --mount=type=secret,id=key,target=k,uid=5,mode=0440 \
--mount=type=secret,id=absent true\n";
    let mut o = opts(df);
    o.secrets = ["tok".to_string(), "key".to_string()].into();
    run(&mut h, &ctx, &o);
    let m = &h.runs[0].mounts;
    assert_eq!(
        m.len(),
        2,
        "the absent optional secret is not mounted: {m:?}"
    );
    assert_eq!(
        (&m[0].target, &m[0].source, m[0].readonly),
        (
            &"/run/secrets/tok".to_string(),
            &MountSource::Secret {
                id: "tok".into(),
                uid: 0,
                gid: 0,
                mode: 0o400
            },
            true
        )
    );
    assert_eq!(m[1].target, "/w/k");
    assert_eq!(
        m[1].source,
        MountSource::Secret {
            id: "key".into(),
            uid: 5,
            gid: 0,
            mode: 0o440
        }
    );
    // The same ids again: a cache hit (the bytes are the host's, not part of the key).
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 2);
    // A secret given now that was absent before mounts one more: another step.
    o.secrets.insert("absent".into());
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 1);
}
