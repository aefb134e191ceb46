//! `docker build` (the legacy builder, as the docker CLI without buildx speaks it) against Berth:
//! a multi-stage build runs, a rebuild answers every step from the cache, a changed file
//! invalidates from its COPY on, a bad line or a failing RUN fails the build naming it; and the
//! security catalog's builder cases BLD-01, BLD-02, BLD-07 and BLD-08.

use std::path::Path;
use std::process::Output;

use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

/// A context directory with `files`, removed on drop.
pub(crate) fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context dir");
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    dir
}

pub(crate) fn build(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(".");
    d.docker_cmd(&all)
        .current_dir(dir)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running docker build")
}

pub(crate) fn build_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let out = build(d, dir, args);
    assert!(
        out.status.success(),
        "docker build failed ({:?}): {}\n{}\n--- daemon log ---\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out),
        d.log()
    );
    stdout(&out)
}

const MULTI: &str = "FROM busybox AS builder
WORKDIR /src
COPY hello.txt .
RUN cat hello.txt > out.txt && echo built >> out.txt
FROM busybox
ENV GREETING=hi
WORKDIR /app
COPY --from=builder /src/out.txt ./out.txt
COPY data.txt /app/data.txt
RUN echo \"$GREETING from $(pwd)\" > /app/greeting && chown -R 1234 /app
USER 1234
CMD [\"cat\", \"/app/out.txt\", \"/app/greeting\"]
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn multi_stage_build_cache_and_invalidation() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", MULTI),
        ("hello.txt", "hello\n"),
        ("data.txt", "one\n"),
    ]);
    let first = build_ok(&d, ctx.path(), &["-t", "multi"]);
    assert!(
        first.contains("Step 1/12 : FROM busybox AS builder"),
        "{first}"
    );
    assert!(first.contains("Successfully built "), "{first}");
    assert!(
        first.contains("Successfully tagged multi:latest"),
        "{first}"
    );
    assert!(!first.contains("Using cache"), "{first}");
    assert_eq!(
        d.ok(&["run", "--rm", "multi"]),
        "hello\nbuilt\nhi from /app"
    );
    assert_eq!(
        d.inspect(
            "multi",
            "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Cmd}}"
        ),
        r#"1234 /app ["cat","/app/out.txt","/app/greeting"]"#
    );
    assert!(d
        .inspect("multi", "{{json .Config.Env}}")
        .contains("GREETING=hi"));
    assert_eq!(
        d.ok(&["run", "--rm", "multi", "stat", "-c", "%u", "/app/greeting"]),
        "1234"
    );
    let id = d.inspect("multi", "{{.Id}}");

    // Every step but the two FROMs from the cache, the same image.
    let second = build_ok(&d, ctx.path(), &["-t", "multi"]);
    assert_eq!(second.matches("Using cache").count(), 10, "{second}");
    assert_eq!(d.inspect("multi", "{{.Id}}"), id);

    // A changed data.txt: its COPY (step 9) and what follows run again.
    std::fs::write(ctx.path().join("data.txt"), "two\n").expect("write");
    let third = build_ok(&d, ctx.path(), &["-t", "multi"]);
    assert_eq!(third.matches("Using cache").count(), 6, "{third}");
    let (_, after) = third.split_once("Step 9/12").expect("step 9");
    assert!(!after.contains("Using cache"), "{third}");
    assert_ne!(d.inspect("multi", "{{.Id}}"), id);
    assert_eq!(
        d.ok(&["run", "--rm", "multi", "cat", "/app/data.txt"]),
        "two"
    );
    // No build container is left behind.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_bad_line_fails_the_build_and_names_it() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN true\n\nRNU false\n")]);
    let out = build(&d, ctx.path(), &["-t", "bad"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(
            "dockerfile parse error on line 4: unknown instruction: RNU (did you mean run?)"
        ),
        "{}",
        stderr(&out)
    );
    assert_ne!(code(&d.docker(&["image", "inspect", "bad"])), 0);
    // A bad tag is refused before anything is built (the docker CLI checks too; the API).
    let (status, body) = d.curl("POST", "/build?t=Bad:Tag", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#"invalid tag \"Bad:Tag\""#), "{body}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_failing_run_fails_the_build_with_its_code() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo about to fail; exit 3\nRUN true\n",
    )]);
    let out = build(&d, ctx.path(), &["-t", "failing", "--force-rm"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stdout(&out).contains("about to fail"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(
            "The command '/bin/sh -c echo about to fail; exit 3' returned a non-zero code: 3"
        ),
        "{}",
        stderr(&out)
    );
    assert_ne!(code(&d.docker(&["image", "inspect", "failing"])), 0);
    assert_eq!(
        d.ok(&["ps", "-aq"]),
        "",
        "--force-rm removes the failed step's container"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld01_sources_outside_the_context_are_refused() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY ../secret /\n")]);
    let out = build(&d, ctx.path(), &[]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("forbidden path outside the build context: ../secret"),
        "{}",
        stderr(&out)
    );
    // An absolute source is taken inside the context: this one is not there.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY /etc/passwd /x\n",
    )
    .expect("write");
    let out = build(&d, ctx.path(), &[]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("/etc/passwd: not found in the build context"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld02_links_in_the_context_stay_inside_it() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY link/passwd /x\n")]);
    std::os::unix::fs::symlink("/etc", ctx.path().join("link")).expect("symlink");
    std::os::unix::fs::symlink("../../", ctx.path().join("link2")).expect("symlink");
    let out = build(&d, ctx.path(), &[]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("link/passwd: not found in the build context"),
        "{}",
        stderr(&out)
    );
    // The link itself is copied as a link.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY link /l\nCOPY link2 /x\n",
    )
    .expect("write");
    build_ok(&d, ctx.path(), &["-t", "links"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "links",
            "sh",
            "-c",
            "readlink /l; readlink /x"
        ]),
        "/etc\n../../"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld07_the_cache_never_crosses_base_images() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "--name", "bld07base", "busybox", "true"]);
    d.ok(&["commit", "-c", "LABEL other=yes", "bld07base", "otherbase"]);
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo hi > /x\n")]);
    build_ok(&d, ctx.path(), &[]);
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM otherbase\nRUN echo hi > /x\n",
    )
    .expect("write");
    let out = build_ok(&d, ctx.path(), &[]);
    assert!(!out.contains("Using cache"), "{out}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld08_dockerignored_files_are_not_in_the_image() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "s3cr3t"),
        ("app.txt", "app"),
    ]);
    build_ok(&d, ctx.path(), &["-t", "ignored"]);
    let ls = d.ok(&["run", "--rm", "ignored", "ls", "-a", "/ctx"]);
    assert!(ls.contains("app.txt"), "{ls}");
    assert!(!ls.contains("secret.txt"), "{ls}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn build_args_target_labels_and_quiet() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "ARG BASE=busybox\nFROM $BASE AS one\nARG WHO=nobody\nRUN echo \"hello $WHO\" > /who\nFROM one AS two\nRUN exit 9\n";
    let ctx = context(&[("Dockerfile", df)]);
    let iid = ctx.path().join("iid");
    let out = build(
        &d,
        ctx.path(),
        &[
            "-q",
            "--target",
            "one",
            "--build-arg",
            "WHO=berth",
            "--label",
            "l=v",
            "-t",
            "args",
            "--iidfile",
            iid.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile").trim(), id);
    assert_eq!(d.ok(&["run", "--rm", "args", "cat", "/who"]), "hello berth");
    assert_eq!(d.inspect("args", "{{index .Config.Labels \"l\"}}"), "v");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berth_cli_build() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nARG V\nCOPY . /ctx/\nRUN echo \"v=$V\" > /v\n",
        ),
        (".dockerignore", "secret.txt\n"),
        ("secret.txt", "s3cr3t"),
        ("app.txt", "app"),
    ]);
    // The ID file outside the context (a file in it would change what COPY . copies).
    let out_dir = tempfile::tempdir().expect("temp dir");
    let iid = out_dir.path().join("iid");
    let berth = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", d.sock.display()))
            .args(args)
            .current_dir(ctx.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running berth")
    };
    let dir = ctx.path().to_str().expect("utf-8 path");
    let iid_s = iid.to_str().expect("utf-8 path");
    let out = berth(&[
        "build",
        "-t",
        "bb",
        "--build-arg",
        "V=1",
        "--iidfile",
        iid_s,
        dir,
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Successfully tagged bb:latest"),
        "{}",
        stdout(&out)
    );
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert_eq!(d.inspect("bb", "{{.Id}}"), id);
    assert_eq!(d.ok(&["run", "--rm", "bb", "cat", "/v"]), "v=1");
    let ls = d.ok(&["run", "--rm", "bb", "ls", "/ctx"]);
    assert!(ls.contains("app.txt") && !ls.contains("secret.txt"), "{ls}");
    // Quiet and cached: only the ID, the same one.
    let out = berth(&["build", "-q", "-t", "bb", "--build-arg", "V=1", dir]);
    assert_eq!(stdout(&out).trim(), id);
    // A failing RUN: its exit code, its message.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 6\n").expect("write");
    let out = berth(&["build", dir]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("returned a non-zero code: 6"),
        "{}",
        stderr(&out)
    );
    // -f naming a Dockerfile outside the context: sent along under a name of its own.
    let other = out_dir.path().join("Other.Dockerfile");
    std::fs::write(&other, "FROM busybox\nCOPY app.txt /app.txt\n").expect("write");
    let out = berth(&[
        "build",
        "-q",
        "-f",
        other.to_str().expect("utf-8 path"),
        "-t",
        "outside",
        dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(&["run", "--rm", "outside", "cat", "/app.txt"]), "app");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn run_mounts_cache_bind_and_tmpfs() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox
RUN --mount=type=cache,target=/cache sh -c 'echo x >> /cache/count; wc -l < /cache/count > /count'
RUN --mount=type=bind,source=data,target=/data cat /data/f > /copied
RUN --mount=type=bind,source=data,target=/data sh -c 'echo no > /data/g' || echo read-only > /ro
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/t && grep -q tmpfs /proc/mounts'
RUN --mount=type=secret,id=tok,required true
";
    let ctx = context(&[("Dockerfile", df), ("data/f", "from the context\n")]);
    let out = build(&d, ctx.path(), &["-t", "mounts"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("secret tok is required but was not given"),
        "{}",
        stderr(&out)
    );
    let df = df.replace("RUN --mount=type=secret,id=tok,required true\n", "");
    std::fs::write(ctx.path().join("Dockerfile"), &df).expect("write");
    build_ok(&d, ctx.path(), &["-t", "mounts"]);
    // The mount points the mounts needed are not in the image.
    let show = "cat /count /copied /ro; ls -d /cache /data /scratch 2>/dev/null | wc -l";
    assert_eq!(
        d.ok(&["run", "--rm", "mounts", "sh", "-c", show]),
        "1\nfrom the context\nread-only\n0"
    );
    assert!(!ctx.path().join("data/g").exists());
    // The cache directory outlives the build: a rebuild without the layer cache counts 2.
    build_ok(&d, ctx.path(), &["-t", "mounts", "--no-cache"]);
    assert_eq!(d.ok(&["run", "--rm", "mounts", "cat", "/count"]), "2");
}

/// One raw ustar member (no name checks, so names can be hostile).
fn member(name: &str, kind: u8, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = len - 1);
        h[at..at + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 0);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn archive(members: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = members.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld03_add_extracts_local_archives_only() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nADD local.tar /dst/\nCOPY local.tar /kept/\n",
    )]);
    let tar = archive(&[member("in/x", b'0', "", b"inside\n")]);
    std::fs::write(ctx.path().join("local.tar"), tar).expect("write");
    build_ok(&d, ctx.path(), &["-t", "added"]);
    assert_eq!(
        d.ok(&["run", "--rm", "added", "cat", "/dst/in/x"]),
        "inside"
    );
    assert_eq!(d.ok(&["run", "--rm", "added", "ls", "/kept"]), "local.tar");
    // A URL is downloaded and never extracted (a one-shot HTTP server on the loopback).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let served = archive(&[member("in/y", b'0', "", b"remote\n")]);
    let server = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        if let Ok((mut conn, _)) = listener.accept() {
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                served.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&served);
        }
    });
    let df = format!("FROM busybox\nADD http://127.0.0.1:{port}/remote.tar /dst/\n");
    std::fs::write(ctx.path().join("Dockerfile"), df).expect("write");
    build_ok(&d, ctx.path(), &["-t", "remote"]);
    let _ = server.join();
    assert_eq!(d.ok(&["run", "--rm", "remote", "ls", "/dst"]), "remote.tar");
    // Unreachable: a clear error naming the URL.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD http://127.0.0.1:9/remote.tar.gz /dst/\n",
    )
    .expect("write");
    let out = build(&d, ctx.path(), &[]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("ADD http://127.0.0.1:9/remote.tar.gz: connecting to 127.0.0.1:9"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld04_add_of_a_hostile_archive_stays_in_the_rootfs() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let marker = format!("berth-bld04-{}", std::process::id());
    let hostile = [
        (
            "dotdot",
            archive(&[member(
                &format!("../../../../../../tmp/{marker}-1"),
                b'0',
                "",
                b"x",
            )]),
        ),
        (
            "absolute",
            archive(&[member(&format!("/tmp/{marker}-2"), b'0', "", b"x")]),
        ),
        (
            "symlink",
            archive(&[
                member("out", b'2', "/tmp", b""),
                member(&format!("out/{marker}-3"), b'0', "", b"x"),
            ]),
        ),
        (
            "hardlink",
            archive(&[member("shadow", b'1', "/etc/shadow", b"")]),
        ),
    ];
    for (name, tar) in hostile {
        let ctx = context(&[("Dockerfile", "FROM busybox\nADD evil.tar /\n")]);
        std::fs::write(ctx.path().join("evil.tar"), tar).expect("write");
        let out = build(&d, ctx.path(), &["-t", &format!("evil-{name}")]);
        for n in 1..=3 {
            assert!(
                !Path::new(&format!("/tmp/{marker}-{n}")).exists(),
                "{name}: a file landed on the host\n{}{}",
                stdout(&out),
                stderr(&out)
            );
        }
        if out.status.success() {
            // Whatever was kept is inside the image, and /etc/shadow is not the host's.
            let shadow = d.docker(&["run", "--rm", &format!("evil-{name}"), "cat", "/shadow"]);
            let host = std::fs::read("/etc/shadow").unwrap_or_default();
            assert!(
                host.is_empty() || shadow.stdout != host,
                "{name}: the host's /etc/shadow leaked"
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bld06_run_has_the_sandbox_of_run() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let probe = "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status";
    let df = format!("FROM busybox\nRUN {probe} > /status; (mount -t tmpfs x /mnt && echo mounted || echo refused) >> /status\n");
    let ctx = context(&[("Dockerfile", &df)]);
    build_ok(&d, ctx.path(), &["-t", "sandboxed"]);
    let in_build = d.ok(&["run", "--rm", "sandboxed", "cat", "/status"]);
    let in_run = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("{probe}; (mount -t tmpfs x /mnt && echo mounted || echo refused)"),
    ]);
    assert_eq!(in_build, in_run);
    assert!(in_build.ends_with("refused"), "{in_build}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn heredocs_run_and_copy() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox\nENV WHO=berth\n\
RUN <<EOF\n#!/bin/sh\necho \"script $WHO\" > /shebang\nEOF\n\
RUN <<EOF\necho one > /lines\necho two >> /lines\nEOF\n\
COPY <<EOF /etc/greeting\nhello $WHO\nEOF\n";
    let ctx = context(&[("Dockerfile", df)]);
    build_ok(&d, ctx.path(), &["-t", "heredocs"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "heredocs",
            "cat",
            "/shebang",
            "/lines",
            "/etc/greeting"
        ]),
        "script berth\none\ntwo\nhello berth"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn builder_prune_forgets_the_cache() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox\nRUN --mount=type=cache,target=/c sh -c 'head -c 4096 /dev/zero > /c/blob'\nRUN echo done > /done\n";
    let ctx = context(&[("Dockerfile", df)]);
    build_ok(&d, ctx.path(), &["-t", "pruned"]);
    assert_eq!(
        build_ok(&d, ctx.path(), &["-t", "pruned"])
            .matches("Using cache")
            .count(),
        2
    );
    // What the classic builder's cache cannot choose by is refused by name, pruning nothing.
    for (args, words) in [
        (
            &["--filter", "until=24h"][..],
            "filter 'until' is not supported",
        ),
        (&["--keep-storage", "1g"], "keep-storage is not supported"),
    ] {
        let mut prune = vec!["builder", "prune", "-f"];
        prune.extend_from_slice(args);
        let out = d.docker(&prune);
        assert_ne!(code(&out), 0, "{args:?} was taken");
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
    }
    let out = d.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 4.096kB"), "{out}");
    assert!(!build_ok(&d, ctx.path(), &["-t", "pruned"]).contains("Using cache"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn config_instructions_copy_from_an_image_and_onbuild() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox\n\
COPY --from=busybox /etc/passwd /from-image/passwd\n\
COPY --chown=nobody:nogroup --chmod=0640 f /owned\n\
SHELL [\"/bin/sh\", \"-ec\"]\n\
RUN test \"$(stat -c '%U:%G %a' /owned)\" = 'nobody:nogroup 640'\n\
EXPOSE 80 53/udp\n\
VOLUME /data\n\
LABEL org.example.name=\"built by berth\"\n\
HEALTHCHECK --interval=5s --retries=2 CMD true\n\
STOPSIGNAL SIGINT\n\
ENTRYPOINT [\"echo\", \"entry\"]\n\
CMD [\"default\", \"args\"]\n\
ONBUILD RUN echo triggered > /onbuild\n";
    let ctx = context(&[("Dockerfile", df), ("f", "f\n")]);
    build_ok(&d, ctx.path(), &["-t", "configured"]);
    assert_eq!(d.ok(&["run", "--rm", "configured"]), "entry default args");
    assert_eq!(d.ok(&["run", "--rm", "configured", "other"]), "entry other");
    let f = "{{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{index .Config.Labels \"org.example.name\"}} \
{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Retries}} {{.Config.StopSignal}} {{json .Config.Shell}} {{json .Config.OnBuild}}";
    assert_eq!(
        d.inspect("configured", f),
        r#"{"53/udp":{},"80/tcp":{}} {"/data":{}} built by berth ["CMD-SHELL","true"] 2 SIGINT ["/bin/sh","-ec"] ["RUN echo triggered > /onbuild"]"#
    );
    let passwd = d.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        "configured",
        "/from-image/passwd",
    ]);
    assert!(passwd.starts_with("root:x:0:0"), "{passwd}");
    // A child runs the trigger first and does not pass it on.
    let child = context(&[(
        "Dockerfile",
        "FROM configured\nENTRYPOINT [\"cat\"]\nCMD [\"/onbuild\"]\n",
    )]);
    let out = build_ok(&d, child.path(), &["-t", "child"]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "child"]), "triggered");
    assert_eq!(d.inspect("child", "{{json .Config.OnBuild}}"), "null");
    // History: one entry per step, the instruction in CREATED BY.
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "configured",
    ]);
    assert!(
        history.contains("/bin/sh -c #(nop) EXPOSE 80 53/udp"),
        "{history}"
    );
    assert!(history.contains("/bin/sh -ec test"), "{history}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_daemon_killed_during_a_run_leaves_no_build_container() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 120\n")]);
    let mut client = d
        .docker_cmd(&["build", "-t", "killed", "."])
        .current_dir(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    let running = || d.ok(&["ps", "-q", "--filter", "label=berth.build"]);
    eventually(Duration::from_secs(60), "the RUN step's container", || {
        !running().is_empty()
    });
    d.kill9();
    let _ = client.wait();
    d.spawn();
    // The next build sweeps what the killed daemon left.
    let other = context(&[("Dockerfile", "FROM busybox\nENV X=1\n")]);
    build_ok(&d, other.path(), &[]);
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "label=berth.build"]), "");
    assert_ne!(code(&d.docker(&["image", "inspect", "killed"])), 0);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn dockerfile_from_stdin_and_from_outside_the_context() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // `docker build -`: the Dockerfile alone is the context.
    let out = d.docker_input(
        &["build", "-t", "stdin", "-"],
        b"FROM busybox\nRUN echo from stdin > /s\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(&["run", "--rm", "stdin", "cat", "/s"]), "from stdin");
    // `-f` naming a file outside the context directory, and `-f -` with a context.
    let ctx = context(&[("data.txt", "data\n")]);
    let elsewhere = context(&[("Other.Dockerfile", "FROM busybox\nCOPY data.txt /d\n")]);
    let file = elsewhere.path().join("Other.Dockerfile");
    build_ok(
        &d,
        ctx.path(),
        &["-t", "outside", "-f", file.to_str().expect("utf-8 path")],
    );
    assert_eq!(d.ok(&["run", "--rm", "outside", "cat", "/d"]), "data");
    let all = ["build", "-t", "dash-f", "-f", "-", "."];
    let out = {
        let mut cmd = d.docker_cmd(&all);
        cmd.current_dir(ctx.path())
            .env("DOCKER_BUILDKIT", "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("docker build");
        use std::io::Write as _;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"FROM busybox\nCOPY data.txt /e\n");
        }
        child.wait_with_output().expect("docker output")
    };
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(&["run", "--rm", "dash-f", "cat", "/e"]), "data");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn network_mode_and_platform() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox\nRUN grep -c : /proc/net/dev > /interfaces\n";
    let ctx = context(&[("Dockerfile", df)]);
    build_ok(&d, ctx.path(), &["-t", "net-none", "--network", "none"]);
    assert_eq!(
        d.ok(&["run", "--rm", "net-none", "cat", "/interfaces"]),
        "1",
        "only lo"
    );
    build_ok(&d, ctx.path(), &["-t", "net-default", "--no-cache"]);
    assert_eq!(
        d.ok(&["run", "--rm", "net-default", "cat", "/interfaces"]),
        "2",
        "lo and eth0"
    );
    let out = build(&d, ctx.path(), &["--platform", "linux/s390x"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("platform linux/s390x is not supported by this builder"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_cache_survives_a_daemon_restart() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY f /f\nRUN echo ran > /ran\n",
        ),
        ("f", "f"),
    ]);
    build_ok(&d, ctx.path(), &["-t", "restart"]);
    d.stop();
    d.spawn();
    let out = build_ok(&d, ctx.path(), &["-t", "restart"]);
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn copy_from_a_stage_with_wildcards() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let df = "FROM busybox AS b\nRUN mkdir -p /out/sub && echo a > /out/a.so && echo b > /out/b.so && echo c > /out/c.txt && echo s > /out/sub/s.so\n\
FROM busybox\nCOPY --from=b /out/*.so /lib/\n";
    let ctx = context(&[("Dockerfile", df)]);
    build_ok(&d, ctx.path(), &["-t", "globbed"]);
    assert_eq!(
        d.ok(&["run", "--rm", "globbed", "ls", "/lib"]),
        "a.so\nb.so"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn from_scratch() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"echo\", \"from scratch\"]\n")]);
    std::fs::copy("/bin/busybox", ctx.path().join("busybox")).expect("copy busybox");
    build_ok(&d, ctx.path(), &["-t", "scratchy"]);
    assert_eq!(d.ok(&["run", "--rm", "scratchy"]), "from scratch");
    assert_eq!(d.ok(&["run", "--rm", "scratchy", "ls", "/bin"]), "busybox");
    let again = build_ok(&d, ctx.path(), &["-t", "scratchy"]);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
}
