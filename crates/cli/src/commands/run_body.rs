//! The `POST /containers/create` body ([`ContainerCreateRequest`]) from the parsed flags of `run`
//! and `create`, shaped field for field like the docker CLI 28's (same defaults, same
//! normalisation: `CAP_` prefixes, binary sizes, `NanoCpus`, port bindings, `--mount` CSV,
//! seccomp files inlined); the flags are [`super::run_flags`]'s.

use super::run_flags::{blkio_weight, nano_cpus, restart_policy};
use super::run_mounts;
use super::run_networks;
use super::run_opts;
use crate::error::{CliError, Result};
use crate::flags::{Parsed, Spec};
use crate::units;
use berth_api::container::{
    ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig, LogConfig, NetworkingConfig,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// What `run`/`create` need besides the body.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub body: ContainerCreateRequest,
}

fn int(spec: &Spec, p: &Parsed, name: &str) -> Result<i64> {
    Ok(super::int_flag(spec, p, name)?.unwrap_or(0))
}

fn bytes(spec: &Spec, p: &Parsed, name: &str) -> Result<i64> {
    match p.string(name) {
        None | Some("") => Ok(0),
        Some("-1") if name == "memory-swap" => Ok(-1),
        Some(v) => units::ram_in_bytes(v).map_err(|e| spec.invalid_value(name, v, &e.to_string())),
    }
}

/// A list flag as Docker writes it: `null` when not given.
fn null_or_list(v: Vec<String>) -> Option<Vec<String>> {
    Some(v).filter(|v| !v.is_empty())
}

/// `k=v` items into a map (`k` alone maps to `""`).
fn kv_map(items: &[String], sep: char) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once(sep) {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (i.clone(), String::new()),
        })
        .collect()
}

/// A flag that Docker sends only when given (`omitempty`): `None` when empty.
fn given<T>(v: T, is_empty: impl Fn(&T) -> bool) -> Option<T> {
    Some(v).filter(|v| !is_empty(v))
}

fn status(spec: &Spec, message: impl Into<String>) -> CliError {
    CliError::Status {
        command: spec.name.into(),
        message: message.into(),
        code: 125,
    }
}

/// The attach flags (`-a`, `-d`, `-i`) as `AttachStdin`, `AttachStdout`, `AttachStderr`.
fn attach_streams(spec: &Spec, p: &Parsed) -> Result<(bool, bool, bool)> {
    let attach = p.list("attach");
    if p.bool("detach") {
        if !attach.is_empty() {
            return Err(status(
                spec,
                "conflicting options: cannot specify both --attach and --detach",
            ));
        }
        return Ok((false, false, false));
    }
    if attach.is_empty() {
        return Ok((p.bool("interactive"), true, true));
    }
    for a in &attach {
        if !matches!(a.to_lowercase().as_str(), "stdin" | "stdout" | "stderr") {
            return Err(spec.invalid_value(
                "attach",
                a,
                "valid streams are STDIN, STDOUT and STDERR",
            ));
        }
    }
    let has = |s: &str| attach.iter().any(|a| a.eq_ignore_ascii_case(s));
    Ok((has("stdin"), has("stdout"), has("stderr")))
}

