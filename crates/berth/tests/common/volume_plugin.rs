//! A real volume plugin for the tests: it serves Docker's plugin protocol (`/Plugin.Activate`,
//! `/VolumeDriver.*`, JSON over HTTP/1.1) on a UNIX socket or a TCP port from threads inside the
//! test process, and keeps its volumes as directories in a temp dir of its own, as a simple
//! driver would. Switches make it misbehave on purpose, per call: hang (read the call, never
//! answer), answer garbage, answer an `Err`, answer a bare status, close without answering, or
//! answer a body larger than the daemon reads.
//!
//! It records every call it gets (method and JSON body), so tests assert what the daemon sent.
//! Dropping it stops it and removes its socket; a hung connection ends when its client gives up
//! and closes.
//!
//! Shared by the daemon's unit tests (`crates/daemon/src/plugins/tests.rs`) and the e2e tests
//! (`crates/berth/tests/docker/volume_plugin.rs`); it uses only std, serde_json and tempfile.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{json, Value};

/// The largest request head the plugin reads.
const MAX_HEAD: usize = 64 << 10;

/// How the plugin answers a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// As a volume driver should.
    Serve,
    /// Reads the call and never answers; the connection stays open until the client closes it.
    Hang,
    /// A 200 whose body is not JSON.
    Garbage,
    /// A 200 with `{"Err": message}`.
    Err(String),
    /// This status with this body.
    Status(u16, String),
    /// Closes the connection without a word.
    Close,
    /// A 200 whose body is this many bytes of JSON whitespace.
    Huge(usize),
}

/// A call the plugin got.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The request's `Accept` header.
    pub accept: Option<String>,
}

#[derive(Debug, Default)]
struct Volume {
    opts: Value,
    /// The IDs it is mounted for.
    mounts: BTreeSet<String>,
}

#[derive(Debug)]
struct State {
    volumes: BTreeMap<String, Volume>,
    calls: Vec<Call>,
    /// By method (`VolumeDriver.Create`), or `*` for every `VolumeDriver.` call.
    behaviour: HashMap<String, Behaviour>,
    implements: Vec<String>,
    /// `None`: `VolumeDriver.Capabilities` answers 404 (not implemented).
    scope: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    volumes_dir: PathBuf,
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A running test plugin.
pub struct VolumePlugin {
    shared: Arc<Shared>,
    socket: Option<PathBuf>,
    tcp: Option<SocketAddr>,
    accept: Option<JoinHandle<()>>,
    _root: tempfile::TempDir,
}

impl VolumePlugin {
    /// Serves on a UNIX socket at `socket` (its directory is created if missing).
    pub fn on_socket(socket: &Path) -> VolumePlugin {
        if let Some(dir) = socket.parent() {
            std::fs::create_dir_all(dir).expect("plugin socket dir");
        }
        let listener = UnixListener::bind(socket).expect("binding the plugin socket");
        Self::start(Listener::Unix(listener), Some(socket.to_path_buf()), None)
    }

    /// Serves on a TCP port of 127.0.0.1.
    pub fn on_tcp() -> VolumePlugin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the plugin port");
        let addr = listener.local_addr().expect("plugin port");
        Self::start(Listener::Tcp(listener), None, Some(addr))
    }

