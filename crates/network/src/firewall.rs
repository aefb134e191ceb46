//! Berth's own nftables table: outbound masquerade, Docker's inter-network isolation, `--internal`
//! networks, and published ports. No other table is ever read or touched.
//!
//! The table is a pure function of the desired state ([`Desired`]: networks and port mappings, which the
//! daemon keeps in its store). Every change — a network or endpoint added or removed, a daemon restart —
//! calls [`Firewall::apply`], which replaces the whole table in one atomic `nft -f` transaction, so the
//! kernel never sees half a ruleset and a restart reconciles by construction. An empty state deletes the
//! table.
//!
//! Published ports are DNAT rules in `prerouting` (traffic from outside and from containers, including a
//! container reaching its own port through the host's address: hairpin, masqueraded so replies come back
//! through the host; the endpoint's bridge port is in hairpin mode for it) and in `output` (traffic from the host itself, to any of its addresses). Traffic to
//! 127.0.0.1 is DNATed too: each bridge gets `route_localnet=1` so the kernel routes a 127.0.0.1-sourced
//! packet onto it, and the table masquerades such packets to the bridge's address. No userland proxy runs.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::{Command, Stdio};

use crate::ipam::Subnet;
use crate::ports::PortMapping;

/// Errors from programming nftables or the related sysctls.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("run {program}: {source}; install the nftables package")]
    Spawn { program: String, source: io::Error },
    #[error("nft refused the ruleset for table ip {table}: {stderr}")]
    Nft { table: String, stderr: String },
    #[error("sysctl {path}: {source}")]
    Sysctl { path: String, source: io::Error },
}

/// One network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet: Subnet,
    /// `--internal`: no traffic in or out of the bridge except among its containers.
    pub internal: bool,
}

/// Everything Berth's table should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortMapping>,
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

fn quote_list(names: &[&str]) -> String {
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
        if desired.networks.is_empty() && desired.ports.is_empty() {
            return s;
        }
        let _ = writeln!(s, "table ip {t} {{");
        // forward: isolation between networks, internal networks, inbound only for replies and DNAT.
        s.push_str(
            "  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
        );
        for n in &desired.networks {
            let b = &n.bridge;
            let _ = writeln!(s, "    iifname \"{b}\" oifname \"{b}\" accept");
            if n.internal {
                let _ = writeln!(s, "    iifname \"{b}\" drop");
                let _ = writeln!(s, "    oifname \"{b}\" drop");
            }
        }
        if desired.networks.len() > 1 {
            let all: Vec<&str> = desired.networks.iter().map(|n| n.bridge.as_str()).collect();
            let set = quote_list(&all);
            let _ = writeln!(s, "    iifname {{ {set} }} oifname {{ {set} }} drop");
        }
        for n in &desired.networks {
            let b = &n.bridge;
            let _ = writeln!(s, "    oifname \"{b}\" ct state established,related accept");
            let _ = writeln!(s, "    oifname \"{b}\" ct status dnat accept");
            let _ = writeln!(s, "    oifname \"{b}\" drop");
        }
        s.push_str("  }\n");

        s.push_str("  chain publish {\n");
        for p in &desired.ports {
            let daddr = if p.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("ip daddr {} ", p.host_ip)
            };
            let _ = writeln!(
                s,
                "    {daddr}{proto} dport {hp} dnat to {cip}:{cp}",
                proto = p.proto,
                hp = p.host_port,
                cip = p.container_ip,
                cp = p.container_port
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
        for p in &desired.ports {
            let _ = writeln!(
                s,
                "    ip saddr {c} ip daddr {c} {proto} dport {cp} masquerade",
                c = p.container_ip,
                proto = p.proto,
                cp = p.container_port
            );
        }
        s.push_str("  }\n}\n");
        s
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::ports::Proto;

    #[test]
    fn empty_state_only_deletes_the_table() {
        let fw = Firewall {
            table: "t1".into(),
            nft: "nft".into(),
        };
        assert_eq!(
            fw.render(&Desired::default()),
            "table ip t1\ndelete table ip t1\n"
        );
    }

    #[test]
    fn renders_isolation_masquerade_and_ports() {
        let fw = Firewall::default();
        let desired = Desired {
            networks: vec![
                NetworkRules {
                    bridge: "berth0".into(),
                    subnet: "172.17.0.0/16".parse().unwrap(),
                    internal: false,
                },
                NetworkRules {
                    bridge: "br-1".into(),
                    subnet: "172.18.0.0/16".parse().unwrap(),
                    internal: true,
                },
            ],
            ports: vec![PortMapping {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                container_ip: Ipv4Addr::new(172, 17, 0, 2),
                container_port: 80,
                proto: Proto::Tcp,
            }],
        };
        let s = fw.render(&desired);
        assert!(
            s.starts_with("table ip berth\ndelete table ip berth\ntable ip berth {"),
            "{s}"
        );
        assert!(
            s.contains("iifname { \"berth0\", \"br-1\" } oifname { \"berth0\", \"br-1\" } drop")
        );
        assert!(s.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(
            !s.contains("ip saddr 172.18.0.0/16"),
            "internal networks are not masqueraded"
        );
        assert!(s.contains("iifname \"br-1\" drop"));
        assert!(s.contains("ip daddr 127.0.0.1 tcp dport 8080 dnat to 172.17.0.2:80"));
        assert!(s.contains("ip saddr 172.17.0.2 ip daddr 172.17.0.2 tcp dport 80 masquerade"));
        // Same-bridge traffic is accepted before the isolation drop.
        assert!(s.find("iifname \"berth0\" oifname \"berth0\" accept") < s.find("iifname {"));
    }
}
