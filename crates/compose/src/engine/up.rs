//! `up` against the engine: the project's networks and named volumes, each service
//! converged in dependency order after its dependencies' conditions hold (started, healthy,
//! completed successfully) — independent services concurrently, recreation renaming the old
//! container out of the way first — and orphans removed on request.

use super::client::{encode, Client, EngineError, Result};
use super::images;
use crate::model::Project;
use crate::plan::{self, Action, Existing, Recreate};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `up`.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub recreate: Recreate,
    pub remove_orphans: bool,
    pub scale: BTreeMap<String, u32>,
    pub services: Vec<String>,
    pub wait: bool,
    /// `--build`: build every `build:` service first.
    pub build: bool,
    /// `--no-build`: never build.
    pub no_build: bool,
    /// `--no-deps`: only the named services, not what they depend on.
    pub no_deps: bool,
}

fn filters(project: &str, extra: &[String]) -> String {
    let mut labels = vec![format!("{}={project}", plan::PROJECT)];
    labels.extend(extra.iter().cloned());
    encode(&json!({ "label": labels }).to_string())
}

/// The project's containers (one-off ones too when `oneoff`), all states.
pub async fn containers(c: &Client, project: &str, oneoff: bool) -> Result<Vec<Value>> {
    let extra = if oneoff {
        vec![]
    } else {
        vec![format!("{}=False", plan::ONEOFF)]
    };
    c.get(&format!(
        "/containers/json?all=1&filters={}",
        filters(project, &extra)
    ))
    .await
}

pub fn label<'a>(c: &'a Value, key: &str) -> &'a str {
    c["Labels"][key].as_str().unwrap_or("")
}

/// The project's named volumes, then its networks (an engine without volumes refuses before
/// anything exists), then the files of its environment- and content-sourced secrets and configs.
pub async fn ensure_resources(c: &Client, p: &Project, made: &Made) -> Result<()> {
    ensure_volumes(c, p).await?;
    ensure_networks(c, p, made).await?;
    write_file_objects(p)
}

/// Writes each environment- or content-sourced secret (0400) and config (0444) a service uses to
/// `<data>/<secrets|configs>/<name>`, where the container's bind mount finds it.
fn write_file_objects(p: &Project) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    for (kind, objects, mode) in [
        ("secrets", &p.secrets, 0o400),
        ("configs", &p.configs, 0o444),
    ] {
        for (name, o) in objects {
            let (Some(content), None) = (&o.content, &o.file) else {
                continue;
            };
            let fail = |what: &str, e: std::io::Error| EngineError::Daemon {
                status: 0,
                message: format!(
                    "cannot write {kind}.{name} under the project's data {:?}: {what}: {e}",
                    p.data_dir
                ),
            };
            let Some(path) = plan::file_object_path(p, kind, name) else {
                return Err(fail(
                    "no data directory",
                    std::io::Error::other("set HOME or XDG_DATA_HOME"),
                ));
            };
            let path = std::path::PathBuf::from(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail("mkdir", e))?;
            }
            let tmp = path.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)
                .map_err(|e| fail("create", e))?;
            f.write_all(content.as_bytes())
                .map_err(|e| fail("write", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| fail("rename", e))?;
        }
    }
    Ok(())
}

async fn ensure_networks(c: &Client, p: &Project, made: &Made) -> Result<()> {
    for (key, net) in &p.networks {
        if !p.services.iter().any(|s| s.networks.contains_key(key)) {
            continue;
        }
        match c
            .get::<Value>(&format!("/networks/{}", encode(&net.name)))
            .await
        {
            Ok(_) => continue,
            Err(e) if e.is_status(404) && !net.external => {}
            Err(e) if e.is_status(404) => {
                return Err(EngineError::Daemon {
                    status: 404,
                    message: format!(
                        "network {} declared as external, but could not be found",
                        net.name
                    ),
                })
            }
            Err(e) => return Err(e),
        }
        let mut labels: BTreeMap<String, String> = net
            .labels
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        labels.insert(plan::PROJECT.into(), p.name.clone());
        labels.insert(plan::NETWORK.into(), key.clone());
        labels.insert(plan::VERSION.into(), plan::COMPOSE_VERSION.into());
        let opts: BTreeMap<String, String> = net
            .driver_opts
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let body = json!({
            "Name": net.name, "CheckDuplicate": true, "Driver": net.driver.clone().unwrap_or_else(|| "bridge".into()),
            "Internal": net.internal, "Attachable": net.attachable, "Labels": labels, "Options": opts,
            "EnableIPv6": net.enable_ipv6.unwrap_or(false), "IPAM": net.ipam.clone().unwrap_or(json!({"Driver": "default"})),
        });
        eprintln!(" Network {}  Creating", net.name);
        let _: Value = c.post_json("/networks/create", &body).await?;
        made.network(&net.name);
    }
    Ok(())
}

