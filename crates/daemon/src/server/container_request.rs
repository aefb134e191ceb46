//! Docker's create request in the engine's terms: the user's mounts (`Binds` strings, `Mounts`,
//! `Tmpfs`, `VolumesFrom`: [`super::mount_request`]), the healthcheck (`Config.Healthcheck`'s
//! JSON), the security settings
//! (`Privileged`, `CapAdd`, `CapDrop`, `SecurityOpt` text) and the published ports
//! (`PortBindings`, `PublishAllPorts`, `ExposedPorts`), the log (`LogConfig`), the DNS
//! settings (`Dns`, `DnsSearch`, `DnsOptions`) and the legacy links (`Links`) parsed once, here,
//! into [`Settings`]; a bad one is refused with Docker's words (400) before the engine is called.
//! [`upgrade_record`] does the same for a record an older daemon stored with Docker's request
//! only.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::container::{ContainerConfig, EndpointSettings, HealthConfig, HostConfig};
use berth_api::ApiVersion;
use serde_json::Value;

use crate::containers::create::CreateRequest;
use crate::containers::health::{self, nanos, test_of};
use crate::containers::model::Container;
use crate::containers::settings::{
    DnsSettings, Healthcheck, LogDriver, LogSettings, Ports, PublishedPort, Seccomp, Security,
    Settings,
};
use crate::error::DaemonError;
use crate::networks::links::{self, LinkSpec};
use crate::networks::publish;

pub use super::mount_request::{mounts, volumes_from};

fn invalid(msg: String) -> DaemonError {
    DaemonError::InvalidArgument(msg)
}

/// The engine's create request of Docker's.
pub fn create_request(
    name: Option<String>,
    config: ContainerConfig,
    host_config: HostConfig,
    endpoints: Option<BTreeMap<String, EndpointSettings>>,
) -> Result<CreateRequest, DaemonError> {
    Ok(CreateRequest {
        name,
        settings: settings(&config, &host_config)?,
        config,
        host_config,
        endpoints: super::endpoint_request::endpoints(endpoints.as_ref())?,
    })
}

/// `NetworkingConfig.EndpointsConfig` as API `version` reads it. From 1.44 on every entry is a
/// network to attach. Before, a create names one network at most (more is refused in moby's
/// words), and that one entry configures the `NetworkMode`'s network whatever its key.
pub fn endpoints_for_version(
    version: ApiVersion,
    host: &HostConfig,
    endpoints: Option<BTreeMap<String, EndpointSettings>>,
) -> Result<Option<BTreeMap<String, EndpointSettings>>, DaemonError> {
    let Some(endpoints) = endpoints else {
        return Ok(None);
    };
    if version.at_least(1, 44) {
        return Ok(Some(endpoints));
    }
    if endpoints.len() > 1 {
        let names: Vec<&str> = endpoints.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "Container cannot be created with multiple network endpoints: {}",
            names.join(", ")
        )));
    }
    let mode = match host.network_mode.as_deref().unwrap_or_default() {
        "" => "default",
        m => m,
    };
    Ok(Some(
        endpoints
            .into_values()
            .map(|cfg| (mode.to_string(), cfg))
            .collect(),
    ))
}

/// The settings of a request. The exposed ports are the request's; create puts the image's in
/// when the request has none.
pub fn settings(config: &ContainerConfig, host: &HostConfig) -> Result<Settings, DaemonError> {
    Ok(Settings {
        mounts: mounts(host)?,
        healthcheck: healthcheck(config.healthcheck.as_ref())?,
        security: security(host)?,
        ports: ports(host, config.exposed_ports.as_ref())?,
        log: log(host)?,
        dns: dns(host),
        volumes_from: volumes_from(host)?,
        volume_driver: host.volume_driver.clone().unwrap_or_default(),
        links: links(host)?,
    })
}

