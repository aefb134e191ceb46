//! `down`: the project's containers (one-off ones too) stopped and removed — dependents before
//! their dependencies, each wave concurrently, each container with its own stop timeout
//! (`stop_grace_period`, else the engine's 10 s) — then its networks,
//! with `--rmi` its images, the files `up` wrote for secrets and configs, and with `-v` its
//! anonymous volumes (removed with their containers) and named volumes.

use super::client::{encode, Client, EngineError, Result};
use super::up::{containers, label};
use crate::model::Project;
use crate::plan;
use serde_json::Value;

/// Stops (with each container's own stop timeout) and removes `batch` concurrently.
pub(super) async fn remove_all(c: &Client, batch: &[&Value], volumes: bool) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for x in batch {
        let id = x["Id"].as_str().unwrap_or_default().to_string();
        let name = x["Names"][0]
            .as_str()
            .unwrap_or(&id)
            .trim_start_matches('/')
            .to_string();
        let running = x["State"].as_str() == Some("running");
        let c = c.clone();
        set.spawn(async move {
            if running {
                eprintln!(" Container {name}  Stopping");
                match c.post(&format!("/containers/{id}/stop")).await {
                    Ok(_) => {}
                    Err(e) if e.is_status(304) || e.is_status(404) => {}
                    Err(e) => return Err(e),
                }
            }
            eprintln!(" Container {name}  Removing");
            match c
                .delete(&format!("/containers/{id}?force=1&v={}", u8::from(volumes)))
                .await
            {
                Ok(()) => {
                    eprintln!(" Container {name}  Removed");
                    Ok(())
                }
                Err(e) if e.is_status(404) => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(c.transport(e));
            }
            Ok(Ok(())) => {}
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Options of `down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    /// `--rmi local` (images built for services without an `image:` name) or `all`.
    pub rmi: Option<String>,
}

async fn remove_images(c: &Client, p: &Project, which: &str) -> Result<()> {
    if which != "local" && which != "all" {
        return Err(EngineError::Daemon {
            status: 0,
            message: format!("invalid --rmi {which:?}: expected local or all"),
        });
    }
    let mut seen = Vec::new();
    for svc in &p.services {
        if which == "local" && svc.image.is_some() {
            continue;
        }
        let image = svc.image_name(&p.name);
        if seen.contains(&image) {
            continue;
        }
        seen.push(image.clone());
        match c.delete(&format!("/images/{}", encode(&image))).await {
            Ok(()) => eprintln!(" Image {image}  Removed"),
            Err(e) if e.is_status(404) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `down`: containers stopped and removed, then the project's networks (and volumes with `-v`).
pub async fn down(c: &Client, p: &Project, o: &DownOptions) -> Result<()> {
    let (volumes, remove_orphans) = (o.volumes, o.remove_orphans);
    let all: Vec<Value> = containers(c, &p.name, true)
        .await?
        .into_iter()
        .filter(|x| {
            let svc = label(x, plan::SERVICE);
            p.service(svc).is_some() || remove_orphans || p.disabled.iter().any(|d| d == svc)
        })
        .collect();
    // Dependents before their dependencies; the containers of one wave concurrently.
    let mut left: Vec<String> = plan::order(p);
    let mut first = true;
    loop {
        let wave: Vec<String> = left
            .iter()
            .filter(|n| {
                !left.iter().any(|o| {
                    p.service(o)
                        .is_some_and(|s| s.depends_on.contains_key(n.as_str()))
                })
            })
            .cloned()
            .collect();
        let batch: Vec<&Value> = all
            .iter()
            .filter(|x| {
                let svc = label(x, plan::SERVICE);
                wave.iter().any(|w| w == svc)
                    || (first && !left.iter().any(|l| l == svc))
                    || (wave.is_empty() && left.iter().any(|l| l == svc))
            })
            .collect();
        remove_all(c, &batch, volumes).await?;
        first = false;
        if wave.is_empty() {
            break;
        }
        left.retain(|n| !wave.contains(n));
    }
    for net in p.networks.values().filter(|n| !n.external) {
        match c.delete(&format!("/networks/{}", encode(&net.name))).await {
            Ok(()) => eprintln!(" Network {}  Removed", net.name),
            Err(e) if e.is_status(404) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(which) = &o.rmi {
        remove_images(c, p, which).await?;
    }
    // The files up wrote for secrets and configs.
    if !p.data_dir.is_empty() {
        for kind in ["secrets", "configs"] {
            let _ = std::fs::remove_dir_all(std::path::Path::new(&p.data_dir).join(kind));
        }
        let _ = std::fs::remove_dir(&p.data_dir);
    }
    if volumes {
        // The containers went with `v=1`, taking their anonymous volumes; now the named ones
        // (one still used by a container outside the project stays, with Compose's warning).
        for vol in p.volumes.values().filter(|v| !v.external) {
            match c.delete(&format!("/volumes/{}", encode(&vol.name))).await {
                Ok(()) => eprintln!(" Volume {:?}  Removed", vol.name),
                Err(e) if e.is_status(404) => {}
                Err(e) if e.is_status(409) => {
                    eprintln!(" Volume {:?}  Resource is still in use", vol.name)
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
