//! The planner, pure: Docker Compose v2's labels and names, the config hash, the container
//! create body for a service (its volumes from [`crate::mounts`]), the dependency order, and
//! what `up` does to each service's existing containers (keep, start, recreate, create,
//! remove) for a wanted scale.

use crate::model::{Project, Service};
use crate::mounts::{service_mounts, volumes_from, Inherit, Mounts};
use berth_api::container::{
    ContainerConfig, ContainerCreateRequest, EndpointSettings, HostConfig, LogConfig, Mount,
    NetworkingConfig, PortBinding, RestartPolicy, Ulimit,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const HASH: &str = "com.docker.compose.config-hash";
pub const SLUG: &str = "com.docker.compose.slug";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
/// The Compose version these labels claim to be written by.
pub const COMPOSE_VERSION: &str = "2.24.0";

/// The config hash: sha256 of the service's normalised definition without its scale.
pub fn config_hash(svc: &Service) -> String {
    let mut v = svc.raw.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("scale");
        if let Some(d) = m.get_mut("deploy").and_then(|d| d.as_object_mut()) {
            d.remove("replicas");
        }
    }
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// `<project>-<service>-<n>` (or the service's `container_name`).
pub fn container_name(project: &str, svc: &Service, number: u32) -> String {
    match &svc.container_name {
        Some(n) => n.clone(),
        None => format!("{project}-{}-{number}", svc.name),
    }
}

/// The labels of a service's container.
pub fn labels(p: &Project, svc: &Service, number: u32, oneoff: bool) -> BTreeMap<String, String> {
    let mut l = svc.labels.clone();
    l.insert(PROJECT.into(), p.name.clone());
    l.insert(SERVICE.into(), svc.name.clone());
    l.insert(NUMBER.into(), number.to_string());
    l.insert(ONEOFF.into(), if oneoff { "True" } else { "False" }.into());
    l.insert(HASH.into(), config_hash(svc));
    l.insert(WORKING_DIR.into(), p.working_dir.clone());
    l.insert(CONFIG_FILES.into(), p.config_files.join(","));
    l.insert(IMAGE.into(), svc.image_name(&p.name));
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    let deps: Vec<String> = svc
        .depends_on
        .iter()
        .map(|(n, d)| format!("{n}:{}:{}", d.condition, d.restart))
        .collect();
    l.insert(DEPENDS_ON.into(), deps.join(","));
    l
}

fn seconds_ns(d: &Option<String>) -> Option<i64> {
    d.as_deref()
        .and_then(|t| berth_api::units::parse_go_duration(t).ok())
}

/// The create body for replica `number` of `svc`; `inherit` is what a recreated container
/// takes over from the one it replaces (its anonymous volumes).
pub fn create_body(
    p: &Project,
    svc: &Service,
    number: u32,
    oneoff: bool,
    inherit: &Inherit,
) -> ContainerCreateRequest {
    let name = container_name(&p.name, svc, number);
    let mut exposed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for e in &svc.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, serde_json::json!({}));
    }
    for port in &svc.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        exposed.insert(key.clone(), serde_json::json!({}));
        let b = bindings.entry(key).or_insert_with(|| Some(Vec::new()));
        if let Some(list) = b {
            list.push(PortBinding {
                host_ip: port.host_ip.clone().unwrap_or_default(),
                host_port: port.published.clone().unwrap_or_default(),
            });
        }
    }
    let env: Vec<String> = svc
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let Mounts { binds, mut mounts } = service_mounts(p, svc, inherit);
    mounts.extend(file_mounts(p, svc));
    let volumes_from = volumes_from(p, svc);
    let healthcheck = svc.healthcheck.as_ref().map(|h| {
        let test = if h.disable {
            vec!["NONE".to_string()]
        } else {
            h.test.clone()
        };
        serde_json::json!({
            "Test": test,
            "Interval": seconds_ns(&h.interval).unwrap_or(0),
            "Timeout": seconds_ns(&h.timeout).unwrap_or(0),
            "StartPeriod": seconds_ns(&h.start_period).unwrap_or(0),
            "StartInterval": seconds_ns(&h.start_interval).unwrap_or(0),
            "Retries": h.retries.unwrap_or(0),
        })
    });
    let limits = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.clone());
    let network_mode = match &svc.network_mode {
        Some(m) => m.clone(),
        None => svc
            .networks
            .keys()
            .next()
            .and_then(|k| p.networks.get(k))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| "default".into()),
    };
    let mut endpoints = BTreeMap::new();
    if svc.network_mode.is_none() {
        for (key, cfg) in &svc.networks {
            let Some(net) = p.networks.get(key) else {
                continue;
            };
            let mut aliases = vec![svc.name.clone(), name.clone()];
            if let Some(c) = cfg {
                aliases.extend(c.aliases.iter().cloned());
            }
            let ipam = cfg.as_ref().and_then(|c| {
                (c.ipv4_address.is_some() || c.ipv6_address.is_some()).then(|| {
                    serde_json::json!({"IPv4Address": c.ipv4_address.clone().unwrap_or_default(), "IPv6Address": c.ipv6_address.clone().unwrap_or_default()})
                })
            });
            endpoints.insert(
                net.name.clone(),
                EndpointSettings {
                    aliases: Some(aliases),
                    ipam_config: ipam,
                    ..EndpointSettings::default()
                },
            );
        }
    }
    let ulimits: Vec<Ulimit> = svc
        .ulimits
        .iter()
        .map(|(n, v)| {
            let (soft, hard) = match v {
                serde_json::Value::Number(x) => (x.as_i64().unwrap_or(0), x.as_i64().unwrap_or(0)),
                o => (
                    o["soft"].as_i64().unwrap_or(0),
                    o["hard"].as_i64().unwrap_or(0),
                ),
            };
            Ulimit {
                name: n.clone(),
                soft,
                hard,
            }
        })
        .collect();
    let opt_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let host_config = HostConfig {
        memory: svc.mem_limit.or(limits.as_ref().and_then(|l| l.memory)),
        memory_reservation: svc.mem_reservation,
        memory_swap: svc.memswap_limit,
        nano_cpus: svc
            .cpus
            .or(limits.as_ref().and_then(|l| l.cpus))
            .map(|c| (c * 1e9) as i64),
        pids_limit: svc.pids_limit.or(limits.as_ref().and_then(|l| l.pids)),
        init: svc.init,
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        log_config: svc.logging.as_ref().map(|l| LogConfig {
            kind: l.driver.clone().unwrap_or_default(),
            config: Some(
                l.options
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                    .collect(),
            ),
        }),
        network_mode: Some(network_mode),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        restart_policy: svc.restart.as_ref().map(|r| {
            let (name, count) = match r.split_once(':') {
                Some((n, c)) => (n.to_string(), c.parse().unwrap_or(0)),
                None => (r.clone(), 0),
            };
            RestartPolicy {
                name,
                maximum_retry_count: count,
            }
        }),
        binds: (!binds.is_empty()).then_some(binds),
        mounts: (!mounts.is_empty()).then_some(mounts),
        volumes_from: (!volumes_from.is_empty()).then_some(volumes_from),
        cap_add: opt_vec(&svc.cap_add),
        cap_drop: opt_vec(&svc.cap_drop),
        dns: opt_vec(&svc.dns),
        dns_search: opt_vec(&svc.dns_search),
        dns_options: opt_vec(&svc.dns_opt),
        extra_hosts: opt_vec(
            &svc.extra_hosts
                .iter()
                .map(|h| h.replacen('=', ":", 1))
                .collect(),
        ),
        group_add: opt_vec(&svc.group_add),
        security_opt: opt_vec(&svc.security_opt),
        ipc_mode: svc.ipc.clone(),
        volume_driver: svc.volume_driver.clone(),
        pid_mode: svc.pid.clone(),
        privileged: svc.privileged,
        readonly_rootfs: svc.read_only,
        shm_size: svc.shm_size,
        tmpfs: (!svc.tmpfs.is_empty()).then(|| {
            svc.tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((a, b)) => (a.to_string(), b.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect()
        }),
        sysctls: (!svc.sysctls.is_empty()).then(|| {
            svc.sysctls
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect()
        }),
        ..HostConfig::default()
    };
    let config = ContainerConfig {
        hostname: svc.hostname.clone().unwrap_or_default(),
        domainname: svc.domainname.clone().unwrap_or_default(),
        user: svc.user.clone().unwrap_or_default(),
        attach_stdout: true,
        attach_stderr: true,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: svc.tty,
        open_stdin: svc.stdin_open,
        env: Some(env),
        cmd: svc.command.clone(),
        healthcheck,
        image: svc.image_name(&p.name),
        working_dir: svc.working_dir.clone().unwrap_or_default(),
        entrypoint: svc.entrypoint.clone(),
        labels: Some(labels(p, svc, number, oneoff)),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: seconds_ns(&svc.stop_grace_period).map(|ns| ns / 1_000_000_000),
        ..ContainerConfig::default()
    };
    ContainerCreateRequest {
        config,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
    }
}

