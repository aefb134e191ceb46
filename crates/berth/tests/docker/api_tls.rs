//! The API's front doors (security catalog, section API): the UNIX socket's mode, owner and
//! who can connect (API-01); plain TCP refused unless asked for explicitly (API-04); mutual TLS
//! with the real docker CLI, wrong, missing and expired client certificates, TLS < 1.2 (API-05);
//! the client's check of the server's name (API-06). Certificates are made with the `openssl` CLI.

use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::{code, opted_in, stderr, stdout};

const DEADLINE: Duration = Duration::from_secs(20);

/// A daemon with extra listen flags, on its own temp roots; stopped by PID on drop.
pub(crate) struct ApiDaemon {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) sock: PathBuf,
    child: Option<Child>,
}

impl ApiDaemon {
    fn command(dir: &Path, sock: &Path, args: &[String]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("daemon")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(args)
            .env("DOCKER_CERT_PATH", dir.join("no-default-certs"))
            .stdin(Stdio::null());
        let shim = Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berth-shim");
        if shim.exists() {
            cmd.arg("--shim-binary").arg(shim);
        }
        cmd
    }

    /// Starts `berth daemon -H unix://… ARGS` and waits until the socket and `tcp` answer.
    pub(crate) fn start(dir: tempfile::TempDir, args: &[String], tcp: Option<u16>) -> ApiDaemon {
        let sock = dir.path().join("api").join("berth.sock");
        let mut cmd = Self::command(dir.path(), &sock, args);
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("daemon log");
        cmd.stdout(log.try_clone().expect("log fd")).stderr(log);
        let mut d = ApiDaemon {
            child: Some(cmd.spawn().expect("spawning berth daemon")),
            dir,
            sock,
        };
        let end = Instant::now() + DEADLINE;
        loop {
            let unix = std::os::unix::net::UnixStream::connect(&d.sock).is_ok();
            let tcp = tcp.is_none_or(|p| TcpStream::connect(("127.0.0.1", p)).is_ok());
            if unix && tcp {
                return d;
            }
            if let Some(Ok(Some(status))) = d.child.as_mut().map(|c| c.try_wait()) {
                panic!("daemon exited early ({status}): {}", d.log());
            }
            assert!(Instant::now() < end, "daemon did not serve: {}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for ApiDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let end = Instant::now() + DEADLINE;
            while Instant::now() < end && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // A daemon killed mid-way leaves its exec root's tmpfs mounted, and its network.
        let _ = nix::mount::umount2(
            &self.dir.path().join("exec"),
            nix::mount::MntFlags::MNT_DETACH,
        );
        crate::harness::remove_network_leftovers(&self.dir.path().join("exec"));
    }
}

pub(crate) fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-api")
        .tempdir()
        .expect("temp dir");
    // Others may traverse it (API-01 checks what the socket's own mode allows).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    dir
}

/// A TCP port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("local addr").port()
}

fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("running openssl");
    assert!(out.status.success(), "openssl {args}: {}", stderr(&out));
}

/// A new P-256 key (key.pem or ca-key.pem) and the arguments that make it.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A CA in `dir/<name>/` (ca.pem, ca-key.pem).
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let ca = dir.join(name);
    std::fs::create_dir_all(&ca).expect("ca dir");
    let subj = format!("/CN=berth-test-{name}");
    let args = format!("req -x509 {NEW_KEY} -keyout ca-key.pem -out ca.pem -days 2 -subj {subj}");
    openssl(&ca, &args);
    ca
}

