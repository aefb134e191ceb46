//! A fake Docker daemon on a UNIX socket for tests: records every request (line, headers, body)
//! and answers through a handler; a handler may hijack the connection after a 101.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the handler wants sent: raw bytes, then whether to keep serving the connection.
pub struct Reply {
    pub bytes: Vec<u8>,
    pub close: bool,
}

pub fn json_reply(status: &str, body: &str) -> Reply {
    Reply {
        bytes: format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.50\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes(),
        close: false,
    }
}

pub fn empty_reply(status: &str) -> Reply {
    Reply {
        bytes: format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        close: false,
    }
}

pub struct Fake {
    /// Holds the socket's directory for the fake's lifetime.
    pub _dir: tempfile::TempDir,
    pub sock: PathBuf,
    pub log: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    pub fn start<H>(handler: H) -> Fake
    where
        H: Fn(&Req) -> Reply + Send + Sync + 'static,
    {
        Fake::start_raw(move |r, _| Some(handler(r)))
    }

    /// A daemon for `run`: answers the ping, create (container `id`) and wait (`status`), hands the
    /// hijacked `/attach` connection to `attach` (which writes the 101 itself), gives `extra` a
    /// first look at every other request, and answers the rest 204.
    pub fn start_run<E, A>(id: &'static str, status: i32, extra: E, attach: A) -> Fake
    where
        E: Fn(&Req) -> Option<Reply> + Send + Sync + 'static,
        A: Fn(&mut UnixStream) + Send + Sync + 'static,
    {
        Fake::start_raw(move |r, stream| {
            let p = r.path.as_str();
            if p == "/_ping" {
                return Some(json_reply("200 OK", ""));
            }
            if p.contains("/containers/create") {
                let body = format!(r#"{{"Id":"{id}","Warnings":[]}}"#);
                return Some(json_reply("201 Created", &body));
            }
            if p.contains("/wait") {
                let body = format!(r#"{{"StatusCode":{status}}}"#);
                return Some(json_reply("200 OK", &body));
            }
            if p.contains("/attach") {
                attach(stream);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return None;
            }
            extra(r).or_else(|| Some(empty_reply("204 No Content")))
        })
    }

    /// Like [`Fake::start`], but the handler may take over the connection (hijack) by
    /// answering `None` after writing to the stream itself.
    pub fn start_raw<H>(handler: H) -> Fake
    where
        H: Fn(&Req, &mut UnixStream) -> Option<Reply> + Send + Sync + 'static,
    {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (log, handler) = (log2.clone(), handler.clone());
                std::thread::spawn(move || serve(conn, &log, &*handler));
            }
        });
        Fake {
            _dir: dir,
            sock,
            log,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

type Handler = dyn Fn(&Req, &mut UnixStream) -> Option<Reply> + Send + Sync;

fn serve(conn: UnixStream, log: &Mutex<Vec<Req>>, handler: &Handler) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_lowercase(), v.trim().to_string());
            }
        }
        let mut body = Vec::new();
        if let Some(n) = headers
            .get("content-length")
            .and_then(|n| n.parse::<usize>().ok())
        {
            body.resize(n, 0);
            r.read_exact(&mut body).unwrap();
        } else if headers
            .get("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let req = Req {
            method,
            path,
            headers,
            body,
        };
        log.lock().unwrap().push(req.clone());
        let Some(reply) = handler(&req, &mut w) else {
            return;
        };
        if w.write_all(&reply.bytes).is_err() || reply.close {
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}
