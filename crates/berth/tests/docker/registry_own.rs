//! Berth's own registry server (`berth registry serve`) with real peers, and TLS trust (issue #10):
//! skopeo copies between Berth's server and Debian's `docker-registry` keep the manifest digest,
//! the docker CLI pushes to and pulls from Berth's server through a Berth daemon, and a TLS
//! registry is trusted only with its CA in `certs.d/<host:port>/` (REG-12).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{opted_in, stderr, stdout, Daemon};
use crate::registry::{free_port, seed_busybox, write_htpasswd, DistRegistry};

/// Berth's own registry server (`berth registry serve`) on a free loopback port.
pub struct BerthRegistry {
    pub dir: tempfile::TempDir,
    pub addr: String,
    child: Child,
}

impl BerthRegistry {
    pub fn start() -> BerthRegistry {
        BerthRegistry::start_on("127.0.0.1", None)
    }

    /// On `ip`, serving HTTPS with `(cert, key)` when given.
    pub fn start_on(ip: &str, tls: Option<(&Path, &Path)>) -> BerthRegistry {
        BerthRegistry::start_full(ip, tls, None, &[])
    }

    /// On 127.0.0.1 for `user` (`--htpasswd`), with more flags (`--token-auth`).
    pub fn start_with_user(user: (&str, &str), flags: &[&str]) -> BerthRegistry {
        BerthRegistry::start_full("127.0.0.1", None, Some(user), flags)
    }

    /// On 127.0.0.1 with `flags` only (an external token issuer's).
    pub fn start_with_flags(flags: &[&str]) -> BerthRegistry {
        BerthRegistry::start_full("127.0.0.1", None, None, flags)
    }

    fn start_full(
        ip: &str,
        tls: Option<(&Path, &Path)>,
        user: Option<(&str, &str)>,
        flags: &[&str],
    ) -> BerthRegistry {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-own-registry")
            .tempdir()
            .expect("temp dir");
        let addr = format!("{ip}:{}", free_port());
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(["registry", "serve", "--addr", &addr, "--root"])
            .arg(dir.path().join("storage"));
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some((u, p)) = user {
            cmd.arg("--htpasswd").arg(write_htpasswd(dir.path(), u, p));
        }
        cmd.args(flags);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("starting berth registry serve");
        let r = BerthRegistry { dir, addr, child };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("curl")
                .args(["-s", "-k", "-D", "-", "-o", "/dev/null"])
                .arg(format!("{scheme}://{}/v2/", r.addr))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_lowercase())
                .unwrap_or_default();
            let answered = out.starts_with("http/1.1 200")
                || ((user.is_some() || flags.contains(&"--token-auth"))
                    && out.starts_with("http/1.1 401"));
            if answered && out.contains("docker-distribution-api-version: registry/2.0") {
                break;
            }
            let log =
                std::fs::read_to_string(r.dir.path().join("registry.log")).unwrap_or_default();
            assert!(Instant::now() < end, "berth registry did not serve: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

impl Drop for BerthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo_copy(src: &str, dest: &str) {
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            src,
            dest,
        ])
        .output()
        .expect("skopeo copy");
    assert!(
        out.status.success(),
        "skopeo copy {src} {dest}: {}",
        stderr(&out)
    );
}