/// A leaf certificate signed by the CA in `ca`, in `dir/<name>/` as cert.pem and key.pem with
/// the CA's ca.pem beside (the layout `DOCKER_CERT_PATH` expects). `ext` holds the X.509 v3
/// extensions; `expired` makes one valid for a day in 2020. Paths hold no spaces (temp dirs).
fn make_leaf(ca: &Path, dir: &Path, name: &str, ext: &str, expired: bool) -> PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).expect("cert dir");
    std::fs::write(out.join("ext.cnf"), format!("{ext}\n")).expect("ext");
    let (ca_cert, ca_key) = (ca.join("ca.pem"), ca.join("ca-key.pem"));
    let (ca_cert, ca_key) = (ca_cert.display(), ca_key.display());
    let req = format!("req {NEW_KEY} -keyout key.pem -out req.csr -subj /CN={name}");
    openssl(&out, &req);
    if expired {
        std::fs::write(out.join("index.txt"), "").expect("ca db");
        std::fs::write(out.join("serial"), "1000\n").expect("ca serial");
        std::fs::write(
            out.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        )
        .expect("ca config");
        let sign = format!(
            "ca -batch -notext -config ca.cnf -cert {ca_cert} -keyfile {ca_key} -in req.csr \
             -out cert.pem -extfile ext.cnf -startdate 20200101000000Z -enddate 20200102000000Z"
        );
        openssl(&out, &sign);
    } else {
        let sign = format!(
            "x509 -req -in req.csr -CA {ca_cert} -CAkey {ca_key} -CAcreateserial -out cert.pem \
             -days 2 -extfile ext.cnf"
        );
        openssl(&out, &sign);
    }
    std::fs::copy(ca.join("ca.pem"), out.join("ca.pem")).expect("copy ca");
    out
}

const SERVER_EXT: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth";
const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth";

/// The certificates of one test: CA, server, a good client, a client of another CA, an expired
/// client, and a server certificate for the wrong name.
pub(crate) struct Pki {
    ca: PathBuf,
    pub(crate) server: PathBuf,
    wrong_name: PathBuf,
    pub(crate) client: PathBuf,
    stranger: PathBuf,
    expired: PathBuf,
}

impl Pki {
    pub(crate) fn make(dir: &Path) -> Pki {
        let ca = make_ca(dir, "ca");
        let other = make_ca(dir, "other-ca");
        Pki {
            server: make_leaf(&ca, dir, "server", SERVER_EXT, false),
            wrong_name: make_leaf(
                &ca,
                dir,
                "wrong-name",
                "subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth",
                false,
            ),
            client: make_leaf(&ca, dir, "client", CLIENT_EXT, false),
            stranger: make_leaf(&other, dir, "stranger", CLIENT_EXT, false),
            expired: make_leaf(&ca, dir, "expired", CLIENT_EXT, true),
            ca,
        }
    }

    /// `--tlsverify --tlscacert … --tlscert … --tlskey …` with `server`'s files.
    pub(crate) fn daemon_flags(&self, server: &Path, verify: &str) -> Vec<String> {
        let f = |p: &Path, n: &str| p.join(n).display().to_string();
        vec![
            verify.to_string(),
            format!("--tlscacert={}", f(&self.ca, "ca.pem")),
            format!("--tlscert={}", f(server, "cert.pem")),
            format!("--tlskey={}", f(server, "key.pem")),
        ]
    }
}

/// The docker CLI against `tcp://127.0.0.1:port` with `flags` (TLS settings from the
/// environment removed unless given in `env`).
pub(crate) fn docker_tcp(
    dir: &Path,
    port: u16,
    flags: &[String],
    env: &[(&str, &Path)],
    args: &[&str],
) -> Output {
    let mut cmd = Command::new("docker");
    cmd.arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .args(flags)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_TLS")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running docker")
}

/// The client flags of a client certificate directory.
pub(crate) fn client_flags(verify: &str, certs: &Path) -> Vec<String> {
    let f = |n: &str| certs.join(n).display().to_string();
    vec![
        verify.to_string(),
        format!("--tlscacert={}", f("ca.pem")),
        format!("--tlscert={}", f("cert.pem")),
        format!("--tlskey={}", f("key.pem")),
    ]
}

