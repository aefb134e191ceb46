//! Docker's create request in the engine's terms: the user's mounts (`Binds` strings, `Mounts`,
//! `Tmpfs`; named and anonymous volumes with `VolumeDriver`, and `VolumesFrom`), the healthcheck
//! (`Config.Healthcheck`'s JSON), the security settings
//! (`Privileged`, `CapAdd`, `CapDrop`, `SecurityOpt` text) and the published ports
//! (`PortBindings`, `PublishAllPorts`, `ExposedPorts`), the log (`LogConfig`) and the DNS
//! settings (`Dns`, `DnsSearch`, `DnsOptions`) parsed once, here, into
//! [`Settings`]; a bad one is refused with Docker's words (400) before the engine is called.
//! [`upgrade_record`] does the same for a record an older daemon stored with Docker's request
//! only.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::container::{ContainerConfig, EndpointSettings, HealthConfig, HostConfig};
use berth_api::volume::VolumeOptions;
use serde_json::Value;

use crate::containers::create::CreateRequest;
use crate::containers::health::{self, nanos, test_of};
use crate::containers::model::Container;
use crate::containers::settings::{
    DnsSettings, Healthcheck, LogDriver, LogSettings, Mount, MountKind, Ports, PublishedPort,
    Seccomp, Security, Settings, VolumeMount, VolumesFrom,
};
use crate::error::DaemonError;
use crate::networks::publish;

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
    })
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
    c.settings = Settings {
        mounts: mounts(&c.host_config)?,
        healthcheck: health::of_image(c.config.healthcheck.as_ref()),
        security: security(&c.host_config)?,
        ports,
        log: log(&c.host_config)?,
        dns: dns(&c.host_config),
        volumes_from: volumes_from(&c.host_config)?,
        volume_driver: c.host_config.volume_driver.clone().unwrap_or_default(),
    };
    Ok(())
}

fn check_destination(dest: &str, what: &str) -> Result<(), DaemonError> {
    if !dest.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if clean(dest) == "/" {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid specification: destination can't be '/'"
        )));
    }
    Ok(())
}

/// An absolute path cleaned lexically (`//`, `.`, `..` and a trailing `/` gone), as Go's
/// `path.Clean`: what a volume's destination is compared and mounted as.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Refuses a volume over `/proc` (security catalog CVE-06): the runtime mounts procfs there, and
/// a volume could hide it or hand the container a fake one.
fn check_volume_destination(dest: &str) -> Result<String, DaemonError> {
    check_destination(dest, "volume")?;
    let dest = clean(dest);
    if dest == "/proc" || dest.starts_with("/proc/") {
        return Err(invalid(format!(
            "invalid mount config for type \"volume\": a volume cannot be mounted on {dest}: /proc must be mounted on ordinary directory"
        )));
    }
    Ok(dest)
}

/// The kinds of word a `Binds` mode may hold, each at most once (Docker's
/// `linuxValidMountMode`); `None` for a word Docker does not know.
fn mode_word_kind(word: &str) -> Option<u8> {
    match word {
        "ro" | "rw" => Some(0),
        "z" | "Z" => Some(1),
        "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => Some(2),
        "nocopy" => Some(3),
        "consistent" | "cached" | "delegated" => Some(4),
        _ => None,
    }
}

/// Whether `mode` is a valid `Binds` mode (empty included).
fn valid_mode(mode: &str) -> bool {
    let mut seen = [0u8; 5];
    for word in mode.split(',').filter(|w| !w.is_empty()) {
        match mode_word_kind(word) {
            Some(k) => seen[usize::from(k)] += 1,
            None => return false,
        }
    }
    seen.iter().all(|n| *n <= 1)
}

fn mode_has(mode: &str, word: &str) -> bool {
    mode.split(',').any(|w| w == word)
}

/// One `Binds` entry: `/host:/ctr[:mode]` (a bind), `name:/ctr[:mode]` (a named volume, of
/// `volume_driver` when it is created) or `/ctr` (an anonymous volume).
fn parse_bind(spec: &str, volume_driver: &str) -> Result<Mount, DaemonError> {
    let bad_spec = || invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [""] | ["", ..] => return Err(bad_spec()),
        [d] => ("", *d, ""),
        // `/ctr:ro` is a destination with a mode, which a volume cannot have.
        [_, m] if valid_mode(m) => return Err(bad_spec()),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad_spec()),
    };
    if !valid_mode(mode) {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    let read_only = mode_has(mode, "ro");
    let propagation: Vec<String> = mode
        .split(',')
        .filter(|w| mode_word_kind(w) == Some(2))
        .map(String::from)
        .collect();
    if !source.starts_with('/') {
        let dest = check_volume_destination(dest)
            .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
        if !propagation.is_empty() {
            return Err(invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"volume\": field BindOptions must not be specified"
            )));
        }
        return Ok(Mount {
            kind: MountKind::Volume,
            source: source.to_string(),
            destination: dest,
            read_only,
            options: Vec::new(),
            create_source: false,
            mode: mode.to_string(),
            volume: Some(VolumeMount {
                driver: volume_driver.to_string(),
                nocopy: mode_has(mode, "nocopy"),
                anonymous: source.is_empty(),
                ..Default::default()
            }),
        });
    }
    check_destination(dest, "bind")?;
    Ok(Mount {
        kind: MountKind::Bind,
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
        options: propagation,
        // `-v` makes a missing host directory, as Docker does.
        create_source: true,
        mode: mode.to_string(),
        volume: None,
    })
}

