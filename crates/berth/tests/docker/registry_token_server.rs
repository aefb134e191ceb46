//! A token server for the registry tests (Docker's token flow, `GET /token?service=&scope=`
//! with basic credentials): each user gets a JWT granting the asked scopes it may have, signed
//! RS256 with an `x5c` chain or ES256 with a `kid` ([`Signer`]); the keys and certificates come
//! from openssl ([`token_pki`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::stderr;
use crate::registry::free_port;
use crate::registry_own::openssl;

pub const SERVICE: &str = "berth-test-registry";
pub const ISSUER: &str = "berth-test-token-server";

pub fn b64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (u32::from(*v) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The DER of the first certificate of a PEM file.
fn cert_der(pem: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(pem).expect("pem");
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(&body)
}

/// `openssl dgst -sha256 -sign key` of `data`.
fn sign_with(key: &Path, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "signing: {}", stderr(&out));
    out.stdout
}

/// An ECDSA DER signature as JWS's `r‖s` (32 bytes each).
fn ecdsa_raw(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 2 + usize::from(der[1] == 0x81);
    for _ in 0..2 {
        let len = usize::from(der[i + 1]);
        let int = &der[i + 2..i + 2 + len];
        let int: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend(int);
        i += 2 + len;
    }
    out
}

/// libtrust's key ID of a certificate's public key.
pub fn libtrust_kid(dir: &Path, cert: &str) -> String {
    openssl(
        dir,
        &["x509", "-in", cert, "-pubkey", "-noout", "-out", "kid.pub"],
    );
    openssl(
        dir,
        &[
            "pkey", "-pubin", "-in", "kid.pub", "-outform", "DER", "-out", "kid.der",
        ],
    );
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["dgst", "-sha256", "-binary", "kid.der"])
        .output()
        .expect("openssl dgst");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut chars = String::new();
    for chunk in out.stdout[..30].chunks(5) {
        let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            chars.push(char::from(alphabet[((n >> (i * 5)) & 31) as usize]));
        }
    }
    let groups: Vec<&str> = (0..12).map(|i| &chars[i * 4..i * 4 + 4]).collect();
    groups.join(":")
}

/// How the token server signs.
#[derive(Clone)]
pub enum Signer {
    /// RS256 with `x5c`: the signing certificate, issued by the bundle's CA.
    X5c { key: PathBuf, chain: Vec<Vec<u8>> },
    /// ES256 with `kid`: a certificate of the bundle itself.
    Kid { key: PathBuf, kid: String },
}

impl Signer {
    fn jwt(&self, claims: &serde_json::Value) -> String {
        let header = match self {
            Signer::X5c { chain, .. } => serde_json::json!({"typ": "JWT", "alg": "RS256",
                "x5c": chain.iter().map(|c| b64(c, false)).collect::<Vec<_>>()}),
            Signer::Kid { kid, .. } => {
                serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": kid})
            }
        };
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes(), true),
            b64(claims.to_string().as_bytes(), true)
        );
        let sig = match self {
            Signer::X5c { key, .. } => sign_with(key, input.as_bytes()),
            Signer::Kid { key, .. } => ecdsa_raw(&sign_with(key, input.as_bytes())),
        };
        format!("{input}.{}", b64(&sig, true))
    }
}

/// A token server: users, what each may do per repository, and who signs their tokens.
pub struct TokenServer {
    pub realm: String,
    stop: Arc<AtomicBool>,
    addr: String,
    thread: Option<JoinHandle<()>>,
}

/// `(user, password, [(repository, actions)], signer)`.
pub type User = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Signer,
);

