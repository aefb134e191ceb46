//! Docker's endpoint settings (`NetworkingConfig.EndpointsConfig` of a create,
//! `EndpointConfig` of `POST /networks/{id}/connect`) in the engine's terms: aliases, the
//! `IPAMConfig` JSON's addresses (`--ip`, `--ip6`, link-local IPv4), the MAC address, driver
//! options and links.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use berth_api::container::EndpointSettings;

use crate::error::DaemonError;
use crate::networks::model::{EndpointIpam, EndpointRequest};

/// One endpoint's request.
pub fn endpoint(cfg: &EndpointSettings) -> Result<EndpointRequest, DaemonError> {
    Ok(EndpointRequest {
        aliases: cfg.aliases.clone().unwrap_or_default(),
        ipam: endpoint_ipam(cfg)?,
        mac_address: Some(cfg.mac_address.clone()).filter(|m| !m.is_empty()),
        driver_opts: cfg.driver_opts.clone(),
        links: cfg
            .links
            .iter()
            .flatten()
            .map(|l| crate::networks::links::parse(l))
            .collect::<Result<_, _>>()?,
    })
}

/// The requests of a create, by network name.
pub fn endpoints(
    config: Option<&BTreeMap<String, EndpointSettings>>,
) -> Result<Option<BTreeMap<String, EndpointRequest>>, DaemonError> {
    config
        .map(|m| {
            m.iter()
                .map(|(name, cfg)| Ok((name.clone(), endpoint(cfg)?)))
                .collect()
        })
        .transpose()
}

/// The endpoint's `IPAMConfig` as given (fields that are null or empty count as not given):
/// `None` when the client sent none. Link-local IPv6 addresses are refused: Berth adds IPv4
/// ones only.
fn endpoint_ipam(cfg: &EndpointSettings) -> Result<Option<EndpointIpam>, DaemonError> {
    let Some(v) = cfg.ipam_config.as_ref().filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let text = |key: &str| {
        v.get(key)
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
    };
    let ipv6 = text("IPv6Address")
        .map(|s| {
            s.parse::<Ipv6Addr>().map_err(|_| {
                DaemonError::InvalidArgument(format!("invalid IPv6 address {s:?} in --ip6"))
            })
        })
        .transpose()?;
    let ipv4 = text("IPv4Address")
        .map(|s| {
            s.parse().map_err(|_| {
                DaemonError::InvalidArgument(format!("invalid IPv4 address {s:?} in --ip"))
            })
        })
        .transpose()?;
    let link_local = v
        .get("LinkLocalIPs")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .map(|ip| {
            let s = ip.as_str().unwrap_or_default();
            s.parse::<Ipv4Addr>()
                .ok()
                .filter(|a| !a.is_unspecified())
                .ok_or_else(|| {
                    DaemonError::InvalidArgument(format!(
                        "invalid link-local IP address {ip}: berth takes IPv4 addresses"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(EndpointIpam {
        ipv4,
        ipv6,
        link_local,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_aliases_and_mac() {
        let cfg: EndpointSettings = serde_json::from_value(json!({
            "Aliases": ["db"],
            "IPAMConfig": {"IPv4Address": "10.9.0.5", "LinkLocalIPs": ["169.254.1.1"]},
            "MacAddress": "02:42:0a:09:00:05",
            "Links": ["db:data"]
        }))
        .unwrap();
        let r = endpoint(&cfg).unwrap();
        assert_eq!(r.aliases, ["db"]);
        let ipam = r.ipam.unwrap();
        assert_eq!(ipam.ipv4, Some(Ipv4Addr::new(10, 9, 0, 5)));
        assert_eq!(ipam.link_local, [Ipv4Addr::new(169, 254, 1, 1)]);
        assert_eq!(r.mac_address.as_deref(), Some("02:42:0a:09:00:05"));
        assert_eq!(r.links[0].shown(), "db:data");
        let none = endpoint(&EndpointSettings::default()).unwrap();
        assert_eq!((none.ipam, none.mac_address), (None, None));
        let v6: EndpointSettings =
            serde_json::from_value(json!({"IPAMConfig": {"IPv6Address": "fd00::5"}})).unwrap();
        let ipam = endpoint(&v6).unwrap().ipam.unwrap();
        assert_eq!(ipam.ipv6, Some("fd00::5".parse().unwrap()));
        assert_eq!(ipam.ipv4, None);
        let bad: EndpointSettings =
            serde_json::from_value(json!({"IPAMConfig": {"IPv6Address": "10.0.0.1"}})).unwrap();
        let e = endpoint(&bad).unwrap_err().to_string();
        assert!(
            e.contains("invalid IPv6 address \"10.0.0.1\" in --ip6"),
            "{e}"
        );
    }
}
