//! Berth's own nftables table: outbound masquerade, Docker's inter-network isolation, `--internal`
//! networks, and published ports. No other table is ever read or touched.
//!
//! IPv6: a table of the same name in the `ip6` family mirrors the forwarding rules (isolation,
//! `--internal`, only replies inbound) and the masquerade for the networks with an IPv6 subnet,
//! as Docker 27+ NATs IPv6 by default. It exists only while such a network does (a v4-only state
//! renders no ip6 rules), is replaced in the same transaction as the `ip` table and deleted with
//! it. A port published on all addresses of a container with an IPv6 address is also DNATed from
//! the host's IPv6 addresses (an element of the ip6 table's `publish_any`); `::1` is not (the
//! kernel never routes it off the loopback, and no userland proxy runs), nor is hairpin traffic.
//!
//! The table is a pure function of the desired state ([`Desired`]: networks and port mappings, which the
//! daemon keeps in its store). [`Firewall::apply`] replaces the whole table in one atomic `nft -f`
//! transaction, so the kernel never sees half a ruleset and a restart reconciles by construction; an
//! empty state deletes the table. [`Firewall::update`] goes from one state to the next: when only the
//! published ports changed — a container with `-p` starting or stopping — it adds and deletes elements
//! of the table's maps instead (no rule changes: ~5 ms here where a replacement costs ~28 ms, the
//! deleted rules waiting for an RCU grace period).
//!
//! Published ports are elements of two maps that DNAT rules look up — `publish_ip` for a given host
//! address (`addr . proto . port : container addr . port`), `publish_any` for all of them — in a chain
//! jumped to from `prerouting` (traffic from outside and from containers, including a container reaching
//! its own port through the host's address: hairpin, masqueraded through the `hairpin` set so replies
//! come back through the host; the endpoint's bridge port is in hairpin mode for it) and from `output`
//! (traffic from the host itself, to any of its addresses). Traffic to
//! 127.0.0.1 is DNATed too: each bridge gets `route_localnet=1` so the kernel routes a 127.0.0.1-sourced
//! packet onto it, and the table masquerades such packets to the bridge's address. No userland proxy runs.
//! The other direction is closed: a packet to 127.0.0.0/8 that arrives on a bridge is dropped before
//! connection tracking (`raw_prerouting`), so nothing on a bridge reaches the host's loopback.
//!
//! No text from outside is ever pasted into the ruleset: bridges are [`IfName`]s (letters, digits,
//! `-`, `_`, `.`), addresses, subnets, ports and protocols are typed values, and the table's name
//! is the daemon's own.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::{Command, Stdio};

use crate::ifname::IfName;
use crate::ipam::Subnet;
use crate::ipam6::Subnet6;
use crate::ports::PortMapping;

/// Errors from programming nftables or the related sysctls.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("run {program}: {source}; install the nftables package")]
    Spawn { program: String, source: io::Error },
    #[error("nft refused the ruleset for table {table}: {stderr}")]
    Nft { table: String, stderr: String },
    #[error("sysctl {path}: {source}")]
    Sysctl { path: String, source: io::Error },
}

/// One network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// A checked name: it is written into the ruleset in quotes.
    pub bridge: IfName,
    pub subnet: Subnet,
    /// The IPv6 subnet of a dual-stack network.
    pub subnet6: Option<Subnet6>,
    /// `--internal`: no traffic in or out of the bridge except among its containers.
    pub internal: bool,
}

/// Everything Berth's table should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortMapping>,
}

impl Desired {
    /// Whether this state needs a table at all.
    fn has_table(&self) -> bool {
        !(self.networks.is_empty() && self.ports.is_empty())
    }
}

/// The elements of the port maps and the hairpin set for some mappings, in `nft` syntax, sorted
/// and without duplicates (two host ports may lead to one container port).
struct Elements {
    ip: Vec<String>,
    any: Vec<String>,
    hairpin: Vec<String>,
    /// `publish_any` of the ip6 table: ports published on all addresses of dual-stack containers.
    any6: Vec<String>,
}