impl TokenServer {
    pub fn start(users: Vec<User>) -> TokenServer {
        let addr = format!("127.0.0.1:{}", free_port());
        let listener = TcpListener::bind(&addr).expect("token server bind");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    answer(c, &users);
                }
            }
        });
        TokenServer {
            realm: format!("http://{addr}/token"),
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// A token as the server hands it to `user:password` for `scopes` (curl, as a client would).
    pub fn token(&self, user: &str, password: &str, scopes: &[&str]) -> String {
        let mut url = format!("{}?service={SERVICE}", self.realm);
        for s in scopes {
            url.push_str(&format!("&scope={s}"));
        }
        let out = Command::new("curl")
            .args(["-s", "-u", &format!("{user}:{password}"), &url])
            .output()
            .expect("curl");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token json");
        v["token"].as_str().expect("token").to_string()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one `GET /token?service=&scope=…` with basic credentials.
fn answer(mut conn: TcpStream, users: &[User]) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut auth = String::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let value = value.trim();
        match name.to_lowercase().as_str() {
            "authorization" => {
                if let Some(v) = value.strip_prefix("Basic ") {
                    auth = String::from_utf8_lossy(&base64_decode(v)).to_string();
                }
            }
            "content-length" => length = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .flat_map(|s| {
            percent_decode(s)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let user = users.iter().find(|(u, p, _, _)| auth == format!("{u}:{p}"));
    let (status, text) = match user {
        None => (
            "401 Unauthorized",
            serde_json::json!({"details": "incorrect username or password"}).to_string(),
        ),
        Some((name, _, allowed, signer)) => {
            let access: Vec<serde_json::Value> = scopes
                .iter()
                .filter_map(|s| {
                    let mut parts = s.splitn(3, ':');
                    let (kind, repo, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let may = allowed.iter().find(|(r, _)| *r == repo)?.1;
                    let granted: Vec<&str> = actions
                        .split(',')
                        .filter(|a| may.split(',').any(|m| m == *a))
                        .collect();
                    (kind == "repository" && !granted.is_empty()).then(
                        || serde_json::json!({"type": kind, "name": repo, "actions": granted}),
                    )
                })
                .collect();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("time")
                .as_secs();
            let claims = serde_json::json!({"iss": ISSUER, "sub": name, "aud": SERVICE,
                "exp": now + 300, "nbf": now - 1, "iat": now, "jti": format!("{now}-{name}"),
                "access": access});
            let jwt = signer.jwt(&claims);
            (
                "200 OK",
                serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300})
                    .to_string(),
            )
        }
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// A test CA, an RSA token-signing certificate it issued, an EC one that is self-signed, and a
/// rogue CA's signing certificate: (dir, x5c signer, kid signer, rogue signer).
pub fn token_pki() -> (tempfile::TempDir, Signer, Signer, Signer) {
    let dir = tempfile::tempdir().expect("pki dir");
    let p = dir.path();
    std::fs::write(p.join("ext.cnf"), "keyUsage=critical,digitalSignature\n").expect("ext");
    for ca in ["ca", "rogue"] {
        openssl(
            p,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-days",
                "1",
                "-subj",
                &format!("/CN=berth-test-{ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,digitalSignature",
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
                &format!("{ca}-signer.key"),
                "-out",
                &format!("{ca}-signer.csr"),
                "-subj",
                "/CN=token-signer",
            ],
        );
        openssl(
            p,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{ca}-signer.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{ca}-signer.crt"),
                "-days",
                "1",
                // X.509 v3 (with an extension), as a token server's signing certificate is.
                "-extfile",
                "ext.cnf",
            ],
        );
    }
    openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ec.key",
            "-out",
            "ec.crt",
            "-days",
            "1",
            "-subj",
            "/CN=token-signer-ec",
        ],
    );
    let x5c = Signer::X5c {
        key: p.join("ca-signer.key"),
        chain: vec![cert_der(&p.join("ca-signer.crt"))],
    };
    let kid = Signer::Kid {
        key: p.join("ec.key"),
        kid: libtrust_kid(p, "ec.crt"),
    };
    let rogue = Signer::X5c {
        key: p.join("rogue-signer.key"),
        chain: vec![cert_der(&p.join("rogue-signer.crt"))],
    };
    // The bundle: the CA (for x5c chains) and the EC certificate (for its kid).
    let bundle = [
        std::fs::read_to_string(p.join("ca.crt")).expect("ca"),
        std::fs::read_to_string(p.join("ec.crt")).expect("ec"),
    ]
    .concat();
    std::fs::write(p.join("bundle.pem"), bundle).expect("bundle");
    (dir, x5c, kid, rogue)
}
