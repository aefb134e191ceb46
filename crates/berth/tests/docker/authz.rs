//! Authorization plugins end to end (issue #14, catalog API-07): the real docker CLI against a
//! berth daemon started with `--authorization-plugin`, and the test suite's authz plugin
//! (`tests/common/authz_plugin.rs`) serving Docker's protocol on a uniquely named socket in
//! `/run/docker/plugins/` from this process. An allow-all plugin sees every request (and the
//! answers that are not streams) and lets `docker run` through; a plugin denying
//! `POST /containers/create` makes `docker run` fail with its message while `docker ps` works;
//! a hanging plugin makes requests fail closed within `--plugin-timeout`; a plugin denying
//! privileged containers cannot be got round by the body's framing, size, content type or the
//! path's spelling; `SIGHUP` brings a plugin in from daemon.json.
//!
//! The daemons run with `--plugin-timeout 3`. Each test's [`Fixture`] lets everything through
//! again before its daemon is cleaned up, and each plugin's socket is removed when the test
//! ends, passed or failed.

#[path = "../common/authz_plugin.rs"]
mod plugin;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plugin::{AuthzPlugin, Behaviour, Rule};

use crate::bounded::daemon_pid;
use crate::harness::{code, eventually, opted_in, stderr, Daemon};

/// The deadline the daemons under test give a plugin call, in seconds.
const TIMEOUT: &str = "3";

/// How long a refused request may take: the find wait and the call deadline, and the daemon's
/// and the CLI's own time.
const BOUND: Duration = Duration::from_secs(15);

const REQ: &str = "AuthZPlugin.AuthZReq";
const RES: &str = "AuthZPlugin.AuthZRes";

/// A name no other test, run or machine uses.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berth-e2e-authz-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A daemon behind one authorization plugin. Dropping it lets everything through before the
/// daemon's cleanup (which goes through the API), then stops the daemon, then the plugin.
struct Fixture {
    d: Daemon,
    p: AuthzPlugin,
    name: String,
}

impl Fixture {
    fn new(what: &str) -> Fixture {
        let name = unique(what);
        let socket = PathBuf::from("/run/docker/plugins").join(format!("{name}.sock"));
        let p = AuthzPlugin::on_socket(&socket);
        let d = Daemon::start_with(&["--plugin-timeout", TIMEOUT, "--authorization-plugin", &name]);
        Fixture { d, p, name }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.p.allow_all();
    }
}

