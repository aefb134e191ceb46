//! Stages, the cache, build args and the config instructions.

use super::*;

#[test]
fn multi_stage_build() {
    let (_d, ctx) = context(&[("main.c", "int main;"), ("conf/a.conf", "a=1")]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(APP));
    assert_eq!(b.tags, ["x:latest"]);
    assert_eq!(h.tags["x:latest"], b.image);
    assert_eq!(b.steps, 11);
    assert_eq!(b.cache_hits, 0);
    let c = h.config(&b.image);
    assert_eq!(
        c.env,
        Some(vec![
            "PATH=/bin".into(),
            "GREETING=hello".into(),
            "HOME=/home/app".into()
        ])
    );
    assert_eq!(c.working_dir.as_deref(), Some("/home/app"));
    assert_eq!(c.user.as_deref(), Some("app"));
    assert_eq!(c.cmd, Some(vec!["app".into()]));
    assert_eq!(
        h.file(&b.image, "/usr/bin/app").expect("app").data,
        b"built"
    );
    let conf = h.file(&b.image, "/home/app/conf/a.conf").expect("conf");
    assert_eq!(
        (conf.uid, conf.gid, conf.data.as_slice()),
        (1000, 1000, &b"a=1"[..])
    );
    assert!(
        h.file(&b.image, "/src/main.c").is_none(),
        "the build stage's files stay there"
    );
    assert!(h
        .lines
        .contains(&"Step 1/11 : FROM busybox AS build".to_string()));
    assert!(h.lines.iter().any(|l| l.starts_with("Successfully built ")));
    assert!(h
        .lines
        .contains(&"Successfully tagged x:latest".to_string()));
    assert!(h.containers.is_empty(), "every build container is removed");
    assert_eq!(h.runs[0].workdir, "/src");
    assert_eq!(h.runs[0].argv, ["/bin/sh", "-c", "write /src/app built"]);
}

#[test]
fn a_rebuild_uses_the_cache_for_every_step() {
    let (_d, ctx) = context(&[("main.c", "int main;"), ("conf/a.conf", "a=1")]);
    let mut h = Fake::with_base();
    let first = run(&mut h, &ctx, &opts(APP));
    h.lines.clear();
    let runs = h.runs.len();
    let second = run(&mut h, &ctx, &opts(APP));
    assert_eq!(second.image, first.image);
    assert_eq!(second.cache_hits, 9, "every step but the two FROMs");
    assert_eq!(
        h.lines.iter().filter(|l| *l == " ---> Using cache").count(),
        9
    );
    assert_eq!(h.runs.len(), runs, "nothing ran again");
}

#[test]
fn a_changed_file_invalidates_from_its_copy_on() {
    let (d, ctx) = context(&[("a", "1"), ("b", "1")]);
    let df = "FROM busybox\nCOPY a /a\nRUN write /x 1\nCOPY b /b\nRUN write /y 2\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    std::fs::write(d.path().join("b"), "2").expect("write");
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(b.cache_hits, 2, "COPY a and the first RUN");
    assert_eq!(h.file(&b.image, "/b").expect("b").data, b"2");
    std::fs::write(d.path().join("a"), "2").expect("write");
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 0);
}

#[test]
fn no_cache_runs_everything() {
    let (_d, ctx) = context(&[("a", "1")]);
    let df = "FROM busybox\nCOPY a /a\nRUN write /x 1\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let o = BuildOptions {
        no_cache: true,
        ..opts(df)
    };
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 0);
}

#[test]
fn bld07_no_cache_across_base_images() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts("FROM busybox\nRUN write /x hi\n"));
    let b = run(&mut h, &ctx, &opts("FROM other\nRUN write /x hi\n"));
    assert_eq!(b.cache_hits, 0);
}

#[test]
fn build_args_change_the_cache_key() {
    let (_d, ctx) = context(&[]);
    let df = "ARG BASE=busybox\nFROM $BASE\nARG V=1\nRUN write /v $V\n";
    let mut h = Fake::with_base();
    run(&mut h, &ctx, &opts(df));
    let mut o = opts(df);
    o.build_args.insert("V".into(), "2".into());
    o.build_args.insert("UNUSED".into(), "x".into());
    o.build_args.insert("HTTP_PROXY".into(), "p".into());
    let b = run(&mut h, &ctx, &o);
    assert_eq!(b.cache_hits, 1, "ARG itself, not the RUN");
    assert!(h.runs.last().expect("run").env.contains(&"V=2".to_string()));
    assert!(h
        .lines
        .contains(&"[Warning] One or more build-args [UNUSED] were not consumed".to_string()));
    o.build_args.insert("BASE".into(), "other".into());
    assert_eq!(run(&mut h, &ctx, &o).cache_hits, 0);
}

