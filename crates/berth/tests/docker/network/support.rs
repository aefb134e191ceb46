//! Host-side helpers of the network tests: HTTP from the host, free ports, the links and
//! nftables tables on the host, and a fake DNS server standing in for a container's `--dns`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A plain HTTP/1.0 GET from the host; `None` when nothing answers.
pub fn http_get(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A TCP port free on 127.0.0.1 right now (the kernel picks it; tests run in parallel).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Host links whose name is `name` or that are enslaved to it.
pub fn links_of(name: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split(": ")
                .nth(1)
                .is_some_and(|n| n.split('@').next() == Some(name))
                || l.contains(&format!(" master {name} "))
        })
        .map(|l| {
            l.split(": ")
                .nth(1)
                .unwrap_or("")
                .split('@')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

pub fn nft_tables() -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A DNS server on a host address that answers every query NXDOMAIN and remembers the names
/// asked; stopped on drop.
pub struct FakeDns {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDns {
    pub fn start(addr: &str) -> FakeDns {
        let sock = std::net::UdpSocket::bind(addr).expect("binding the fake dns server");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st2.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                // The question's labels, joined by dots.
                let mut name = Vec::new();
                let mut pos = 12;
                while pos < n && buf[pos] != 0 && buf[pos] < 64 {
                    let len = usize::from(buf[pos]);
                    let end = (pos + 1 + len).min(n);
                    name.push(String::from_utf8_lossy(&buf[pos + 1..end]).to_string());
                    pos = end;
                }
                s2.lock().expect("names lock").push(name.join("."));
                let mut reply = buf[..n].to_vec();
                reply[2] |= 0x80; // a response
                reply[3] = 0x83; // RA, NXDOMAIN
                let _ = sock.send_to(&reply, peer);
            }
        });
        FakeDns {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every name asked so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.seen.lock().expect("names lock").clone()
    }

    pub fn saw(&self, name: &str) -> bool {
        self.seen
            .lock()
            .expect("names lock")
            .iter()
            .any(|n| n == name)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