fn server_version(out: &Output) -> String {
    stdout(out).trim().to_string()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn mutual_tls_admits_only_clients_of_the_ca() {
    if !opted_in() {
        return;
    }
    let dir = temp_dir();
    let pki = Pki::make(dir.path());
    let port = free_port();
    let mut args = vec!["-H".to_string(), format!("tcp://127.0.0.1:{port}")];
    args.extend(pki.daemon_flags(&pki.server, "--tlsverify"));
    let d = ApiDaemon::start(dir, &args, Some(port));
    let root = d.dir.path().to_path_buf();
    let version = ["version", "--format", "{{.Server.APIVersion}}"];

    // A client of the CA: flags, and DOCKER_TLS_VERIFY + DOCKER_CERT_PATH.
    let out = docker_tcp(
        &root,
        port,
        &client_flags("--tlsverify", &pki.client),
        &[],
        &version,
    );
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    assert_eq!(server_version(&out), "1.50");
    let one = Path::new("1");
    let env = [
        ("DOCKER_TLS_VERIFY", one),
        ("DOCKER_CERT_PATH", &pki.client),
    ];
    let out = docker_tcp(&root, port, &[], &env, &version);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(server_version(&out), "1.50");
    let out = docker_tcp(&root, port, &[], &env, &["ps", "-a", "--format", "{{.ID}}"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Refused at the handshake: no client certificate, another CA's, an expired one, no TLS.
    let ca = format!("--tlscacert={}", pki.ca.join("ca.pem").display());
    let refused: [(&str, Vec<String>); 4] = [
        ("no client certificate", vec!["--tls".into(), ca]),
        (
            "another CA's certificate",
            client_flags("--tlsverify", &pki.stranger),
        ),
        (
            "an expired certificate",
            client_flags("--tlsverify", &pki.expired),
        ),
        ("plain HTTP", vec![]),
    ];
    for (what, flags) in refused {
        let out = docker_tcp(&root, port, &flags, &[], &version);
        assert_ne!(code(&out), 0, "{what} was served: {}", stdout(&out));
        assert!(server_version(&out).is_empty(), "{what}: {}", stdout(&out));
    }
    assert!(d.log().contains("TLS handshake refused"), "{}", d.log());

    // No API data before the handshake's verdict: curl without a certificate gets no body,
    // with one it gets /version.
    let curl = |cert: Option<&Path>| {
        let mut cmd = Command::new("curl");
        cmd.arg("-sS")
            .arg("--cacert")
            .arg(pki.ca.join("ca.pem"))
            .arg(format!("https://127.0.0.1:{port}/version"));
        if let Some(c) = cert {
            cmd.arg("--cert")
                .arg(c.join("cert.pem"))
                .arg("--key")
                .arg(c.join("key.pem"));
        }
        cmd.output().expect("curl")
    };
    let out = curl(None);
    assert_ne!(code(&out), 0);
    assert!(!stdout(&out).contains("ApiVersion"), "{}", stdout(&out));
    let out = curl(Some(&pki.client));
    assert!(
        stdout(&out).contains("\"ApiVersion\":\"1.50\""),
        "{}",
        stderr(&out)
    );

    // TLS 1.1 is refused by the server with an alert (the client is told to allow it, so the
    // refusal is not the client's own).
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-connect",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.client.join("cert.pem"))
        .arg("-key")
        .arg(pki.client.join("key.pem"))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        ["alert protocol version", "alert handshake failure"]
            .iter()
            .any(|a| stderr(&out).contains(a)),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn attach_and_upload_work_over_tls() {
    if !opted_in() {
        return;
    }
    let dir = temp_dir();
    let pki = Pki::make(dir.path());
    let port = free_port();
    let mut args = vec!["-H".to_string(), format!("tcp://127.0.0.1:{port}")];
    args.extend(pki.daemon_flags(&pki.server, "--tlsverify"));
    let d = ApiDaemon::start(dir, &args, Some(port));
    let root = d.dir.path().to_path_buf();
    let flags = client_flags("--tlsverify", &pki.client);
    // An image of one static busybox, imported over TLS.
    let rootfs = root.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("rootfs");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox");
    let tar = root.join("img.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let tar = tar.display().to_string();
    let out = docker_tcp(&root, port, &flags, &[], &["import", &tar, "tlsbox:1"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    let run = [
        "run",
        "--rm",
        "-i",
        "tlsbox:1",
        "/bin/busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ];
    let out = docker_tcp(&root, port, &flags, &[], &run);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn plain_tcp_needs_the_explicit_opt_out_and_warns() {
    if !opted_in() {
        return;
    }
    let dir = temp_dir();
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    // Refused at start, on loopback as elsewhere, and nothing listens.
    for host in [tcp.clone(), "tcp://0.0.0.0:0".to_string()] {
        let sock = dir.path().join("refused.sock");
        let out = ApiDaemon::command(dir.path(), &sock, &["-H".into(), host.clone()])
            .output()
            .expect("berth daemon");
        assert_ne!(code(&out), 0, "{host}");
        assert!(stderr(&out).contains("--tls=false"), "{}", stderr(&out));
        assert!(!sock.exists());
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // Also from daemon.json: a TCP host without "tls" is refused.
    let conf = dir.path().join("daemon.json");
    std::fs::write(&conf, format!(r#"{{"hosts":["{tcp}"]}}"#)).expect("daemon.json");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--config-file"])
        .arg(&conf)
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .output()
        .expect("berth daemon");
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("--tls=false"), "{}", stderr(&out));

    // With --tls=false it serves plain HTTP and says loudly that this is insecure.
    let d = ApiDaemon::start(dir, &["-H".into(), tcp, "--tls=false".into()], Some(port));
    let out = docker_tcp(
        d.dir.path(),
        port,
        &[],
        &[],
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(server_version(&out), "1.50");
    assert!(d.log().contains("INSECURE"), "{}", d.log());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn server_tls_only_and_the_clients_name_check() {
    if !opted_in() {
        return;
    }
    let dir = temp_dir();
    let pki = Pki::make(dir.path());
    let port = free_port();
    let mut args = vec!["-H".to_string(), format!("tcp://127.0.0.1:{port}")];
    // --tls: server TLS with a certificate for the wrong name, no client verification.
    args.extend(pki.daemon_flags(&pki.wrong_name, "--tls"));
    let d = ApiDaemon::start(dir, &args, Some(port));
    let root = d.dir.path().to_path_buf();
    let version = ["version", "--format", "{{.Server.APIVersion}}"];
    assert!(d.log().contains("TLS without --tlsverify"), "{}", d.log());
    // API-06: a verifying client refuses the server's certificate for the wrong name...
    let out = docker_tcp(
        &root,
        port,
        &client_flags("--tlsverify", &pki.client),
        &[],
        &version,
    );
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stderr(&out).contains("x509"), "{}", stderr(&out));
    // ...and only skipping the check (--tls without --tlsverify) connects, with no client cert.
    let skip = [
        "--tls".to_string(),
        format!("--tlscacert={}", pki.ca.join("ca.pem").display()),
    ];
    let out = docker_tcp(&root, port, &skip, &[], &version);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    assert_eq!(server_version(&out), "1.50");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn unix_socket_is_0660_root_group_and_closed_to_others() {
    if !opted_in() {
        return;
    }
    const GROUP: u32 = 4242;
    let dir = temp_dir();
    let sock = dir.path().join("api").join("berth.sock");
    std::fs::create_dir_all(sock.parent().expect("parent")).expect("socket dir");
    // The daemon starts under umask 000: the socket must still never be reachable by others.
    let mut cmd = ApiDaemon::command(dir.path(), &sock, &["--group".into(), GROUP.to_string()]);
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
    cmd.stdout(log.try_clone().expect("log fd")).stderr(log);
    // SAFETY: umask is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
    let mut d = ApiDaemon {
        child: Some(cmd.spawn().expect("spawning berth daemon")),
        dir,
        sock: sock.clone(),
    };
    // Watch the socket directory until the daemon serves: no entry ever has bits for others.
    let end = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        for e in std::fs::read_dir(sock.parent().expect("parent"))
            .expect("read dir")
            .flatten()
        {
            if let Ok(m) = e.metadata() {
                seen.push((e.file_name(), m.mode() & 0o7777));
            }
        }
        if let Some(Ok(Some(status))) = d.child.as_mut().map(|c| c.try_wait()) {
            panic!("daemon exited early ({status}): {}", d.log());
        }
        assert!(Instant::now() < end, "daemon did not serve: {}", d.log());
    }
    for (name, mode) in &seen {
        assert_eq!(
            mode & 0o007,
            0,
            "{name:?} was reachable by others: {mode:o}"
        );
    }
    let meta = std::fs::metadata(&sock).expect("stat socket");
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, GROUP));
    // Connect as nobody: refused without the group, served with it.
    let ping = |groups: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534"])
            .args(groups.split(' '))
            .args(["curl", "-sv", "--unix-socket"])
            .arg(&sock)
            .arg("http://localhost/_ping")
            .output()
            .expect("setpriv curl")
    };
    let out = ping("--clear-groups");
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    let out = ping(&format!("--groups={GROUP}"));
    assert_eq!(stdout(&out), "OK", "{}", stderr(&out));
}