async fn ensure_volumes(c: &Client, p: &Project) -> Result<()> {
    for (key, vol) in &p.volumes {
        let used = p.services.iter().any(|s| {
            s.volumes
                .iter()
                .any(|m| m.kind == "volume" && m.source.as_deref() == Some(key))
        });
        if !used {
            continue;
        }
        match c.get::<Value>(&format!("/volumes/{}", encode(&vol.name))).await {
            Ok(_) => continue,
            Err(e) if e.is_status(404) && !vol.external => {}
            Err(e) => {
                return Err(EngineError::Daemon {
                    status: 0,
                    message: format!("named volume {} (volumes.{key}) cannot be used: {e}; this engine may not implement volumes yet", vol.name),
                })
            }
        }
        let mut labels: BTreeMap<String, String> = vol
            .labels
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        labels.insert(plan::PROJECT.into(), p.name.clone());
        labels.insert(plan::VOLUME.into(), key.clone());
        labels.insert(plan::VERSION.into(), plan::COMPOSE_VERSION.into());
        let body = json!({"Name": vol.name, "Driver": vol.driver.clone().unwrap_or_else(|| "local".into()), "Labels": labels});
        eprintln!(" Volume {}  Creating", vol.name);
        let r: Result<Value> = c.post_json("/volumes/create", &body).await;
        r.map_err(|e| EngineError::Daemon {
            status: 0,
            message: format!("cannot create named volume {} (volumes.{key}): {e}; this engine may not implement volumes yet", vol.name),
        })?;
    }
    Ok(())
}

async fn inspect(c: &Client, id: &str) -> Result<Value> {
    c.get(&format!("/containers/{}/json", encode(id))).await
}