/// One raw HTTP/1.1 exchange on the daemon's socket (`Connection: close`): status and body.
fn raw(d: &Daemon, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    // The daemon may answer before reading all of a refused body: a failed write is fine.
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_allowing_plugin_sees_every_request_and_lets_it_through() {
    if !opted_in() {
        return;
    }
    let f = Fixture::new("allow");
    let out =
        f.d.ok(&["run", "--name", "seen", "busybox", "echo", "hello"]);
    assert_eq!(out, "hello");
    f.d.ok(&["ps", "-a"]);
    // The create as the CLI sent it: the URI with its version and query, the JSON body.
    let create = f.p.calls_for(REQ, "/containers/create");
    assert_eq!(create.len(), 1, "{:?}", f.p.calls());
    let body = &create[0].body;
    assert_eq!(body["RequestMethod"], "POST");
    let uri = body["RequestUri"].as_str().unwrap_or("");
    assert!(
        uri.starts_with("/v1.") && uri.ends_with("/containers/create?name=seen"),
        "{uri}"
    );
    assert_eq!(body["RequestJson"]["Image"], "busybox", "{body}");
    assert_eq!(
        body["RequestHeaders"]["Content-Type"], "application/json",
        "{body}"
    );
    assert!(body.get("User").is_none(), "no user on a UNIX socket");
    // Its answer, shown before it was sent.
    let answer = f.p.calls_for(RES, "/containers/create");
    assert_eq!(answer.len(), 1, "{:?}", f.p.calls());
    assert_eq!(answer[0].body["ResponseStatusCode"], 201);
    let id = answer[0].body["ResponseJson"]["Id"].as_str().unwrap_or("");
    assert_eq!(id.len(), 64, "{}", answer[0].body);
    // Every request of the run, streams included, was asked about first; the attach and wait
    // streams got no response call.
    for path in ["/_ping", "/containers/json"] {
        assert!(!f.p.calls_for(REQ, path).is_empty(), "{path}");
    }
    let start = format!("/containers/{id}/start");
    assert_eq!(f.p.calls_for(REQ, &start).len(), 1, "{:?}", f.p.calls());
    let attach = format!("/containers/{id}/attach");
    assert_eq!(f.p.calls_for(REQ, &attach).len(), 1);
    assert!(f.p.calls_for(RES, &attach).is_empty());
    // Registry credentials never reach a plugin.
    let login = raw(
        &f.d,
        "POST /auth HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nX-Registry-Auth: c2VjcmV0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
        b"{}",
    );
    assert_ne!(login.0, 0);
    let auth = f.p.calls_for(REQ, "/auth");
    assert_eq!(auth.len(), 1);
    assert!(
        auth[0].body.get("RequestBody").is_none(),
        "{}",
        auth[0].body
    );
    assert!(
        auth[0].body["RequestHeaders"]
            .get("X-Registry-Auth")
            .is_none(),
        "{}",
        auth[0].body
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_denied_create_fails_docker_run_with_the_plugins_message() {
    if !opted_in() {
        return;
    }
    let f = Fixture::new("deny");
    f.p.deny(Rule::Request {
        method: "POST".into(),
        path: "/containers/create".into(),
        msg: "containers are not created here".into(),
    });
    let out = f.d.docker(&["run", "--rm", "busybox", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let want = format!(
        "authorization denied by plugin {}: containers are not created here",
        f.name
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    // Nothing was created; listing is still allowed.
    assert_eq!(f.d.ok(&["ps", "-aq"]), "");
    // The API's status is Docker's 403.
    let (status, body) =
        f.d.curl("POST", "/containers/create", Some(r#"{"Image":"busybox"}"#));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(&want), "{body}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_hanging_plugin_fails_requests_closed_within_the_deadline() {
    if !opted_in() {
        return;
    }
    let f = Fixture::new("hang");
    f.d.ok(&["ps"]);
    f.p.set(Behaviour::Hang);
    let start = Instant::now();
    let out = f.d.docker(&["ps"]);
    let took = start.elapsed();
    assert_ne!(code(&out), 0, "refused");
    assert!(took < BOUND, "took {took:?}");
    let want = format!("plugin {} failed with error", f.name);
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    // An error status from the plugin refuses too.
    f.p.set(Behaviour::Status(500, "policy store offline".into()));
    let out = f.d.docker(&["ps"]);
    assert!(
        stderr(&out).contains("AuthZPlugin.AuthZReq: policy store offline"),
        "{}",
        stderr(&out)
    );
    // Back to answering: served again.
    f.p.set(Behaviour::Serve);
    f.d.ok(&["ps"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api07_the_plugin_sees_what_the_handler_sees() {
    if !opted_in() {
        return;
    }
    let f = Fixture::new("priv");
    f.p.deny(Rule::Privileged {
        msg: "no privileged containers".into(),
    });
    // (a) The docker CLI.
    let out = f.d.docker(&["create", "--privileged", "busybox", "true"]);
    assert!(
        stderr(&out).contains("authorization denied by plugin"),
        "{}",
        stderr(&out)
    );
    let json = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Privileged":true}}"#;
    let post = |path: &str, headers: &str, body: &[u8]| {
        let head = format!("POST {path} HTTP/1.1\r\nHost: d\r\n{headers}Connection: close\r\n\r\n");
        raw(&f.d, &head, body)
    };
    let length = |n: usize| format!("Content-Length: {n}\r\n");
    let ct = "Content-Type: application/json\r\n";
    let mut cases: Vec<(String, u16, String)> = Vec::new();
    let mut case = |what: &str, answer: (u16, String)| {
        cases.push((what.to_string(), answer.0, answer.1));
    };
    // (b) A chunked body, also with a Content-Length of 0 beside it.
    let mut chunked = format!("{:x}\r\n", json.len()).into_bytes();
    chunked.extend_from_slice(json);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let te = "Transfer-Encoding: chunked\r\n";
    case(
        "chunked",
        post("/containers/create", &format!("{ct}{te}"), &chunked),
    );
    case(
        "chunked with Content-Length: 0",
        post(
            "/containers/create",
            &format!("{ct}{te}{}", length(0)),
            &chunked,
        ),
    );
    // (c) 5 MiB of JSON, padded with spaces.
    let mut padded = json.to_vec();
    padded.resize(5 << 20, b' ');
    case(
        "5 MiB",
        post(
            "/containers/create",
            &format!("{ct}{}", length(padded.len())),
            &padded,
        ),
    );
    // Without a type it is not refused (it may be a tar stream) but goes on unseen, and no
    // handler reads it as JSON.
    case(
        "5 MiB without Content-Type",
        post("/containers/create", &length(padded.len()), &padded),
    );
    // (d) A JSON type with parameters; (e) another type over a JSON body; no type at all.
    let typed = |t: &str| format!("Content-Type: {t}\r\n{}", length(json.len()));
    case(
        "charset",
        post(
            "/containers/create",
            &typed("application/json; charset=utf-8"),
            json,
        ),
    );
    case(
        "upper case",
        post("/containers/create", &typed("Application/JSON"), json),
    );
    case(
        "text/plain",
        post("/containers/create", &typed("text/plain"), json),
    );
    case(
        "no Content-Type",
        post("/containers/create", &length(json.len()), json),
    );
    // (f) The path spelt otherwise.
    for path in [
        "//containers/create",
        "/v1.99/containers/create",
        "/containers/./create",
        "/containers/%63reate",
        "/v1.50//containers/create",
    ] {
        case(
            path,
            post(path, &format!("{ct}{}", length(json.len())), json),
        );
    }
    for (what, status, body) in &cases {
        eprintln!("API-07 {what}: {status} {}", body.trim());
        assert!(
            !(200..300).contains(status),
            "{what}: answered {status}: {body}"
        );
    }
    // The plugin's own refusals answer 403; the 5 MiB body is refused unread, in Docker's words.
    let status_of = |what: &str| cases.iter().find(|c| c.0 == what).map(|c| c.1);
    assert_eq!(status_of("chunked"), Some(403), "{cases:?}");
    assert_eq!(status_of("charset"), Some(403), "{cases:?}");
    assert_eq!(status_of("no Content-Type"), Some(403), "{cases:?}");
    let big = cases.iter().find(|c| c.0 == "5 MiB").map(|c| c.2.clone());
    assert!(
        big.as_deref()
            .is_some_and(|b| b.contains("request body too large for authorization plugin")),
        "{big:?}"
    );
    assert_eq!(
        status_of("5 MiB without Content-Type"),
        Some(400),
        "{cases:?}"
    );
    // None created a privileged container (none created any).
    assert_eq!(f.d.ok(&["ps", "-aq"]), "", "{cases:?}");
    // The control: an unprivileged create goes through.
    f.d.ok(&["create", "--name", "plain", "busybox", "true"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn sighup_brings_a_plugin_in_from_daemon_json() {
    if !opted_in() {
        return;
    }
    let name = unique("hup");
    let socket = PathBuf::from("/run/docker/plugins").join(format!("{name}.sock"));
    let p = AuthzPlugin::on_socket(&socket);
    p.deny(Rule::Request {
        method: "POST".into(),
        path: "/containers/create".into(),
        msg: "after the reload".into(),
    });
    let conf_dir = tempfile::tempdir().expect("config dir");
    let conf = conf_dir.path().join("daemon.json");
    std::fs::write(&conf, "{}").expect("daemon.json");
    let conf_arg = conf.display().to_string();
    let d = Daemon::start_with(&["--plugin-timeout", TIMEOUT, "--config-file", &conf_arg]);
    d.ok(&["create", "--name", "before", "busybox", "true"]);
    assert!(p.calls().is_empty(), "not asked before the reload");
    std::fs::write(&conf, format!(r#"{{"authorization-plugins": ["{name}"]}}"#))
        .expect("daemon.json");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon_pid(&d)),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
    eventually(BOUND, "the plugin to be asked", || {
        let out = d.docker(&["create", "busybox", "true"]);
        stderr(&out).contains("authorization denied by plugin") && !p.calls().is_empty()
    });
    // Out again: everything is let through without asking.
    std::fs::write(&conf, "{}").expect("daemon.json");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon_pid(&d)),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP");
    eventually(BOUND, "the plugin to be left out", || {
        d.docker(&["create", "--name", "after", "busybox", "true"])
            .status
            .success()
    });
    drop(d);
    drop(p);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_daemon_does_not_start_without_its_plugin() {
    if !opted_in() {
        return;
    }
    let name = unique("absent");
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .args(["--plugin-timeout", "2", "--authorization-plugin", &name])
        .output()
        .expect("berth daemon");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to validate authorization plugin") && err.contains(&name),
        "{err}"
    );
    // It checked before making its networks: no bridge or nftables table is left.
    let tag = crate::harness::network_tag(&dir.path().join("exec"));
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!("bt{tag}")),
        "a bridge was left: {links}"
    );
    let table = std::process::Command::new("nft")
        .args(["list", "table", "ip", &format!("berth_{tag}")])
        .output()
        .expect("nft");
    assert!(!table.status.success(), "an nftables table was left");
}

/// An exec start reads its body by hand (it may upgrade the connection): a JSON body the plugins
/// were not shown (sent as `text/plain`) is refused there too, and the exec does not run.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api07_an_exec_start_body_the_plugins_did_not_see_is_refused() {
    if !opted_in() {
        return;
    }
    let f = Fixture::new("exec");
    f.d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "600"]);
    let post = |path: &str, ct: &str, body: &[u8]| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: d\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        raw(&f.d, &head, body)
    };
    let (status, created) = post(
        "/containers/box/exec",
        "application/json",
        br#"{"Cmd":["touch","/ran"]}"#,
    );
    assert_eq!(status, 201, "{created}");
    let id: serde_json::Value = serde_json::from_str(&created).expect("exec create answer");
    let id = id["Id"].as_str().expect("exec id").to_string();
    let (status, body) = post(
        &format!("/exec/{id}/start"),
        "text/plain",
        br#"{"Detach":true}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("must be 'application/json'"), "{body}");
    let out = f.d.docker(&["exec", "box", "test", "-e", "/ran"]);
    assert_ne!(code(&out), 0, "the exec ran");
    // The same request as JSON goes through.
    let (status, body) = post(
        &format!("/exec/{id}/start"),
        "application/json",
        br#"{"Detach":true}"#,
    );
    assert_eq!(status, 200, "{body}");
}

/// API-07 over mutual TLS: the plugins see the client certificate's common name as `User`, with
/// `UserAuthNMethod` `TLS`, as dockerd sends them; a request on the UNIX socket names no user.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api07_a_tls_client_certificates_common_name_is_the_user() {
    use crate::api_tls::{client_flags, docker_tcp, free_port, temp_dir, ApiDaemon, Pki};
    if !opted_in() {
        return;
    }
    let name = unique("tls-user");
    let socket = PathBuf::from("/run/docker/plugins").join(format!("{name}.sock"));
    let p = AuthzPlugin::on_socket(&socket);
    let dir = temp_dir();
    let pki = Pki::make(dir.path());
    let port = free_port();
    let mut args = vec!["-H".to_string(), format!("tcp://127.0.0.1:{port}")];
    args.extend(pki.daemon_flags(&pki.server, "--tlsverify"));
    args.extend(["--plugin-timeout", TIMEOUT, "--authorization-plugin", &name].map(String::from));
    let d = ApiDaemon::start(dir, &args, Some(port));
    let root = d.dir.path().to_path_buf();

    let flags = client_flags("--tlsverify", &pki.client);
    let out = docker_tcp(&root, port, &flags, &[], &["version"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log());
    let over_tls = p.calls_for(REQ, "/version");
    assert!(!over_tls.is_empty(), "the plugin saw no /version request");
    for call in &over_tls {
        assert_eq!(call.body["User"], "client", "{}", call.body);
        assert_eq!(call.body["UserAuthNMethod"], "TLS", "{}", call.body);
    }

    let out = std::process::Command::new("docker")
        .args(["-H", &format!("unix://{}", d.sock.display()), "info"])
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .output()
        .expect("running docker");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let over_unix = p.calls_for(REQ, "/info");
    assert!(!over_unix.is_empty(), "the plugin saw no /info request");
    for call in &over_unix {
        assert!(call.body.get("User").is_none(), "{}", call.body);
        assert!(call.body.get("UserAuthNMethod").is_none(), "{}", call.body);
    }
}