fn skopeo_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            reference,
        ])
        .output()
        .expect("skopeo inspect");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn skopeo_and_docker_round_trip_through_berths_registry_server() {
    if !opted_in() {
        return;
    }
    let dist = DistRegistry::start();
    let own = BerthRegistry::start();
    let d = Daemon::start();
    seed_busybox(&d, &dist);
    let want = dist.digest_of("busybox:latest");
    // Debian's registry → Berth's → Debian's again: the same manifest digest all the way.
    skopeo_copy(
        &format!("docker://{}/busybox:latest", dist.addr),
        &format!("docker://{}/library/busybox:1", own.addr),
    );
    assert_eq!(
        skopeo_digest(&format!("docker://{}/library/busybox:1", own.addr)),
        want
    );
    skopeo_copy(
        &format!("docker://{}/library/busybox:1", own.addr),
        &format!("docker://{}/back/busybox:2", dist.addr),
    );
    assert_eq!(dist.digest_of("back/busybox:2"), want);
    // The docker CLI through a Berth daemon: push to Berth's server, pull into another daemon.
    let pushed = format!("{}/mine/bb:3", own.addr);
    d.ok(&["tag", "busybox:latest", &pushed]);
    let out = d.ok(&["push", &pushed]);
    assert!(out.contains("3: digest: sha256:"), "{out}");
    let other = Daemon::start();
    other.ok(&["pull", &pushed]);
    assert_eq!(
        other.ok(&["run", "--rm", &pushed, "echo", "own-registry"]),
        "own-registry"
    );
    let copied = format!("{}/library/busybox:1", own.addr);
    other.ok(&["pull", &copied]);
    let digests = other.inspect(&copied, "{{json .RepoDigests}}");
    assert!(digests.contains(&want), "{digests}");
    // docker search HOST/TERM against Berth's server (GET /images/search → /v1/search).
    let found = d.ok(&["search", &format!("{}/busy", own.addr)]);
    assert!(found.starts_with("NAME"), "{found}");
    assert!(
        found.contains(&format!("{}/library/busybox", own.addr)),
        "{found}"
    );
    assert!(!found.contains("mine/bb"), "{found}");
    // Tags and catalog as clients list them.
    let out = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{}/mine/bb", own.addr))
        .output()
        .expect("skopeo list-tags");
    assert!(
        stdout(&out).contains("\"3\""),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let o = Command::new("curl")
        .args(["-s", &format!("http://{}/v2/_catalog", own.addr)])
        .output()
        .expect("curl");
    let catalog = stdout(&o);
    for repo in ["library/busybox", "mine/bb"] {
        assert!(catalog.contains(repo), "{catalog}");
    }
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

/// Removes a `certs.d/<host:port>` directory the test made.
struct CertsDir(PathBuf);

impl Drop for CertsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh CA and a server certificate for this host's first non-loopback IPv4 address (loopback
/// registries are insecure by Docker's rules): the dir (`ca.crt`, `srv.crt`, `srv.key`) and the IP.
fn pki() -> (tempfile::TempDir, String) {
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    let ip = stdout(&out)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("a non-loopback IPv4 address")
        .to_string();
    let pki = tempfile::tempdir().expect("pki dir");
    let p = pki.path();
    openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        p,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            &format!("/CN={ip}"),
        ],
    );
    std::fs::write(
        p.join("ext.cnf"),
        format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n"),
    )
    .expect("ext");
    openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    (pki, ip)
}

