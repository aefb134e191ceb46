//! The embedded DNS server for user-defined networks: container names and aliases resolve to their
//! addresses on the networks a container shares; other names go to its upstreams (the container's
//! `--dns` servers, else the host's resolvers).
//!
//! Reaching it at 127.0.0.11:53 inside a container: the daemon creates a UDP socket and a TCP listener
//! bound to 127.0.0.11:53 *inside the container's network namespace* with [`crate::netns::socket_in`] (a
//! short-lived helper thread; loopback holds all of 127/8, so no NAT is needed), and serves them from its own threads
//! with [`serve_udp`] / [`serve_tcp`]. Upstream queries leave from the daemon's namespace (the host's),
//! where the host's resolvers are reachable. The container's resolv.conf says `nameserver 127.0.0.11`.
//!
//! Answers: A and AAAA for known names (AA set; a name with addresses of the other family only
//! gets an empty NOERROR, as Docker's); PTR for known addresses (`in-addr.arpa` and `ip6.arpa`);
//! everything else is forwarded verbatim with a timeout (SERVFAIL on failure), and answered
//! NXDOMAIN when no upstream is configured. A name with several addresses (a scaled service's
//! containers sharing an alias) gets them in a new random order for each answer, as Docker
//! shuffles them, so that clients taking the first spread over all of them.
//!
//! Forwarding is off ([`Resolver::forward`]) for a container only on `--internal` networks: its
//! queries would leave from the host's namespace, past the network's isolation, and could carry
//! data out (moby's CVE-2024-29018). As moby answers then: SERVFAIL, nothing sent anywhere.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const TTL: u32 = 600;

/// Names per network; the daemon updates it as containers join and leave networks.
#[derive(Debug, Default)]
pub struct DnsTable {
    entries: RwLock<HashMap<String, Vec<(String, IpAddr)>>>,
}

impl DnsTable {
    /// Makes `name` (a container name or alias) resolve to `ip` on `network`.
    pub fn insert(&self, network: &str, name: &str, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let list = e.entry(network.to_string()).or_default();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !list.contains(&(name.clone(), ip)) {
            list.push((name, ip));
        }
    }

    /// Forgets every name of `ip` on `network` (the endpoint left).
    pub fn remove_ip(&self, network: &str, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = e.get_mut(network) {
            list.retain(|(_, i)| *i != ip);
        }
    }

    /// Forgets a whole network.
    pub fn remove_network(&self, network: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(network);
    }

    fn lookup(&self, networks: &[String], name: &str) -> Vec<IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for n in networks {
            for (entry, ip) in e.get(n).into_iter().flatten() {
                if *entry == name && !out.contains(ip) {
                    out.push(*ip);
                }
            }
        }
        out
    }

    fn reverse(&self, networks: &[String], ip: IpAddr) -> Option<String> {
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        networks.iter().find_map(|n| {
            e.get(n)?
                .iter()
                .find(|(_, i)| *i == ip)
                .map(|(name, _)| name.clone())
        })
    }
}

/// What one container's server answers from.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub table: Arc<DnsTable>,
    /// The networks the container is on.
    pub networks: Vec<String>,
    /// The host's resolvers (from its resolv.conf, loopback ones included: queries leave from the host).
    pub upstreams: Vec<SocketAddr>,
    /// Whether unknown names go to `upstreams` at all: false when the container has no network
    /// with outside access (only `--internal` ones); they are answered SERVFAIL then.
    pub forward: bool,
    pub timeout: Duration,
}

struct Query<'a> {
    id: [u8; 2],
    flags: [u8; 2],
    /// The question section as received (name, type, class).
    question: &'a [u8],
    name: String,
    qtype: u16,
}

fn parse_query(msg: &[u8]) -> Option<Query<'_>> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression or extended labels never appear in a question
        }
        labels.push(String::from_utf8_lossy(msg.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(pos + 2)?, *msg.get(pos + 3)?]);
    if qclass != CLASS_IN {
        return None;
    }
    Some(Query {
        id: [msg[0], msg[1]],
        flags: [msg[2], msg[3]],
        question: &msg[12..pos + 4],
        name: labels.join("."),
        qtype,
    })
}

/// Encodes a domain name without compression.
fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// A response to `q` with `rcode` and answer records `(type, rdata)` named by a pointer to the question.
fn respond(q: &Query<'_>, rcode: u8, authoritative: bool, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&q.id);
    // QR, the query's opcode and RD; AA when we own the name; RA.
    out.push(0x80 | (q.flags[0] & 0x79) | if authoritative { 0x04 } else { 0 });
    out.push(0x80 | (rcode & 0x0f));
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(q.question);
    for (ty, rdata) in answers {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    out
}

/// The address a PTR question names: `d.c.b.a.in-addr.arpa` or the 32 nibbles of
/// `….ip6.arpa`, least significant first.
fn ptr_address(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let mut n: u128 = 0;
        let mut count = 0;
        for nib in rest.split('.').rev() {
            if nib.len() != 1 {
                return None;
            }
            n = (n << 4) | u128::from(u8::from_str_radix(nib, 16).ok()?);
            count += 1;
        }
        return (count == 32).then(|| IpAddr::V6(Ipv6Addr::from(n)));
    }
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match o.as_slice() {
        [d, c, b, a] => Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d))),
        _ => None,
    }
}

