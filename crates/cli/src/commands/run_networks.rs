//! `--network` of `run`/`create` as the docker CLI 28 reads it: given more than once it names
//! several networks (the first is `HostConfig.NetworkMode`, every one gets an endpoint in
//! `NetworkingConfig.EndpointsConfig`), and each may use the long syntax
//! `name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC,link-local-ip=IP,driver-opt=K=V,gw-priority=N`.
//! The container-wide endpoint flags (`--network-alias`, `--ip`, `--ip6`, `--mac-address`,
//! `--link` on a user-defined network) apply to the first network, and conflict with the same
//! setting given in its long syntax; a lone network with no endpoint setting sends no endpoint,
//! and no `--network` at all sends the `default` one, as the docker CLI does.

use std::collections::BTreeMap;

use berth_api::container::{EndpointIpamConfig, EndpointSettings};

use super::run_opts;
use crate::error::{CliError, Result};
use crate::flags::{Parsed, Spec};

/// One `--network` value.
#[derive(Debug, Default, Clone, PartialEq)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    driver_opts: BTreeMap<String, String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    link_local: Vec<String>,
    mac: String,
    gw_priority: i64,
}

/// What `--network` and the endpoint flags send: the network mode and the endpoints.
#[derive(Debug)]
pub struct Networks {
    pub mode: String,
    pub endpoints: BTreeMap<String, EndpointSettings>,
}

/// Whether `network` names a user-defined network, as the docker CLI decides it.
pub fn user_defined(network: &str) -> bool {
    !matches!(network, "default" | "bridge" | "host" | "none") && !network.starts_with("container:")
}

/// The long syntax is chosen as the docker CLI chooses it: a word character, `=`, a word
/// character anywhere in the value.
fn long_syntax(value: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = value.chars().collect();
    chars
        .windows(3)
        .any(|w| word(w[0]) && w[1] == '=' && word(w[2]))
}

/// The comma-separated fields of a long-syntax value (double quotes protect commas, `""` is a
/// quote, as in Go's CSV reader).
fn fields(value: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            value.len() + 1
        ));
    }
    out.push(cur);
    Ok(out)
}

/// One `--network` value; the error is the docker CLI's words for it.
fn attachment(value: &str) -> std::result::Result<Attachment, String> {
    if !long_syntax(value) {
        return Ok(Attachment {
            target: value.to_string(),
            ..Attachment::default()
        });
    }
    let mut a = Attachment::default();
    for field in fields(value)? {
        // The docker CLI reads the whole field lower-cased, values too.
        let lower = field.to_lowercase();
        let Some((key, val)) = lower.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(format!("invalid field {field}"));
        };
        let (key, val) = (key.trim(), val.trim().to_string());
        match key {
            "name" => a.target = val,
            "alias" => a.aliases.push(val),
            "ip" => a.ipv4 = val,
            "ip6" => a.ipv6 = val,
            "mac-address" => a.mac = val,
            "link-local-ip" => a.link_local.push(val),
            "driver-opt" => {
                let Some((k, v)) = val.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err("invalid key value pair format in driver options".into());
                };
                a.driver_opts.insert(k.trim().into(), v.trim().into());
            }
            "gw-priority" => {
                a.gw_priority = val.parse().map_err(|e: std::num::ParseIntError| {
                    let why = match e.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => "value out of range",
                        _ => "invalid syntax",
                    };
                    format!("invalid gw-priority ({val}): {why}")
                })?;
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(a)
}

/// The container-wide endpoint flags put on the first network (docker's applyContainerOptions).
fn apply_container_flags(a: &mut Attachment, p: &Parsed, links: &[String]) -> Result<()> {
    let conflict =
        |what: &str| CliError::Message(format!("conflicting options: cannot specify both {what}"));
    let aliases = p.list("network-alias");
    let (ip, ip6, mac) = (
        p.str_or_empty("ip"),
        p.str_or_empty("ip6"),
        p.str_or_empty("mac-address"),
    );
    if !a.aliases.is_empty() && !aliases.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !a.links.is_empty() && !links.is_empty() {
        return Err(conflict("--link and per-network links"));
    }
    if !a.ipv4.is_empty() && !ip.is_empty() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if !a.ipv6.is_empty() && !ip6.is_empty() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if !a.mac.is_empty() && !mac.is_empty() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !aliases.is_empty() {
        a.aliases = aliases;
    }
    // On a user-defined network `--link` is an endpoint option (an alias); on the default
    // bridge it is a legacy link only.
    if user_defined(&a.target) && !links.is_empty() {
        a.links = links.to_vec();
    }
    for (field, value) in [(&mut a.ipv4, ip), (&mut a.ipv6, ip6), (&mut a.mac, mac)] {
        if !value.is_empty() {
            *field = value.to_string();
        }
    }
    Ok(())
}

