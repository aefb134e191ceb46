//! The kernel's connection tracking table, through ctnetlink (`NETLINK_NETFILTER`): listing the
//! flows of one family ([`flows`]) and deleting every flow that involves some addresses
//! ([`flush`]), as Docker's bridge driver does when an endpoint goes. Without it, a flow of a
//! stopped container (a UDP "connection" to a DNS server, a TCP one in TIME_WAIT, a NATed one to
//! a published port) outlives it, and the next container given the same address inherits its
//! state: replies steered to it, a DNAT of a published port that no longer applies.
//!
//! The kernel filters a dump by address only one direction at a time and cannot flush by
//! address at all, so [`flush`] dumps the family's table once, picks the flows with an address
//! in any of their four tuple places (either direction, before and after NAT), and deletes each
//! by its original tuple (and zone). A flow that went away between the two is not an error; a
//! kernel without conntrack has nothing to flush. No `conntrack` tool is needed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;

/// A failed ctnetlink request.
#[derive(Debug, thiserror::Error)]
#[error("conntrack: {op}: {source}")]
pub struct ConntrackError {
    pub op: &'static str,
    #[source]
    pub source: io::Error,
}

/// The address family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn af(self) -> u8 {
        match self {
            Family::V4 => libc::AF_INET as u8,
            Family::V6 => libc::AF_INET6 as u8,
        }
    }

    fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// One tracked flow: its original and reply directions' addresses and its protocol number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub orig_src: Option<IpAddr>,
    pub orig_dst: Option<IpAddr>,
    pub reply_src: Option<IpAddr>,
    pub reply_dst: Option<IpAddr>,
    pub proto: u8,
    /// The original tuple attribute as the kernel gave it (what a deletion names).
    orig_raw: Vec<u8>,
    /// The `CTA_ZONE` attribute, when the flow has one.
    zone_raw: Option<Vec<u8>>,
}

impl Flow {
    /// Whether `ip` is one of the flow's four addresses.
    pub fn involves(&self, ip: IpAddr) -> bool {
        [self.orig_src, self.orig_dst, self.reply_src, self.reply_dst].contains(&Some(ip))
    }
}

/// A ctnetlink socket of the caller's network namespace.
struct Ctnetlink {
    sock: Socket,
    seq: u32,
}

fn nl_err(op: &'static str) -> impl Fn(io::Error) -> ConntrackError {
    move |source| ConntrackError { op, source }
}

impl Ctnetlink {
    fn open() -> io::Result<Ctnetlink> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Ctnetlink { sock, seq: 0 })
    }

    /// Sends one request (`attrs` after the nfgenmsg header) and returns the payloads of the
    /// `IPCTNL_MSG_CT_NEW` messages answered, until the acknowledgement or the dump's end.
    fn request(
        &mut self,
        msg: u16,
        flags: u16,
        family: Family,
        attrs: &[u8],
    ) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let len = 16 + 4 + attrs.len();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&(len as u32).to_ne_bytes());
        buf.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | msg).to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | flags).to_ne_bytes());
        buf.extend_from_slice(&self.seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&[family.af(), 0, 0, 0]);
        buf.extend_from_slice(attrs);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off + 16 <= data.len() {
                let mlen = u32_at(&data, off) as usize;
                let ty = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
                let seq = u32_at(&data, off + 8);
                if mlen < 16 || off + mlen > data.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let body = &data[off + 16..off + mlen];
                off += (mlen + 3) & !3;
                if seq != self.seq {
                    continue;
                }
                match ty {
                    NLMSG_ERROR => {
                        let code = body
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(0);
                        return match code {
                            0 => Ok(out),
                            c => Err(io::Error::from_raw_os_error(-c)),
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    t if t == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => {
                        out.push(body.get(4..).unwrap_or_default().to_vec());
                    }
                    _ => {}
                }
            }
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The attributes in `buf`: `(type without flags, payload, the whole attribute)`.
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + 4 > buf.len() {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[off], buf[off + 1]]));
        let ty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]) & NLA_TYPE_MASK;
        if len < 4 || off + len > buf.len() {
            return None;
        }
        let item = (ty, &buf[off + 4..off + len], &buf[off..off + len]);
        off += (len + 3) & !3;
        Some(item)
    })
}

/// `(source, destination, protocol)` of a `CTA_TUPLE_*` payload.
fn tuple(buf: &[u8]) -> (Option<IpAddr>, Option<IpAddr>, u8) {
    let (mut src, mut dst, mut proto) = (None, None, 0);
    for (ty, payload, _) in attrs(buf) {
        match ty {
            CTA_TUPLE_IP => {
                for (t, p, _) in attrs(payload) {
                    let ip = match (t, p.len()) {
                        (CTA_IP_V4_SRC | CTA_IP_V4_DST, 4) => {
                            IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3]))
                        }
                        (CTA_IP_V6_SRC | CTA_IP_V6_DST, 16) => {
                            let mut o = [0u8; 16];
                            o.copy_from_slice(p);
                            IpAddr::V6(Ipv6Addr::from(o))
                        }
                        _ => continue,
                    };
                    match t {
                        CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = Some(ip),
                        _ => dst = Some(ip),
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (t, p, _) in attrs(payload) {
                    if t == CTA_PROTO_NUM {
                        proto = p.first().copied().unwrap_or(0);
                    }
                }
            }
            _ => {}
        }
    }
    (src, dst, proto)
}