/// `Links` (`NAME[:ALIAS]`), the default bridge's legacy links (a container without a network
/// keeps them, to no effect, as Docker does). Refused with host or container networking, in
/// Docker's words; on a user-defined network they are left out, as Docker leaves them: there
/// the endpoint's `Links` (which the docker CLI sends too) make DNS aliases.
pub fn links(host: &HostConfig) -> Result<Vec<LinkSpec>, DaemonError> {
    let given = host.links.as_deref().unwrap_or_default();
    if given.is_empty() {
        return Ok(Vec::new());
    }
    match host.network_mode.as_deref().unwrap_or_default() {
        "host" => Err(invalid(
            "conflicting options: host type networking can't be used with links. This would \
             result in undefined behavior"
                .into(),
        )),
        m if m.starts_with("container:") => Err(invalid(
            "conflicting options: container type network can't be used with links. This would \
             result in undefined behavior"
                .into(),
        )),
        "" | "default" | "bridge" | "none" => given.iter().map(|l| links::parse(l)).collect(),
        _ => Ok(Vec::new()),
    }
}

/// `Dns`, `DnsSearch` and `DnsOptions`; a server that is not an IP address is left out.
pub fn dns(host: &HostConfig) -> DnsSettings {
    DnsSettings {
        servers: host
            .dns
            .iter()
            .flatten()
            .filter_map(|s| s.parse().ok())
            .collect(),
        search: host.dns_search.clone().unwrap_or_default(),
        options: host.dns_options.clone().unwrap_or_default(),
    }
}

/// `LogConfig`: the driver (`json-file`, the default, or `none`) and json-file's `max-size`
/// (`10m`; unreadable: no limit) and `max-file` (unreadable: 1).
pub fn log(host: &HostConfig) -> Result<LogSettings, DaemonError> {
    let config = host.log_config.clone().unwrap_or_default();
    let driver = match config.kind.as_str() {
        "" | "json-file" => LogDriver::JsonFile,
        "none" => LogDriver::None,
        other => {
            return Err(invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    };
    let opts = config.config.unwrap_or_default();
    Ok(LogSettings {
        driver,
        max_size: opts
            .get("max-size")
            .and_then(|s| berth_api::units::ram_in_bytes(s).ok())
            .map_or(0, |n| n.max(0) as u64),
        max_files: opts
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1),
    })
}

/// `PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`), `PublishAllPorts` and
/// `ExposedPorts`.
pub fn ports(
    host: &HostConfig,
    exposed: Option<&BTreeMap<String, Value>>,
) -> Result<Ports, DaemonError> {
    let mut published = Vec::new();
    for (key, list) in host.port_bindings.iter().flatten() {
        let container = publish::port_range(key)?;
        for b in list.iter().flatten() {
            let host_ip = match b.host_ip.as_str() {
                "" => None,
                ip if ip.parse::<std::net::Ipv6Addr>().is_ok() => {
                    return Err(invalid(format!(
                        "cannot publish port {key} on IPv6 host address {ip}: berth publishes \
                         ports on IPv4 host addresses only; leave the address out or give an \
                         IPv4 one such as 127.0.0.1"
                    )))
                }
                ip => Some(
                    ip.parse::<Ipv4Addr>()
                        .map_err(|_| invalid(format!("invalid host IP {ip:?} for port {key}")))?,
                ),
            };
            let host_ports =
                match b.host_port.as_str() {
                    "" | "0" => None,
                    p => Some(publish::parse_range(p).ok_or_else(|| {
                        invalid(format!("invalid host port {p:?} for port {key}"))
                    })?),
                };
            published.push(PublishedPort {
                container,
                host_ip,
                host_ports,
            });
        }
    }
    let keys = exposed
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str));
    Ok(Ports {
        published,
        publish_all: host.publish_all_ports,
        exposed: publish::exposed(keys, host.publish_all_ports)?,
    })
}