/// The endpoint of one attachment (docker's parseNetworkAttachmentOpt).
fn endpoint(a: &Attachment) -> Result<EndpointSettings> {
    if a.target.trim().is_empty() {
        return Err(CliError::Message("no name set for network".into()));
    }
    if !user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(CliError::Message(
                "network-scoped aliases are only supported for user-defined networks".into(),
            ));
        }
        if !a.links.is_empty() {
            return Err(CliError::Message(
                "links are only supported for user-defined networks".into(),
            ));
        }
    }
    let ipam = EndpointIpamConfig {
        ipv4_address: a.ipv4.clone(),
        ipv6_address: a.ipv6.clone(),
        link_local_ips: a.link_local.clone(),
    };
    let ipam_config = match ipam != EndpointIpamConfig::default() {
        // The shared field is still untyped (the daemon reads it as JSON): the typed value goes in.
        true => Some(serde_json::to_value(ipam).map_err(|e| CliError::Message(e.to_string()))?),
        false => None,
    };
    if !a.mac.is_empty() && !valid_mac(a.mac.trim()) {
        return Err(CliError::Message(format!(
            "{} is not a valid mac address",
            a.mac
        )));
    }
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    Ok(EndpointSettings {
        ipam_config,
        aliases: list(&a.aliases),
        links: list(&a.links),
        mac_address: a.mac.clone(),
        driver_opts: (!a.driver_opts.is_empty()).then(|| a.driver_opts.clone()),
        gw_priority: Some(a.gw_priority),
        ..run_opts::default_endpoint()
    })
}

/// A MAC address as Go's `net.ParseMAC` takes the 6-byte forms (`:` or `-` separated pairs, or
/// `.` separated groups of four hex digits).
fn valid_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() == 6 && parts.iter().all(|p| hex(p, 2)) {
            return true;
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| hex(p, 4))
}

/// `--network` (every value) and the endpoint flags, as the docker CLI sends them.
pub fn networks(spec: &Spec, p: &Parsed, links: &[String]) -> Result<Networks> {
    let given = p.list("network");
    let mut attachments = Vec::new();
    for v in &given {
        attachments.push(attachment(v).map_err(|why| spec.invalid_value("network", v, &why))?);
    }
    let status = |e: CliError| match e {
        CliError::Message(message) => CliError::Status {
            command: spec.name.into(),
            message,
            code: 125,
        },
        e => e,
    };
    let mut endpoints = BTreeMap::new();
    if attachments.is_empty() {
        let mut a = Attachment {
            target: "default".into(),
            ..Attachment::default()
        };
        apply_container_flags(&mut a, p, links).map_err(status)?;
        endpoints.insert(a.target.clone(), endpoint(&a).map_err(status)?);
    }
    let (mut user, mut builtin) = (false, false);
    let only_one = attachments.len() == 1;
    for (i, mut a) in attachments.clone().into_iter().enumerate() {
        if user_defined(&a.target) {
            user = true;
        } else {
            builtin = true;
        }
        if i == 0 {
            apply_container_flags(&mut a, p, links).map_err(status)?;
        }
        let ep = endpoint(&a).map_err(status)?;
        if endpoints.contains_key(&a.target) {
            return Err(status(CliError::Message(format!(
                "network {:?} is specified multiple times",
                a.target
            ))));
        }
        // A lone network without endpoint settings sends none (the daemon makes it).
        let bare = Attachment {
            target: a.target.clone(),
            ..Attachment::default()
        };
        if i == 0 && only_one && a == bare {
            continue;
        }
        endpoints.insert(a.target.clone(), ep);
    }
    if user && builtin {
        return Err(status(CliError::Message(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                .into(),
        )));
    }
    Ok(Networks {
        mode: attachments
            .first()
            .map_or_else(|| "default".to_string(), |a| a.target.clone()),
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_syntax_as_the_docker_cli_reads_it() {
        assert!(!long_syntax("net1"));
        assert!(!long_syntax("container:abc"));
        assert!(long_syntax("name=net1"));
        let a = attachment("name=Net1,alias=A1,alias=b,ip=10.0.0.5,driver-opt=k=V,gw-priority=3")
            .unwrap_or_default();
        assert_eq!(a.target, "net1");
        assert_eq!(a.aliases, ["a1", "b"]);
        assert_eq!(a.ipv4, "10.0.0.5");
        assert_eq!(a.driver_opts.get("k").map(String::as_str), Some("v"));
        assert_eq!(a.gw_priority, 3);
        let err = |v: &str| attachment(v).err().unwrap_or_default();
        assert_eq!(err("alias=x"), "network name/id is not specified");
        assert_eq!(err("name=n,color=red"), "invalid field key color");
        assert_eq!(err("name=n,oops"), "invalid field oops");
        assert_eq!(
            err("name=n,gw-priority=x"),
            "invalid gw-priority (x): invalid syntax"
        );
        assert_eq!(
            err("name=n,driver-opt=novalue"),
            "invalid key value pair format in driver options"
        );
        assert_eq!(
            fields("name=n,\"alias=a,b\"").unwrap_or_default(),
            ["name=n", "alias=a,b"]
        );
    }

    #[test]
    fn macs_as_go_parses_them() {
        assert!(valid_mac("02:42:0a:09:00:05"));
        assert!(valid_mac("02-42-0A-09-00-05"));
        assert!(valid_mac("0242.0a09.0005"));
        assert!(!valid_mac("02:42:0a:09:00"));
        assert!(!valid_mac("zz:42:0a:09:00:05"));
    }
}