#[test]
fn global_args_need_redeclaring_in_a_stage() {
    let (_d, ctx) = context(&[]);
    let df = "ARG V=g\nFROM busybox\nENV A=$V\nARG V\nENV B=$V\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let c = h.config(&b.image);
    assert_eq!(c.env_var("A").as_deref(), Some(""));
    assert_eq!(c.env_var("B").as_deref(), Some("g"));
}

#[test]
fn env_expands_with_the_values_before_the_line() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nENV A=1\nENV A=2 B=$A C=${Z:-z}\nLABEL l=$A\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let c = h.config(&b.image);
    assert_eq!(c.env_var("B").as_deref(), Some("1"));
    assert_eq!(c.env_var("C").as_deref(), Some("z"));
    assert_eq!(c.labels.expect("labels")["l"], "2");
}

#[test]
fn target_builds_only_what_it_needs() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox AS a\nRUN write /a 1\nFROM busybox AS unused\nRUN exit 3\nFROM a AS t\nRUN write /t 1\nFROM busybox\nRUN exit 4\n";
    let mut h = Fake::with_base();
    let o = BuildOptions {
        target: Some("t".into()),
        ..opts(df)
    };
    let b = run(&mut h, &ctx, &o);
    assert!(h.file(&b.image, "/a").is_some() && h.file(&b.image, "/t").is_some());
    assert_eq!(b.steps, 4);
    let o = BuildOptions {
        target: Some("nope".into()),
        ..opts(df)
    };
    let e = build(&mut h, &ctx, &o).expect_err("no such target");
    assert_eq!(
        e.to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[test]
fn entrypoint_resets_an_inherited_cmd() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts("FROM busybox\nENTRYPOINT [\"/app\"]\n"));
    assert_eq!(h.config(&b.image).cmd, None);
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCMD [\"-v\"]\nENTRYPOINT /app run\n"),
    );
    let c = h.config(&b.image);
    assert_eq!(c.cmd, Some(vec!["-v".into()]));
    assert_eq!(
        c.entrypoint,
        Some(vec!["/bin/sh".into(), "-c".into(), "/app run".into()])
    );
}

#[test]
fn shell_expose_volume_health_stopsignal_onbuild() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nSHELL [\"/bin/ash\", \"-eo\"]\nRUN write /s 1\nEXPOSE 80 53/udp 8000-8001\nVOLUME /data\n\
HEALTHCHECK --interval=5s CMD true\nSTOPSIGNAL SIGINT\nONBUILD RUN write /onbuild 1\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(h.runs[0].argv, ["/bin/ash", "-eo", "write /s 1"]);
    let c = h.config(&b.image);
    let ports: Vec<&String> = c.exposed_ports.as_ref().expect("ports").keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    assert!(c.volumes.expect("volumes").contains_key("/data"));
    let hc = c.healthcheck.expect("healthcheck");
    assert_eq!(
        (hc.test, hc.interval),
        (
            vec!["CMD-SHELL".to_string(), "true".to_string()],
            5_000_000_000
        )
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.on_build, Some(vec!["RUN write /onbuild 1".into()]));
    // A build FROM it runs the trigger first, and its image carries no trigger.
    h.tags.insert("parent".into(), b.image.clone());
    let child = run(&mut h, &ctx, &opts("FROM parent\nENV X=1\n"));
    assert!(h.file(&child.image, "/onbuild").is_some());
    assert_eq!(h.config(&child.image).on_build, None);
}

#[test]
fn labels_option() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    let mut o = opts("FROM busybox\nLABEL a=1\n");
    o.labels.insert("b".into(), "two words".into());
    let b = run(&mut h, &ctx, &o);
    let labels = h.config(&b.image).labels.expect("labels");
    assert_eq!(
        (labels["a"].as_str(), labels["b"].as_str()),
        ("1", "two words")
    );
}

#[test]
fn scratch_and_missing_images() {
    let (_d, ctx) = context(&[("f", "f")]);
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts("FROM scratch\nCOPY f /f\n"));
    assert!(h.file(&b.image, "/f").is_some());
    let e = build(&mut h, &ctx, &opts("FROM scratch\n")).expect_err("empty");
    assert!(e.to_string().contains("No image was generated"));
    let e = build(&mut h, &ctx, &opts("FROM nothere\n")).expect_err("missing");
    assert!(e
        .to_string()
        .starts_with("dockerfile line 1: pull access denied for nothere"));
}

#[test]
fn platform_args_in_from_and_redeclared() {
    let (_d, ctx) = context(&[]);
    let mut h = Fake::with_base();
    h.tags.insert(
        format!("busybox-{}", platform_args()["TARGETARCH"]),
        "sha256:base".into(),
    );
    let df = "FROM --platform=$BUILDPLATFORM busybox-$TARGETARCH\nARG TARGETOS\nENV OS=$TARGETOS ARCH=$TARGETARCH\n";
    let b = run(&mut h, &ctx, &opts(df));
    let c = h.config(&b.image);
    assert_eq!(c.env_var("OS").as_deref(), Some("linux"));
    assert_eq!(
        c.env_var("ARCH").as_deref(),
        Some(""),
        "not declared in the stage"
    );
}