impl Elements {
    fn of(ports: &[PortMapping]) -> Elements {
        let mut e = Elements {
            ip: Vec::new(),
            any: Vec::new(),
            hairpin: Vec::new(),
            any6: Vec::new(),
        };
        for p in ports {
            let target = format!("{} . {}", p.container_ip, p.container_port);
            if p.host_ip.is_unspecified() {
                e.any
                    .push(format!("{} . {} : {target}", p.proto, p.host_port));
                if let Some(ip6) = p.container_ip6 {
                    e.any6.push(format!(
                        "{} . {} : {ip6} . {}",
                        p.proto, p.host_port, p.container_port
                    ));
                }
            } else {
                e.ip.push(format!(
                    "{} . {} . {} : {target}",
                    p.host_ip, p.proto, p.host_port
                ));
            }
            e.hairpin.push(format!(
                "{c} . {c} . {} . {}",
                p.proto,
                p.container_port,
                c = p.container_ip
            ));
        }
        for v in [&mut e.ip, &mut e.any, &mut e.hairpin, &mut e.any6] {
            v.sort();
            v.dedup();
        }
        e
    }
}

fn join(items: &[String]) -> String {
    items.join(", ")
}

/// Programs one nftables table (family `ip`), `berth` for the daemon.
#[derive(Debug, Clone)]
pub struct Firewall {
    pub table: String,
    pub nft: String,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall {
            table: "berth".to_string(),
            nft: "nft".to_string(),
        }
    }
}

/// The `forward` chain of a table over `networks`: isolation between them, `--internal` ones
/// closed, inbound traffic only for replies and DNAT.
fn forward_chain(s: &mut String, networks: &[&NetworkRules]) {
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in networks {
        let b = &n.bridge;
        let _ = writeln!(s, "    iifname \"{b}\" oifname \"{b}\" accept");
        if n.internal {
            let _ = writeln!(s, "    iifname \"{b}\" drop");
            let _ = writeln!(s, "    oifname \"{b}\" drop");
        }
    }
    if networks.len() > 1 {
        let all: Vec<&IfName> = networks.iter().map(|n| &n.bridge).collect();
        let set = quote_list(&all);
        let _ = writeln!(s, "    iifname {{ {set} }} oifname {{ {set} }} drop");
    }
    for n in networks {
        let b = &n.bridge;
        let _ = writeln!(s, "    oifname \"{b}\" ct state established,related accept");
        let _ = writeln!(s, "    oifname \"{b}\" ct status dnat accept");
        let _ = writeln!(s, "    oifname \"{b}\" drop");
    }
    s.push_str("  }\n");
}