/// A fast, non-cryptographic random number (splitmix64 over a counter seeded from the clock):
/// enough to vary the order of answers.
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    if STATE.load(Ordering::Relaxed) == 0 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(GOLDEN);
        let _ = STATE.compare_exchange(0, now | 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(GOLDEN, Ordering::Relaxed)
        .wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Puts `items` in a random order (Fisher–Yates).
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (next_random() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

impl Resolver {
    /// The answer to one DNS message, or `None` for input that is not a query we can answer.
    pub fn answer(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let q = parse_query(msg)?;
        let ips = self.table.lookup(&self.networks, &q.name);
        if !ips.is_empty() {
            let mut answers: Vec<(u16, Vec<u8>)> = ips
                .iter()
                .filter_map(|ip| match (q.qtype, ip) {
                    (TYPE_A, IpAddr::V4(v4)) => Some((TYPE_A, v4.octets().to_vec())),
                    (TYPE_AAAA, IpAddr::V6(v6)) => Some((TYPE_AAAA, v6.octets().to_vec())),
                    _ => None,
                })
                .collect();
            shuffle(&mut answers);
            return Some(respond(&q, 0, true, &answers));
        }
        if q.qtype == TYPE_PTR {
            if let Some(name) =
                ptr_address(&q.name).and_then(|ip| self.table.reverse(&self.networks, ip))
            {
                let mut rdata = Vec::new();
                encode_name(&name, &mut rdata);
                return Some(respond(&q, 0, true, &[(TYPE_PTR, rdata)]));
            }
        }
        if !self.forward {
            return Some(respond(&q, RCODE_SERVFAIL, false, &[]));
        }
        if self.upstreams.is_empty() {
            return Some(respond(&q, RCODE_NXDOMAIN, false, &[]));
        }
        Some(
            self.forward(msg)
                .unwrap_or_else(|| respond(&q, RCODE_SERVFAIL, false, &[])),
        )
    }

    /// Relays the query to each upstream in turn until one answers within the timeout.
    fn forward(&self, msg: &[u8]) -> Option<Vec<u8>> {
        for up in &self.upstreams {
            let local: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
                .parse()
                .ok()?;
            let Ok(sock) = UdpSocket::bind(local) else {
                continue;
            };
            if sock.set_read_timeout(Some(self.timeout)).is_err() || sock.connect(up).is_err() {
                continue;
            }
            if sock.send(msg).is_err() {
                continue;
            }
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                if n >= 12 && buf[..2] == msg[..2] {
                    buf.truncate(n);
                    return Some(buf);
                }
            }
        }
        None
    }
}

const POLL: Duration = Duration::from_millis(200);

/// Serves DNS over UDP on `sock` until `stop` is set (checked every 200 ms).
pub fn serve_udp(sock: UdpSocket, resolver: &Resolver, stop: &AtomicBool) -> io::Result<()> {
    sock.set_read_timeout(Some(POLL))?;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(mut reply) = resolver.answer(&buf[..n]) {
            if reply.len() > 512 {
                reply.truncate(512);
                reply[2] |= 0x02; // TC: the client retries over TCP
            }
            let _ = sock.send_to(&reply, peer);
        }
    }
    Ok(())
}

/// Serves DNS over TCP on `listener` until `stop` is set, one connection at a time with short timeouts.
pub fn serve_tcp(listener: TcpListener, resolver: &Resolver, stop: &AtomicBool) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut conn, _)) => {
                conn.set_nonblocking(false)?;
                conn.set_read_timeout(Some(resolver.timeout))?;
                let _ = serve_conn(&mut conn, resolver);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL / 4),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve_conn(conn: &mut std::net::TcpStream, resolver: &Resolver) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut msg)?;
        if let Some(reply) = resolver.answer(&msg) {
            conn.write_all(&(reply.len() as u16).to_be_bytes())?;
            conn.write_all(&reply)?;
        }
    }
}

/// Builds a query message (for tests and health checks).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(name, &mut out);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The response code and the A-record addresses of a response (for tests and health checks).
pub fn parse_response(msg: &[u8]) -> Option<(u8, Vec<Ipv4Addr>)> {
    let (rcode, ips) = parse_answers(msg)?;
    let v4 = ips
        .into_iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    Some((rcode, v4))
}

/// The response code and the A and AAAA addresses of a response, in the order given.
pub fn parse_answers(msg: &[u8]) -> Option<(u8, Vec<IpAddr>)> {
    if msg.len() < 12 || msg[2] & 0x80 == 0 {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    let skip_name = |mut p: usize| -> Option<usize> {
        loop {
            let l = *msg.get(p)?;
            if l & 0xc0 == 0xc0 {
                return Some(p + 2);
            }
            p += 1 + usize::from(l);
            if l == 0 {
                return Some(p);
            }
        }
    };
    pos = skip_name(pos)? + 4;
    let mut ips = Vec::new();
    for _ in 0..an {
        pos = skip_name(pos)?;
        let ty = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
        let len = usize::from(u16::from_be_bytes([*msg.get(pos + 8)?, *msg.get(pos + 9)?]));
        pos += 10;
        let rdata = msg.get(pos..pos + len)?;
        if ty == TYPE_A && len == 4 {
            ips.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            )));
        } else if ty == TYPE_AAAA && len == 16 {
            let mut o = [0u8; 16];
            o.copy_from_slice(rdata);
            ips.push(IpAddr::V6(Ipv6Addr::from(o)));
        }
        pos += len;
    }
    Some((rcode, ips))
}

/// Query types for [`build_query`].
pub mod qtype {
    pub const A: u16 = super::TYPE_A;
    pub const AAAA: u16 = super::TYPE_AAAA;
    pub const PTR: u16 = super::TYPE_PTR;
}

#[cfg(test)]
mod tests;
