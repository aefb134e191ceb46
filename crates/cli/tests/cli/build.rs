//! `berth build`'s output compared with the docker CLI's legacy builder client: both read the
//! same canned `POST /build` JSON stream and must print the same stdout, exit with the same code
//! and say the same error (the docker CLI's deprecation notice for the legacy builder aside).

use super::{berth_exe, docker_available, need};
use crate::fake::{json_reply, Fake, Reply};

const ID: &str = "sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809";

/// The stream of a build whose tag (`t=`) says how it goes: `ok`, `quiet` (as `q=1`) or `fail`.
fn stream(path: &str) -> String {
    let ok = [
        r#"{"stream":"Step 1/3 : FROM busybox\n"}"#,
        r#"{"status":"latest: Pulling from library/busybox"}"#,
        r#"{"status":"Digest: sha256:feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed"}"#,
        r#"{"status":"Status: Downloaded newer image for busybox:latest"}"#,
        r#"{"stream":" ---\u003e 3f57d9401f8d\n"}"#,
        r#"{"stream":"Step 2/3 : RUN echo hi \u0026\u0026 printf 'no newline'\n"}"#,
        r#"{"stream":" ---\u003e Running in 0123456789ab\n"}"#,
        r#"{"stream":"hi\n"}"#,
        r#"{"stream":"no newline"}"#,
        r#"{"stream":" ---\u003e Removed intermediate container 0123456789ab\n"}"#,
        r#"{"stream":" ---\u003e 9f8e7d6c5b4a\n"}"#,
        r#"{"stream":"Step 3/3 : ENV A=b\n"}"#,
        r#"{"stream":" ---\u003e Using cache\n"}"#,
        r#"{"stream":" ---\u003e 1a2b3c4d5e6f\n"}"#,
        r#"{"aux":{"ID":"IMAGEID"}}"#,
        r#"{"stream":"Successfully built 1a2b3c4d5e6f\n"}"#,
        r#"{"stream":"Successfully tagged ok:latest\n"}"#,
    ];
    // (`-q` with a failure: the daemon sends what it held back, then the error.)
    let lines: Vec<String> = if path.contains("t=fail") {
        vec![
            ok[0].to_string(),
            ok[4].to_string(),
            ok[5].to_string(),
            r#"{"stream":" ---\u003e Running in 0123456789ab\n"}"#.to_string(),
            r#"{"stream":"oops\n"}"#.to_string(),
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}"#.to_string(),
        ]
    } else if path.contains("q=1") {
        vec![
            r#"{"aux":{"ID":"IMAGEID"}}"#.to_string(),
            r#"{"stream":"IMAGEID\n"}"#.to_string(),
        ]
    } else {
        ok.iter().map(|l| l.to_string()).collect()
    };
    lines
        .iter()
        .map(|l| format!("{}\r\n", l.replace("IMAGEID", ID)))
        .collect()
}

fn daemon() -> Fake {
    Fake::start(|r| {
        if r.path == "/_ping" {
            return Reply {
                bytes: b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nOstype: linux\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                close: false,
            };
        }
        if r.path.contains("/build") {
            let body = stream(&r.path);
            return Reply {
                bytes: format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.50\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
                close: false,
            };
        }
        json_reply("404 Not Found", r#"{"message":"not here"}"#)
    })
}

/// stdout, stderr without the docker CLI's notice about the legacy builder, and the exit code.
fn run(program: &std::path::Path, args: &[&str]) -> (String, String, Option<i32>) {
    let f = daemon();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\n").unwrap();
    let out = std::process::Command::new(program)
        .env("DOCKER_HOST", f.host())
        .env("BERTH_HOST", f.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", f._dir.path())
        .env_remove("DOCKER_API_VERSION")
        .current_dir(ctx.path())
        .args(["build"])
        .args(args)
        .arg(".")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = match stderr.split_once("DEPRECATED: The legacy builder is deprecated") {
        Some((before, after)) => {
            let rest = after.split_once("\n\n").map_or("", |(_, r)| r);
            format!("{before}{rest}")
        }
        None => stderr.into_owned(),
    };
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        out.status.code(),
    )
}

#[test]
fn build_output_matches_the_docker_cli() {
    if !need(
        docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    let cases = [
        &["-t", "ok"][..],
        &["-q", "-t", "quiet"],
        &["-t", "fail"],
        &["-q", "-t", "fail"],
    ];
    for args in cases {
        let docker = run(std::path::Path::new("docker"), args);
        let berth = run(&berth_exe(), args);
        eprintln!("docker {args:?}: {docker:?}");
        assert_eq!(berth.0, docker.0, "stdout of build {args:?}");
        assert_eq!(
            berth.1,
            docker.1.replace("docker", "berth"),
            "stderr of build {args:?}"
        );
        assert_eq!(berth.2, docker.2, "exit code of build {args:?}");
    }
}

/// `--progress` (berth's own: the legacy builder's client has none): `plain`, and `auto` without
/// a terminal, print exactly what the docker CLI prints; `tty` draws the live view of the steps
/// (here onto a pipe, so its frames can be read); another value is a flag error.
#[test]
fn progress_modes() {
    if !need(
        docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    for tag in ["ok", "fail"] {
        let docker = run(std::path::Path::new("docker"), &["-t", tag]);
        for mode in ["--progress=plain", "--progress=auto"] {
            let berth = run(&berth_exe(), &[mode, "-t", tag]);
            assert_eq!(berth.0, docker.0, "stdout of build {mode} -t {tag}");
            assert_eq!(berth.2, docker.2, "exit code of build {mode} -t {tag}");
        }
    }
    let (out, _, code) = run(&berth_exe(), &["--progress=tty", "-t", "ok"]);
    assert_eq!(code, Some(0), "{out}");
    let last = out.rsplit("\x1b[J").next().unwrap_or("");
    let lines: Vec<&str> = last.lines().collect();
    assert!(
        lines[0].starts_with("[+] Building ") && lines[0].ends_with("(3/3)"),
        "{last}"
    );
    assert!(lines[1].starts_with(" => [1/3] FROM busybox"), "{last}");
    assert!(lines[2].starts_with(" => [2/3] RUN echo hi"), "{last}");
    assert!(lines[3].starts_with(" => CACHED [3/3] ENV A=b"), "{last}");
    assert_eq!(
        &lines[4..],
        [
            "Successfully built 1a2b3c4d5e6f",
            "Successfully tagged ok:latest"
        ]
    );
    let (_, err, code) = run(&berth_exe(), &["--progress=fancy", "-t", "ok"]);
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("invalid argument \"fancy\" for \"--progress\""),
        "{err}"
    );
}

/// A URL context (Git, a remote tar) is refused by name before anything is sent.
#[test]
fn a_remote_context_is_refused() {
    if !need(berth_exe().exists(), "the berth example binary") {
        return;
    }
    let f = daemon();
    let out = std::process::Command::new(berth_exe())
        .env("BERTH_HOST", f.host())
        .args(["build", "https://github.com/example/app.git"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "remote build contexts are not supported (https://github.com/example/app.git)"
        ),
        "{err}"
    );
    assert!(!f.requests().iter().any(|r| r.path.contains("/build")));
}
