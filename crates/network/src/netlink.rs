//! A small synchronous rtnetlink client: the link, address and route operations Berth needs.
//!
//! A [`Netlink`] talks to the network namespace its socket was created in: [`Netlink::open`] for
//! the caller's own (or, on a thread inside it, a container's: [`crate::netns::run_in`]),
//! [`Netlink::from_socket`] with a socket from [`crate::netns::socket_in`]. Every request asks
//! for an acknowledgement and fails with the kernel's errno.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::ipam::Subnet;

/// A failed netlink request, naming the operation and the object.
#[derive(Debug, thiserror::Error)]
#[error("netlink: {op} {object}: {source}")]
pub struct NetlinkError {
    pub op: &'static str,
    pub object: String,
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// A synchronous rtnetlink socket bound to one network namespace.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

/// The veth peer to create alongside the host end.
pub struct VethPeer<'a> {
    pub name: &'a str,
    pub mac: Option<[u8; 6]>,
    /// Create the peer directly in this network namespace.
    pub netns: Option<BorrowedFd<'a>>,
}

impl Netlink {
    /// A socket in the caller's own network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Wraps a `NETLINK_ROUTE` socket created elsewhere, e.g. inside a container's namespace.
    pub fn from_socket(fd: OwnedFd) -> io::Result<Netlink> {
        use std::os::fd::FromRawFd;
        // SAFETY: `fd` is an owned netlink socket; ownership moves into `Socket`, which closes it.
        let mut sock = unsafe { Socket::from_raw_fd(fd.into_raw_fd()) };
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { sock, seq: 0 })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                offset += len.max(16);
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            None => Ok(out),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }

    /// The index of link `name`, or `None` when there is no such link.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(source) => Err(err("get link", name, source)),
        }
    }

    /// All link names in this namespace.
    pub fn link_names(&mut self) -> Result<Vec<String>, NetlinkError> {
        let replies = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| err("list links", "", e))?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    fn new_link(&mut self, name: &str, msg: LinkMessage) -> Result<(), NetlinkError> {
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|e| err("create link", name, e))
    }

    /// Creates a bridge; fails with `EEXIST` when a link of that name exists.
    pub fn create_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.new_link(name, msg)
    }

    /// Creates a veth pair `name` <-> `peer.name`, the peer possibly directly in another
    /// namespace. With `master`, the host end is attached to that bridge and brought up by the
    /// same request (one round trip, one rtnl lock, instead of three). The peer stays down (the
    /// kernel refuses to raise a peer made in another namespace: `ENOTCONN`).
    pub fn create_veth(
        &mut self,
        name: &str,
        master: Option<u32>,
        peer: &VethPeer<'_>,
    ) -> Result<(), NetlinkError> {
        let mut p = LinkMessage::default();
        p.attributes
            .push(LinkAttribute::IfName(peer.name.to_string()));
        if let Some(mac) = peer.mac {
            p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(ns) = peer.netns {
            p.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(m) = master {
            msg.header.flags = LinkFlags::Up;
            msg.header.change_mask = LinkFlags::Up;
            msg.attributes.push(LinkAttribute::Controller(m));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.new_link(name, msg)
    }

    fn set_link(
        &mut self,
        op: &'static str,
        index: u32,
        f: impl FnOnce(&mut LinkMessage),
    ) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        f(&mut msg);
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
            .map_err(|e| err(op, &format!("index {index}"), e))
    }

    /// Brings link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.set_link("set up link", index, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Turns hairpin mode on for bridge port `name` (`bridge link set dev NAME hairpin on`).
    /// Unlike the sysfs file, which spins (`restart_syscall`) while anyone holds the rtnl lock,
    /// a request sleeps on it.
    pub fn set_hairpin(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), 0)
            .map(drop)
            .map_err(|e| err("set hairpin on", name, e))
    }

    /// Deletes link `index` (deleting one end of a veth deletes both).
    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(msg), 0)
            .map(drop)
            .map_err(|e| err("delete link", &format!("index {index}"), e))
    }

    /// Adds `ip/prefix` to link `index`; an address that is already there is not an error.
    pub fn add_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        if prefix < 31 {
            let bcast = Subnet::new(ip, prefix).map(|s| s.broadcast()).unwrap_or(ip);
            msg.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r
                .map(drop)
                .map_err(|e| err("add address", &format!("{ip}/{prefix}"), e)),
        }
    }

    /// Adds `ip/prefix` (IPv6) to link `index` without duplicate address detection (as Docker
    /// adds container addresses: the IPAM made them unique, and DAD would hold them back for a
    /// second); an address that is already there is not an error.
    pub fn add_address6(
        &mut self,
        index: u32,
        ip: Ipv6Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r
                .map(drop)
                .map_err(|e| err("add address", &format!("{ip}/{prefix}"), e)),
        }
    }

    /// Adds the IPv6 default route via `gateway`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
        .map_err(|e| err("add default route via", &gateway.to_string(), e))
    }

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
        .map_err(|e| err("add default route via", &gateway.to_string(), e))
    }

    /// The IPv4 destinations of the main routing table (the default route as 0.0.0.0/0).
    pub fn ipv4_routes(&mut self) -> Result<Vec<Subnet>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self
            .request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)
            .map_err(|e| err("list routes", "", e))?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewRoute(r) = r else {
                continue;
            };
            if r.header.table != RouteHeader::RT_TABLE_MAIN {
                continue;
            }
            let dst = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            let dst = dst.unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Ok(s) = Subnet::new(dst, r.header.destination_prefix_length) {
                out.push(s);
            }
        }
        Ok(out)
    }
}

fn err(op: &'static str, object: &str, source: io::Error) -> NetlinkError {
    NetlinkError {
        op,
        object: object.to_string(),
        source,
    }
}
