//! COPY and ADD: layouts, modes and owners, errors, .dockerignore and --exclude, archives, heredocs.

use super::*;

#[test]
fn copy_layouts_and_modes() {
    let (d, ctx) = context(&[
        ("dir/a", "a"),
        ("dir/sub/b", "b"),
        ("f", "f"),
        ("g.txt", "g"),
    ]);
    std::os::unix::fs::symlink("f", d.path().join("link")).expect("symlink");
    let df = "FROM busybox\nCOPY dir /d\nCOPY f /file-renamed\nCOPY f g.txt /multi/\nCOPY --chmod=0700 --chown=5:6 f /etc\nCOPY link /l\nCOPY *.txt /globbed/\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    let f = |p: &str| h.file(&b.image, p);
    assert!(f("/d/a").is_some() && f("/d/sub/b").is_some() && f("/d/dir").is_none());
    assert_eq!(f("/file-renamed").expect("renamed").data, b"f");
    assert!(f("/multi/f").is_some() && f("/multi/g.txt").is_some());
    let e = f("/etc/f").expect("into an existing directory");
    assert_eq!((e.mode, e.uid, e.gid), (0o700, 5, 6));
    assert_eq!(f("/l").expect("link").link.as_deref(), Some("f"));
    assert!(f("/globbed/g.txt").is_some());
    assert_eq!(f("/d/a").expect("a").uid, 0);
}

#[test]
fn copy_errors_name_the_problem() {
    let (_d, ctx) = context(&[("a", "a")]);
    let mut h = Fake::with_base();
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY ../secret /\n")).expect_err("outside");
    assert_eq!(
        e.to_string(),
        "forbidden path outside the build context: ../secret"
    );
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY missing /\n")).expect_err("missing");
    assert!(e
        .to_string()
        .starts_with("missing: not found in the build context"));
    let e = build(&mut h, &ctx, &opts("FROM busybox\nCOPY --chmod=999 a /\n")).expect_err("chmod");
    assert!(e
        .to_string()
        .starts_with("dockerfile line 2: invalid chmod parameter"));
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --chown=nobody a /\n"),
    )
    .expect_err("user");
    assert!(e.to_string().contains("unable to find user nobody"));
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --from=nowhere /a /\n"),
    )
    .expect_err("from");
    assert!(e.to_string().contains("invalid from flag value nowhere"));
}

#[test]
fn dockerignore_and_exclude() {
    let (_d, ctx) = context(&[
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "s"),
        ("a.md", "m"),
        ("b", "b"),
    ]);
    let mut h = Fake::with_base();
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nCOPY --exclude=*.md . /app/\n"),
    );
    assert!(h.file(&b.image, "/app/b").is_some());
    assert!(h.file(&b.image, "/app/secret.txt").is_none());
    assert!(h.file(&b.image, "/app/a.md").is_none());
}

#[test]
fn add_extracts_local_archives_and_refuses_urls() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut tb = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(2);
    hd.set_mode(0o644);
    tb.append_data(&mut hd, "in/x", &b"hi"[..]).expect("append");
    let raw = tb.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    std::fs::write(d.path().join("a.tar.gz"), gz.finish().expect("gzip")).expect("write");
    let ctx = Context::open(d.path(), "Dockerfile").expect("context");
    let mut h = Fake::with_base();
    let b = run(
        &mut h,
        &ctx,
        &opts("FROM busybox\nADD a.tar.gz /dst/\nCOPY a.tar.gz /kept/\n"),
    );
    assert_eq!(
        h.file(&b.image, "/dst/in/x").expect("extracted").data,
        b"hi"
    );
    assert!(
        h.file(&b.image, "/kept/a.tar.gz").is_some(),
        "COPY never extracts"
    );
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox\nADD http://127.0.0.1:1/r.tar.gz /dst/\n"),
    )
    .expect_err("url");
    assert!(e.to_string().contains("does not download remote files"));
}

#[test]
fn heredocs() {
    let (_d, ctx) = context(&[]);
    let df = "FROM busybox\nENV N=world\nCOPY <<EOF /hello\nhello $N\nEOF\nCOPY <<'EOF' /raw\n$N\nEOF\nRUN <<EOF\nwrite /h1 1\nEOF\nRUN cat <<X\nline\nX\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert_eq!(
        h.file(&b.image, "/hello").expect("hello").data,
        b"hello world\n"
    );
    assert_eq!(h.file(&b.image, "/raw").expect("raw").data, b"$N\n");
    assert!(h.file(&b.image, "/h1").is_some());
    assert_eq!(h.runs[1].argv, ["/bin/sh", "-c", "cat <<X\nline\nX"]);
}

#[test]
fn copy_from_a_stage_with_wildcards() {
    let (_d, ctx) = context(&[]);
    let df =
        "FROM busybox AS b\nRUN write /out/a.so 1\nRUN write /out/b.so 2\nRUN write /out/c.txt 3\n\
FROM busybox\nCOPY --from=b /out/*.so /lib/\n";
    let mut h = Fake::with_base();
    let b = run(&mut h, &ctx, &opts(df));
    assert!(h.file(&b.image, "/lib/a.so").is_some() && h.file(&b.image, "/lib/b.so").is_some());
    assert!(h.file(&b.image, "/lib/c.txt").is_none());
    let e = build(
        &mut h,
        &ctx,
        &opts("FROM busybox AS b\nFROM busybox\nCOPY --from=b /etc/*.none /x/\n"),
    )
    .expect_err("no match");
    assert!(e.to_string().contains("matches /etc/*.none"), "{e}");
}