    fn start(listener: Listener, socket: Option<PathBuf>, tcp: Option<SocketAddr>) -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-volplugin")
            .tempdir()
            .expect("plugin dir");
        let volumes_dir = root.path().join("volumes");
        std::fs::create_dir(&volumes_dir).expect("plugin volumes dir");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                volumes: BTreeMap::new(),
                calls: Vec::new(),
                behaviour: HashMap::new(),
                implements: vec!["VolumeDriver".to_string()],
                scope: Some("local".to_string()),
            }),
            stop: AtomicBool::new(false),
            volumes_dir,
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, s));
        VolumePlugin {
            shared,
            socket,
            tcp,
            accept: Some(accept),
            _root: root,
        }
    }

    /// `tcp://127.0.0.1:PORT` or `unix:///path`: what a spec file names.
    pub fn url(&self) -> String {
        match (&self.socket, &self.tcp) {
            (Some(p), _) => format!("unix://{}", p.display()),
            (None, Some(a)) => format!("tcp://{a}"),
            (None, None) => unreachable!("a plugin listens somewhere"),
        }
    }

    /// How it answers `method` from now on (`*`: every `VolumeDriver.` call without its own).
    pub fn set(&self, method: &str, behaviour: Behaviour) {
        self.state().behaviour.insert(method.to_string(), behaviour);
    }

    /// What `/Plugin.Activate` says it implements.
    pub fn set_implements(&self, interfaces: &[&str]) {
        self.state().implements = interfaces.iter().map(|s| s.to_string()).collect();
    }

    /// The scope `VolumeDriver.Capabilities` gives; `None`: answers 404.
    pub fn set_scope(&self, scope: Option<&str>) {
        self.state().scope = scope.map(str::to_string);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The directory that holds volume `name`'s data.
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.shared.volumes_dir.join(name)
    }

    /// Makes volume `name` on the plugin's own, as another daemon or the plugin's own tools
    /// would: the daemon under test has not seen it.
    pub fn add_volume(&self, name: &str) {
        std::fs::create_dir_all(self.volume_dir(name)).expect("plugin volume dir");
        self.state()
            .volumes
            .insert(name.to_string(), Volume::default());
    }

    /// Whether it has volume `name`.
    pub fn has_volume(&self, name: &str) -> bool {
        self.state().volumes.contains_key(name)
    }

    /// The IDs volume `name` is mounted for.
    pub fn mounts(&self, name: &str) -> Vec<String> {
        self.state()
            .volumes
            .get(name)
            .map(|v| v.mounts.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for VolumePlugin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        if let Some(path) = &self.socket {
            let _ = std::os::unix::net::UnixStream::connect(path);
            let _ = std::fs::remove_file(path);
        }
        if let Some(addr) = &self.tcp {
            let _ = std::net::TcpStream::connect(addr);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

trait Conn: Read + Write + Send + 'static {}
impl<T: Read + Write + Send + 'static> Conn for T {}

fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    loop {
        let conn = match &listener {
            Listener::Unix(l) => l.accept().map(|(s, _)| Box::new(s) as Box<dyn Conn>),
            Listener::Tcp(l) => l.accept().map(|(s, _)| Box::new(s) as Box<dyn Conn>),
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else {
            continue;
        };
        let s = shared.clone();
        std::thread::spawn(move || serve(conn, &s));
    }
}

/// Reads one request and answers it.
fn serve(mut conn: Box<dyn Conn>, shared: &Shared) {
    let Some((method, accept, body)) = read_request(&mut conn) else {
        return;
    };
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let behaviour = {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.calls.push(Call {
            method: method.clone(),
            body: parsed.clone(),
            accept,
        });
        let wildcard = method
            .starts_with("VolumeDriver.")
            .then(|| state.behaviour.get("*"))
            .flatten();
        state
            .behaviour
            .get(&method)
            .or(wildcard)
            .cloned()
            .unwrap_or(Behaviour::Serve)
    };
    match behaviour {
        Behaviour::Serve => {
            let (status, answer) = answer(shared, &method, &parsed);
            respond(&mut conn, status, answer.to_string().as_bytes());
        }
        Behaviour::Hang => {
            // Until the client closes its end.
            let mut buf = [0u8; 256];
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
        Behaviour::Garbage => respond(&mut conn, 200, b"<html>this is not JSON {"),
        Behaviour::Err(e) => respond(&mut conn, 200, json!({ "Err": e }).to_string().as_bytes()),
        Behaviour::Status(code, body) => respond(&mut conn, code, body.as_bytes()),
        Behaviour::Close => {}
        Behaviour::Huge(n) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
            );
            if conn.write_all(head.as_bytes()).is_ok() {
                let chunk = vec![b' '; 64 << 10];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if conn.write_all(&chunk[..k]).is_err() {
                        break;
                    }
                    left -= k;
                }
            }
        }
    }
}

/// `(method, Accept, body)` of a `POST /Method` request.
fn read_request(conn: &mut Box<dyn Conn>) -> Option<(String, Option<String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
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
    let request_line = lines.next()?;
    let path = request_line.split(' ').nth(1)?;
    let method = path.trim_start_matches('/').to_string();
    let mut length = 0usize;
    let mut accept = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().ok()?,
            "accept" => accept = Some(v.trim().to_string()),
            _ => {}
        }
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
    Some((method, accept, body))
}

