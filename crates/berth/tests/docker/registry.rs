//! Registries end to end (issue #10): the real docker CLI pulls from and pushes to Debian's
//! `docker-registry` through a Berth daemon, `run` pulls a missing image, basic-auth logins from the
//! berth and docker CLIs, and a registry that serves bad bytes or a layer that does not match its
//! config's diff ID is refused with nothing stored (security catalog REG-01, wrong diff ID).
//! [`DistRegistry`] runs a `docker-registry` on a free port with its own config and storage,
//! stopped by PID on drop; `registry_own.rs` covers Berth's own server and TLS, `registry_crash.rs`
//! a daemon killed mid-pull.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{opted_in, stderr, stdout, Daemon};

/// A `docker-registry` (distribution 2.x) on 127.0.0.1.
pub struct DistRegistry {
    pub dir: tempfile::TempDir,
    pub addr: String,
    child: Child,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl DistRegistry {
    pub fn start() -> DistRegistry {
        DistRegistry::start_with(None)
    }

    /// With htpasswd basic auth for `(user, password)` when given.
    pub fn start_with(user: Option<(&str, &str)>) -> DistRegistry {
        DistRegistry::start_on("127.0.0.1", user, None)
    }

    /// On `ip`, with basic auth and TLS (`(cert, key)` files) when given.
    pub fn start_on(
        ip: &str,
        user: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> DistRegistry {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-registry")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let addr = format!("{ip}:{port}");
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((u, p)) = user {
            let file = write_htpasswd(dir.path(), u, p);
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        if let Some((cert, key)) = tls {
            text = text.replace(
                &format!("  addr: {addr}\n"),
                &format!(
                    "  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ),
            );
        }
        std::fs::write(&config, text).expect("registry config");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("starting docker-registry (scripts/install-deps.sh installs it)");
        let r = DistRegistry { dir, addr, child };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let code = Command::new("curl")
                .args(["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("{scheme}://{}/v2/", r.addr))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            if code == "200" || code == "401" {
                break;
            }
            assert!(
                Instant::now() < end,
                "docker-registry did not serve: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `skopeo inspect --raw`-free digest of `repo:tag` on this registry.
    pub fn digest_of(&self, repo_tag: &str) -> String {
        let out = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
            .arg(format!("docker://{}/{repo_tag}", self.addr))
            .output()
            .expect("skopeo inspect");
        assert!(out.status.success(), "skopeo inspect: {}", stderr(&out));
        stdout(&out).trim().to_string()
    }

    /// Copies `src` (a skopeo transport reference) to `repo:tag` here.
    pub fn skopeo_copy_in(&self, src: &str, repo_tag: &str) {
        self.skopeo_copy_in_as(src, repo_tag, None)
    }

    /// [`Self::skopeo_copy_in`] with `user:password` credentials.
    pub fn skopeo_copy_in_as(&self, src: &str, repo_tag: &str, creds: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            cmd.arg("--dest-creds").arg(c);
        }
        let out = cmd
            .arg(src)
            .arg(format!("docker://{}/{repo_tag}", self.addr))
            .output()
            .expect("skopeo copy");
        assert!(out.status.success(), "skopeo copy {src}: {}", stderr(&out));
    }
}

/// Writes `dir/htpasswd` with `user`'s bcrypt hash (`$2b$`, through the C library's crypt, as
/// `htpasswd -B` writes it); returns its path.
pub fn write_htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ])
        .output()
        .expect("python3 crypt");
    let hash = stdout(&out).trim().to_string();
    assert!(hash.starts_with("$2"), "no bcrypt hash: {}", stderr(&out));
    let file = dir.join("htpasswd");
    std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
    file
}

impl Drop for DistRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seeds `reg` with the daemon's `busybox:latest` as `busybox:latest` (docker save → skopeo).
pub fn seed_busybox(d: &Daemon, reg: &DistRegistry) {
    seed_busybox_as(d, reg, None)
}

fn seed_busybox_as(d: &Daemon, reg: &DistRegistry, creds: Option<&str>) {
    let tar = d.dir.path().join("seed.tar");
    d.ok(&[
        "save",
        "-o",
        tar.to_str().expect("utf-8 path"),
        "busybox:latest",
    ]);
    reg.skopeo_copy_in_as(
        &format!("docker-archive:{}", tar.display()),
        "busybox:latest",
        creds,
    );
}

/// The `berth` CLI against the daemon, with its own docker config directory.
pub fn berth(d: &Daemon, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .env("DOCKER_CONFIG", d.dir.path().join("berth-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running berth");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.unwrap_or_default().as_bytes());
    }
    child.wait_with_output().expect("berth output")
}

fn blob_file(d: &Daemon, digest: &str) -> PathBuf {
    d.data_root()
        .join("image/content/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = stdout(&out);
    format!(
        "sha256:{}",
        text.split_whitespace().next().unwrap_or_default()
    )
}

/// Layer media types of the OCI layouts [`one_layer_layout`] writes.
pub mod media {
    pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const ZSTD_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const PLAIN_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
}

/// Writes an OCI layout at `root` holding one image, `tag`: one layer, the blob `layer` of
/// media type `media`, and a config (linux/amd64) naming `diff_id` as its diff ID, whatever the
/// layer holds. Returns the layout as skopeo names it (`oci:ROOT:TAG`).
pub fn one_layer_layout(
    root: &Path,
    layer: &Path,
    media: &str,
    diff_id: &str,
    tag: &str,
) -> String {
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    let put_file = |path: &Path| -> (String, u64) {
        let digest = sha256_file(path);
        let size = std::fs::metadata(path).expect("size").len();
        std::fs::copy(path, blobs.join(digest.trim_start_matches("sha256:"))).expect("blob");
        (digest, size)
    };
    let put = |name: &str, json: serde_json::Value| {
        let path = root.join(name);
        std::fs::write(&path, json.to_string()).expect("layout json");
        let got = put_file(&path);
        std::fs::remove_file(&path).expect("spool file");
        got
    };
    let (layer_digest, layer_size) = put_file(layer);
    let (config_digest, config_size) = put(
        "config.json",
        serde_json::json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]}}),
    );
    let (manifest_digest, manifest_size) = put(
        "manifest.json",
        serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": media, "digest": layer_digest, "size": layer_size}]}),
    );
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    std::fs::write(
        root.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag}}]})
        .to_string(),
    )
    .expect("index.json");
    format!("oci:{}:{tag}", root.display())
}

