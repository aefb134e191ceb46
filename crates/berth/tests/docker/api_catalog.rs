//! The security catalog's API section (issue #14), cases API-09 to API-14, against a real daemon:
//! request size and time limits (a 1 GiB body, idle connections, a header that never ends),
//! version negotiation, no CORS, registry credentials that never show up in the daemon's output or
//! on its disk, the CLI's credential file, and basic auth never sent over plain HTTP.
//!
//! API-10's messages and headers are also checked in-process by `crates/daemon/tests/daemon/http.rs`
//! (`ping_version_and_headers`, `versions_outside_the_range_are_refused_like_docker`); here only
//! what the real front door adds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::{opted_in, stderr, stdout, Daemon};
use crate::registry::DistRegistry;

/// The daemon's read-header deadline (`listen.rs`), plus room for a loaded machine.
const HEADER_DEADLINE: Duration = Duration::from_secs(30 + 30);

/// The PID of `d`'s daemon, found by its socket path on its command line.
fn daemon_pid(d: &Daemon) -> i32 {
    let sock = d.sock.display().to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if args.iter().any(|a| a == "daemon") && args.iter().any(|a| a.contains(&sock)) {
            return pid;
        }
    }
    panic!("no daemon process serves {sock}");
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// One raw HTTP/1.1 exchange on the daemon's socket (`Connection: close`): the whole answer.
fn raw(d: &Daemon, request: &str) -> String {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

fn head_of(answer: &str) -> String {
    answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Whether the peer closed `s` (EOF or reset) before `deadline`, optionally writing one byte of
/// `dribble` every half second meanwhile (a header that never ends).
fn closed_within(s: &mut UnixStream, deadline: Duration, dribble: bool) -> bool {
    let end = Instant::now() + deadline;
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or 400 is fine too; the close follows.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if dribble && s.write_all(b"a").is_err() {
                    return true;
                }
            }
            Err(_) => return true,
        }
    }
    false
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api09_a_huge_body_is_refused_without_the_daemon_holding_it() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let pid = daemon_pid(&d);
    let before = status_kib(pid, "VmHWM");
    const GIB: u64 = 1 << 30;
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let prefix = b"{\"Image\":\"busybox\",\"Env\":[\"";
    s.write_all(
        format!(
            "POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            GIB
        )
        .as_bytes(),
    )
    .expect("write head");
    s.write_all(prefix).expect("write body start");
    // Streamed in 1 MiB chunks until the daemon stops taking them (or all of it went).
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = prefix.len() as u64;
    while sent < GIB {
        let n = chunk.len().min((GIB - sent) as usize);
        if s.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer.split(' ').nth(1).unwrap_or_default().to_string();
    assert!(
        status.starts_with('4'),
        "a 1 GiB body got {answer:?} after {sent} bytes"
    );
    let after = status_kib(pid, "VmHWM");
    // The peak RSS grew by far less than the body (the JSON limit is 16 MiB).
    assert!(
        after.saturating_sub(before) < 256 * 1024,
        "the daemon's peak RSS went from {before} KiB to {after} KiB"
    );
    // And it still answers.
    assert_eq!(d.curl("GET", "/_ping", None).0, 200);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api09_idle_connections_and_endless_headers_are_cut_off_and_others_get_answers() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // Many idle connections: other clients still get answers.
    let idle: Vec<UnixStream> = (0..1000)
        .map(|_| UnixStream::connect(&d.sock).expect("connect"))
        .collect();
    assert_eq!(d.curl("GET", "/_ping", None).0, 200);
    assert_eq!(
        d.ok(&["version", "--format", "{{.Server.APIVersion}}"]),
        "1.50"
    );
    // A header that never ends (slow-loris) and a connection that never sends anything are both
    // closed by the read-header deadline.
    let mut loris = UnixStream::connect(&d.sock).expect("connect");
    loris
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Slow: ")
        .expect("write");
    let mut quiet = UnixStream::connect(&d.sock).expect("connect");
    assert!(
        closed_within(&mut loris, HEADER_DEADLINE, true),
        "a never-ending header kept its connection open"
    );
    assert!(
        closed_within(&mut quiet, Duration::from_secs(10), false),
        "an idle connection outlived the read-header deadline"
    );
    drop(idle);
    assert_eq!(d.curl("GET", "/_ping", None).0, 200);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api10_versions_out_of_range_are_refused_and_answers_carry_api_version() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for (path, word) in [("/v1.12/version", "too old"), ("/v9.99/version", "too new")] {
        let answer = raw(
            &d,
            &format!("GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"),
        );
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains(word), "{path}: {answer}");
        assert!(head_of(&answer).contains("api-version: 1.50"), "{answer}");
    }
    let answer = raw(
        &d,
        "GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(head_of(&answer).contains("api-version: 1.50"), "{answer}");
    assert!(answer.contains("\"ApiVersion\":\"1.50\""), "{answer}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api11_no_cors_headers_for_a_browser_origin() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for method in ["OPTIONS", "GET"] {
        let answer = raw(
            &d,
            &format!(
                "{method} /containers/json HTTP/1.1\r\nHost: docker\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
        let head = head_of(&answer);
        assert!(!head.contains("access-control-"), "{method}: {head}");
    }
}

/// `base64` of `text` (coreutils).
fn base64(text: &str) -> String {
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("base64");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(text.as_bytes());
    }
    stdout(&child.wait_with_output().expect("base64 output"))
}

/// Files under `dir` holding `needle` (`grep -rlaF`).
fn files_holding(dir: &Path, needle: &str) -> String {
    let out = Command::new("grep")
        .args(["-r", "-l", "-a", "-F", "--devices=skip", "-e", needle])
        .arg(dir)
        .output()
        .expect("grep");
    stdout(&out)
}

/// The `berth` CLI with `DOCKER_CONFIG` set to `config`.
fn berth(d: &Daemon, config: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running berth");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    child.wait_with_output().expect("berth output")
}

/// Writes the docker CLI's config of `d` with `user:password` for `registry`.
fn docker_auth(d: &Daemon, registry: &str, user: &str, password: &str) {
    let dir = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&dir).expect("config dir");
    let auth = base64(&format!("{user}:{password}"));
    let config = serde_json::json!({ "auths": { registry: { "auth": auth } } });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config.json");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api12_registry_credentials_appear_nowhere_in_the_daemons_output_or_disk() {
    if !opted_in() {
        return;
    }
    const PASSWORD: &str = "Pw-api12-7fq2ZkR9";
    const WRONG: &str = "Wrong-api12-Xq81Lm";
    let reg = DistRegistry::start_with(Some(("berth", PASSWORD)));
    let d = Daemon::start();
    let tar = d.dir.path().join("seed.tar");
    d.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    reg.skopeo_copy_in_as(
        &format!("docker-archive:{}", tar.display()),
        "busybox:latest",
        Some(&format!("berth:{PASSWORD}")),
    );
    let image = format!("{}/busybox:latest", reg.addr);
    let mut outputs = String::new();
    // A wrong password: the error does not echo it.
    docker_auth(&d, &reg.addr, "berth", WRONG);
    let bad = d.docker(&["pull", &image]);
    assert_ne!(bad.status.code(), Some(0), "{}", stdout(&bad));
    outputs += &format!("{}{}", stdout(&bad), stderr(&bad));
    let bad_login = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        format!("{WRONG}\n").as_bytes(),
    );
    assert_ne!(bad_login.status.code(), Some(0));
    outputs += &format!("{}{}", stdout(&bad_login), stderr(&bad_login));
    // The right one: login (POST /auth), pull (X-Registry-Auth), inspect, events.
    let login = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(login.status.success(), "{}", stderr(&login));
    outputs += &d.ok(&["pull", &image]);
    outputs += &d.ok(&["image", "inspect", &image]);
    outputs += &d.ok(&["system", "info", "--format", "{{json .}}"]);
    let (_, events) = d.curl("GET", "/events?since=0&until=1", None);
    let until = crate::harness::unix_now();
    outputs += &events;
    outputs += &d.ok(&["events", "--since", "0", "--until", &until]);
    for secret in [
        PASSWORD.to_string(),
        WRONG.to_string(),
        base64(&format!("berth:{PASSWORD}")),
        base64(&format!("berth:{WRONG}")),
    ] {
        assert!(
            !outputs.contains(&secret),
            "{secret} in the output:\n{outputs}"
        );
        assert!(!d.log().contains(&secret), "{secret} in the daemon log");
        for dir in [d.data_root(), d.exec_root()] {
            let found = files_holding(&dir, &secret);
            assert!(found.is_empty(), "{secret} on disk in:\n{found}");
        }
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api13_login_keeps_credentials_in_a_0600_file_and_logout_removes_them() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start_with(Some(("berth", "s3cret-api13")));
    let d = Daemon::start();
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config_dir.path().join("config.json");
    // An existing, too-open config with other settings: kept, but no longer readable by others.
    std::fs::write(&config, r#"{"detachKeys":"ctrl-x,x"}"#).expect("config.json");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A temp file left by an interrupted write, readable by others, does not lend its mode (the
    // name an earlier berth used for every write).
    let stale = config_dir.path().join(".config.json.tmp");
    std::fs::write(&stale, "{}").expect("stale temp file");
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = berth(
        &d,
        config_dir.path(),
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        "s3cret-api13\n",
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mode = std::fs::metadata(&config)
        .expect("config.json")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "config.json mode {mode:o}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("json");
    assert_eq!(
        saved["auths"][&reg.addr]["auth"],
        base64("berth:s3cret-api13")
    );
    assert_eq!(saved["detachKeys"], "ctrl-x,x");
    let out = berth(&d, config_dir.path(), &["logout", &reg.addr], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("json");
    assert!(
        saved["auths"][&reg.addr]["auth"].is_null(),
        "auth left after logout: {saved}"
    );
    let mode = std::fs::metadata(&config)
        .expect("config.json")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "config.json mode after logout {mode:o}");
}

/// A `docker-credential-berthtest` helper in `dir` that keeps what `store` gives it in
/// `dir/store/creds.json` and logs the verbs it ran to `dir/store/calls`.
fn write_helper(dir: &Path) {
    let script = r#"#!/bin/sh
store="$(dirname "$0")/store"
mkdir -p "$store"
echo "$1" >> "$store/calls"
case "$1" in
  store) cat > "$store/creds.json" ;;
  get) cat > /dev/null; [ -f "$store/creds.json" ] && exec cat "$store/creds.json"
       echo "credentials not found in native keychain"; exit 1 ;;
  erase) cat > /dev/null; rm -f "$store/creds.json" ;;
  list) echo '{}' ;;