fn respond(conn: &mut Box<dyn Conn>, status: u16, body: &[u8]) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

/// The driver proper: `(status, answer)` for a call.
fn answer(shared: &Shared, method: &str, args: &Value) -> (u16, Value) {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let err = |e: String| (200, json!({ "Err": e }));
    let name = args.get("Name").and_then(Value::as_str).unwrap_or("");
    let id = args.get("ID").and_then(Value::as_str).unwrap_or("");
    let dir = shared.volumes_dir.join(name);
    let named = !name.is_empty() && !name.contains('/') && name != "." && name != "..";
    let view = |name: &str, v: &Volume| {
        json!({
            "Name": name,
            "Mountpoint": shared.volumes_dir.join(name),
            "CreatedAt": "2024-01-02T03:04:05Z",
            "Status": { "mounts": v.mounts.len(), "opts": v.opts, "driver": "test-plugin" },
        })
    };
    match method {
        "Plugin.Activate" => (200, json!({ "Implements": state.implements })),
        "VolumeDriver.Capabilities" => match &state.scope {
            Some(s) => (200, json!({ "Capabilities": { "Scope": s } })),
            None => (404, json!({ "Err": "404 page not found" })),
        },
        _ if method.starts_with("VolumeDriver.") && method != "VolumeDriver.List" && !named => {
            err(format!("bad volume name {name:?}"))
        }
        "VolumeDriver.Create" => {
            if !state.volumes.contains_key(name) {
                if let Err(e) = std::fs::create_dir(&dir) {
                    return err(format!("creating {name}: {e}"));
                }
                let opts = args.get("Opts").cloned().unwrap_or(Value::Null);
                state.volumes.insert(
                    name.to_string(),
                    Volume {
                        opts,
                        mounts: BTreeSet::new(),
                    },
                );
            }
            (200, json!({ "Err": "" }))
        }
        "VolumeDriver.Remove" => match state.volumes.get(name) {
            None => err(format!("no such volume {name}")),
            Some(v) if !v.mounts.is_empty() => err(format!("volume {name} is mounted")),
            Some(_) => {
                state.volumes.remove(name);
                let _ = std::fs::remove_dir_all(&dir);
                (200, json!({ "Err": "" }))
            }
        },
        "VolumeDriver.Mount" => match state.volumes.get_mut(name) {
            None => err(format!("no such volume {name}")),
            Some(v) => {
                v.mounts.insert(id.to_string());
                (200, json!({ "Mountpoint": dir, "Err": "" }))
            }
        },
        "VolumeDriver.Unmount" => match state.volumes.get_mut(name) {
            None => err(format!("no such volume {name}")),
            Some(v) => {
                v.mounts.remove(id);
                (200, json!({ "Err": "" }))
            }
        },
        "VolumeDriver.Path" => match state.volumes.get(name) {
            None => err(format!("no such volume {name}")),
            Some(_) => (200, json!({ "Mountpoint": dir, "Err": "" })),
        },
        "VolumeDriver.Get" => match state.volumes.get(name) {
            None => err(format!("no such volume {name}")),
            Some(v) => (200, json!({ "Volume": view(name, v), "Err": "" })),
        },
        "VolumeDriver.List" => {
            let all: Vec<Value> = state.volumes.iter().map(|(n, v)| view(n, v)).collect();
            (200, json!({ "Volumes": all, "Err": "" }))
        }
        _ => (404, json!({ "Err": format!("{method}: not implemented") })),
    }
}
