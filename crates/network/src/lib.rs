//! Berth's container networking, as a synchronous library the daemon calls from `spawn_blocking`.
//!
//! - [`ipam`], [`ipam6`]: pure IPv4 and IPv6 address allocators over state the caller persists;
//! - [`netns`]: network namespaces made, bound and removed, and work and sockets inside them on a
//!   helper thread (the caller's threads never `unshare` or `setns`, so a multi-threaded daemon
//!   may use it);
//! - [`conntrack`]: the kernel's connection tracking table (deleting a released address's flows);
//! - [`netlink`]: a small synchronous rtnetlink client (links, addresses, routes);
//! - [`ifname`]: checked interface names, the only kind the firewall and the bridges take;
//! - [`bridge`], [`endpoint`]: Linux bridges and per-container veth endpoints;
//! - [`firewall`]: Berth's own nftables table (masquerade, isolation, published ports) and [`ports`]
//!   (parsing and allocating published ports);
//! - [`files`]: `/etc/hosts` and `/etc/resolv.conf` as Docker writes them;
//! - [`dns`]: the embedded DNS server for user-defined networks.

pub mod bridge;
pub mod conntrack;
pub mod dns;
pub mod endpoint;
pub mod files;
pub mod firewall;
pub mod ifname;
pub mod ipam;
pub mod ipam6;
pub mod netlink;
pub mod netns;
pub mod ports;
