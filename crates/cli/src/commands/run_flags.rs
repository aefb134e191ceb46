//! The flags of `run` and `create` and their translation into the `POST /containers/create`
//! body, shaped field for field like the docker CLI 28's (same defaults, same normalisation:
//! `CAP_` prefixes, binary sizes, `NanoCpus`, port bindings, `--mount` CSV, seccomp files inlined).

use super::run_mounts;
use super::run_opts;
use crate::error::{CliError, Result};
use crate::flags::{concat, list, switch, value, Flag, Parsed, Spec};
use crate::units;
use serde_json::{json, Map, Value};

/// `run`'s flags (`create` uses the same table; the attach/detach ones are ignored there).
pub const RUN_FLAGS: &[Flag] = &concat::<66, 10, 76>(RUN_ONLY_FLAGS, RESOURCE_FLAGS);

/// The resource flags `run`, `create` and `update` share (same names, types and help texts).
pub const RESOURCE_FLAGS: [Flag; 10] = [
    value(
        "blkio-weight",
        None,
        "uint16",
        "Block IO (relative weight), between 10 and 1000, or 0 to disable",
    ),
    value(
        "cpu-period",
        None,
        "int",
        "Limit CPU CFS (Completely Fair Scheduler) period",
    ),
    value(
        "cpu-quota",
        None,
        "int",
        "Limit CPU CFS (Completely Fair Scheduler) quota",
    ),
    value(
        "cpu-shares",
        Some('c'),
        "int",
        "CPU shares (relative weight)",
    ),
    value("cpus", None, "decimal", "Number of CPUs"),
    value(
        "cpuset-cpus",
        None,
        "string",
        "CPUs in which to allow execution (0-3, 0,1)",
    ),
    value(
        "cpuset-mems",
        None,
        "string",
        "MEMs in which to allow execution (0-3, 0,1)",
    ),
    value("memory", Some('m'), "bytes", "Memory limit"),
    value("memory-reservation", None, "bytes", "Memory soft limit"),
    value(
        "pids-limit",
        None,
        "int",
        "Tune container pids limit (set -1 for unlimited)",
    ),
];