/// Fills the settings of a record stored before they existed (format 1), from the request it
/// kept. What create checked (mounts, security) is parsed as for a request; what it did not is
/// taken as it is: the healthcheck (already merged with the image's, whose values were never
/// checked) and the port maps (checked only at start then: a container whose ports cannot be
/// read keeps none, with a warning, where its start used to fail).
pub fn upgrade_record(c: &mut Container) -> Result<(), DaemonError> {
    let ports = ports(&c.host_config, c.config.exposed_ports.as_ref()).unwrap_or_else(|e| {
        tracing::warn!(container = %c.id, error = %e, "the port maps of an old record cannot be read; it keeps none");
        Ports::default()
    });
    // Create ignored a bind's and a tmpfs's other options then, and read a no-new-privileges
    // value other than `true`/`1` as false: the record keeps what its container had, and a value
    // create refuses now does not stop the daemon from loading it.
    let mut host = c.host_config.clone();
    for m in host
        .mounts
        .iter_mut()
        .flatten()
        .filter(|m| m.kind != "volume")
    {
        m.bind_options = None;
        m.volume_options = None;
        if m.kind == "bind" {
            m.tmpfs_options = None;
        }
    }
    for o in host.security_opt.iter_mut().flatten() {
        let value = o
            .strip_prefix("no-new-privileges")
            .and_then(|v| v.strip_prefix(['=', ':']));
        if let Some(v) = value {
            *o = format!("no-new-privileges={}", matches!(v, "true" | "1" | ""));
        }
    }
    c.settings = Settings {
        mounts: mounts(&host)?,
        healthcheck: health::of_image(c.config.healthcheck.as_ref()),
        security: security(&host)?,
        ports,
        log: log(&c.host_config)?,
        dns: dns(&c.host_config),
        volumes_from: volumes_from(&c.host_config)?,
        volume_driver: c.host_config.volume_driver.clone().unwrap_or_default(),
        // Names as given: the start looks them up.
        links: links(&c.host_config).unwrap_or_default(),
    };
    Ok(())
}

