//! Container lifecycle and query commands that are one request per container: `stop`,
//! `restart`, `kill`, `rm`, `wait`, `rename`, `pause`, `unpause`, `top`, `port`, `diff`, `update`
//! and `container prune`.

use super::{for_each, int_flag, out, Ctx};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{concat, list, switch, value, Args, Parsed, Spec};
use crate::format::table;
use crate::units;
use berth_api::container::{
    ContainerInspect, ContainerPruneResponse, ContainerTopResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, FilesystemChange, RestartPolicy, WaitResponse,
};

const STOP_FLAGS: &[crate::flags::Flag] = &[
    value(
        "signal",
        Some('s'),
        "string",
        "Signal to send to the container",
    ),
    value(
        "timeout",
        Some('t'),
        "int",
        "Seconds to wait before killing the container",
    ),
];

pub const STOP: Spec = Spec {
    name: "stop",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Stop one or more running containers",
    flags: STOP_FLAGS,
    args: Args::AtLeast(1),
    stop_at_positional: false,
};
pub const RESTART: Spec = Spec {
    name: "restart",
    about: "Restart one or more containers",
    ..STOP
};

fn cpath(name: &str, tail: &str) -> String {
    format!("/containers/{}{tail}", encode_path(name))
}

async fn stop_or_restart(ctx: &Ctx, spec: &Spec, p: Parsed, verb: &str) -> Result<()> {
    let mut q = Vec::new();
    if let Some(s) = p.string("signal") {
        q.push(("signal", s.to_string()));
    }
    if let Some(t) = int_flag(spec, &p, "timeout")? {
        q.push(("t", t.to_string()));
    }
    let q = query(&q);
    for_each(&p.args, |n| {
        let path = cpath(&n, &format!("/{verb}{q}"));
        async move { ctx.client.post(&path).await.map(|_| Some(n)) }
    })
    .await
}

pub async fn stop(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    stop_or_restart(ctx, spec, p, "stop").await
}

pub async fn restart(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    stop_or_restart(ctx, spec, p, "restart").await
}

