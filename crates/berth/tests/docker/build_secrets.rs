//! `berth build --secret` against Berth: a `RUN --mount=type=secret` step reads the secret, and
//! its bytes are nowhere in the image (its saved archive, its history), nor anywhere in the
//! daemon's data root (the cache index, the containers' records, logs); its file is gone from the
//! exec root once the build ends, and the mount points it needed are not in the layer. The docker
//! CLI's legacy builder sends no secrets: a required one fails the build by name.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::build::{build, context};
use crate::harness::{code, opted_in, stderr, stdout, Daemon};

pub(crate) fn berth(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("build")
        .args(args)
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running berth build")
}

/// The paths in an image's flattened file system (`docker export` of a container never started).
pub(crate) fn image_files(d: &Daemon, image: &str) -> Vec<String> {
    let id = d.ok(&["create", image]);
    let tar = d.docker(&["export", &id]);
    d.ok(&["rm", &id]);
    assert!(tar.status.success(), "{}", stderr(&tar));
    let mut list = Command::new("tar")
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    if let Some(mut stdin) = list.stdin.take() {
        std::io::Write::write_all(&mut stdin, &tar.stdout).expect("feeding tar");
    }
    let out = list.wait_with_output().expect("tar -t");
    stdout(&out)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect()
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The files under `dir` (not following links) that contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if ft.is_file() && std::fs::read(&p).is_ok_and(|b| contains(&b, needle)) {
            hits.push(p.display().to_string());
        }
    }
    hits
}

const DOCKERFILE: &str = "FROM busybox
RUN --mount=type=secret,id=tok,required sh -c 'sha256sum /run/secrets/tok | cut -c1-64 > /sum; stat -c %a /run/secrets/tok > /mode'
RUN --mount=type=secret,id=tok,target=/etc/app/key,mode=0440,uid=1 sh -c 'stat -c \"%a %u\" /etc/app/key > /key-meta'
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn secrets_reach_run_and_nothing_else() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let marker = format!(
        "s3cr3t-{}-{}",
        std::process::id(),
        crate::harness::unix_now()
    );
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let secret_dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_dir.path().join("tok.txt");
    std::fs::write(&secret, &marker).expect("write secret");
    let src = format!("id=tok,src={}", secret.display());

    let out = berth(&d, ctx.path(), &["--secret", &src, "-t", "withsecret"]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        d.log()
    );
    let sum = {
        let out = Command::new("sha256sum")
            .arg(&secret)
            .output()
            .expect("sha256sum");
        stdout(&out)[..64].to_string()
    };
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "withsecret",
            "cat",
            "/sum",
            "/mode",
            "/key-meta"
        ]),
        format!("{sum}\n400\n440 1")
    );
    // The mount points the secrets and the engine's files needed are not in the image
    // (busybox has no /run, and /etc holds only passwd and group): the files of a container
    // never started.
    let files = image_files(&d, "withsecret");
    for gone in [
        "run",
        "etc/app",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
    ] {
        assert!(!files.iter().any(|f| f == gone), "{gone} in {files:?}");
    }
    assert!(files.iter().any(|f| f == "sum"), "{files:?}");

    let saved = d.docker(&["save", "withsecret"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    assert!(
        !contains(&saved.stdout, marker.as_bytes()),
        "the secret is in the saved image"
    );
    let history = d.ok(&["history", "--no-trunc", "withsecret"]);
    assert!(!history.contains(&marker), "{history}");
    let hits = files_containing(&d.data_root(), marker.as_bytes());
    assert!(hits.is_empty(), "the secret is in the data root: {hits:?}");
    let left = std::fs::read_dir(d.exec_root().join("build-secrets"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "a secret file outlived its build");

    // The search can find it: a step that copies the secret into its layer.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=tok cp /run/secrets/tok /leak\n",
    )
    .expect("write");
    let out = berth(&d, ctx.path(), &["--secret", &src, "-t", "leaky"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = d.docker(&["save", "leaky"]);
    assert!(contains(&saved.stdout, marker.as_bytes()));

    // The docker CLI's legacy builder sends no secrets: a required one is named.
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).expect("write");
    let out = build(&d, ctx.path(), &["--no-cache"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(
            "secret tok is required but was not given: berth build --secret id=tok,src=FILE"
        ),
        "{}",
        stderr(&out)
    );
    // A secret from the environment, and one too large for a request.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args([
            "build",
            "-q",
            "--no-cache",
            "--secret",
            "id=tok,env=BERTH_TEST_TOKEN",
        ])
        .arg(ctx.path())
        .env("BERTH_TEST_TOKEN", &marker)
        .stdin(Stdio::null())
        .output()
        .expect("berth build");
    assert!(out.status.success(), "{}", stderr(&out));
    let big = secret_dir.path().join("big");
    std::fs::write(&big, vec![b'x'; 65 << 10]).expect("write");
    let out = berth(
        &d,
        ctx.path(),
        &["--secret", &format!("id=tok,src={}", big.display())],
    );
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("larger than the 64 KiB"),
        "{}",
        stderr(&out)
    );
}

/// The daemon's own limit, for a client that does not check: more than 64 KiB of secrets in
/// `X-Berth-Build-Secrets` is a 400 that names the limit and never quotes the secret.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_daemon_refuses_more_than_64_kib_of_secrets() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let send = |bytes: usize| {
        // 'xxx' is "eHh4" in base64: the header is base64 of {"tok": base64 of the secret}.
        let json = format!("{{\"tok\":\"{}\"}}", "eHh4".repeat(bytes / 3));
        let json_path = dir.path().join("secrets.json");
        std::fs::write(&json_path, json).expect("write");
        let b64 = Command::new("base64")
            .arg("-w0")
            .arg(&json_path)
            .output()
            .expect("base64");
        let header = dir.path().join("header");
        let mut line = b"X-Berth-Build-Secrets: ".to_vec();
        line.extend_from_slice(&b64.stdout);
        std::fs::write(&header, line).expect("write");
        let out = Command::new("curl")
            .arg("-s")
            .arg("--unix-socket")
            .arg(&d.sock)
            .args(["-X", "POST", "-w", "\n%{http_code}", "-H"])
            .arg(format!("@{}", header.display()))
            .args(["-H", "Content-Type: application/x-tar", "--data-binary", ""])
            .arg("http://localhost/build?t=secretive")
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = send(66_000);
    assert!(answer.ends_with("\n400"), "{answer}");
    assert!(
        answer.contains("the build's secrets are larger than the 64 KiB a build request carries"),
        "{answer}"
    );
    assert!(
        !answer.contains("eHh4") && !answer.contains("xxx"),
        "{answer}"
    );
    // Under the limit the header is taken (the empty context then fails the build in-band).
    let answer = send(60_000);
    assert!(answer.ends_with("\n200"), "{answer}");
    assert!(!answer.contains("64 KiB"), "{answer}");
    assert!(
        !answer.contains("eHh4") && !answer.contains("xxx"),
        "{answer}"
    );
}
