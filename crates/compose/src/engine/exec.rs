//! `exec` (a command in a running service container) and `run` (a one-off container of a
//! service, labelled `oneoff=True` and named `<project>-<service>-run-<slug>` as Compose v2
//! does), both attached through a hijacked stream; they return the command's exit status.

use super::client::{Client, EngineError, Result};
use super::stream::{console_size, pump, RawTerminal};
use super::up::{containers, label};
use crate::model::Project;
use crate::plan;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Options shared by `exec` and `run`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub detach: bool,
    /// Allocate a TTY (Compose's default on a terminal; `-T` turns it off).
    pub tty: bool,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub privileged: bool,
    /// `exec --index`: which replica.
    pub index: u32,
}

fn no_such(service: &str, what: &str) -> EngineError {
    EngineError::Daemon {
        status: 0,
        message: format!("service {service:?} {what}"),
    }
}

/// `exec SERVICE CMD...`: the command in replica `index` (1 unless given), exit status back.
pub async fn exec(
    c: &Client,
    project: &str,
    service: &str,
    cmd: &[String],
    o: &ExecOptions,
) -> Result<i32> {
    let index = o.index.max(1);
    let list = containers(c, project, false).await?;
    let target = list
        .iter()
        .filter(|x| label(x, plan::SERVICE) == service)
        .find(|x| label(x, plan::NUMBER) == index.to_string())
        .ok_or_else(|| no_such(service, &format!("has no container number {index}")))?;
    if target["State"].as_str() != Some("running") {
        return Err(no_such(service, "is not running"));
    }
    let id = target["Id"].as_str().unwrap_or_default();
    let body = json!({
        "AttachStdin": !o.detach, "AttachStdout": !o.detach, "AttachStderr": !o.detach,
        "Tty": o.tty, "Cmd": cmd, "Env": o.env, "User": o.user.clone().unwrap_or_default(),
        "WorkingDir": o.workdir.clone().unwrap_or_default(), "Privileged": o.privileged,
        "ConsoleSize": if o.tty { console_size().map(|s| json!(s)) } else { None },
    });
    let created: Value = c
        .post_json(&format!("/containers/{id}/exec"), &body)
        .await?;
    let eid = created["Id"].as_str().unwrap_or_default().to_string();
    let start = json!({"Detach": o.detach, "Tty": o.tty});
    if o.detach {
        let _: Value = c
            .post_json(&format!("/exec/{eid}/start"), &start)
            .await
            .or_else(|e| match e {
                EngineError::Decode { .. } => Ok(Value::Null),
                e => Err(e),
            })?;
        return Ok(0);
    }
    let h = c.hijack(&format!("/exec/{eid}/start"), &start).await?;
    {
        let _raw = o.tty.then(RawTerminal::enter);
        pump(h, o.tty, true).await?;
    }
    let info: Value = c.get(&format!("/exec/{eid}/json")).await?;
    Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32)
}

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub exec: ExecOptions,
    pub rm: bool,
    pub name: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub service_ports: bool,
    pub labels: Vec<String>,
}

/// A short unique slug for a one-off container's name.
fn slug() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{now}-{}", std::process::id());
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// `run SERVICE [CMD...]`: a one-off container (dependencies are the caller's business).
pub async fn run(
    c: &Client,
    p: &Project,
    service: &str,
    cmd: &[String],
    o: &RunOptions,
) -> Result<i32> {
    let svc = p
        .service(service)
        .ok_or_else(|| no_such(service, "is not defined in the project"))?;
    let slug = slug();
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", p.name, svc.name, &slug[..12]));
    let mut body = plan::create_body(p, svc, 1, true, &Default::default());
    let cfg = &mut body.config;
    if !cmd.is_empty() {
        cfg.cmd = Some(cmd.to_vec());
    }
    if let Some(e) = &o.entrypoint {
        cfg.entrypoint = Some(e.clone());
    }
    cfg.env
        .get_or_insert_with(Vec::new)
        .extend(o.exec.env.iter().cloned());
    if let Some(u) = &o.exec.user {
        cfg.user = u.clone();
    }
    if let Some(w) = &o.exec.workdir {
        cfg.working_dir = w.clone();
    }
    let attach = !o.exec.detach;
    cfg.tty = o.exec.tty;
    cfg.open_stdin = attach;
    cfg.stdin_once = attach;
    cfg.attach_stdin = attach;
    cfg.attach_stdout = attach;
    cfg.attach_stderr = attach;
    let labels = cfg.labels.get_or_insert_with(Default::default);
    labels.insert(plan::SLUG.into(), slug);
    labels.remove(plan::NUMBER);
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.into(), v.into());
    }
    if let Some(h) = body.host_config.as_mut() {
        if !o.service_ports {
            h.port_bindings = None;
        }
        h.restart_policy = None;
        h.console_size = if o.exec.tty { console_size() } else { None };
    }
    if let Some(eps) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    {
        for ep in eps.values_mut() {
            ep.aliases = Some(vec![svc.name.clone()]);
        }
    }
    let id = super::up::create_container(c, &name, body).await?;
    if !attach {
        c.post(&format!("/containers/{id}/start")).await?;
        println!("{name}");
        return Ok(0);
    }
    let h = c
        .hijack(
            &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
            &json!({}),
        )
        .await?;
    let code = {
        let _raw = o.exec.tty.then(RawTerminal::enter);
        let started = c.post(&format!("/containers/{id}/start")).await;
        match started {
            Ok(_) => {
                pump(h, o.exec.tty, true).await?;
                let w: Value = c
                    .post_json(&format!("/containers/{id}/wait"), &json!({}))
                    .await?;
                Ok(w["StatusCode"].as_i64().unwrap_or(0) as i32)
            }
            Err(e) => Err(e),
        }
    };
    if o.rm {
        let _ = c.delete(&format!("/containers/{id}?force=1")).await;
    }
    code
}