/// Waits until a dependency's condition holds for all its containers.
async fn wait_condition(c: &Client, p: &Project, service: &str, condition: &str) -> Result<()> {
    let ids: Vec<String> = containers(c, &p.name, false)
        .await?
        .iter()
        .filter(|x| label(x, plan::SERVICE) == service)
        .filter_map(|x| x["Id"].as_str().map(String::from))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    for id in ids {
        loop {
            let i = inspect(c, &id).await?;
            let state = &i["State"];
            let done = match condition {
                "service_healthy" => match state["Health"]["Status"].as_str() {
                    Some("healthy") => true,
                    Some("unhealthy") => {
                        return Err(EngineError::Daemon { status: 0, message: format!("dependency failed to start: container {} is unhealthy", i["Name"].as_str().unwrap_or(&id).trim_start_matches('/')) })
                    }
                    None if state["Health"].is_null() => {
                        return Err(EngineError::Daemon { status: 0, message: format!("dependency {service} has no healthcheck, so it cannot become service_healthy") })
                    }
                    _ => false,
                },
                "service_completed_successfully" => {
                    if state["Running"].as_bool() == Some(false) && state["Status"].as_str() != Some("created") {
                        let code = state["ExitCode"].as_i64().unwrap_or(-1);
                        if code != 0 {
                            return Err(EngineError::Daemon { status: 0, message: format!("service {service} didn't complete successfully: exit {code}") });
                        }
                        true
                    } else {
                        false
                    }
                }
                _ => true,
            };
            if done {
                break;
            }
            if Instant::now() > deadline {
                return Err(EngineError::Daemon {
                    status: 0,
                    message: format!("timed out waiting for {service} to be {condition}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// What one `up` made, undone when it fails: containers it created, networks it created.
#[derive(Debug, Default)]
pub struct Made {
    containers: std::sync::Mutex<Vec<String>>,
    networks: std::sync::Mutex<Vec<String>>,
}

impl Made {
    fn container(&self, id: &str) {
        if let Ok(mut v) = self.containers.lock() {
            v.push(id.to_string());
        }
    }

    fn network(&self, name: &str) {
        if let Ok(mut v) = self.networks.lock() {
            v.push(name.to_string());
        }
    }

    /// Removes what was made (containers first), so a failed `up` leaves nothing half-started.
    async fn undo(&self, c: &Client) {
        let ids = self
            .containers
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        let nets = self.networks.lock().map(|v| v.clone()).unwrap_or_default();
        for id in ids.iter().rev() {
            if c.delete(&format!("/containers/{id}?force=1")).await.is_ok() {
                eprintln!(
                    " Container {}  Removed (up failed)",
                    id.get(..12).unwrap_or(id)
                );
            }
        }
        for n in nets.iter().rev() {
            if c.delete(&format!("/networks/{}", encode(n))).await.is_ok() {
                eprintln!(" Network {n}  Removed (up failed)");
            }
        }
    }
}

/// An engine's refusal with the service and container it was about in front.
fn about(e: EngineError, service: &str, container: &str) -> EngineError {
    match e {
        EngineError::Daemon { status, message } => EngineError::Daemon {
            status,
            message: format!("service {service}: container {container}: {message}"),
        },
        e => e,
    }
}

async fn create_and_start(
    c: &Client,
    p: &Project,
    svc: &crate::model::Service,
    number: u32,
    start: bool,
    made: &Made,
) -> Result<String> {
    let name = plan::container_name(&p.name, svc, number);
    let body = plan::create_body(p, svc, number, false);
    eprintln!(" Container {name}  Creating");
    let r: Value = c
        .post_json(&format!("/containers/create?name={}", encode(&name)), &body)
        .await
        .map_err(|e| about(e, &svc.name, &name))?;
    let id = r["Id"].as_str().unwrap_or_default().to_string();
    made.container(&id);
    eprintln!(" Container {name}  Created");
    if start {
        c.post(&format!("/containers/{id}/start"))
            .await
            .map_err(|e| about(e, &svc.name, &name))?;
        eprintln!(" Container {name}  Started");
    }
    Ok(id)
}

/// Recreates a container as Compose v2 does: the old one is stopped and renamed out of the way
/// (`<short id>_<name>`), the new one created under the name and started, then the old removed.
async fn recreate(
    c: &Client,
    p: &Project,
    svc: &crate::model::Service,
    id: &str,
    number: u32,
    start: bool,
    made: &Made,
) -> Result<String> {
    let name = plan::container_name(&p.name, svc, number);
    eprintln!(" Container {name}  Recreate");
    match c.post(&format!("/containers/{id}/stop")).await {
        Ok(_) => {}
        Err(e) if e.is_status(304) => {}
        Err(e) => return Err(e),
    }
    let short = id.get(..12).unwrap_or(id);
    let tmp = format!("{short}_{name}");
    c.post(&format!("/containers/{id}/rename?name={}", encode(&tmp)))
        .await?;
    let new = match create_and_start(c, p, svc, number, start, made).await {
        Ok(new) => new,
        Err(e) => {
            // The old container gets its name back; the new one goes with the rollback.
            if let Some(new) = made.containers.lock().ok().and_then(|mut v| {
                let pos = v.len().checked_sub(1)?;
                Some(v.remove(pos))
            }) {
                let _ = c.delete(&format!("/containers/{new}?force=1")).await;
            }
            let _ = c
                .post(&format!("/containers/{id}/rename?name={}", encode(&name)))
                .await;
            return Err(e);
        }
    };
    c.delete(&format!("/containers/{id}?force=1")).await?;
    eprintln!(" Container {name}  Recreated");
    Ok(new)
}

/// Converges one service to its scale, after its dependencies' conditions hold.
async fn converge_service(
    c: Client,
    p: Arc<Project>,
    o: Arc<UpOptions>,
    existing: Arc<Vec<Value>>,
    name: String,
    start: bool,
    made: Arc<Made>,
) -> Result<Vec<String>> {
    let Some(svc) = p.service(&name) else {
        return Ok(Vec::new());
    };
    if start {
        for (dep, d) in &svc.depends_on {
            wait_condition(&c, &p, dep, &d.condition).await?;
        }
    }
    let mine: Vec<Existing> = existing
        .iter()
        .filter(|x| label(x, plan::SERVICE) == name)
        .map(|x| Existing {
            id: x["Id"].as_str().unwrap_or_default().into(),
            number: label(x, plan::NUMBER).parse().unwrap_or(0),
            hash: label(x, plan::HASH).into(),
            running: x["State"].as_str() == Some("running"),
        })
        .collect();
    let scale = o
        .scale
        .get(&name)
        .copied()
        .unwrap_or_else(|| svc.replicas());
    let mut ids = Vec::new();
    for action in plan::converge(&mine, scale, &plan::config_hash(svc), o.recreate) {
        match action {
            Action::Create(n) => ids.push(create_and_start(&c, &p, svc, n, start, &made).await?),
            Action::Recreate { id, number } => {
                ids.push(recreate(&c, &p, svc, &id, number, start, &made).await?)
            }
            Action::Start { id } => {
                if start {
                    c.post(&format!("/containers/{id}/start")).await?;
                    eprintln!(" Container {}  Started", existing_name(&existing, &id));
                }
                ids.push(id);
            }
            Action::Keep { id } => {
                eprintln!(" Container {}  Running", existing_name(&existing, &id));
                ids.push(id)
            }
            Action::Remove { id } => {
                let n = existing_name(&existing, &id);
                eprintln!(" Container {n}  Stopping");
                let _ = c.post(&format!("/containers/{id}/stop")).await;
                c.delete(&format!("/containers/{id}?force=1")).await?;
                eprintln!(" Container {n}  Removed");
            }
        }
    }
    Ok(ids)
}

fn existing_name(existing: &[Value], id: &str) -> String {
    existing
        .iter()
        .find(|x| x["Id"].as_str() == Some(id))
        .and_then(|x| x["Names"][0].as_str())
        .unwrap_or(id)
        .trim_start_matches('/')
        .to_string()
}

/// `up -d` (and `create` with `start == false`): images first, then each service once its
/// dependencies are done, services whose dependencies are all done converging concurrently.
/// When it fails, the containers and networks it made are removed again (a recreated container
/// that failed gets its predecessor back), so nothing half-started is left; `--wait` follows.
pub async fn up(c: &Client, p: &Project, o: &UpOptions, start: bool) -> Result<Vec<String>> {
    let made = Arc::new(Made::default());
    let ids = match converge_all(c, p, o, start, &made).await {
        Ok(ids) => ids,
        Err(e) => {
            made.undo(c).await;
            return Err(e);
        }
    };
    if o.wait {
        for s in &p.services {
            let cond = if s.healthcheck.as_ref().is_some_and(|h| !h.disable) {
                "service_healthy"
            } else {
                "service_started"
            };
            wait_condition(c, p, &s.name, cond).await?;
        }
    }
    Ok(ids)
}

async fn converge_all(
    c: &Client,
    p: &Project,
    o: &UpOptions,
    start: bool,
    made: &Arc<Made>,
) -> Result<Vec<String>> {
    let names: Vec<String> = plan::order(p)
        .into_iter()
        .filter(|n| {
            o.services.is_empty()
                || o.services.contains(n)
                || (!o.no_deps && wanted_dependency(p, &o.services, n))
        })
        .collect();
    let wanted: Vec<&crate::model::Service> = names.iter().filter_map(|n| p.service(n)).collect();
    images::ensure(c, p, &wanted, o.build, o.no_build).await?;
    ensure_resources(c, p, made).await?;
    let existing = containers(c, &p.name, false).await?;
    if o.remove_orphans {
        for x in &existing {
            if p.service(label(x, plan::SERVICE)).is_none() {
                let id = x["Id"].as_str().unwrap_or_default();
                eprintln!(
                    " Container {}  Removing orphan",
                    x["Names"][0].as_str().unwrap_or(id).trim_start_matches('/')
                );
                c.delete(&format!("/containers/{id}?force=1")).await?;
            }
        }
    }
    let (project, opts, existing) = (Arc::new(p.clone()), Arc::new(o.clone()), Arc::new(existing));
    let mut done: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    while done.len() < names.len() {
        let wave: Vec<String> = names
            .iter()
            .filter(|n| !done.contains(n))
            .filter(|n| {
                p.service(n).is_none_or(|s| {
                    s.depends_on
                        .keys()
                        .all(|d| done.contains(d) || !names.contains(d))
                })
            })
            .cloned()
            .collect();
        if wave.is_empty() {
            break;
        }
        let mut set = tokio::task::JoinSet::new();
        for n in &wave {
            set.spawn(converge_service(
                c.clone(),
                project.clone(),
                opts.clone(),
                existing.clone(),
                n.clone(),
                start,
                made.clone(),
            ));
        }
        let mut first_err = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(v)) => ids.extend(v),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(c.transport(e));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        done.extend(wave);
    }
    Ok(ids)
}

fn wanted_dependency(p: &Project, wanted: &[String], name: &str) -> bool {
    wanted.iter().any(|w| {
        p.service(w).is_some_and(|s| {
            s.depends_on.contains_key(name)
                || s.depends_on
                    .keys()
                    .any(|d| wanted_dependency(p, std::slice::from_ref(d), name))
        })
    })
}