/// A `docker-registry` with a certificate of a fresh CA, on a non-loopback address: the PKI dir
/// (holding `ca.crt`) and the registry.
fn tls_registry() -> (tempfile::TempDir, DistRegistry) {
    let (pki, ip) = pki();
    let p = pki.path();
    let reg = DistRegistry::start_on(&ip, None, Some((&p.join("srv.crt"), &p.join("srv.key"))));
    (pki, reg)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_tls_registry_is_trusted_only_with_its_ca_in_certs_d() {
    if !opted_in() {
        return;
    }
    let (pki, reg) = tls_registry();
    let p = pki.path();
    let d = Daemon::start();
    seed_busybox(&d, &reg);
    let image = format!("{}/busybox", reg.addr);
    let refused = d.docker(&["pull", &image]);
    assert_ne!(refused.status.code(), Some(0), "{}", stdout(&refused));
    let text = stderr(&refused);
    assert!(
        text.contains("TLS") || text.contains("certificate"),
        "{text}"
    );
    assert_eq!(d.ok(&["images", "-q", &image]), "");
    let certs = CertsDir(PathBuf::from("/etc/docker/certs.d").join(&reg.addr));
    std::fs::create_dir_all(&certs.0).expect("certs.d dir");
    std::fs::copy(p.join("ca.crt"), certs.0.join("ca.crt")).expect("ca.crt");
    d.ok(&["pull", &image]);
    assert_eq!(
        d.ok(&["run", "--rm", &image, "echo", "verified"]),
        "verified"
    );
}

/// A Berth daemon started with extra flags (the harness's daemons take none); only for pulls: it
/// runs no container. Stopped by PID (SIGTERM, then SIGKILL) on drop; its exec root's tmpfs goes
/// with the clean stop or is detached here.
struct FlaggedDaemon {
    dir: tempfile::TempDir,
    sock: PathBuf,
    child: Child,
}

impl FlaggedDaemon {
    fn start(flags: &[&str]) -> FlaggedDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-flagged")
            .tempdir()
            .expect("temp dir");
        let sock = dir.path().join("berth.sock");
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("daemon")
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("berth daemon");
        let d = FlaggedDaemon { dir, sock, child };
        let end = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&d.sock).is_err() {
            assert!(Instant::now() < end, "daemon did not serve: {}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    }
}

impl Drop for FlaggedDaemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = nix::mount::umount2(
            &self.dir.path().join("exec"),
            nix::mount::MntFlags::MNT_DETACH,
        );
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn registry_mirror_and_insecure_registry_flags_reach_pulls() {
    if !opted_in() {
        return;
    }
    let seeder = Daemon::start();
    // A mirror of Docker Hub: library/busybox on a loopback docker-registry.
    let mirror = DistRegistry::start();
    let tar = seeder.dir.path().join("mirror-seed.tar");
    seeder.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    mirror.skopeo_copy_in(
        &format!("docker-archive:{}", tar.display()),
        "library/busybox:latest",
    );
    // A TLS registry whose CA nobody trusts.
    let (_pki, tls) = tls_registry();
    seed_busybox(&seeder, &tls);
    drop(seeder);
    let mirror_url = format!("http://{}", mirror.addr);
    let d = FlaggedDaemon::start(&[
        "--registry-mirror",
        &mirror_url,
        "--insecure-registry",
        &tls.addr,
    ]);
    // `busybox` is Docker Hub's; with no way out, only the mirror can answer.
    let out = d.docker(&["pull", "busybox"]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        d.log()
    );
    assert!(
        stdout(&out).contains("docker.io/library/busybox:latest"),
        "{}",
        stdout(&out)
    );
    // The insecure registry is reached without its CA.
    let image = format!("{}/busybox", tls.addr);
    let out = d.docker(&["pull", &image]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berths_registry_server_over_tls_with_its_ca_in_certs_d() {
    if !opted_in() {
        return;
    }
    let (pki, ip) = pki();
    let p = pki.path();
    let own = BerthRegistry::start_on(&ip, Some((&p.join("srv.crt"), &p.join("srv.key"))));
    let d = Daemon::start();
    let image = format!("{}/tls/bb:1", own.addr);
    d.ok(&["tag", "busybox:latest", &image]);
    let refused = d.docker(&["push", &image]);
    assert_ne!(refused.status.code(), Some(0), "{}", stdout(&refused));
    let certs = CertsDir(PathBuf::from("/etc/docker/certs.d").join(&own.addr));
    std::fs::create_dir_all(&certs.0).expect("certs.d dir");
    std::fs::copy(p.join("ca.crt"), certs.0.join("ca.crt")).expect("ca.crt");
    let out = d.ok(&["push", &image]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    let other = Daemon::start();
    other.ok(&["pull", &image]);
    assert_eq!(other.ok(&["run", "--rm", &image, "echo", "tls"]), "tls");
}

/// skopeo with `args`, the output.
fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo").args(args).output().expect("skopeo")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berths_registry_server_with_htpasswd_and_with_token_auth() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let tar = d.dir.path().join("seed.tar");
    d.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    let src = format!("docker-archive:{}", tar.display());
    for flags in [&[][..], &["--token-auth"][..]] {
        let reg = BerthRegistry::start_with_user(("berth", "s3cret"), flags);
        let mode = if flags.is_empty() {
            "htpasswd"
        } else {
            "token"
        };
        let dest = format!("docker://{}/auth/busybox:1", reg.addr);
        // skopeo: refused without credentials and with a wrong password, served with the right.
        for creds in [None, Some("berth:nope")] {
            let mut args = vec!["copy", "--dest-tls-verify=false"];
            if let Some(c) = creds {
                args.extend(["--dest-creds", c]);
            }
            args.extend([src.as_str(), dest.as_str()]);
            let out = skopeo(&args);
            assert!(!out.status.success(), "{mode}: {creds:?} was let in");
            let text = stderr(&out).to_lowercase();
            assert!(
                text.contains("unauthorized") || text.contains("401"),
                "{mode}: {text}"
            );
        }
        let out = skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "berth:s3cret",
            &src,
            &dest,
        ]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let out = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "berth:s3cret",
            "--format",
            "{{.Digest}}",
            &dest,
        ]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let digest = stdout(&out).trim().to_string();
        // The docker CLI through a Berth daemon: a wrong password is 401, then login, pull, run,
        // push another tag.
        let bad = d.docker_input(
            &["login", "-u", "berth", "--password-stdin", &reg.addr],
            b"nope\n",
        );
        assert_eq!(bad.status.code(), Some(1), "{mode}");
        assert!(
            stderr(&bad).contains("401 Unauthorized") || stderr(&bad).contains("unauthorized:"),
            "{mode}: {}",
            stderr(&bad)
        );
        let login = d.docker_input(
            &["login", "-u", "berth", "--password-stdin", &reg.addr],
            b"s3cret\n",
        );
        assert!(login.status.success(), "{mode}: {}", stderr(&login));
        let image = format!("{}/auth/busybox:1", reg.addr);
        let pulled = d.ok(&["pull", &image]);
        assert!(
            pulled.contains(&format!("Digest: {digest}")),
            "{mode}: {pulled}"
        );
        assert_eq!(d.ok(&["run", "--rm", &image, "echo", "in"]), "in", "{mode}");
        let other = format!("{}/auth/other:2", reg.addr);
        d.ok(&["tag", &image, &other]);
        let pushed = d.ok(&["push", &other]);
        assert!(pushed.contains("2: digest: sha256:"), "{mode}: {pushed}");
        d.ok(&["logout", &reg.addr]);
        d.ok(&["rmi", &image, &other]);
        let anon = d.docker(&["pull", &image]);
        assert_ne!(anon.status.code(), Some(0), "{mode}: pulled anonymously");
    }
}