/// A `Mounts` entry of type `volume` (`--mount type=volume,src=NAME,dst=/ctr,volume-nocopy,
/// volume-driver=D,volume-opt=K=V,volume-label=K=V`).
fn volume_mount(m: &berth_api::container::Mount) -> Result<Mount, DaemonError> {
    let dest = check_volume_destination(&m.target)?;
    let config = |e: String| invalid(format!("invalid mount config for type \"volume\": {e}"));
    if m.bind_options.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(config("field BindOptions must not be specified".into()));
    }
    if m.tmpfs_options.is_some() {
        return Err(config("field TmpfsOptions must not be specified".into()));
    }
    let opts: VolumeOptions = match &m.volume_options {
        None | Some(Value::Null) => VolumeOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| config(format!("invalid VolumeOptions: {e}")))?,
    };
    let anonymous = m.source.is_empty();
    if anonymous && m.read_only {
        return Err(config(
            "must not set ReadOnly mode when using anonymous volumes".into(),
        ));
    }
    if !opts.subpath.is_empty() {
        return Err(config(
            "VolumeOptions.Subpath is not supported by berth yet".into(),
        ));
    }
    let driver = opts.driver_config.unwrap_or_default();
    Ok(Mount {
        kind: MountKind::Volume,
        source: m.source.clone(),
        destination: dest,
        read_only: m.read_only,
        options: Vec::new(),
        create_source: false,
        mode: String::new(),
        volume: Some(VolumeMount {
            driver: driver.name,
            labels: opts.labels.unwrap_or_default(),
            driver_options: driver.options.unwrap_or_default(),
            nocopy: opts.no_copy,
            anonymous,
            ..Default::default()
        }),
    })
}

