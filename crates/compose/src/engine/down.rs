//! `down`: the project's containers (one-off ones too) stopped and removed, then its networks,
//! with `--rmi` its images, the files `up` wrote for secrets and configs, and with `-v` its
//! named volumes.

use super::client::{encode, Client, EngineError, Result};
use super::up::{containers, label};
use crate::model::Project;
use crate::plan;

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
    let all = containers(c, &p.name, true).await?;
    for x in all {
        let svc = label(&x, plan::SERVICE);
        if p.service(svc).is_none() && !remove_orphans && !p.disabled.iter().any(|d| d == svc) {
            continue;
        }
        let id = x["Id"].as_str().unwrap_or_default();
        let name = x["Names"][0]
            .as_str()
            .unwrap_or(id)
            .trim_start_matches('/')
            .to_string();
        if x["State"].as_str() == Some("running") {
            eprintln!(" Container {name}  Stopping");
            c.post(&format!("/containers/{id}/stop?t=10")).await?;
        }
        eprintln!(" Container {name}  Removing");
        c.delete(&format!("/containers/{id}?force=1&v={}", u8::from(volumes)))
            .await?;
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
        for vol in p.volumes.values().filter(|v| !v.external) {
            match c.delete(&format!("/volumes/{}", encode(&vol.name))).await {
                Ok(()) => eprintln!(" Volume {}  Removed", vol.name),
                Err(e) if e.is_status(404) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