/// `run`'s other flags.
const RUN_ONLY_FLAGS: [Flag; 66] = [
    list(
        "add-host",
        None,
        "Add a custom host-to-IP mapping (host:ip)",
    ),
    list("attach", Some('a'), "Attach to STDIN, STDOUT or STDERR"),
    list("cap-add", None, "Add Linux capabilities"),
    list("cap-drop", None, "Drop Linux capabilities"),
    value(
        "cgroup-parent",
        None,
        "string",
        "Optional parent cgroup for the container",
    ),
    value(
        "cgroupns",
        None,
        "string",
        "Cgroup namespace to use (host|private)",
    ),
    value(
        "cidfile",
        None,
        "string",
        "Write the container ID to the file",
    ),
    switch(
        "detach",
        Some('d'),
        "Run container in background and print container ID",
    ),
    value(
        "detach-keys",
        None,
        "string",
        "Override the key sequence for detaching a container",
    ),
    list("device", None, "Add a host device to the container"),
    list("dns", None, "Set custom DNS servers"),
    list("dns-option", None, "Set DNS options"),
    list("dns-search", None, "Set custom DNS search domains"),
    value("domainname", None, "string", "Container NIS domain name"),
    value("ip", None, "string", "IPv4 address (e.g., 172.30.100.104)"),
    value("ip6", None, "string", "IPv6 address (e.g., 2001:db8::33)"),
    value(
        "mac-address",
        None,
        "string",
        "Container MAC address (e.g., 92:d0:c6:0a:29:33)",
    ),
    list(
        "network-alias",
        None,
        "Add network-scoped alias for the container",
    ),
    value(
        "entrypoint",
        None,
        "string",
        "Overwrite the default ENTRYPOINT of the image",
    ),
    list("env", Some('e'), "Set environment variables"),
    list("env-file", None, "Read in a file of environment variables"),
    list("expose", None, "Expose a port or a range of ports"),
    list("group-add", None, "Add additional groups to join"),
    value("hostname", Some('h'), "string", "Container host name"),
    switch(
        "init",
        None,
        "Run an init inside the container that forwards signals and reaps processes",
    ),
    switch(
        "interactive",
        Some('i'),
        "Keep STDIN open even if not attached",
    ),
    value("ipc", None, "string", "IPC mode to use"),
    list("label", Some('l'), "Set meta data on a container"),
    list(
        "label-file",
        None,
        "Read in a line delimited file of labels",
    ),
    value(
        "log-driver",
        None,
        "string",
        "Logging driver for the container",
    ),
    list("log-opt", None, "Log driver options"),
    value(
        "memory-swap",
        None,
        "bytes",
        "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    ),
    value(
        "memory-swappiness",
        None,
        "int",
        "Tune container memory swappiness (0 to 100) (default -1)",
    ),
    list("mount", None, "Attach a filesystem mount to the container"),
    value("name", None, "string", "Assign a name to the container"),
    value(
        "network",
        None,
        "network",
        "Connect a container to a network",
    ),
    switch(
        "no-healthcheck",
        None,
        "Disable any container-specified HEALTHCHECK",
    ),
    switch("oom-kill-disable", None, "Disable OOM Killer"),
    value(
        "oom-score-adj",
        None,
        "int",
        "Tune host's OOM preferences (-1000 to 1000)",
    ),
    value("pid", None, "string", "PID namespace to use"),
    value(
        "platform",
        None,
        "string",
        "Set platform if server is multi-platform capable",
    ),
    switch(
        "privileged",
        None,
        "Give extended privileges to this container",
    ),
    list(
        "publish",
        Some('p'),
        "Publish a container's port(s) to the host",
    ),
    switch(
        "publish-all",
        Some('P'),
        "Publish all exposed ports to random ports",
    ),
    value(
        "pull",
        None,
        "string",
        "Pull image before running (\"always\", \"missing\", \"never\") (default \"missing\")",
    ),
    switch("quiet", Some('q'), "Suppress the pull output"),
    switch(
        "read-only",
        None,
        "Mount the container's root filesystem as read only",
    ),
    value(
        "restart",
        None,
        "string",
        "Restart policy to apply when a container exits (default \"no\")",
    ),
    switch(
        "rm",
        None,
        "Automatically remove the container and its associated anonymous volumes when it exits",
    ),
    value(
        "runtime",
        None,
        "string",
        "Runtime to use for this container",
    ),
    list("security-opt", None, "Security Options"),
    value("shm-size", None, "bytes", "Size of /dev/shm"),
    switch(
        "sig-proxy",
        None,
        "Proxy received signals to the process (default true)",
    ),
    value(
        "stop-signal",
        None,
        "string",
        "Signal to stop the container",
    ),
    value(
        "stop-timeout",
        None,
        "int",
        "Timeout (in seconds) to stop a container",
    ),
    list("sysctl", None, "Sysctl options"),
    list("tmpfs", None, "Mount a tmpfs directory"),
    switch("tty", Some('t'), "Allocate a pseudo-TTY"),
    list("ulimit", None, "Ulimit options"),
    value(
        "user",
        Some('u'),
        "string",
        "Username or UID (format: <name|uid>[:<group|gid>])",
    ),
    value("userns", None, "string", "User namespace to use"),
    value("uts", None, "string", "UTS namespace to use"),
    list("volume", Some('v'), "Bind mount a volume"),
    value(
        "volume-driver",
        None,
        "string",
        "Optional volume driver for the container",
    ),
    list(
        "volumes-from",
        None,
        "Mount volumes from the specified container(s)",
    ),
    value(
        "workdir",
        Some('w'),
        "string",
        "Working directory inside the container",
    ),
];

/// What `run`/`create` need besides the body.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub body: Value,
}

/// `--cpus 1.5` → 1500000000.
pub fn nano_cpus(spec: &Spec, v: &str) -> Result<i64> {
    let f: f64 = v
        .parse()
        .map_err(|_| spec.invalid_value("cpus", v, "failed to parse as a decimal"))?;
    Ok((f * 1e9).round() as i64)
}