/// Takes out of a create body every network endpoint but the one its `NetworkMode` names and
/// returns them in order, to be connected to the created container before it starts (as Compose
/// v2 does for engines before API 1.44, which take one network at create).
pub fn split_endpoints(body: &mut ContainerCreateRequest) -> Vec<(String, EndpointSettings)> {
    let primary = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let Some(eps) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    else {
        return Vec::new();
    };
    let others: Vec<String> = eps.keys().filter(|k| **k != primary).cloned().collect();
    others
        .into_iter()
        .filter_map(|k| eps.remove(&k).map(|e| (k, e)))
        .collect()
}

/// Where a secret's or config's content is on the host: its file, or the file `up` writes under
/// the project's data for an environment or content source. `None` for an external object.
pub fn file_object_path(p: &Project, kind: &str, name: &str) -> Option<String> {
    let objects = if kind == "secrets" {
        &p.secrets
    } else {
        &p.configs
    };
    let o = objects.get(name)?;
    if let Some(f) = &o.file {
        return Some(f.clone());
    }
    o.content
        .as_ref()
        .filter(|_| !p.data_dir.is_empty())
        .map(|_| format!("{}/{kind}/{name}", p.data_dir.trim_end_matches('/')))
}

/// A service's secrets (read-only at `/run/secrets/<target or name>`) and configs (read-only at
/// their target, `/<name>` by default) as bind mounts.
fn file_mounts(p: &Project, svc: &Service) -> Vec<Mount> {
    let mut out = Vec::new();
    for (kind, refs) in [("secrets", &svc.secrets), ("configs", &svc.configs)] {
        for r in refs {
            let Some(source) = file_object_path(p, kind, &r.source) else {
                continue;
            };
            let target = match (kind, r.target.as_deref()) {
                (_, Some(t)) if t.starts_with('/') => t.to_string(),
                ("secrets", t) => format!("/run/secrets/{}", t.unwrap_or(&r.source)),
                (_, t) => format!("/{}", t.unwrap_or(&r.source)),
            };
            out.push(Mount {
                target,
                source,
                kind: "bind".into(),
                read_only: true,
                ..Mount::default()
            });
        }
    }
    out
}