/// `Config.Healthcheck`, checked as Docker does: durations, when given, of at least 1 ms; no
/// negative retry count.
pub fn healthcheck(config: Option<&Value>) -> Result<Option<Healthcheck>, DaemonError> {
    let Some(v) = config.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let hc: HealthConfig = serde_json::from_value(v.clone())
        .map_err(|e| invalid(format!("invalid Healthcheck: {e}")))?;
    const MIN_NANOS: i64 = 1_000_000;
    for (field, nanos) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if nanos != 0 && nanos < MIN_NANOS {
            return Err(invalid(format!(
                "{field} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if hc.retries < 0 {
        return Err(invalid("Retries in Healthcheck cannot be negative".into()));
    }
    Ok(Some(Healthcheck {
        test: test_of(&hc.test.unwrap_or_default()),
        interval: nanos(Some(hc.interval)),
        timeout: nanos(Some(hc.timeout)),
        start_period: nanos(Some(hc.start_period)),
        start_interval: nanos(Some(hc.start_interval)),
        retries: hc.retries,
    }))
}

/// `Privileged`, `CapAdd`, `CapDrop` and `SecurityOpt` (`key=value` or the legacy `key:value`).
pub fn security(host: &HostConfig) -> Result<Security, DaemonError> {
    let mut out = Security {
        privileged: host.privileged,
        cap_add: host.cap_add.clone().unwrap_or_default(),
        cap_drop: host.cap_drop.clone().unwrap_or_default(),
        ..Default::default()
    };
    for o in host.security_opt.iter().flatten() {
        if o == "no-new-privileges" {
            out.no_new_privileges = Some(true);
            continue;
        }
        let (k, v) = o
            .split_once('=')
            .or_else(|| o.split_once(':'))
            .ok_or_else(|| invalid(format!("Invalid --security-opt: {o:?}")))?;
        match k {
            "seccomp" if v == "unconfined" => out.seccomp = Seccomp::Unconfined,
            "seccomp" if out.seccomp != Seccomp::Unconfined => {
                out.seccomp = Seccomp::Profile(v.to_string())
            }
            "seccomp" => {}
            // Go's `strconv.ParseBool`, as dockerd parses it: a value it does not know is
            // refused, never read as `false` (which would lift the daemon's default).
            "no-new-privileges" => {
                out.no_new_privileges = Some(match v {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => return Err(invalid(format!("invalid --security-opt 2: {o:?}"))),
                })
            }
            "apparmor" | "label" => {}
            _ => return Err(invalid(format!("Invalid --security-opt: {o:?}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::settings::HealthTest;
    use serde_json::json;

    #[test]
    fn healthchecks_are_checked_and_typed() {
        assert_eq!(healthcheck(None).unwrap(), None);
        let h = healthcheck(Some(
            &json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(h.test, HealthTest::Shell(vec!["true".into()]));
        assert_eq!(h.interval, std::time::Duration::from_millis(1));
        let e = healthcheck(Some(&json!({"Interval": 999_999}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let e = healthcheck(Some(&json!({"Timeout": -5}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Timeout in Healthcheck cannot be less than 1ms"
        );
        let e = healthcheck(Some(&json!({"Retries": -1}))).unwrap_err();
        assert_eq!(e.to_string(), "Retries in Healthcheck cannot be negative");
        let off = healthcheck(Some(&json!({"Test": ["NONE"]})))
            .unwrap()
            .unwrap();
        assert_eq!(off.test, HealthTest::Disabled);
    }

    #[test]
    fn port_bindings_and_publish_all() {
        let host: HostConfig = serde_json::from_value(json!({
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "PublishAllPorts": true
        }))
        .unwrap();
        let exposed = BTreeMap::from([
            ("80/tcp".to_string(), json!({})),
            ("443/tcp".to_string(), json!({})),
        ]);
        let p = ports(&host, Some(&exposed)).unwrap();
        let s = publish::specs(&p);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].host_ports, Some((8080, 8080)));
        assert_eq!(s[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s[1].container_ports, (443, 443));
        assert_eq!(s[1].host_ports, None);
        let bad: HostConfig = serde_json::from_value(
            json!({"PortBindings": {"80/tcp": [{"HostIp": "1.2.3", "HostPort": "80"}]}}),
        )
        .unwrap();
        let e = ports(&bad, None).unwrap_err().to_string();
        assert_eq!(e, "invalid host IP \"1.2.3\" for port 80/tcp");
        let v6: HostConfig = serde_json::from_value(
            json!({"PortBindings": {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}}),
        )
        .unwrap();
        let e = ports(&v6, None).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot publish port 80/tcp on IPv6 host address ::1"),
            "{e}"
        );
    }

    #[test]
    fn old_records_take_what_create_never_checked_as_it_is() {
        let mut c: Container = serde_json::from_value(json!({
            "id": "x", "name": "n", "created": 0, "image_name": "i", "image_id": "d",
            "config": {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 500_000}},
            "host_config": {"Binds": ["/tmp:/t:ro"],
                            "PortBindings": {"80/tcp": [{"HostIp": "bad", "HostPort": "80"}]}},
            "path": "p", "args": [],
            "state": {"status": "created", "pid": 0, "exit_code": 0, "error": "",
                      "oom_killed": false, "started_at": 0, "finished_at": 0,
                      "restart_count": 0, "manually_stopped": false, "has_been_started": false}
        }))
        .unwrap();
        upgrade_record(&mut c).unwrap();
        assert_eq!(c.settings.mounts.len(), 1);
        let hc = c.settings.healthcheck.unwrap();
        assert_eq!(hc.interval, std::time::Duration::from_micros(500));
        assert_eq!(c.settings.ports, Ports::default());
    }

    #[test]
    fn old_records_keep_what_create_ignored_then() {
        let mut c: Container = serde_json::from_value(json!({
            "id": "x", "name": "n", "created": 0, "image_name": "i", "image_id": "d",
            "config": {},
            "host_config": {"Mounts": [{"Type": "bind", "Source": "/usr", "Target": "/u",
                                        "BindOptions": {"NonRecursive": true,
                                                        "Propagation": "rslave"}}],
                            "SecurityOpt": ["no-new-privileges=yes"]},
            "path": "p", "args": [],
            "state": {"status": "created", "pid": 0, "exit_code": 0, "error": "",
                      "oom_killed": false, "started_at": 0, "finished_at": 0,
                      "restart_count": 0, "manually_stopped": false, "has_been_started": false}
        }))
        .unwrap();
        upgrade_record(&mut c).unwrap();
        assert_eq!(c.settings.mounts[0].propagation(), None);
        assert_eq!(c.settings.security.no_new_privileges, Some(false));
        assert!(security(&c.host_config).is_err(), "create refuses it now");
    }

    #[test]
    fn log_drivers_and_rotation() {
        let host: HostConfig = serde_json::from_value(json!({
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}
        }))
        .unwrap();
        let l = log(&host).unwrap();
        assert_eq!(
            (l.driver, l.max_size, l.max_files),
            (LogDriver::JsonFile, 1 << 20, 3)
        );
        assert_eq!(log(&HostConfig::default()).unwrap(), LogSettings::default());
        let bad: HostConfig =
            serde_json::from_value(json!({"LogConfig": {"Type": "syslog"}})).unwrap();
        let e = log(&bad).unwrap_err().to_string();
        assert_eq!(e, "logger: no log driver named 'syslog' is registered");
    }

    #[test]
    fn dns_settings() {
        let host: HostConfig = serde_json::from_value(json!({
            "Dns": ["10.0.0.53", "not-an-ip"], "DnsSearch": ["example.org"], "DnsOptions": ["ndots:2"]
        }))
        .unwrap();
        let d = dns(&host);
        assert_eq!(
            d.servers,
            ["10.0.0.53".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            (d.search, d.options),
            (vec!["example.org".to_string()], vec!["ndots:2".to_string()])
        );
    }

    #[test]
    fn endpoints_by_api_version() {
        let eps = |names: &[&str]| {
            Some(
                names
                    .iter()
                    .map(|n| (n.to_string(), EndpointSettings::default()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let host = HostConfig {
            network_mode: Some("a".into()),
            ..Default::default()
        };
        let keys = |m: Option<BTreeMap<String, EndpointSettings>>| {
            m.unwrap_or_default().into_keys().collect::<Vec<_>>()
        };
        let v = |minor| ApiVersion::new(1, minor);
        let both = endpoints_for_version(v(44), &host, eps(&["a", "b"])).unwrap();
        assert_eq!(keys(both), ["a", "b"]);
        let e = endpoints_for_version(v(43), &host, eps(&["a", "b"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Container cannot be created with multiple network endpoints: a, b"
        );
        // Before 1.44 the one entry is the mode's network's, whatever its key.
        let one = endpoints_for_version(v(41), &host, eps(&["other"])).unwrap();
        assert_eq!(keys(one), ["a"]);
        let one = endpoints_for_version(v(41), &HostConfig::default(), eps(&["x"])).unwrap();
        assert_eq!(keys(one), ["default"]);
        assert!(endpoints_for_version(v(41), &host, None).unwrap().is_none());
    }

    #[test]
    fn links_by_network_mode() {
        let host = |mode: &str, links: &[&str]| HostConfig {
            network_mode: Some(mode.into()),
            links: Some(links.iter().map(|l| l.to_string()).collect()),
            ..Default::default()
        };
        let got = links(&host("bridge", &["db:data", "/cache:/web/c"])).unwrap();
        let shown: Vec<String> = got.iter().map(LinkSpec::shown).collect();
        assert_eq!(shown, ["db:data", "cache:c"]);
        assert!(links(&host("front", &["db:data"])).unwrap().is_empty());
        let e = links(&host("host", &["db"])).unwrap_err().to_string();
        assert!(
            e.contains("host type networking can't be used with links"),
            "{e}"
        );
        let e = links(&host("container:x", &["db"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container type network can't be used with links"),
            "{e}"
        );
        let e = links(&host("default", &["a:b:c"])).unwrap_err().to_string();
        assert_eq!(e, "bad format for links: a:b:c");
        assert!(links(&host("host", &[])).unwrap().is_empty());
    }

    #[test]
    fn security_options() {
        let host = HostConfig {
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "no-new-privileges".into(),
                "label=disable".into(),
            ]),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            ..Default::default()
        };
        let s = security(&host).unwrap();
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert_eq!(s.no_new_privileges, Some(true));
        assert_eq!(s.cap_add, ["NET_ADMIN"]);
        let bad = HostConfig {
            security_opt: Some(vec!["bogus".into()]),
            ..Default::default()
        };
        assert!(security(&bad).is_err());
        let nnp = |opt: &str| {
            security(&HostConfig {
                security_opt: Some(vec![opt.into()]),
                ..Default::default()
            })
            .map(|s| s.no_new_privileges)
        };
        assert_eq!(nnp("no-new-privileges=false").unwrap(), Some(false));
        assert_eq!(nnp("no-new-privileges:true").unwrap(), Some(true));
        for typo in ["no-new-privileges=yes", "no-new-privileges="] {
            assert_eq!(
                nnp(typo).unwrap_err().to_string(),
                format!("invalid --security-opt 2: {typo:?}")
            );
        }
    }
}