pub const KILL: Spec = Spec {
    name: "kill",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Kill one or more running containers",
    flags: &[value(
        "signal",
        Some('s'),
        "string",
        "Signal to send to the container",
    )],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

pub async fn kill(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let q = query(
        &p.string("signal")
            .map(|s| vec![("signal", s.to_string())])
            .unwrap_or_default(),
    );
    for_each(&p.args, |n| {
        let path = cpath(&n, &format!("/kill{q}"));
        async move { ctx.client.post(&path).await.map(|_| Some(n)) }
    })
    .await
}

pub const RM: Spec = Spec {
    name: "rm",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Remove one or more containers",
    flags: &[
        switch(
            "force",
            Some('f'),
            "Force the removal of a running container (uses SIGKILL)",
        ),
        switch("link", Some('l'), "Remove the specified link"),
        switch(
            "volumes",
            Some('v'),
            "Remove anonymous volumes associated with the container",
        ),
    ],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// The query `rm` sends for its flags.
pub fn rm_query(p: &Parsed) -> String {
    let mut q = Vec::new();
    for (flag, key) in [("force", "force"), ("link", "link"), ("volumes", "v")] {
        if p.bool(flag) {
            q.push((key, "1".to_string()));
        }
    }
    query(&q)
}

pub async fn rm(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let q = rm_query(&p);
    for_each(&p.args, |n| {
        let path = cpath(&n, &q);
        async move { ctx.client.delete(&path).await.map(|_| Some(n)) }
    })
    .await
}

pub const WAIT: Spec = Spec {
    name: "wait",
    usage: "CONTAINER [CONTAINER...]",
    about: "Block until one or more containers stop, then print their exit codes",
    flags: &[],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

pub async fn wait(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    for_each(&p.args, |n| async move {
        let v: WaitResponse = ctx.client.post_for_json(&cpath(&n, "/wait")).await?;
        Ok(Some(v.status_code.to_string()))
    })
    .await
}

pub const RENAME: Spec = Spec {
    name: "rename",
    usage: "CONTAINER NEW_NAME",
    about: "Rename a container",
    flags: &[],
    args: Args::Exact(2),
    stop_at_positional: false,
};

pub async fn rename(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let (old, new) = (p.args[0].trim(), p.args[1].trim());
    if old.is_empty() || new.is_empty() {
        return Err(CliError::Message(
            "Error: Neither old nor new names may be empty".into(),
        ));
    }
    ctx.client
        .post(&cpath(
            old,
            &format!("/rename{}", query(&[("name", new.to_string())])),
        ))
        .await
}

pub const PAUSE: Spec = Spec {
    name: "pause",
    usage: "CONTAINER [CONTAINER...]",
    about: "Pause all processes within one or more containers",
    flags: &[],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};
pub const UNPAUSE: Spec = Spec {
    name: "unpause",
    about: "Unpause all processes within one or more containers",
    ..PAUSE
};

pub async fn pause(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    for_each(&p.args, |n| async move {
        ctx.client.post(&cpath(&n, "/pause")).await.map(|_| Some(n))
    })
    .await
}

pub async fn unpause(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    for_each(&p.args, |n| async move {
        ctx.client
            .post(&cpath(&n, "/unpause"))
            .await
            .map(|_| Some(n))
    })
    .await
}

pub const TOP: Spec = Spec {
    name: "top",
    usage: "CONTAINER [ps OPTIONS]",
    about: "Display the running processes of a container",
    flags: &[],
    args: Args::AtLeast(1),
    stop_at_positional: true,
};

pub async fn top(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let q = if p.args.len() > 1 {
        query(&[("ps_args", p.args[1..].join(" "))])
    } else {
        String::new()
    };
    let v: ContainerTopResponse = ctx
        .client
        .get_json(&cpath(&p.args[0], &format!("/top{q}")))
        .await?;
    out(&top_table(&v));
    Ok(())
}

/// The `top` table: titles then processes, tab-aligned (docker uses a minimum width of 20).
pub fn top_table(v: &ContainerTopResponse) -> String {
    let mut text = v.titles.join("\t");
    text.push('\n');
    for pr in &v.processes {
        text.push_str(&pr.join("\t"));
        text.push('\n');
    }
    table::align_with(&text, 20, 3)
}

pub const DIFF: Spec = Spec {
    name: "diff",
    usage: "CONTAINER",
    about: "Inspect changes to files or directories on a container's filesystem",
    flags: &[],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `berth diff`: `GET /containers/{id}/changes`, one `C|A|D PATH` line each, as docker prints.
pub async fn diff(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let changes: Option<Vec<FilesystemChange>> =
        ctx.client.get_json(&cpath(&p.args[0], "/changes")).await?;
    out(&diff_lines(&changes.unwrap_or_default()));
    Ok(())
}

/// The `diff` lines: `C` modified, `A` added, `D` deleted (an unknown kind prints as `?`).
pub fn diff_lines(changes: &[FilesystemChange]) -> String {
    changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                0 => "C",
                1 => "A",
                2 => "D",
                _ => "?",
            };
            format!("{kind} {}\n", c.path)
        })
        .collect()
}

pub const PORT: Spec = Spec {
    name: "port",
    usage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
    about: "List port mappings or a specific mapping for the container",
    flags: &[],
    args: Args::Range(1, 2),
    stop_at_positional: false,
};

pub async fn port(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let v: ContainerInspect = ctx.client.get_json(&cpath(&p.args[0], "/json")).await?;
    let lines = port_lines(&v, p.args.get(1).map(String::as_str));
    match (lines.is_empty(), p.args.get(1)) {
        (true, Some(want)) => {
            let want = if want.contains('/') {
                want.clone()
            } else {
                format!("{want}/tcp")
            };
            Err(CliError::Message(format!(
                "Error: No public port '{want}' published for {}",
                p.args[0]
            )))
        }
        _ => {
            out(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
            Ok(())
        }
    }
}

/// `80/tcp -> 0.0.0.0:8080` lines from a container inspect's `NetworkSettings.Ports`.
pub fn port_lines(inspect: &ContainerInspect, want: Option<&str>) -> Vec<String> {
    let want = want.map(|w| {
        if w.contains('/') {
            w.to_string()
        } else {
            format!("{w}/tcp")
        }
    });
    let mut lines = Vec::new();
    let ports = &inspect.network_settings.ports;
    for (k, bindings) in ports {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in bindings.iter().flatten() {
            let (ip, hp) = (&b.host_ip, &b.host_port);
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            let addr = format!("{ip}:{hp}");
            lines.push(if want.is_some() {
                addr
            } else {
                format!("{k} -> {addr}")
            });
        }
    }
    lines
}

pub const UPDATE: Spec = Spec {
    name: "update",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Update configuration of one or more containers",
    flags: &concat::<2, 10, 12>(
        [
            value(
                "memory-swap",
                None,
                "bytes",
                "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
            ),
            value(
                "restart",
                None,
                "string",
                "Restart policy to apply when a container exits",
            ),
        ],
        super::run_flags::RESOURCE_FLAGS,
    ),
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// The `POST /containers/{id}/update` body for `update`'s flags: docker's full resources object
/// (zero meaning "unchanged", `null` for what Go holds as pointers and lists) with the given
/// fields set.
pub fn update_body(spec: &Spec, p: &Parsed) -> Result<ContainerUpdateRequest> {
    let zero =
        |flag: &str| -> Result<Option<i64>> { Ok(Some(int_flag(spec, p, flag)?.unwrap_or(0))) };
    let size = |flag: &str| -> Result<Option<i64>> {
        let n = match p.string(flag) {
            None => 0,
            Some("-1") => -1,
            Some(v) => {
                units::ram_in_bytes(v).map_err(|e| spec.invalid_value(flag, v, &e.to_string()))?
            }
        };
        Ok(Some(n))
    };
    let text = |flag: &str| Some(p.str_or_empty(flag).to_string());
    let restart = match p.string("restart") {
        Some(v) => super::run_flags::restart_policy(spec, v)?,
        None => RestartPolicy::default(),
    };
    let given = [
        "blkio-weight",
        "cpu-period",
        "cpu-quota",
        "cpu-shares",
        "pids-limit",
        "memory",
        "memory-reservation",
        "memory-swap",
        "cpuset-cpus",
        "cpuset-mems",
        "cpus",
        "restart",
    ];
    let body = ContainerUpdateRequest {
        blkio_weight: Some(super::run_flags::blkio_weight(spec, p)?.unwrap_or(0)),
        cpu_period: zero("cpu-period")?,
        cpu_quota: zero("cpu-quota")?,
        cpu_shares: zero("cpu-shares")?,
        pids_limit: int_flag(spec, p, "pids-limit")?,
        memory: size("memory")?,
        memory_reservation: size("memory-reservation")?,
        memory_swap: size("memory-swap")?,
        cpuset_cpus: text("cpuset-cpus"),
        cpuset_mems: text("cpuset-mems"),
        nano_cpus: Some(match p.string("cpus") {
            Some(v) => super::run_flags::nano_cpus(spec, v)?,
            None => 0,
        }),
        cgroup_parent: Some(String::new()),
        cpu_realtime_period: Some(0),
        cpu_realtime_runtime: Some(0),
        restart_policy: Some(restart),
        ..ContainerUpdateRequest::default()
    };
    if !given.iter().any(|f| p.is_set(f)) {
        return Err(CliError::Message(
            "you must provide one or more flags when using this command".into(),
        ));
    }
    Ok(body)
}

pub async fn update(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let body = update_body(spec, &p)?;
    for_each(&p.args, |n| {
        let body = body.clone();
        async move {
            let v: ContainerUpdateResponse =
                ctx.client.post_json(&cpath(&n, "/update"), &body).await?;
            super::print_warnings(&v.warnings, "");
            Ok(Some(n))
        }
    })
    .await
}

pub const PRUNE: Spec = Spec {
    name: "container prune",
    usage: "[OPTIONS]",
    about: "Remove all stopped containers",
    flags: &[
        list(
            "filter",
            None,
            "Provide filter values (e.g. \"until=<timestamp>\")",
        ),
        switch("force", Some('f'), "Do not prompt for confirmation"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

pub async fn prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    if !p.bool("force")
        && !super::confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let v: ContainerPruneResponse =
        super::prune::post_prune(ctx, spec, "/containers/prune", &p.list("filter")).await?;
    let total = super::prune::print_pruned(
        v.containers_deleted.as_deref().unwrap_or_default(),
        "Deleted Containers:",
        v.space_reclaimed,
    );
    super::prune::print_total(total);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn diff_lines_as_docker_prints_them() {
        let changes: Vec<FilesystemChange> = serde_json::from_value(json!([
            {"Path": "/etc", "Kind": 0}, {"Path": "/etc/x", "Kind": 1}, {"Path": "/bin/sh", "Kind": 2}
        ]))
        .unwrap();
        assert_eq!(diff_lines(&changes), "C /etc\nA /etc/x\nD /bin/sh\n");
        assert_eq!(diff_lines(&[]), "");
    }

    #[test]
    fn ports_and_top() {
        let v = json!({"NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}], "443/tcp": null}}});
        let v: ContainerInspect = serde_json::from_value(v).unwrap();
        assert_eq!(
            port_lines(&v, None),
            vec!["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
        );
        assert_eq!(
            port_lines(&v, Some("80")),
            vec!["0.0.0.0:8080", "[::]:8080"]
        );
        let t = json!({"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "1", "sleep 10"]]});
        let t: ContainerTopResponse = serde_json::from_value(t).unwrap();
        assert_eq!(top_table(&t), "UID                 PID                 CMD\nroot                1                   sleep 10\n");
    }

    #[test]
    fn update_body_overlays_flags_on_docker_defaults() {
        let mut p = Parsed::default();
        p.set("memory", "64m");
        p.set("cpus", "0.5");
        p.set("restart", "always");
        let b = serde_json::to_value(update_body(&UPDATE, &p).unwrap()).unwrap();
        assert_eq!(
            (b["Memory"].clone(), b["NanoCpus"].clone()),
            (json!(67108864), json!(500000000))
        );
        assert_eq!(
            b["RestartPolicy"],
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert_eq!(
            (b["CpuShares"].clone(), b["PidsLimit"].clone()),
            (json!(0), Value::Null)
        );
        assert!(update_body(&UPDATE, &Parsed::default()).is_err());
        let mut rm = Parsed::default();
        rm.set("force", "true");
        rm.set("volumes", "true");
        assert_eq!(rm_query(&rm), "?force=1&v=1");
    }
}