fn quote_list(names: &[&IfName]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Firewall {
    /// The `nft -f` script that atomically replaces the table with `desired` (or deletes it).
    pub fn render(&self, desired: &Desired) -> String {
        let t = &self.table;
        let mut s = format!("table ip {t}\ndelete table ip {t}\n");
        s.push_str(&format!("table ip6 {t}\ndelete table ip6 {t}\n"));
        if desired.networks.is_empty() && desired.ports.is_empty() {
            return s;
        }
        let _ = writeln!(s, "table ip {t} {{");
        let all: Vec<&NetworkRules> = desired.networks.iter().collect();
        forward_chain(&mut s, &all);

        let els = Elements::of(&desired.ports);
        for (name, ty, elements) in [
            (
                "map publish_ip",
                "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
                &els.ip,
            ),
            (
                "map publish_any",
                "inet_proto . inet_service : ipv4_addr . inet_service",
                &els.any,
            ),
            (
                "set hairpin",
                "ipv4_addr . ipv4_addr . inet_proto . inet_service",
                &els.hairpin,
            ),
        ] {
            let _ = write!(s, "  {name} {{\n    type {ty}\n");
            if !elements.is_empty() {
                let _ = writeln!(s, "    elements = {{ {} }}", join(elements));
            }
            s.push_str("  }\n");
        }
        s.push_str("  chain publish {\n");
        s.push_str("    dnat to ip daddr . meta l4proto . th dport map @publish_ip\n");
        s.push_str("    dnat to meta l4proto . th dport map @publish_any\n");
        s.push_str("  }\n");
        // `route_localnet=1` on the bridges lets the kernel route 127.0.0.0/8 onto them; without this
        // a container (CAP_NET_RAW is a default) or anything else on a bridge could send packets to
        // 127.0.0.1 through the gateway and reach ports published on 127.0.0.1 and host services
        // listening there (the CVE-2020-8558 class). Replies to the host's own loopback-sourced,
        // masqueraded connections arrive addressed to the bridge address, not 127.0.0.0/8.
        s.push_str("  chain raw_prerouting {\n    type filter hook prerouting priority raw; policy accept;\n");
        let all: Vec<&IfName> = desired.networks.iter().map(|n| &n.bridge).collect();
        if !all.is_empty() {
            let _ = writeln!(
                s,
                "    iifname {{ {} }} ip daddr 127.0.0.0/8 drop",
                quote_list(&all)
            );
        }
        s.push_str("  }\n");
        s.push_str(
            "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
        );
        s.push_str("    fib daddr type local jump publish\n  }\n");
        s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n");
        s.push_str("    fib daddr type local jump publish\n  }\n");

        s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        for n in &desired.networks {
            let b = &n.bridge;
            if !n.internal {
                let _ = writeln!(s, "    ip saddr {} oifname != \"{b}\" masquerade", n.subnet);
            }
            let _ = writeln!(s, "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade");
        }
        s.push_str("    ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade\n");
        s.push_str("  }\n}\n");
        self.render6(&mut s, desired);
        s
    }

    /// The `ip6` table of the networks with an IPv6 subnet (nothing when there is none).
    fn render6(&self, s: &mut String, desired: &Desired) {
        let v6: Vec<&NetworkRules> = desired
            .networks
            .iter()
            .filter(|n| n.subnet6.is_some())
            .collect();
        if v6.is_empty() {
            return;
        }
        let _ = writeln!(s, "table ip6 {} {{", self.table);
        forward_chain(s, &v6);
        // Ports published on all addresses, for the host's IPv6 addresses (`::1` cannot be
        // routed to a bridge: it is not published).
        let els = Elements::of(&desired.ports);
        s.push_str(
            "  map publish_any {\n    type inet_proto . inet_service : ipv6_addr . inet_service\n",
        );
        if !els.any6.is_empty() {
            let _ = writeln!(s, "    elements = {{ {} }}", join(&els.any6));
        }
        s.push_str("  }\n  chain publish {\n");
        s.push_str("    dnat ip6 to meta l4proto . th dport map @publish_any\n  }\n");
        s.push_str(
            "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
        );
        s.push_str("    fib daddr type local jump publish\n  }\n");
        s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n");
        s.push_str("    ip6 daddr != ::1 fib daddr type local jump publish\n  }\n");
        s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        for n in v6.iter().filter(|n| !n.internal) {
            if let Some(sub) = n.subnet6 {
                let _ = writeln!(
                    s,
                    "    ip6 saddr {sub} oifname != \"{}\" masquerade",
                    n.bridge
                );
            }
        }
        s.push_str("  }\n}\n");
    }

    /// Replaces Berth's table with `desired` atomically, and sets `route_localnet` on each bridge.
    /// This is also the reconcile step after a daemon restart.
    pub fn apply(&self, desired: &Desired) -> Result<(), FirewallError> {
        for n in &desired.networks {
            write_sysctl(
                &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge),
                "1",
            )?;
        }
        self.run(&self.render(desired))
    }

    /// Goes from `prev` (what was applied last; `None`: unknown) to `next`: element changes when
    /// only the published ports differ, else [`Firewall::apply`].
    pub fn update(&self, prev: Option<&Desired>, next: &Desired) -> Result<(), FirewallError> {
        match prev {
            Some(p) if p.networks == next.networks && p.has_table() && next.has_table() => {
                let script = self.render_port_changes(&p.ports, &next.ports);
                if script.is_empty() {
                    Ok(())
                } else {
                    self.run(&script)
                }
            }
            _ => self.apply(next),
        }
    }

    /// The `nft -f` script that turns the port elements of `from` into those of `to` (empty when
    /// they are the same): deletions first, so that a key can change its target.
    pub fn render_port_changes(&self, from: &[PortMapping], to: &[PortMapping]) -> String {
        let (old, new) = (Elements::of(from), Elements::of(to));
        let t = &self.table;
        let mut s = String::new();
        let sets = |e: &Elements| {
            [
                ("ip", "publish_ip", e.ip.clone()),
                ("ip", "publish_any", e.any.clone()),
                ("ip", "hairpin", e.hairpin.clone()),
                ("ip6", "publish_any", e.any6.clone()),
            ]
        };
        for ((family, name, before), (_, _, after)) in sets(&old).into_iter().zip(sets(&new)) {
            let gone: Vec<String> = before
                .iter()
                .filter(|e| !after.contains(e))
                .map(|e| e.split(" : ").next().unwrap_or(e).to_string())
                .collect();
            if !gone.is_empty() {
                let _ = writeln!(
                    s,
                    "delete element {family} {t} {name} {{ {} }}",
                    join(&gone)
                );
            }
        }
        for ((family, name, before), (_, _, after)) in sets(&old).into_iter().zip(sets(&new)) {
            let added: Vec<String> = after
                .iter()
                .filter(|e| !before.contains(e))
                .cloned()
                .collect();
            if !added.is_empty() {
                let _ = writeln!(s, "add element {family} {t} {name} {{ {} }}", join(&added));
            }
        }
        s
    }

    /// Deletes Berth's table (if there is one).
    pub fn remove(&self) -> Result<(), FirewallError> {
        self.run(&self.render(&Desired::default()))
    }

    fn run(&self, script: &str) -> Result<(), FirewallError> {
        let spawn = |source| FirewallError::Spawn {
            program: self.nft.clone(),
            source,
        };
        let mut child = Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(spawn)?;
        }
        let out = child.wait_with_output().map_err(spawn)?;
        if !out.status.success() {
            return Err(FirewallError::Nft {
                table: self.table.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn write_sysctl(path: &str, value: &str) -> Result<(), FirewallError> {
    std::fs::write(path, value).map_err(|source| FirewallError::Sysctl {
        path: path.into(),
        source,
    })
}

/// Whether IPv4 forwarding is on.
pub fn ip_forward() -> Result<bool, FirewallError> {
    std::fs::read_to_string(IP_FORWARD)
        .map(|v| v.trim() == "1")
        .map_err(|source| FirewallError::Sysctl {
            path: IP_FORWARD.into(),
            source,
        })
}

/// Sets IPv4 forwarding and returns its previous value, for the caller to remember and restore.
pub fn set_ip_forward(on: bool) -> Result<bool, FirewallError> {
    let before = ip_forward()?;
    if before != on {
        write_sysctl(IP_FORWARD, if on { "1" } else { "0" })?;
    }
    Ok(before)
}

const IP6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Sets IPv6 forwarding (`net.ipv6.conf.all.forwarding`) and returns its previous value.
pub fn set_ip6_forward(on: bool) -> Result<bool, FirewallError> {
    let before = std::fs::read_to_string(IP6_FORWARD)
        .map(|v| v.trim() == "1")
        .map_err(|source| FirewallError::Sysctl {
            path: IP6_FORWARD.into(),
            source,
        })?;
    if before != on {
        write_sysctl(IP6_FORWARD, if on { "1" } else { "0" })?;
    }
    Ok(before)
}

#[cfg(test)]
mod tests;