esac
"#;
    let path = dir.join("docker-credential-berthtest");
    std::fs::write(&path, script).expect("helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api13_with_a_credential_helper_nothing_secret_is_in_config_json() {
    if !opted_in() {
        return;
    }
    const PASSWORD: &str = "Pw-api13-helper-5Tn";
    let reg = DistRegistry::start_with(Some(("berth", PASSWORD)));
    let d = Daemon::start();
    let tar = d.dir.path().join("seed.tar");
    d.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    reg.skopeo_copy_in_as(
        &format!("docker-archive:{}", tar.display()),
        "busybox:latest",
        Some(&format!("berth:{PASSWORD}")),
    );
    let config_dir = tempfile::tempdir().expect("temp dir");
    let helper_dir = tempfile::tempdir().expect("temp dir");
    write_helper(helper_dir.path());
    let config = config_dir.path().join("config.json");
    std::fs::write(&config, r#"{"credsStore":"berthtest"}"#).expect("config.json");
    let path = format!(
        "{}:{}",
        helper_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", d.sock.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST")
            .env("DOCKER_CONFIG", config_dir.path())
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running berth");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("berth output")
    };
    let out = run(
        &["login", "-u", "berth", "--password-stdin", &reg.addr],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let saved = std::fs::read_to_string(&config).expect("config.json");
    assert!(
        !saved.contains(PASSWORD) && !saved.contains(&base64(&format!("berth:{PASSWORD}"))),
        "a secret in config.json: {saved}"
    );
    let store = helper_dir.path().join("store");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("creds.json")).expect("creds"))
            .expect("json");
    assert_eq!(kept["ServerURL"], reg.addr.as_str());
    assert_eq!(kept["Username"], "berth");
    assert_eq!(kept["Secret"], PASSWORD);
    // The pull takes the credentials from the helper (`get`).
    let out = run(&["pull", &format!("{}/busybox:latest", reg.addr)], "");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = run(&["logout", &reg.addr], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!store.join("creds.json").exists(), "erase left the secret");
    let calls = std::fs::read_to_string(store.join("calls")).unwrap_or_default();
    for verb in ["store", "get", "erase"] {
        assert!(calls.lines().any(|l| l == verb), "no {verb} in {calls:?}");
    }
}

