//! `berth build --output` against Berth: the built image's file system unpacked into a
//! directory (`type=local`) or written as a tar (`type=tar`, also to standard output), and the
//! image as an OCI layout archive (`type=oci`) that skopeo reads and whose config is the image.

use std::path::Path;
use std::process::Command;

use crate::build::context;
use crate::build_secrets::berth;
use crate::harness::{code, opted_in, stderr, stdout, Daemon};

const DOCKERFILE: &str = "FROM busybox
RUN mkdir -p /out/sub && echo made > /out/sub/made && ln -s sub/made /out/link
COPY app.txt /out/app.txt
";

/// The names in a tar file, `./` and trailing `/` trimmed.
fn tar_names(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("t.tar");
    std::fs::write(&f, bytes).expect("write");
    let out = Command::new("tar")
        .arg("-tf")
        .arg(&f)
        .output()
        .expect("tar");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn outputs_local_tar_and_oci() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", DOCKERFILE), ("app.txt", "app\n")]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let local = out_dir.path().join("local");
    let tar = out_dir.path().join("fs.tar");
    let oci = out_dir.path().join("image.tar");
    let out = berth(
        &d,
        ctx.path(),
        &[
            "--iidfile",
            out_dir.path().join("iid").to_str().expect("utf-8"),
            "-o",
            &format!("type=local,dest={}", local.display()),
            "--output",
            &format!("type=tar,dest={}", tar.display()),
            "-o",
            &format!("type=oci,dest={}", oci.display()),
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let id = std::fs::read_to_string(out_dir.path().join("iid")).expect("iid");

    // local: the file system, links as links.
    assert_eq!(
        std::fs::read_to_string(local.join("out/sub/made")).expect("made"),
        "made\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out/app.txt")).expect("app"),
        "app\n"
    );
    assert_eq!(
        std::fs::read_link(local.join("out/link")).expect("link"),
        Path::new("sub/made")
    );
    assert!(local.join("bin/busybox").is_file());

    // tar: the same file system.
    let names = tar_names(&std::fs::read(&tar).expect("tar"));
    for want in ["out/sub/made", "out/app.txt", "out/link", "bin/busybox"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }

    // oci: an OCI layout whose manifest's config is the image.
    let layout = tempfile::tempdir().expect("temp dir");
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&oci)
        .arg("-C")
        .arg(layout.path())
        .status()
        .expect("tar");
    assert!(st.success());
    assert!(layout.path().join("oci-layout").is_file());
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        layout.path().join("blobs/sha256").join(hex)
    };
    let mut desc = json(&layout.path().join("index.json"))["manifests"][0].clone();
    let mut manifest = json(&blob(desc["digest"].as_str().expect("digest")));
    if manifest.get("manifests").is_some() {
        desc = manifest["manifests"][0].clone();
        manifest = json(&blob(desc["digest"].as_str().expect("digest")));
    }
    assert_eq!(manifest["config"]["digest"].as_str(), Some(id.trim()));
    // skopeo reads it as an OCI archive.
    let sk = Command::new("skopeo")
        .arg("inspect")
        .arg("--config")
        .arg(format!("oci-archive:{}", oci.display()))
        .output()
        .expect("skopeo");
    assert!(sk.status.success(), "{}", stderr(&sk));
    assert!(stdout(&sk).contains("\"created\""), "{}", stdout(&sk));

    // `-o -`: the tar on standard output, the build's text on standard error.
    let out = berth(&d, ctx.path(), &["-o", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Successfully built"),
        "{}",
        stderr(&out)
    );
    assert!(tar_names(&out.stdout).iter().any(|n| n == "out/app.txt"));
    // No container is left from the exports; a bad output is refused before building.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let out = berth(&d, ctx.path(), &["-o", "type=registry"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("type registry is not supported"),
        "{}",
        stderr(&out)
    );
}