fn parse_flow(msg: &[u8]) -> Option<Flow> {
    let mut flow = Flow {
        orig_src: None,
        orig_dst: None,
        reply_src: None,
        reply_dst: None,
        proto: 0,
        orig_raw: Vec::new(),
        zone_raw: None,
    };
    for (ty, payload, whole) in attrs(msg) {
        match ty {
            CTA_TUPLE_ORIG => {
                (flow.orig_src, flow.orig_dst, flow.proto) = tuple(payload);
                flow.orig_raw = whole.to_vec();
            }
            CTA_TUPLE_REPLY => (flow.reply_src, flow.reply_dst, _) = tuple(payload),
            CTA_ZONE => flow.zone_raw = Some(whole.to_vec()),
            _ => {}
        }
    }
    (!flow.orig_raw.is_empty()).then_some(flow)
}

/// Whether `e` means the kernel has no connection tracking to ask (nothing to flush then).
fn no_conntrack(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::ENOENT)
    )
}

/// Every tracked flow of `family` in the caller's network namespace.
pub fn flows(family: Family) -> Result<Vec<Flow>, ConntrackError> {
    let mut ct = Ctnetlink::open().map_err(nl_err("open a netfilter netlink socket"))?;
    list(&mut ct, family)
}

fn list(ct: &mut Ctnetlink, family: Family) -> Result<Vec<Flow>, ConntrackError> {
    match ct.request(IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, &[]) {
        Ok(msgs) => Ok(msgs.iter().filter_map(|m| parse_flow(m)).collect()),
        Err(e) if no_conntrack(&e) => Ok(Vec::new()),
        Err(e) => Err(nl_err("list flows")(e)),
    }
}

/// Deletes every flow that has one of `addrs` in either direction (before or after NAT);
/// returns how many went. Only the families of `addrs` are dumped.
pub fn flush(addrs: &[IpAddr]) -> Result<usize, ConntrackError> {
    if addrs.is_empty() {
        return Ok(0);
    }
    let mut ct = Ctnetlink::open().map_err(nl_err("open a netfilter netlink socket"))?;
    let mut deleted = 0;
    for family in [Family::V4, Family::V6] {
        let mine: Vec<IpAddr> = addrs
            .iter()
            .filter(|a| Family::of(a) == family)
            .copied()
            .collect();
        if mine.is_empty() {
            continue;
        }
        let doomed: Vec<Flow> = list(&mut ct, family)?
            .into_iter()
            .filter(|f| mine.iter().any(|a| f.involves(*a)))
            .collect();
        for f in doomed {
            let mut req = f.orig_raw.clone();
            if let Some(z) = &f.zone_raw {
                req.extend_from_slice(z);
            }
            // Nested attributes go back with the flag the kernel may have left off.
            let ty = u16::from_ne_bytes([req[2], req[3]]) | NLA_F_NESTED;
            req[2..4].copy_from_slice(&ty.to_ne_bytes());
            match ct.request(IPCTNL_MSG_CT_DELETE, 0, family, &req) {
                Ok(_) => deleted += 1,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(nl_err("delete a flow")(e)),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn tuple_attr(ty: u16, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let ip = [nla(CTA_IP_V4_SRC, &src), nla(CTA_IP_V4_DST, &dst)].concat();
        let proto = nla(CTA_PROTO_NUM, &[17]);
        let inner = [
            nla(CTA_TUPLE_IP | NLA_F_NESTED, &ip),
            nla(CTA_TUPLE_PROTO | NLA_F_NESTED, &proto),
        ]
        .concat();
        nla(ty | NLA_F_NESTED, &inner)
    }

    #[test]
    fn a_flow_is_read_in_both_directions() {
        // A masqueraded flow: 10.5.0.2 -> 8.8.8.8, replies to the host's 192.0.2.7.
        let msg = [
            tuple_attr(CTA_TUPLE_ORIG, [10, 5, 0, 2], [8, 8, 8, 8]),
            tuple_attr(CTA_TUPLE_REPLY, [8, 8, 8, 8], [192, 0, 2, 7]),
            nla(CTA_ZONE, &[0, 0]),
        ]
        .concat();
        let f = parse_flow(&msg).expect("a flow");
        assert_eq!(f.orig_src, Some(IpAddr::V4(Ipv4Addr::new(10, 5, 0, 2))));
        assert_eq!(f.reply_dst, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))));
        assert_eq!(f.proto, 17);
        assert!(f.involves(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))));
        assert!(f.involves(IpAddr::V4(Ipv4Addr::new(10, 5, 0, 2))));
        assert!(!f.involves(IpAddr::V4(Ipv4Addr::new(10, 5, 0, 3))));
        assert_eq!(f.orig_raw, msg[..f.orig_raw.len()]);
        assert!(f.zone_raw.is_some());
        // Truncated input yields what is whole, never a panic.
        for cut in 0..msg.len() {
            let _ = parse_flow(&msg[..cut]);
        }
        assert!(parse_flow(&[]).is_none());
    }
}