/// `--restart` text → `RestartPolicy`.
pub fn restart_policy(spec: &Spec, v: &str) -> Result<Value> {
    let (name, count) = match v.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| {
                spec.invalid_value("restart", v, "maximum retry count must be an integer")
            })?,
        ),
        None => (v, 0),
    };
    match name {
        "" | "no" => Ok(json!({"Name": "no", "MaximumRetryCount": 0})),
        "always" | "unless-stopped" | "on-failure" => Ok(json!({"Name": name, "MaximumRetryCount": count})),
        _ => Err(spec.invalid_value("restart", v, &format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"))),
    }
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

fn null_or_list(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

fn kv_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (i.clone(), Value::String(String::new())),
        })
        .collect()
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
    let detach = p.bool("detach");
    let interactive = p.bool("interactive");
    let tty = p.bool("tty");
    let attach = p.list("attach");
    if detach && !attach.is_empty() {
        return Err(CliError::Status {
            command: spec.name.into(),
            message: "conflicting options: cannot specify both --attach and --detach".into(),
            code: 125,
        });
    }
    let (a_in, a_out, a_err) = if detach {
        (false, false, false)
    } else if !attach.is_empty() {
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
        (has("stdin"), has("stdout"), has("stderr"))
    } else {
        (interactive, true, true)
    };
    let restart = restart_policy(spec, p.string("restart").unwrap_or("no"))?;
    if p.bool("rm") && restart["Name"] != "no" {
        return Err(CliError::Status {
            command: spec.name.into(),
            message: "conflicting options: cannot specify both --restart and --rm".into(),
            code: 125,
        });
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
    let entrypoint = match p.string("entrypoint") {
        Some("") => json!([""]),
        Some(e) => json!([e]),
        None => Value::Null,
    };
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let (binds, volumes) =
        run_mounts::binds_and_volumes(&p.list("volume"), &cwd).map_err(|message| {
            CliError::Status {
                command: spec.name.into(),
                message,
                code: 125,
            }
        })?;
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
    let network = p.string("network").unwrap_or("default").to_string();
    let endpoints = endpoints_config(p, &network);
    let log_opts = kv_map(&p.list("log-opt"));
    let swappiness = match p.string("memory-swappiness") {
        Some(_) => int(spec, p, "memory-swappiness")?,
        None => -1,
    };
    let console = console.map(|(h, w)| json!([h, w])).unwrap_or(json!([0, 0]));
    let mut host = json!({
        "Binds": null_or_list(binds),
        "ContainerIDFile": p.str_or_empty("cidfile"),
        "LogConfig": {"Type": p.str_or_empty("log-driver"), "Config": log_opts},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": p.bool("rm"),
        "VolumeDriver": p.str_or_empty("volume-driver"),
        "VolumesFrom": null_or_list(p.list("volumes-from")),
        "ConsoleSize": console,
        "CapAdd": caps("cap-add"),
        "CapDrop": caps("cap-drop"),
        "CgroupnsMode": p.str_or_empty("cgroupns"),
        "Dns": p.list("dns"),
        "DnsOptions": p.list("dns-option"),
        "DnsSearch": p.list("dns-search"),
        "ExtraHosts": null_or_list(p.list("add-host")),
        "GroupAdd": null_or_list(p.list("group-add")),
        "IpcMode": p.str_or_empty("ipc"),
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": int(spec, p, "oom-score-adj")?,
        "PidMode": p.str_or_empty("pid"),
        "Privileged": p.bool("privileged"),
        "PublishAllPorts": p.bool("publish-all"),
        "ReadonlyRootfs": p.bool("read-only"),
        "SecurityOpt": null_or_list(security),
        "UTSMode": p.str_or_empty("uts"),
        "UsernsMode": p.str_or_empty("userns"),
        "ShmSize": bytes(spec, p, "shm-size")?,
        "Isolation": "",
        "CpuShares": int(spec, p, "cpu-shares")?,
        "Memory": bytes(spec, p, "memory")?,
        "NanoCpus": match p.string("cpus") { Some(v) => nano_cpus(spec, v)?, None => 0 },
        "CgroupParent": p.str_or_empty("cgroup-parent"),
        "BlkioWeight": int(spec, p, "blkio-weight")?,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": int(spec, p, "cpu-period")?,
        "CpuQuota": int(spec, p, "cpu-quota")?,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": p.str_or_empty("cpuset-cpus"),
        "CpusetMems": p.str_or_empty("cpuset-mems"),
        "Devices": devices,
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": bytes(spec, p, "memory-reservation")?,
        "MemorySwap": bytes(spec, p, "memory-swap")?,
        "MemorySwappiness": swappiness,
        "OomKillDisable": p.bool("oom-kill-disable"),
        "PidsLimit": int(spec, p, "pids-limit")?,
        "Ulimits": ulimits,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": null,
        "ReadonlyPaths": null,
    });
    if let Some(h) = host.as_object_mut() {
        if !p.list("tmpfs").is_empty() {
            let t: Map<String, Value> = p
                .list("tmpfs")
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((d, o)) => (d.to_string(), Value::String(o.to_string())),
                    None => (t.clone(), Value::String(String::new())),
                })
                .collect();
            h.insert("Tmpfs".into(), Value::Object(t));
        }
        if !p.list("sysctl").is_empty() {
            h.insert("Sysctls".into(), Value::Object(kv_map(&p.list("sysctl"))));
        }
        if let Some(r) = p.string("runtime") {
            h.insert("Runtime".into(), json!(r));
        }
        if !mounts.is_empty() {
            h.insert("Mounts".into(), json!(mounts));
        }
        if p.bool("init") {
            h.insert("Init".into(), json!(true));
        }
    }
    let mut body = json!({
        "Hostname": p.str_or_empty("hostname"),
        "Domainname": p.str_or_empty("domainname"),
        "User": p.str_or_empty("user"),
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": tty,
        "OpenStdin": interactive,
        "StdinOnce": interactive && a_in,
        "Env": null_or_list(env),
        "Cmd": null_or_list(cmd),
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": p.str_or_empty("workdir"),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": kv_map(&labels_src),
    });
    if let Some(b) = body.as_object_mut() {
        if !exposed.is_empty() {
            b.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        if let Some(s) = p.string("stop-signal") {
            b.insert("StopSignal".into(), json!(s));
        }
        if p.is_set("stop-timeout") {
            b.insert("StopTimeout".into(), json!(int(spec, p, "stop-timeout")?));
        }
        if p.bool("no-healthcheck") {
            b.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
        }
        b.insert("HostConfig".into(), host);
        b.insert(
            "NetworkingConfig".into(),
            json!({"EndpointsConfig": endpoints}),
        );
    }
    Ok(CreateRequest {
        name: p.string("name").map(String::from),
        platform: p.string("platform").map(String::from),
        body,
    })
}

/// `NetworkingConfig.EndpointsConfig` as the docker CLI sends it: an endpoint for the network named
/// by `--network` only when one of the per-endpoint flags is given (`{}` otherwise), and a
/// `default` endpoint when no network is named.
fn endpoints_config(p: &Parsed, network: &str) -> Value {
    let aliases = p.list("network-alias");
    let ip = p.str_or_empty("ip");
    let ip6 = p.str_or_empty("ip6");
    let mac = p.str_or_empty("mac-address");
    let per_endpoint = !aliases.is_empty() || !ip.is_empty() || !ip6.is_empty() || !mac.is_empty();
    if p.is_set("network") && !per_endpoint {
        return json!({});
    }
    let mut endpoint = run_opts::default_endpoint();
    let mut ipam = serde_json::Map::new();
    if !ip.is_empty() {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if !ip6.is_empty() {
        ipam.insert("IPv6Address".into(), json!(ip6));
    }
    if !ipam.is_empty() {
        endpoint["IPAMConfig"] = Value::Object(ipam);
    }
    if !aliases.is_empty() {
        endpoint["Aliases"] = json!(aliases);
    }
    endpoint["MacAddress"] = json!(mac);
    json!({ network: endpoint })
}
