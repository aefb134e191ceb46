//! A real authorization plugin for the tests: it serves Docker's authz plugin protocol
//! (`/Plugin.Activate` naming `authz`, `/AuthZPlugin.AuthZReq`, `/AuthZPlugin.AuthZRes`, JSON
//! over HTTP/1.1) on a UNIX socket from threads inside the test process, and answers from a
//! policy the test sets: allow everything, or deny requests by method and path (the path
//! without its `/v1.NN` prefix and query), deny any request whose JSON body asks for a
//! privileged container, deny responses to a path. A switch makes it hang (read the call,
//! never answer) or answer an error status.
//!
//! It records every call (method and JSON body, with `RequestBody`/`ResponseBody` decoded
//! from base64 into `RequestJson`/`ResponseJson` when they are JSON), so tests assert what the
//! daemon sent. Dropping it stops it and removes its socket.
//!
//! Shared by the daemon's unit tests (`crates/daemon/src/plugins/authz_tests.rs`) and the e2e
//! tests (`crates/berth/tests/docker/authz.rs`); it uses only std and serde_json.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{json, Value};

/// The largest request the plugin reads (a 4 MiB body in base64, and room).
const MAX_REQUEST: usize = 8 << 20;

/// How the plugin answers the AuthZ calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// By the policy.
    Serve,
    /// Reads the call and never answers; the connection stays open until the client closes it.
    Hang,
    /// This status with this body.
    Status(u16, String),
}

/// One refusal of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Requests with this method to this path (`POST`, `/containers/create`).
    Request {
        method: String,
        path: String,
        msg: String,
    },
    /// Requests whose JSON body has `HostConfig.Privileged: true`.
    Privileged { msg: String },
    /// Responses to requests for this path.
    Response { path: String, msg: String },
}

/// A call the plugin got.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

struct State {
    calls: Vec<Call>,
    rules: Vec<Rule>,
    behaviour: Behaviour,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

/// A running test plugin.
pub struct AuthzPlugin {
    shared: Arc<Shared>,
    socket: PathBuf,
    accept: Option<JoinHandle<()>>,
}

impl AuthzPlugin {
    /// Serves on a UNIX socket at `socket` (its directory is created if missing); allows
    /// everything until told otherwise.
    pub fn on_socket(socket: &Path) -> AuthzPlugin {
        if let Some(dir) = socket.parent() {
            std::fs::create_dir_all(dir).expect("plugin socket dir");
        }
        let listener = UnixListener::bind(socket).expect("binding the plugin socket");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                calls: Vec::new(),
                rules: Vec::new(),
                behaviour: Behaviour::Serve,
            }),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, s));
        AuthzPlugin {
            shared,
            socket: socket.to_path_buf(),
            accept: Some(accept),
        }
    }

    /// Adds a refusal to the policy.
    pub fn deny(&self, rule: Rule) {
        self.state().rules.push(rule);
    }

    /// Allows everything again (no rules, answering).
    pub fn allow_all(&self) {
        let mut state = self.state();
        state.rules.clear();
        state.behaviour = Behaviour::Serve;
    }

    /// How it answers the AuthZ calls from now on.
    pub fn set(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `method` (`AuthZPlugin.AuthZReq`) so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The AuthZ calls about requests to `path` (without version prefix and query).
    pub fn calls_for(&self, method: &str, path: &str) -> Vec<Call> {
        self.calls_of(method)
            .into_iter()
            .filter(|c| path_of(c.body["RequestUri"].as_str().unwrap_or("")) == path)
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for AuthzPlugin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let _ = UnixStream::connect(&self.socket);
        let _ = std::fs::remove_file(&self.socket);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// `/v1.50/containers/create?name=x` → `/containers/create`.
pub fn path_of(uri: &str) -> String {
    let path = uri.split('?').next().unwrap_or("");
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some((version, tail)) = rest.split_once('/') {
            if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return format!("/{tail}");
            }
        }
    }
    path.to_string()
}

fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let conn = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((conn, _)) = conn else {
            continue;
        };
        let s = shared.clone();
        std::thread::spawn(move || serve(conn, &s));
    }
}

/// Reads one request and answers it.
fn serve(mut conn: UnixStream, shared: &Shared) {
    let Some((method, body)) = read_request(&mut conn) else {
        return;
    };
    let mut parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    for (field, json_field) in [
        ("RequestBody", "RequestJson"),
        ("ResponseBody", "ResponseJson"),
    ] {
        let decoded = parsed[field]
            .as_str()
            .and_then(base64_decode)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if let (Some(v), Some(obj)) = (decoded, parsed.as_object_mut()) {
            obj.insert(json_field.to_string(), v);
        }
    }
    let (behaviour, answer) = {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.calls.push(Call {
            method: method.clone(),
            body: parsed.clone(),
        });
        let answer = decide(&state.rules, &method, &parsed);
        (state.behaviour.clone(), answer)
    };
    if method == "Plugin.Activate" {
        respond(&mut conn, 200, json!({"Implements": ["authz"]}));
        return;
    }
    match behaviour {
        Behaviour::Serve => respond(&mut conn, 200, answer),
        Behaviour::Hang => {
            // Until the client closes its end.
            let mut buf = [0u8; 256];
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
        Behaviour::Status(code, text) => respond(&mut conn, code, json!({"Err": text})),
    }
}

/// The policy's answer to one AuthZ call.
fn decide(rules: &[Rule], method: &str, call: &Value) -> Value {
    let path = path_of(call["RequestUri"].as_str().unwrap_or(""));
    let verb = call["RequestMethod"].as_str().unwrap_or("");
    let request = method == "AuthZPlugin.AuthZReq";
    for rule in rules {
        let denied = match rule {
            Rule::Request {
                method: m,
                path: p,
                msg,
            } if request && m == verb && *p == path => Some(msg),
            Rule::Privileged { msg }
                if request && call["RequestJson"]["HostConfig"]["Privileged"] == json!(true) =>
            {
                Some(msg)
            }
            Rule::Response { path: p, msg } if !request && *p == path => Some(msg),
            _ => None,
        };
        if let Some(msg) = denied {
            return json!({"Allow": false, "Msg": msg});
        }
    }
    json!({"Allow": true})
}

/// Standard base64 (with padding), as Go encodes a `[]byte`; `None` if it is not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `(method, body)` of a `POST /Method` request.
fn read_request(conn: &mut UnixStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?;
    let method = path.trim_start_matches('/').to_string();
    let mut length = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    if length > MAX_REQUEST {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some((method, body))
}

fn respond(conn: &mut UnixStream, status: u16, body: Value) {
    let body = body.to_string();
    let reason = if status == 200 { "OK" } else { "Error" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}
