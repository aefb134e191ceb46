//! The `GET /containers/json` filters judged on the answer's view of a container rather than by
//! the engine's list: `network` (a network's name, or a prefix of its ID), `volume` (a volume's
//! name, a bind's source, or a mount's destination), `publish` and `expose` (a container port, a
//! range, with an optional protocol: `80`, `8000-8080/udp`), `is-task` (Berth runs no swarm tasks)
//! and `isolation`. Each works as dockerd's list does; several values of one filter are
//! alternatives, different filters must all hold.

use std::collections::BTreeMap;

use berth_api::container::ContainerSummary;
use berth_api::Filters;

use super::error::ApiError;
use crate::containers::model::Container;

/// A `publish`/`expose` value: ports `start..=end` of `proto`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortRange {
    start: u16,
    end: u16,
    proto: String,
}

impl PortRange {
    /// Whether a `PORT/PROTO` key of a container's ports falls in the range.
    fn holds(&self, key: &str) -> bool {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        proto.eq_ignore_ascii_case(&self.proto)
            && port
                .parse::<u16>()
                .is_ok_and(|p| (self.start..=self.end).contains(&p))
    }
}

/// Parses `80`, `80/udp` or `8000-8080/tcp` as moby's `portOp`, with its words.
fn port_range(filter: &str, value: &str) -> Result<PortRange, ApiError> {
    if value.contains(':') {
        return Err(ApiError::bad_request(format!(
            "filter for '{filter}' should not contain ':': {value}"
        )));
    }
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let bad = |what: &str| {
        ApiError::bad_request(format!(
            "error while looking up for {filter} {port}: invalid {what} port '{port}'"
        ))
    };
    let (start, end) = port.split_once('-').unwrap_or((port, port));
    let start: u16 = start.parse().map_err(|_| bad("start"))?;
    let end: u16 = end.parse().map_err(|_| bad("end"))?;
    if end < start {
        return Err(bad("range"));
    }
    Ok(PortRange {
        start,
        end,
        proto: proto.to_ascii_lowercase(),
    })
}

/// The filters of this module, parsed once per request.
#[derive(Debug, Default)]
pub struct ViewFilters {
    network: Vec<String>,
    volume: Vec<String>,
    publish: Vec<PortRange>,
    expose: Vec<PortRange>,
    is_task: Option<bool>,
    isolation: Vec<String>,
}

impl ViewFilters {
    pub fn parse(f: &Filters) -> Result<ViewFilters, ApiError> {
        let ports = |name: &str| {
            f.get(name)
                .iter()
                .map(|v| port_range(name, v))
                .collect::<Result<Vec<_>, _>>()
        };
        let is_task = match f.get("is-task") {
            [] => None,
            [one] => match one.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'is-task={one}'"
                    )))
                }
            },
            many => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'is-task=[{}]': only one value is expected",
                    many.join(" ")
                )))
            }
        };
        Ok(ViewFilters {
            network: f.get("network").to_vec(),
            volume: f.get("volume").to_vec(),
            publish: ports("publish")?,
            expose: ports("expose")?,
            is_task,
            isolation: f.get("isolation").to_vec(),
        })
    }

    /// Whether no filter of this module was given (the engine's list is the answer).
    pub fn is_empty(&self) -> bool {
        self.network.is_empty()
            && self.volume.is_empty()
            && self.publish.is_empty()
            && self.expose.is_empty()
            && self.is_task.is_none()
            && self.isolation.is_empty()
    }

    /// Whether container `c`, whose answer entry is `s` (its networks and mounts filled), passes.
    pub fn keeps(&self, c: &Container, s: &ContainerSummary) -> bool {
        let any = |values: &[String], p: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| p(v))
        };
        let networks = &s.network_settings.networks;
        let on_network = |v: &str| {
            networks.contains_key(v)
                || networks
                    .values()
                    .any(|e| !e.network_id.is_empty() && e.network_id.starts_with(v))
        };
        let has_volume = |v: &str| {
            s.mounts
                .iter()
                .any(|m| m.destination == v || m.name.as_deref().map_or(m.source == v, |n| n == v))
        };
        let in_ports = |ranges: &[PortRange], keys: Option<Vec<&String>>| {
            ranges.is_empty()
                || keys
                    .unwrap_or_default()
                    .iter()
                    .any(|k| ranges.iter().any(|r| r.holds(k)))
        };
        let bindings = c.host_config.port_bindings.as_ref().map(keys);
        let exposed = c.config.exposed_ports.as_ref().map(keys);
        let isolation = c.host_config.isolation.as_deref().unwrap_or("");
        any(&self.network, &on_network)
            && any(&self.volume, &has_volume)
            && in_ports(&self.publish, bindings)
            && in_ports(&self.expose, exposed)
            && self.is_task != Some(true)
            && any(&self.isolation, &|v| v == isolation)
    }
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&String> {
    map.keys().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_as_moby_reads_them() {
        let r = port_range("publish", "8000-8080/UDP").unwrap();
        assert!(r.holds("8080/udp") && r.holds("8000/udp"));
        assert!(!r.holds("8080/tcp") && !r.holds("7999/udp"));
        let one = port_range("expose", "80").unwrap();
        assert!(one.holds("80/tcp") && one.holds("80") && !one.holds("81/tcp"));
        for bad in ["x", "80-x", "90-80", "1.2.3.4:80"] {
            assert!(port_range("publish", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_filter_of_this_module_is_empty() {
        let f = Filters::default();
        assert!(ViewFilters::parse(&f).unwrap().is_empty());
    }
}
