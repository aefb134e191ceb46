//! A container's `/etc/hosts` and `/etc/resolv.conf` as the endpoint hooks write them (the
//! text is `berth_network::files`'): at start ([`write_files`], from
//! [`NetworkService::attach`]), and `/etc/hosts` again when a running container's legacy links
//! change ([`NetworkService::rewrite_hosts`]). Both files live in the container's data dir and
//! are bind-mounted into it, so they are written in place.

use std::net::IpAddr;
use std::path::Path;

use berth_network::files;

use super::endpoints::mode_network;
use super::{dns, NetworkService};
use crate::containers::model::Container;
use crate::error::DaemonError;

impl NetworkService {
    /// A running container's `/etc/hosts` in `files_dir` again, with `link_hosts` (after
    /// `rm --link`): its addresses as [`Self::attach`] wrote them, primary network first.
    pub fn rewrite_hosts(
        &self,
        c: &Container,
        files_dir: &Path,
        link_hosts: &[(String, IpAddr)],
    ) -> Result<(), DaemonError> {
        let mode = c.host_config.network_mode.clone().unwrap_or_default();
        let Some(primary) = mode_network(&mode) else {
            return Ok(());
        };
        let ips: Vec<IpAddr> = {
            let st = self.state();
            let mut mine: Vec<&super::model::Network> = st
                .networks
                .iter()
                .filter(|n| n.endpoints.get(&c.id).is_some_and(|e| e.active))
                .collect();
            mine.sort_by_key(|n| n.name != primary);
            mine.iter()
                .filter_map(|n| n.endpoints.get(&c.id))
                .flat_map(|e| std::iter::once(IpAddr::V4(e.ip)).chain(e.ip6.map(IpAddr::V6)))
                .collect()
        };
        let p = files_dir.join("hosts");
        std::fs::write(&p, hosts_text(c, &ips, link_hosts))
            .map_err(|e| DaemonError::io("writing", &p, e))
    }
}

/// Writes `/etc/hosts` and `/etc/resolv.conf` as Docker does (in place: they are bind-mounted).
pub(super) fn write_files(
    c: &Container,
    dir: &Path,
    ips: &[IpAddr],
    embedded: bool,
    link_hosts: &[(String, IpAddr)],
) -> Result<(), DaemonError> {
    let hosts = hosts_text(c, ips, link_hosts);
    let resolv = files::resolv_conf(&dns::host_resolv(), &dns::dns_config(c), embedded);
    for (name, text) in [("hosts", hosts), ("resolv.conf", resolv)] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| DaemonError::io("writing", &p, e))?;
    }
    Ok(())
}

/// The container's `/etc/hosts`: the lines of legacy links come after `--add-host`'s and before
/// the container's own, as Docker 28 writes them.
fn hosts_text(c: &Container, ips: &[IpAddr], link_hosts: &[(String, IpAddr)]) -> String {
    files::hosts(&files::HostsConfig {
        hostname: crate::containers::spec::hostname(c),
        domainname: Some(c.config.domainname.clone()).filter(|d| !d.is_empty()),
        ips: ips.to_vec(),
        extra_hosts: c
            .host_config
            .extra_hosts
            .iter()
            .flatten()
            .filter_map(|h| files::parse_add_host(h))
            .chain(link_hosts.iter().cloned())
            .collect(),
    })
}