/// The enabled services in dependency order (dependencies first).
pub fn order(p: &Project) -> Vec<String> {
    let deps: BTreeMap<String, Vec<String>> = p
        .services
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.keys().cloned().collect()))
        .collect();
    crate::project::dependency_order(&deps).unwrap_or_else(|_| deps.keys().cloned().collect())
}

/// One existing container of a service, as listed by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub number: u32,
    pub hash: String,
    pub running: bool,
}

/// What `up` does with one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create(u32),
    Recreate { id: String, number: u32 },
    Start { id: String },
    Keep { id: String },
    Remove { id: String },
}

/// How `up` treats containers whose config changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    #[default]
    Diverged,
    Always,
    Never,
}

/// Converges a service's containers to `scale` replicas: the lowest numbers are kept (started,
/// or recreated when their hash differs), missing numbers are created, the highest surplus
/// numbers removed.
pub fn converge(existing: &[Existing], scale: u32, hash: &str, policy: Recreate) -> Vec<Action> {
    let mut sorted = existing.to_vec();
    sorted.sort_by_key(|e| e.number);
    let mut out = Vec::new();
    for (i, e) in sorted.iter().enumerate() {
        if i as u32 >= scale {
            continue;
        }
        let stale = match policy {
            Recreate::Always => true,
            Recreate::Never => false,
            Recreate::Diverged => e.hash != hash,
        };
        out.push(if stale {
            Action::Recreate {
                id: e.id.clone(),
                number: e.number,
            }
        } else if e.running {
            Action::Keep { id: e.id.clone() }
        } else {
            Action::Start { id: e.id.clone() }
        });
    }
    let used: Vec<u32> = sorted
        .iter()
        .take(scale as usize)
        .map(|e| e.number)
        .collect();
    let mut next = 1;
    for _ in sorted.len()..scale as usize {
        while used.contains(&next) {
            next += 1;
        }
        out.push(Action::Create(next));
        next += 1;
    }
    for e in sorted.iter().skip(scale as usize).rev() {
        out.push(Action::Remove { id: e.id.clone() });
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
