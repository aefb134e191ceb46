//! A container's `/etc/hosts` and `/etc/resolv.conf`, with the content Docker writes.
//!
//! Both are pure renderers; the daemon writes the text into the container's files.

use std::net::{IpAddr, Ipv4Addr};

/// What goes into `/etc/hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsConfig {
    pub hostname: String,
    /// `--domainname`: the container's own line lists `hostname.domain` first.
    pub domainname: Option<String>,
    /// The container's addresses (one line each); empty for `--network none`.
    pub ips: Vec<IpAddr>,
    /// `--add-host name:ip` entries, in order.
    pub extra_hosts: Vec<(String, IpAddr)>,
}

/// Renders `/etc/hosts` as Docker does.
pub fn hosts(cfg: &HostsConfig) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in &cfg.extra_hosts {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    let names = match &cfg.domainname {
        Some(d) if !d.is_empty() => format!("{}.{d} {}", cfg.hostname, cfg.hostname),
        _ => cfg.hostname.clone(),
    };
    for ip in &cfg.ips {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    s
}

/// Parses one `--add-host` value (`name:ip`; `name=ip` too, and IPv6 after the first colon).
pub fn parse_add_host(s: &str) -> Option<(String, IpAddr)> {
    let (name, ip) = s.split_once('=').or_else(|| s.split_once(':'))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    (!name.is_empty()).then(|| Some((name.to_string(), ip.parse().ok()?)))?
}

/// The host's resolver settings, parsed from its resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostResolv {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Parses a resolv.conf (later `search`/`options` lines add to earlier ones).
pub fn parse_resolv(text: &str) -> HostResolv {
    let mut r = HostResolv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => r
                .nameservers
                .extend(words.next().and_then(|w| w.parse::<IpAddr>().ok())),
            Some("search") | Some("domain") => r.search = words.map(str::to_string).collect(),
            Some("options") => r.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    r
}

/// The container's DNS settings (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The embedded DNS server's address inside containers on user-defined networks.
pub const EMBEDDED_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// The upstream servers for a container: `--dns` or else the host's, without loopback ones when the
/// container cannot reach them (the default bridge); the embedded DNS forwards from the host, so it keeps
/// them all.
pub fn upstreams(host: &HostResolv, dns: &DnsConfig, embedded: bool) -> Vec<IpAddr> {
    let src = if dns.servers.is_empty() {
        &host.nameservers
    } else {
        &dns.servers
    };
    src.iter()
        .copied()
        .filter(|ip| embedded || !ip.is_loopback())
        .collect()
}

/// Renders `/etc/resolv.conf` as Docker does. With `embedded` (user-defined networks) the container
/// asks 127.0.0.11 with `ndots:0`, and the real servers become the embedded server's upstreams.
pub fn resolv_conf(host: &HostResolv, dns: &DnsConfig, embedded: bool) -> String {
    let search = if dns.search.is_empty() {
        &host.search
    } else {
        &dns.search
    };
    let mut options: Vec<String> = if dns.options.is_empty() {
        host.options.clone()
    } else {
        dns.options.clone()
    };
    let mut s = String::new();
    if embedded {
        s.push_str(&format!("nameserver {EMBEDDED_DNS}\n"));
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".to_string());
        }
    } else {
        let servers = upstreams(host, dns, false);
        if servers.is_empty() {
            // Docker's fallback when the host has only local resolvers.
            s.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
        for ip in servers {
            s.push_str(&format!("nameserver {ip}\n"));
        }
    }
    if !search.is_empty() && search.iter().any(|d| d != ".") {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

    #[test]
    fn hosts_file() {
        let cfg = HostsConfig {
            hostname: "abc123".into(),
            domainname: None,
            ips: vec!["172.17.0.2".parse().unwrap()],
            extra_hosts: vec![parse_add_host("db:10.1.1.1").unwrap()],
        };
        let h = hosts(&cfg);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("10.1.1.1\tdb\n"));
        assert!(h.ends_with("172.17.0.2\tabc123\n"), "{h}");
        assert_eq!(
            parse_add_host("v6:[::1]").unwrap().1,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(parse_add_host("nocolon").is_none());
    }

    #[test]
    fn resolv_on_the_default_bridge_drops_local_servers() {
        let host = parse_resolv(HOST);
        let r = resolv_conf(&host, &DnsConfig::default(), false);
        assert_eq!(
            r,
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
        );
        let only_local = parse_resolv("nameserver 127.0.0.1\n");
        assert!(resolv_conf(&only_local, &DnsConfig::default(), false)
            .starts_with("nameserver 8.8.8.8\n"));
    }

    #[test]
    fn resolv_on_user_networks_points_at_the_embedded_server() {
        let host = parse_resolv(HOST);
        let r = resolv_conf(&host, &DnsConfig::default(), true);
        assert_eq!(
            r,
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        assert_eq!(upstreams(&host, &DnsConfig::default(), true).len(), 2);
        let dns = DnsConfig {
            servers: vec!["10.9.9.9".parse().unwrap()],
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            resolv_conf(&host, &dns, true),
            "nameserver 127.0.0.11\nsearch a.example\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(&host, &dns, false),
            "nameserver 10.9.9.9\nsearch a.example\noptions ndots:2\n"
        );
    }
}