/// Builds the create request from parsed `run`/`create` flags. `console` is the terminal size
/// (rows, cols) when `-t` is used on a terminal.
pub fn create_request(
    spec: &Spec,
    p: &Parsed,
    console: Option<(u16, u16)>,
) -> Result<CreateRequest> {
    let image = p.args.first().cloned().unwrap_or_default();
    let cmd: Vec<String> = p.args.iter().skip(1).cloned().collect();
    let interactive = p.bool("interactive");
    let (a_in, a_out, a_err) = attach_streams(spec, p)?;
    let restart = restart_policy(spec, p.string("restart").unwrap_or("no"))?;
    if p.bool("rm") && restart.name != "no" {
        return Err(status(
            spec,
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    let mut env = Vec::new();
    for f in p.list("env-file") {
        env.extend(run_opts::read_kv_file(&f)?);
    }
    env.extend(p.list("env"));
    let env: Vec<String> = env.into_iter().map(|e| run_opts::expand_env(&e)).collect();
    let mut labels_src = Vec::new();
    for f in p.list("label-file") {
        labels_src.extend(run_opts::read_kv_file(&f)?);
    }
    labels_src.extend(p.list("label"));
    let entrypoint = p.string("entrypoint").map(|e| vec![e.to_string()]);
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let (binds, volumes) =
        run_mounts::binds_and_volumes(&p.list("volume"), &cwd).map_err(|m| status(spec, m))?;
    let (exposed, bindings) = run_opts::ports(&p.list("publish"), &p.list("expose"))
        .map_err(|e| spec.invalid_value("publish", &e.0, &e.1))?;
    let mut mounts = Vec::new();
    for m in p.list("mount") {
        mounts.push(run_mounts::mount(&m, &cwd).map_err(|e| spec.invalid_value("mount", &m, &e))?);
    }
    let mut devices = Vec::new();
    for d in p.list("device") {
        devices.push(run_opts::device(&d).map_err(|e| spec.invalid_value("device", &d, &e))?);
    }
    let mut ulimits = Vec::new();
    for u in p.list("ulimit") {
        ulimits.push(run_opts::ulimit(&u).map_err(|e| spec.invalid_value("ulimit", &u, &e))?);
    }
    let mut security = Vec::new();
    for s in p.list("security-opt") {
        security.push(
            run_opts::security_opt(&s).map_err(|e| spec.invalid_value("security-opt", &s, &e))?,
        );
    }
    let caps = |name: &str| {
        null_or_list(
            p.list(name)
                .iter()
                .map(|c| run_opts::normalize_cap(c))
                .collect(),
        )
    };
    let links = links(spec, p)?;
    let networks = run_networks::networks(spec, p, &links)?;
    let (network, endpoints) = (networks.mode, networks.endpoints);
    let swappiness = match p.string("memory-swappiness") {
        Some(_) => int(spec, p, "memory-swappiness")?,
        None => -1,
    };
    let console = console.map_or([0, 0], |(h, w)| [u32::from(h), u32::from(w)]);
    let text = |name: &str| Some(p.str_or_empty(name).to_string());
    let host = HostConfig {
        binds: null_or_list(binds),
        container_id_file: text("cidfile"),
        log_config: Some(LogConfig {
            kind: p.str_or_empty("log-driver").to_string(),
            config: Some(kv_map(&p.list("log-opt"), '=')),
        }),
        network_mode: Some(network),
        port_bindings: Some(bindings),
        restart_policy: Some(restart),
        auto_remove: p.bool("rm"),
        volume_driver: text("volume-driver"),
        volumes_from: null_or_list(p.list("volumes-from")),
        console_size: Some(console),
        cap_add: caps("cap-add"),
        cap_drop: caps("cap-drop"),
        cgroupns_mode: text("cgroupns"),
        dns: Some(p.list("dns")),
        dns_options: Some(p.list("dns-option")),
        dns_search: Some(p.list("dns-search")),
        extra_hosts: null_or_list(p.list("add-host")),
        group_add: null_or_list(p.list("group-add")),
        ipc_mode: text("ipc"),
        cgroup: Some(String::new()),
        links: null_or_list(links),
        oom_score_adj: Some(int(spec, p, "oom-score-adj")?),
        pid_mode: text("pid"),
        privileged: p.bool("privileged"),
        publish_all_ports: p.bool("publish-all"),
        readonly_rootfs: p.bool("read-only"),
        security_opt: null_or_list(security),
        uts_mode: text("uts"),
        userns_mode: text("userns"),
        shm_size: Some(bytes(spec, p, "shm-size")?),
        isolation: Some(String::new()),
        cpu_shares: Some(int(spec, p, "cpu-shares")?),
        memory: Some(bytes(spec, p, "memory")?),
        nano_cpus: Some(match p.string("cpus") {
            Some(v) => nano_cpus(spec, v)?,
            None => 0,
        }),
        cgroup_parent: text("cgroup-parent"),
        blkio_weight: Some(blkio_weight(spec, p)?.unwrap_or(0)),
        blkio_weight_device: Some(Vec::new()),
        blkio_device_read_bps: Some(Vec::new()),
        blkio_device_write_bps: Some(Vec::new()),
        blkio_device_read_iops: Some(Vec::new()),
        blkio_device_write_iops: Some(Vec::new()),
        cpu_period: Some(int(spec, p, "cpu-period")?),
        cpu_quota: Some(int(spec, p, "cpu-quota")?),
        cpu_realtime_period: Some(0),
        cpu_realtime_runtime: Some(0),
        cpuset_cpus: text("cpuset-cpus"),
        cpuset_mems: text("cpuset-mems"),
        devices: Some(devices),
        device_cgroup_rules: None,
        device_requests: None,
        memory_reservation: Some(bytes(spec, p, "memory-reservation")?),
        memory_swap: Some(bytes(spec, p, "memory-swap")?),
        memory_swappiness: Some(swappiness),
        oom_kill_disable: Some(p.bool("oom-kill-disable")),
        pids_limit: Some(int(spec, p, "pids-limit")?),
        ulimits: Some(ulimits),
        masked_paths: None,
        readonly_paths: None,
        // Docker's `omitempty` fields: only when given.
        tmpfs: given(kv_map(&p.list("tmpfs"), ':'), BTreeMap::is_empty),
        sysctls: given(kv_map(&p.list("sysctl"), '='), BTreeMap::is_empty),
        runtime: p.string("runtime").map(String::from),
        mounts: given(mounts, Vec::is_empty),
        init: p.bool("init").then_some(true),
        ..HostConfig::default()
    };
    let config = ContainerConfig {
        hostname: p.str_or_empty("hostname").into(),
        domainname: p.str_or_empty("domainname").into(),
        user: p.str_or_empty("user").into(),
        attach_stdin: a_in,
        attach_stdout: a_out,
        attach_stderr: a_err,
        tty: p.bool("tty"),
        open_stdin: interactive,
        stdin_once: interactive && a_in,
        env: null_or_list(env),
        cmd: null_or_list(cmd),
        image,
        volumes: Some(volumes),
        working_dir: p.str_or_empty("workdir").into(),
        entrypoint,
        on_build: None,
        labels: Some(kv_map(&labels_src, '=')),
        exposed_ports: given(exposed, BTreeMap::is_empty),
        stop_signal: p.string("stop-signal").map(String::from),
        stop_timeout: match p.is_set("stop-timeout") {
            true => Some(int(spec, p, "stop-timeout")?),
            false => None,
        },
        healthcheck: match p.bool("no-healthcheck") {
            true => Some(no_healthcheck()?),
            false => None,
        },
        ..ContainerConfig::default()
    };
    Ok(CreateRequest {
        name: p.string("name").map(String::from),
        platform: p.string("platform").map(String::from),
        body: ContainerCreateRequest {
            config,
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
        },
    })
}

/// `--no-healthcheck`: the `{"Test": ["NONE"]}` healthcheck.
fn no_healthcheck() -> Result<Value> {
    let none = HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..HealthConfig::default()
    };
    serde_json::to_value(none)
        .map_err(|e| CliError::Message(format!("encoding --no-healthcheck: {e}")))
}

/// `--link NAME[:ALIAS]`, checked as the docker CLI checks it (an empty value, more than one
/// `:`), sent as given.
fn links(spec: &Spec, p: &Parsed) -> Result<Vec<String>> {
    let links = p.list("link");
    for l in &links {
        let why = if l.is_empty() {
            "empty string specified for links".to_string()
        } else if l.split(':').count() > 2 {
            format!("bad format for links: {l}")
        } else {
            continue;
        };
        return Err(spec.invalid_value("link", l, &why));
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(args: &[&str]) -> Result<Value> {
        let spec = &super::super::run::CREATE;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let p = spec.parse(&args)?;
        let req = create_request(spec, &p, None)?;
        Ok(serde_json::to_value(req.body).unwrap())
    }

    #[test]
    fn bodies_leave_out_what_docker_leaves_out() {
        let b = body(&["--no-healthcheck", "--init", "-p", "80", "busybox"]).unwrap();
        assert_eq!(b["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(b["HostConfig"]["Init"], true);
        assert_eq!(
            b["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": ""}]})
        );
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["default"]["GwPriority"],
            0
        );
        for absent in ["StopSignal", "StopTimeout", "MacAddress"] {
            assert!(b.get(absent).is_none(), "{absent}");
        }
        for absent in ["Tmpfs", "Sysctls", "Runtime", "Mounts", "Annotations"] {
            assert!(b["HostConfig"].get(absent).is_none(), "{absent}");
        }
        let plain = body(&["busybox"]).unwrap();
        assert!(plain.get("Healthcheck").is_none() && plain.get("ExposedPorts").is_none());
        assert_eq!(plain["HostConfig"]["Binds"], Value::Null);
        assert_eq!(plain["HostConfig"]["Dns"], json!([]));
        assert_eq!(plain["HostConfig"]["BlkioWeightDevice"], json!([]));
        assert_eq!(plain["HostConfig"]["DeviceRequests"], Value::Null);
        assert_eq!(plain["Labels"], json!({}));
    }

    #[test]
    fn conflicting_flags_are_refused_with_125() {
        for args in [
            &["-d", "-a", "stdout", "busybox"][..],
            &["--rm", "--restart", "always", "busybox"],
            &["--blkio-weight", "70000", "busybox"],
        ] {
            let e = body(args).unwrap_err();
            assert_eq!(e.exit_code(), 125, "{args:?}: {e}");
        }
    }
}