#[test]
fn cache_from_reuses_the_steps_of_an_image_after_the_own_cache() {
    let (d, ctx) = context(&[("main.c", "int main;")]);
    let df = "FROM busybox\nWORKDIR /src\nCOPY main.c .\nRUN write /src/app built\nENV X=1\nCMD [\"app\"]\n";
    let mut h = Fake::with_base();
    let first = run(&mut h, &ctx, &opts(df));
    // Without sources and without the own cache: everything again.
    h.cache.clear();
    let again = run(&mut h, &ctx, &opts(df));
    assert_eq!(again.cache_hits, 0);
    assert_ne!(again.image, first.image);
    // With the first image as a source and no own cache: every step from it, nothing run.
    h.cache.clear();
    h.tags.insert("first".into(), first.image.clone());
    let o = BuildOptions {
        cache_from: vec!["missing".into(), "first".into()],
        ..opts(df)
    };
    let runs = h.runs.len();
    let b = run(&mut h, &ctx, &o);
    assert_eq!(b.image, first.image);
    assert_eq!(b.cache_hits, 5);
    assert_eq!(h.runs.len(), runs, "no RUN ran again");
    // What it found went into the own cache.
    assert_eq!(run(&mut h, &ctx, &opts(df)).cache_hits, 5);
    // A changed source: the steps from its COPY on are built.
    std::fs::write(d.path().join("main.c"), "int main2;").expect("write");
    h.cache.clear();
    let b = run(&mut h, &ctx, &o);
    assert_eq!(b.cache_hits, 1, "WORKDIR only");
    assert_eq!(h.runs.len(), runs + 1);
}

#[test]
fn cache_from_never_answers_a_run_that_binds_the_context() {
    let (d, ctx) = context(&[("in.txt", "one")]);
    let df = "FROM busybox\nRUN --mount=type=bind,source=in.txt,target=/in write /out x\n";
    let mut h = Fake::with_base();
    let first = run(&mut h, &ctx, &opts(df));
    h.tags.insert("first".into(), first.image.clone());
    // The bound file changed: the source's step (same command) was made from other input.
    std::fs::write(d.path().join("in.txt"), "two").expect("write");
    h.cache.clear();
    let o = BuildOptions {
        cache_from: vec!["first".into()],
        ..opts(df)
    };
    let runs = h.runs.len();
    let b = run(&mut h, &ctx, &o);
    assert_eq!(b.cache_hits, 0);
    assert_eq!(h.runs.len(), runs + 1, "the RUN ran again");
}

/// Steps that change only the config make no container: the host's `configure` gives each an
/// image (no layer); a `WORKDIR` whose directory is there too; a rebuild takes them all from the
/// cache, and a changed one misses from there on.
#[test]
fn config_steps_make_no_container() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nARG V=1\nENV A=$V\nLABEL l=v\nEXPOSE 80\nUSER app\nWORKDIR /etc\n\
STOPSIGNAL SIGINT\nHEALTHCHECK CMD true\nSHELL [\"/bin/sh\", \"-ec\"]\nVOLUME /data\n\
ONBUILD RUN true\nENTRYPOINT [\"e\"]\nCMD [\"c\"]\nMAINTAINER me\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(h.configured.len(), 14, "{:?}", h.configured);
    assert_eq!(h.configured[5], "/bin/sh -c #(nop) WORKDIR /etc");
    assert!(h.runs.is_empty());
    assert!(
        !h.parents.values().any(|(_, by)| !h.configured.contains(by)),
        "nothing committed"
    );
    assert!(
        !h.lines.iter().any(|l| l.contains("Running in")),
        "{:?}",
        h.lines
    );
    let c = h.config(&b.image);
    assert_eq!(c.env_var("A").as_deref(), Some("1"));
    assert_eq!(c.working_dir.as_deref(), Some("/etc"));
    assert!(h.containers.is_empty(), "the WORKDIR's look is removed");

    // A WORKDIR that is not there makes it through a container.
    let made = run(&mut h, &ctx, &opts("FROM busybox\nWORKDIR /new/dir\n"));
    assert!(h.file(&made.image, "/new/dir").expect("dir").dir);
    assert_eq!(h.configured.len(), 14);

    h.configured.clear();
    let again = run(&mut h, &ctx, &opts(df));
    assert_eq!((again.image, again.cache_hits), (b.image, 14));
    assert!(h.configured.is_empty());
    let o = BuildOptions {
        build_args: [("V".to_string(), "2".to_string())].into(),
        ..opts(df)
    };
    let changed = run(&mut h, &ctx, &o);
    // As the classic builder: the ARG step itself is the same, its value changes the ENV.
    assert_eq!(changed.cache_hits, 1, "only the ARG step");
    assert_eq!(h.configured.len(), 13);
}
