//! `up` against the engine: the project's named volumes and networks ([`super::resources`]),
//! each service converged in dependency order after its dependencies' conditions hold (started,
//! healthy, completed successfully) — independent services concurrently, recreation renaming
//! the old container out of the way first and handing its anonymous volumes to the new one —
//! and orphans removed on request.

use super::client::{encode, Client, EngineError, Result};
use super::images;
use crate::model::Project;
use crate::mounts::{Inherit, Previous};
use crate::plan::{self, Action, Existing, Recreate};
use berth_api::container::ContainerCreateRequest;
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
    /// `-y`: yes to Compose's questions (recreate a volume that no longer matches the file).
    pub assume_yes: bool,
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

/// What one `up` made, undone when it fails: containers, networks and volumes it created.
#[derive(Debug, Default)]
pub struct Made {
    containers: std::sync::Mutex<Vec<String>>,
    networks: std::sync::Mutex<Vec<String>>,
    volumes: std::sync::Mutex<Vec<String>>,
}

impl Made {
    fn container(&self, id: &str) {
        if let Ok(mut v) = self.containers.lock() {
            v.push(id.to_string());
        }
    }

    pub(super) fn network(&self, name: &str) {
        if let Ok(mut v) = self.networks.lock() {
            v.push(name.to_string());
        }
    }

    pub(super) fn volume(&self, name: &str) {
        if let Ok(mut v) = self.volumes.lock() {
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
        let vols = self.volumes.lock().map(|v| v.clone()).unwrap_or_default();
        for v in vols.iter().rev() {
            if c.delete(&format!("/volumes/{}", encode(v))).await.is_ok() {
                eprintln!(" Volume {v:?}  Removed (up failed)");
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
    inherit: &Inherit,
) -> Result<String> {
    let name = plan::container_name(&p.name, svc, number);
    let body = plan::create_body(p, svc, number, false, inherit);
    eprintln!(" Container {name}  Creating");
    let id = create_container(c, &name, body)
        .await
        .map_err(|e| about(e, &svc.name, &name))?;
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

/// `POST /containers/create?name=NAME`; returns the new container's ID. The container is
/// created on its primary network only and connected to the service's others before it starts:
/// engines before API 1.44 (Docker 20.10) refuse a create naming several networks, and that way
/// works on every engine (a failed connect removes the container again).
pub(super) async fn create_container(
    c: &Client,
    name: &str,
    mut body: ContainerCreateRequest,
) -> Result<String> {
    let later = plan::split_endpoints(&mut body);
    let r: Value = c
        .post_json(&format!("/containers/create?name={}", encode(name)), &body)
        .await?;
    let id = r["Id"].as_str().unwrap_or_default().to_string();
    for (net, endpoint) in later {
        let connect = json!({ "Container": id, "EndpointConfig": endpoint });
        let r: Result<Value> = c
            .post_json(&format!("/networks/{}/connect", encode(&net)), &connect)
            .await;
        if let Err(e) = r {
            let _ = c.delete(&format!("/containers/{id}?force=1")).await;
            return Err(e);
        }
    }
    Ok(id)
}

/// The `VOLUME`s of the service's image (none when it cannot be inspected).
async fn image_volumes(c: &Client, p: &Project, svc: &crate::model::Service) -> Vec<String> {
    let image = svc.image_name(&p.name);
    match c
        .get::<Value>(&format!("/images/{}/json", encode(&image)))
        .await
    {
        Ok(i) => i["Config"]["Volumes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Recreates a container as Compose v2 does: the old one is stopped and renamed out of the way
/// (`<short id>_<name>`), the new one created under the name — with the old one's anonymous
/// volumes ([`Inherit`]) — and started, then the old removed (its volumes kept).
#[allow(clippy::too_many_arguments)]
async fn recreate(
    c: &Client,
    p: &Project,
    svc: &crate::model::Service,
    old: &Value,
    id: &str,
    number: u32,
    start: bool,
    made: &Made,
) -> Result<String> {
    let name = plan::container_name(&p.name, svc, number);
    let inherit = Inherit {
        previous: Previous::list(old),
        image_volumes: image_volumes(c, p, svc).await,
    };
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
    let new = match create_and_start(c, p, svc, number, start, made, &inherit).await {
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
            Action::Create(n) => {
                let none = Inherit::default();
                ids.push(create_and_start(&c, &p, svc, n, start, &made, &none).await?)
            }
            Action::Recreate { id, number } => {
                let old = existing
                    .iter()
                    .find(|x| x["Id"].as_str() == Some(id.as_str()))
                    .cloned()
                    .unwrap_or_default();
                ids.push(recreate(&c, &p, svc, &old, &id, number, start, &made).await?)
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
    super::resources::ensure_resources(c, p, made, o.assume_yes).await?;
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