/// A plain-HTTP server on a non-loopback address that asks for basic auth and records what every
/// connection sent; stopped (and joined) on drop.
struct FakeRegistry {
    addr: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A global (non-loopback) IPv4 address of this host.
fn global_ipv4() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("ip addr");
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|a| a.split('/').next())
        .next()
        .map(str::to_string)
        .expect("this test needs a non-loopback IPv4 address")
}

impl FakeRegistry {
    fn start() -> FakeRegistry {
        let listener = TcpListener::bind(format!("{}:0", global_ipv4())).expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = s.write_all(
                            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fake\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        break;
                    }
                }
                if let Ok(mut v) = seen2.lock() {
                    v.push(got);
                }
            }
        });
        FakeRegistry {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// How many connections arrived, and how many of them spoke plain HTTP (not a TLS hello).
    fn connections(&self) -> (usize, usize) {
        let seen = self.seen.lock().map(|v| v.clone()).unwrap_or_default();
        let plain = seen.iter().filter(|c| c.first() != Some(&0x16)).count();
        (seen.len(), plain)
    }

    /// Whether any connection carried an `Authorization` header or `needle` in the clear.
    fn saw_in_clear(&self, needle: &str) -> bool {
        let seen = self.seen.lock().map(|v| v.clone()).unwrap_or_default();
        seen.iter().any(|c| {
            let text = String::from_utf8_lossy(c).to_ascii_lowercase();
            text.contains("authorization:") || text.contains(&needle.to_ascii_lowercase())
        })
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api14_basic_auth_is_never_sent_to_a_plain_http_registry_not_marked_insecure() {
    if !opted_in() {
        return;
    }
    const PASSWORD: &str = "Pw-api14-cleartext";
    let fake = FakeRegistry::start();
    let d = Daemon::start();
    let config_dir = tempfile::tempdir().expect("temp dir");
    let login = berth(
        &d,
        config_dir.path(),
        &["login", "-u", "berth", "--password-stdin", &fake.addr],
        &format!("{PASSWORD}\n"),
    );
    assert_ne!(
        login.status.code(),
        Some(0),
        "login to plain http://{} succeeded: {}",
        fake.addr,
        stdout(&login)
    );
    assert!(!stderr(&login).contains(PASSWORD), "{}", stderr(&login));
    let stored = std::fs::read_to_string(config_dir.path().join("config.json")).unwrap_or_default();
    assert!(!stored.contains(&fake.addr), "{stored}");
    // A pull with credentials (X-Registry-Auth from the docker CLI) is refused too.
    docker_auth(&d, &fake.addr, "berth", PASSWORD);
    let pull = d.docker(&["pull", &format!("{}/busybox:latest", fake.addr)]);
    assert_ne!(pull.status.code(), Some(0), "{}", stdout(&pull));
    assert!(!stderr(&pull).contains(PASSWORD), "{}", stderr(&pull));
    assert!(
        !fake.saw_in_clear(&base64(&format!("berth:{PASSWORD}"))) && !fake.saw_in_clear(PASSWORD),
        "credentials reached http://{} in the clear",
        fake.addr
    );
    // The daemon did try the registry, over TLS only.
    let (all, plain) = fake.connections();
    assert!(all > 0, "the daemon never tried {}", fake.addr);
    assert_eq!(plain, 0, "plain HTTP reached {}", fake.addr);
}

/// API-03: a second daemon on a data root in use — even with its own exec root and socket, where
/// the pid file cannot see the first — refuses to start and names the holder; the first serves on.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn api03_a_second_daemon_on_the_same_data_root_is_refused() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let other = tempfile::tempdir().expect("temp dir");
    let sock = other.path().join("second.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(other.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the second daemon");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the second daemon") {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second daemon on a data root in use kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("reading stderr");
    assert!(!status.success(), "the second daemon exited 0: {err}");
    let pid = daemon_pid(&d);
    assert!(
        err.contains("in use by another berth daemon") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert!(!sock.exists(), "the second daemon bound its socket");
    d.ok(&["version"]);
}