/// `GET /v2/<path>` of a plain-http registry, the body.
pub fn registry_get(reg: &DistRegistry, path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sf", "-H"])
        .arg("Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
        .arg(format!("http://{}/v2/{path}", reg.addr))
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET /v2/{path}: {}", stderr(&out));
    out.stdout
}

/// The sha256 of gzip `data` decompressed (`sha256:…`), by gzip and sha256sum.
fn gunzip_sha256(d: &Daemon, data: &[u8]) -> String {
    let file = d.dir.path().join("pushed-layer.gz");
    std::fs::write(&file, data).expect("write blob");
    let out = Command::new("sh")
        .arg("-c")
        .arg("gzip -dc \"$0\" | sha256sum")
        .arg(&file)
        .output()
        .expect("gzip");
    assert!(out.status.success(), "gzip -dc: {}", stderr(&out));
    format!(
        "sha256:{}",
        stdout(&out).split_whitespace().next().unwrap_or_default()
    )
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_cli_pulls_from_docker_registry_and_runs_it() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let seeder = Daemon::start();
    seed_busybox(&seeder, &reg);
    drop(seeder);
    let want = reg.digest_of("busybox:latest");
    let d = Daemon::start();
    let image = format!("{}/busybox", reg.addr);
    // run pulls what is missing: the CLI gets 404 on create, pulls, creates again.
    let out = d.docker(&["run", "--rm", &image, "echo", "pulled-and-ran"]);
    assert!(
        out.status.success(),
        "run: {}\n{}\n--- daemon ---\n{}",
        stdout(&out),
        stderr(&out),
        d.log()
    );
    assert!(stdout(&out).contains("pulled-and-ran"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
    let digests = d.inspect(&image, "{{json .RepoDigests}}");
    assert!(
        digests.contains(&format!("{image}@{want}")),
        "{digests} vs {want}"
    );
    let again = d.ok(&["pull", &image]);
    assert!(again.contains(&format!("Digest: {want}")), "{again}");
    assert!(
        again.contains(&format!("Status: Image is up to date for {image}:latest")),
        "{again}"
    );
    // What the registry has, without pulling (GET /distribution/{name}/json).
    let (code, body) = d.curl("GET", &format!("/distribution/{image}:latest/json"), None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("distribution json");
    assert_eq!(v["Descriptor"]["digest"], want.as_str(), "{body}");
    assert!(v["Platforms"][0]["os"] == "linux", "{body}");
    // By digest, too.
    d.ok(&["pull", &format!("{image}@{want}")]);
    // rmi of the last tag takes the repository's digest reference with it, and the image goes.
    let removed = d.ok(&["rmi", &format!("{image}:latest")]);
    assert!(
        removed.contains(&format!("Untagged: {image}@{want}")) && removed.contains("Deleted: "),
        "{removed}"
    );
    assert_eq!(d.ok(&["images", "-q", &image]), "");
    // A missing tag keeps its status: the CLI prints the daemon's error and exits 1.
    let missing = d.docker(&["pull", &format!("{image}:nope")]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_cli_pushes_to_docker_registry_and_pulls_back() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let d = Daemon::start();
    let image = format!("{}/mine/bb:1", reg.addr);
    d.ok(&["tag", "busybox:latest", &image]);
    let out = d.ok(&["push", &image]);
    let digest = reg.digest_of("mine/bb:1");
    assert!(out.contains(&format!("1: digest: {digest} size:")), "{out}");
    let digests = d.inspect(&image, "{{json .RepoDigests}}");
    assert!(digests.contains(&digest), "{digests}");
    // The layer, a plain tar here (imported), went up gzip-compressed: the registry's manifest
    // names a gzip blob that decompresses to the config's diff ID.
    let manifest = registry_get(&reg, "mine/bb/manifests/1");
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest json");
    let layer = &m["layers"][0];
    assert!(
        layer["mediaType"]
            .as_str()
            .is_some_and(|t| t.ends_with("gzip")),
        "{m}"
    );
    let blob = registry_get(
        &reg,
        &format!("mine/bb/blobs/{}", layer["digest"].as_str().unwrap_or("")),
    );
    assert_eq!(Some(blob.len() as u64), layer["size"].as_u64());
    let diff_ids = d.inspect(&image, "{{json .RootFS.Layers}}");
    assert!(
        diff_ids.contains(&gunzip_sha256(&d, &blob)),
        "{diff_ids} vs the pushed blob"
    );
    let raw_size: u64 = d.inspect(&image, "{{.Size}}").parse().expect("size");
    assert!((blob.len() as u64) < raw_size, "not compressed");
    // A second push finds every layer there (the compressed blob is remembered).
    let again = d.ok(&["push", &image]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(!again.contains("Pushed"), "{again}");
    assert!(
        again.contains(&format!("1: digest: {digest} size:")),
        "{again}"
    );
    // --all-tags: every local tag of the repository, one announcement.
    let repo = format!("{}/mine/bb", reg.addr);
    d.ok(&["tag", &image, &format!("{repo}:2")]);
    d.ok(&["run", "--name", "other", "busybox", "touch", "/other"]);
    d.ok(&["commit", "other", &format!("{repo}:3")]);
    let all = d.ok(&["push", "--all-tags", &repo]);
    assert_eq!(
        all.matches("The push refers to repository").count(),
        1,
        "{all}"
    );
    for t in ["1", "2", "3"] {
        assert!(all.contains(&format!("{t}: digest: sha256:")), "{all}");
    }
    let tags = String::from_utf8_lossy(&registry_get(&reg, "mine/bb/tags/list")).to_string();
    assert!(
        tags.contains(r#""1""#) && tags.contains(r#""2""#) && tags.contains(r#""3""#),
        "{tags}"
    );
    // Without a tag the docker CLI pushes latest, which this repository lacks.
    let none = d.docker(&["push", &repo]);
    assert_ne!(none.status.code(), Some(0));
    assert!(
        stdout(&none).contains("Using default tag: latest"),
        "{}",
        stdout(&none)
    );
    // Pull it back into a fresh daemon and run it.
    let other = Daemon::start();
    other.ok(&["pull", &image]);
    assert_eq!(
        other.ok(&["run", "--rm", &image, "echo", "round-trip"]),
        "round-trip"
    );
    assert_eq!(
        other.inspect(&image, "{{.Id}}"),
        d.inspect(&image, "{{.Id}}")
    );
    // pull --all-tags: every tag of the repository, from the docker CLI and from berth.
    let all = other.ok(&["pull", "--all-tags", &repo]);
    assert!(
        all.contains(&format!("Status: Downloaded newer image for {repo}")),
        "{all}"
    );
    let tags = other.ok(&["images", "--format", "{{.Tag}}", &repo]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["1", "2", "3"]);
    assert_eq!(
        other.inspect(&format!("{repo}:3"), "{{.Id}}"),
        d.inspect(&format!("{repo}:3"), "{{.Id}}")
    );
    let third = Daemon::start();
    let pulled = berth(&third, &["pull", "-a", &repo], None);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(
        stdout(&pulled).trim_end().ends_with(&repo),
        "{}",
        stdout(&pulled)
    );
    let ids = third.ok(&["images", "-q", &repo]);
    let ids: std::collections::BTreeSet<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "two images under three tags: {ids:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_registry_serving_bytes_that_do_not_match_the_digest_is_refused() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let seeder = Daemon::start();
    seed_busybox(&seeder, &reg);
    let layer = seeder
        .inspect("busybox:latest", "{{json .RootFS.Layers}}")
        .to_string();
    drop(seeder);
    // Find the layer blob in the registry's storage (the biggest blob) and flip a byte in it.
    let blobs = reg
        .dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256");
    let mut biggest: Option<(u64, PathBuf)> = None;
    for prefix in std::fs::read_dir(&blobs).expect("registry blobs").flatten() {
        for blob in std::fs::read_dir(prefix.path())
            .expect("blob dirs")
            .flatten()
        {
            let data = blob.path().join("data");
            let len = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
            if biggest.as_ref().is_none_or(|(l, _)| len > *l) {
                biggest = Some((len, data));
            }
        }
    }
    let (_, data) = biggest.expect("a layer blob");
    let digest = format!(
        "sha256:{}",
        data.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .expect("blob dir name")
    );
    let mut bytes = std::fs::read(&data).expect("read blob");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).expect("corrupt blob");
    let d = Daemon::start();
    let image = format!("{}/busybox", reg.addr);
    let out = d.docker(&["pull", &image]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("digest mismatch"), "{text} (layers {layer})");
    assert!(!blob_file(&d, &digest).exists(), "the bad blob was stored");
    assert_eq!(d.ok(&["images", "-q", &image]), "");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let d = Daemon::start();
    // OCI layouts by hand: one layer (gzip: its compressed bytes are what the manifest's digest
    // names; and plain), a config naming another diff ID.
    let content = d.dir.path().join("bad-content");
    std::fs::create_dir_all(&content).expect("content dir");
    std::fs::write(content.join("hello"), b"hello\n").expect("file");
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let layers_before = d.inspect("busybox", "{{json .RootFS.Layers}}");
    let snapshots_before = count_snapshots(&d);
    for (n, (flag, media)) in [("-czf", media::GZIP_LAYER), ("-cf", media::PLAIN_LAYER)]
        .into_iter()
        .enumerate()
    {
        let layer = d.dir.path().join(format!("layer{n}"));
        let st = Command::new("tar")
            .arg("-C")
            .arg(&content)
            .arg(flag)
            .arg(&layer)
            .arg("hello")
            .status()
            .expect("tar");
        assert!(st.success());
        let root = d.dir.path().join(format!("bad-layout{n}"));
        let tag = format!("bad{n}");
        let src = one_layer_layout(&root, &layer, media, &wrong, &tag);
        reg.skopeo_copy_in(&src, &format!("{tag}:1"));
        let image = format!("{}/{tag}:1", reg.addr);
        let out = d.docker(&["pull", &image]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains("diff"), "{media}: {text}");
        // Nothing registered, nothing tagged.
        assert_eq!(d.ok(&["images", "-q", &image]), "");
        let (code, _) = d.curl("GET", &format!("/images/{image}/json"), None);
        assert_eq!(code, 404);
        assert_eq!(
            count_snapshots(&d),
            snapshots_before,
            "{media}: a snapshot of the refused layer is left"
        );
    }
    assert_eq!(d.ok(&["images", "-aq"]).lines().count(), 1, "only busybox");
    assert_eq!(
        d.inspect("busybox", "{{json .RootFS.Layers}}"),
        layers_before
    );
}

/// The number of snapshots (layers unpacked, containers' rootfs) in `d`'s storage driver's
/// directory (`<data-root>/<driver>/snapshots`).
fn count_snapshots(d: &Daemon) -> usize {
    std::fs::read_dir(d.data_root())
        .expect("data root")
        .flatten()
        .filter_map(|e| std::fs::read_dir(e.path().join("snapshots")).ok())
        .map(|r| r.count())
        .sum()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn login_pull_push_and_logout_with_basic_auth_from_berth_and_docker() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start_with(Some(("berth", "s3cret")));
    let d = Daemon::start();
    seed_busybox_as(&d, &reg, Some("berth:s3cret"));
    let image = format!("{}/busybox", reg.addr);
    // Anonymous: refused with the registry's word, nothing stored.
    let anon = berth(&d, &["pull", &image], None);
    assert_ne!(anon.status.code(), Some(0), "{}", stdout(&anon));
    assert!(
        stderr(&anon).contains("unauthorized") || stderr(&anon).contains("credentials"),
        "{}",
        stderr(&anon)
    );
    // A wrong password: login fails and stores nothing.
    let bad = berth(
        &d,
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        Some("nope\n"),
    );
    assert_ne!(bad.status.code(), Some(0), "{}", stdout(&bad));
    let refused = format!(
        "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
        reg.addr
    );
    assert!(stderr(&bad).contains(&refused), "{}", stderr(&bad));
    // The docker CLI: POST /auth answers 401 with Docker's words, as dockerd does.
    let docker_bad = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        b"nope\n",
    );
    assert_eq!(docker_bad.status.code(), Some(1), "{}", stdout(&docker_bad));
    assert!(
        stderr(&docker_bad).contains(&format!("Error response from daemon: {refused}")),
        "{}",
        stderr(&docker_bad)
    );
    let body = serde_json::json!({"username": "berth", "password": "nope",
        "serveraddress": reg.addr})
    .to_string();
    let (status, answer) = d.curl("POST", "/auth", Some(&body));
    assert_eq!(status, 401, "{answer}");
    let config = d.dir.path().join("berth-config/config.json");
    assert!(!std::fs::read_to_string(&config)
        .unwrap_or_default()
        .contains(&reg.addr));
    // berth login stores base64(user:password) under the registry, as docker does.
    let ok = berth(
        &d,
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        Some("s3cret\n"),
    );
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("Login Succeeded"), "{}", stdout(&ok));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config.json"))
            .expect("json");
    assert_eq!(saved["auths"][&reg.addr]["auth"], "YmVydGg6czNjcmV0");
    let pulled = berth(&d, &["pull", &image], None);
    assert!(
        pulled.status.success(),
        "{}{}",
        stdout(&pulled),
        stderr(&pulled)
    );
    assert!(
        stdout(&pulled)
            .trim_end()
            .ends_with(&format!("{image}:latest")),
        "{}",
        stdout(&pulled)
    );
    // run pulls a missing image with the stored credentials too.
    d.ok(&["rmi", &format!("{image}:latest")]);
    let ran = berth(&d, &["run", "--rm", &image, "echo", "via-run"], None);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert_eq!(stdout(&ran).trim(), "via-run");
    let target = format!("{}/pushed:2", reg.addr);
    d.ok(&["tag", "busybox:latest", &target]);
    let pushed = berth(&d, &["push", &target], None);
    assert!(
        pushed.status.success(),
        "{}{}",
        stdout(&pushed),
        stderr(&pushed)
    );
    assert!(
        stdout(&pushed).contains("2: digest: sha256:"),
        "{}",
        stdout(&pushed)
    );
    let out = berth(&d, &["logout", &reg.addr], None);
    assert!(stdout(&out).contains(&format!("Removing login credentials for {}", reg.addr)));
    let saved = std::fs::read_to_string(&config).expect("config.json");
    assert!(!saved.contains("YmVydGg6czNjcmV0"), "{saved}");
    // The docker CLI: login goes through POST /auth, pull sends X-Registry-Auth.
    let login = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        b"s3cret\n",
    );
    assert!(login.status.success(), "{}", stderr(&login));
    d.ok(&["rmi", &format!("{image}:latest")]);
    d.ok(&["pull", &image]);
    assert_eq!(
        d.ok(&["run", "--rm", &image, "echo", "authorized"]),
        "authorized"
    );
}