/// Every user mount of `host`: `Binds`, then `Mounts` (types `bind`, `volume` and `tmpfs`), then
/// `Tmpfs`.
pub fn mounts(host: &HostConfig) -> Result<Vec<Mount>, DaemonError> {
    let volume_driver = host.volume_driver.as_deref().unwrap_or("");
    let mut out = Vec::new();
    for b in host.binds.iter().flatten() {
        out.push(parse_bind(b, volume_driver)?);
    }
    for m in host.mounts.iter().flatten() {
        if m.kind == "volume" {
            out.push(volume_mount(m)?);
            continue;
        }
        check_destination(&m.target, &m.kind)?;
        match m.kind.as_str() {
            "bind" => out.push(Mount {
                kind: MountKind::Bind,
                source: m.source.clone(),
                destination: m.target.clone(),
                read_only: m.read_only,
                options: Vec::new(),
                create_source: false,
                mode: String::new(),
                volume: None,
            }),
            "tmpfs" => {
                let mut options = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                out.push(Mount {
                    kind: MountKind::Tmpfs,
                    source: String::new(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options,
                    create_source: false,
                    mode: String::new(),
                    volume: None,
                });
            }
            other => {
                return Err(invalid(format!(
                    "invalid mount config: mount type unknown: {other:?}"
                )))
            }
        }
    }
    for (dest, opts) in host.tmpfs.iter().flatten() {
        check_destination(dest, "tmpfs")?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        out.push(Mount {
            kind: MountKind::Tmpfs,
            source: String::new(),
            destination: dest.clone(),
            read_only: options.iter().any(|o| o == "ro"),
            options,
            create_source: false,
            mode: String::new(),
            volume: None,
        });
    }
    Ok(out)
}

/// `VolumesFrom`: `container[:ro|rw]` (a label mode `z`/`Z` allowed beside; no propagation and
/// no `nocopy`, as Docker refuses them).
pub fn volumes_from(host: &HostConfig) -> Result<Vec<VolumesFrom>, DaemonError> {
    let mut out = Vec::new();
    for spec in host.volumes_from.iter().flatten() {
        if spec.is_empty() {
            return Err(invalid(
                "volumes-from specification cannot be an empty string".into(),
            ));
        }
        let (container, mode) = spec.split_once(':').unwrap_or((spec, ""));
        let refused = mode
            .split(',')
            .any(|w| matches!(mode_word_kind(w), Some(2 | 3)));
        if !valid_mode(mode) || refused {
            return Err(invalid(format!("invalid mode: {mode}")));
        }
        out.push(VolumesFrom {
            container: container.to_string(),
            read_only: mode_has(mode, "ro"),
        });
    }
    Ok(out)
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
            out.no_new_privileges = true;
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
            "no-new-privileges" => out.no_new_privileges = matches!(v, "true" | "1" | ""),
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
    fn binds_parse_like_docker() {
        let m = parse_bind("/src:/data:ro", "").unwrap();
        assert!(m.read_only && m.create_source);
        assert_eq!((m.destination.as_str(), m.mode.as_str()), ("/data", "ro"));
        let m = parse_bind("/src:/data:rw,rslave", "").unwrap();
        assert_eq!(m.propagation(), Some("rslave"));
        assert!(parse_bind("/src:data", "").is_err());
        assert!(parse_bind("/src:/", "").is_err());
        assert!(parse_bind("/src:/data:bogus", "").is_err());
        assert!(parse_bind("/src:/data:ro,rw", "").is_err());
        assert!(parse_bind("/data:ro", "").is_err());
        assert!(parse_bind(":/data", "").is_err());
    }

    #[test]
    fn tmpfs_and_mounts() {
        let host: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "bind", "Source": "/usr", "Target": "/u", "ReadOnly": true},
                       {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}}],
            "Tmpfs": {"/scratch": "size=1m,ro"}
        }))
        .unwrap();
        let m = mounts(&host).unwrap();
        assert_eq!(m.len(), 3);
        assert!(!m[0].create_source && m[0].read_only);
        assert_eq!(m[1].options, ["size=1024", "mode=700"]);
        assert!(m[2].read_only);
        let bad: HostConfig =
            serde_json::from_value(json!({"Mounts": [{"Type": "nope", "Target": "/v"}]})).unwrap();
        assert!(mounts(&bad).is_err());
    }

    #[test]
    fn volumes_in_binds_mounts_and_volumes_from() {
        let m = parse_bind("data:/srv/../data/:ro,nocopy", "drv").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(
            (m.source.as_str(), m.destination.as_str()),
            ("data", "/data")
        );
        assert_eq!(m.mode, "ro,nocopy");
        let v = m.volume.unwrap();
        assert!(m.read_only && v.nocopy && !v.anonymous);
        assert_eq!(v.driver, "drv");
        let anon = parse_bind("/cache", "").unwrap();
        assert_eq!(anon.kind, MountKind::Volume);
        assert!(anon.source.is_empty() && anon.volume.unwrap().anonymous);
        let e = parse_bind("data:/proc", "").unwrap_err().to_string();
        assert!(e.contains("/proc"), "{e}");
        assert!(parse_bind("data:/proc/sys", "").is_err());
        assert!(parse_bind("data:/x:rshared", "").is_err());
        let host: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                        "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                                          "DriverConfig": {"Name": "local",
                                                           "Options": {"type": "tmpfs"}}}},
                       {"Type": "volume", "Target": "/anon"}],
            "VolumesFrom": ["other:ro", "third"],
            "VolumeDriver": "x"
        }))
        .unwrap();
        let m = mounts(&host).unwrap();
        let v = m[0].volume.clone().unwrap();
        assert!(v.nocopy && !v.anonymous);
        assert_eq!(v.labels["a"], "b");
        assert_eq!(v.driver_options["type"], "tmpfs");
        assert!(m[1].volume.clone().unwrap().anonymous);
        assert_eq!(m[1].volume.clone().unwrap().driver, "");
        let from = volumes_from(&host).unwrap();
        assert_eq!(from.len(), 2);
        assert!(from[0].read_only && !from[1].read_only);
        assert_eq!(from[0].container, "other");
        let ro_anon: HostConfig = serde_json::from_value(json!({
            "Mounts": [{"Type": "volume", "Target": "/anon", "ReadOnly": true}]
        }))
        .unwrap();
        assert!(mounts(&ro_anon).is_err());
        for bad in ["c:rshared", "c:nocopy", "", "c:bogus"] {
            let host = HostConfig {
                volumes_from: Some(vec![bad.to_string()]),
                ..Default::default()
            };
            assert!(volumes_from(&host).is_err(), "{bad}");
        }
    }

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
        assert!(s.no_new_privileges);
        assert_eq!(s.cap_add, ["NET_ADMIN"]);
        let bad = HostConfig {
            security_opt: Some(vec!["bogus".into()]),
            ..Default::default()
        };
        assert!(security(&bad).is_err());
    }
}
