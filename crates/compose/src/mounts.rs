//! A service's volumes in a container create body, as Compose v2 sends them.
//!
//! - Named volumes and binds without advanced options go as `HostConfig.Binds` strings
//!   (`<project>_data:/data:rw[,nocopy]`, `/host:/path:ro[,z]`): the bind API is the one that
//!   creates a missing host path, and older engines understand it.
//! - Everything else is a `HostConfig.Mounts` entry: anonymous volumes, volume subpaths, tmpfs,
//!   binds with a propagation mode or `create_host_path: false`.
//! - When a container is recreated, the anonymous volumes of the one it replaces are handed to
//!   the new one by name ([`Inherit`]): those at a target the service declares anonymous, and
//!   those at a `VOLUME` of the image. Their data survives `up`; only `down -v` (or `rm -v`)
//!   removes them.
//! - `volumes_from` names services (their first container) or `container:NAME`; the engine wants
//!   container names.

use crate::model::{Project, Service, VolumeMount};
use crate::normalize::syntax::clean;
use berth_api::container::{Mount, TmpfsOptions};
use serde_json::{json, Map, Value};

/// One mount of the container being replaced, as the engine lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previous {
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: String,
    pub source: String,
    pub destination: String,
    pub rw: bool,
}

impl Previous {
    /// The `Mounts` of a `GET /containers/json` entry (or of inspect).
    pub fn list(container: &Value) -> Vec<Previous> {
        let s = |m: &Value, k: &str| m[k].as_str().unwrap_or_default().to_string();
        container["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Previous {
                kind: s(m, "Type"),
                name: s(m, "Name"),
                source: s(m, "Source"),
                destination: s(m, "Destination"),
                rw: m["RW"].as_bool().unwrap_or(true),
            })
            .collect()
    }
}

/// What a recreated container takes over from the one it replaces: its mounts and the
/// `VOLUME`s of the service's image.
#[derive(Debug, Clone, Default)]
pub struct Inherit {
    pub previous: Vec<Previous>,
    pub image_volumes: Vec<String>,
}

/// A service's `Binds` strings and `Mounts` entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mounts {
    pub binds: Vec<String>,
    pub mounts: Vec<Mount>,
}

fn anonymous(v: &VolumeMount) -> bool {
    v.kind == "volume" && v.source.as_deref().unwrap_or_default().is_empty()
}

/// `name:/target:rw|ro[,z][,nocopy]`, Compose's `toBindString`.
fn bind_string(source: &str, v: &VolumeMount) -> String {
    let mut options = vec![if v.read_only { "ro" } else { "rw" }.to_string()];
    if let Some(b) = &v.bind {
        options.extend(b.selinux.clone());
        options.extend(b.propagation.clone());
    }
    if v.volume.as_ref().is_some_and(|o| o.nocopy) {
        options.push("nocopy".into());
    }
    format!("{source}:{}:{}", clean(&v.target), options.join(","))
}

/// A bind needs the mount API when it must not create its host path or sets a propagation.
fn bind_needs_mount(v: &VolumeMount) -> bool {
    v.bind
        .as_ref()
        .is_some_and(|b| !b.create_host_path || b.propagation.is_some())
}

/// Size in bytes from a number or a unit string (`64m`).
fn size_bytes(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => berth_api::units::ram_in_bytes(s).ok(),
        _ => None,
    }
}

/// A service volume as a `Mounts` entry (`source` already the engine's name for a volume).
fn mount(v: &VolumeMount, source: String) -> Mount {
    let mut m = Mount {
        kind: v.kind.clone(),
        source,
        target: clean(&v.target),
        read_only: v.read_only,
        consistency: v.consistency.clone(),
        ..Mount::default()
    };
    if let Some(b) = &v.bind {
        let mut o = Map::new();
        if let Some(p) = &b.propagation {
            o.insert("Propagation".into(), json!(p));
        }
        if b.create_host_path {
            o.insert("CreateMountpoint".into(), json!(true));
        }
        m.bind_options = Some(Value::Object(o));
    }
    if let Some(vo) = &v.volume {
        let mut o = Map::new();
        if vo.nocopy {
            o.insert("NoCopy".into(), json!(true));
        }
        if let Some(s) = &vo.subpath {
            o.insert("Subpath".into(), json!(s));
        }
        m.volume_options = Some(Value::Object(o));
    }
    if let Some(t) = &v.tmpfs {
        m.tmpfs_options = Some(TmpfsOptions {
            size_bytes: t.size.as_ref().and_then(size_bytes),
            mode: t.mode,
        });
    }
    m
}

/// The service's mounts, with what it inherits from the container it replaces.
pub fn service_mounts(p: &Project, svc: &Service, inherit: &Inherit) -> Mounts {
    // By target: the inherited ones first, the service's own replacing them.
    let mut by_target: Vec<(String, Option<Mount>, Option<String>)> = Vec::new();
    let mut put = |target: String, m: Option<Mount>, b: Option<String>| match by_target
        .iter_mut()
        .find(|(t, _, _)| *t == target)
    {
        Some(slot) => *slot = (target, m, b),
        None => by_target.push((target, m, b)),
    };
    let mut own: Vec<&VolumeMount> = svc.volumes.iter().collect();
    for prev in &inherit.previous {
        if prev.kind == "tmpfs" {
            continue;
        }
        let dest = clean(&prev.destination);
        let declared = own.iter().any(|v| anonymous(v) && clean(&v.target) == dest);
        if declared || inherit.image_volumes.iter().any(|d| clean(d) == dest) {
            let source = if prev.kind == "volume" {
                prev.name.clone()
            } else {
                prev.source.clone()
            };
            let m = Mount {
                kind: prev.kind.clone(),
                source,
                target: dest.clone(),
                read_only: !prev.rw,
                ..Mount::default()
            };
            put(dest.clone(), Some(m), None);
        }
        own.retain(|v| !(anonymous(v) && clean(&v.target) == dest));
    }
    for v in own {
        let target = clean(&v.target);
        let source = v.source.clone().unwrap_or_default();
        match v.kind.as_str() {
            "bind" if !bind_needs_mount(v) => put(target, None, Some(bind_string(&source, v))),
            "volume" if !source.is_empty() => {
                let name = p
                    .volumes
                    .get(&source)
                    .map_or(source.clone(), |vol| vol.name.clone());
                if v.volume.as_ref().is_some_and(|o| o.subpath.is_some()) {
                    put(target, Some(mount(v, name)), None);
                } else {
                    put(target, None, Some(bind_string(&name, v)));
                }
            }
            _ => put(target, Some(mount(v, source)), None),
        }
    }
    let mut out = Mounts::default();
    for (_, m, b) in by_target {
        out.mounts.extend(m);
        out.binds.extend(b);
    }
    out
}

/// `volumes_from` as the engine takes it: a service's first container, or the named container,
/// each with its `:ro`/`:rw`.
pub fn volumes_from(p: &Project, svc: &Service) -> Vec<String> {
    svc.volumes_from
        .iter()
        .map(|v| {
            if let Some(container) = v.strip_prefix("container:") {
                return container.to_string();
            }
            let (name, mode) = match v.split_once(':') {
                Some((n, m)) => (n, format!(":{m}")),
                None => (v.as_str(), String::new()),
            };
            let container = p.service(name).map_or(name.to_string(), |s| {
                crate::plan::container_name(&p.name, s, 1)
            });
            format!("{container}{mode}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{load, Options};

    fn project(text: &str) -> Project {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.path().join("compose.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
        let o = Options {
            cwd: d.path().to_path_buf(),
            project_name: Some("proj".into()),
            ..Options::default()
        };
        load(&o).unwrap_or_else(|e| panic!("{e}"))
    }

    const APP: &str = "services:
  app:
    image: busybox
    volumes:
      - data:/data
      - data:/ro/:ro,nocopy
      - /cache
      - /host:/h:z
      - /host:/p:rslave
      - {type: bind, source: /host, target: /nc, bind: {create_host_path: false}}
      - {type: volume, source: data, target: /sub, volume: {subpath: s}}
      - {type: volume, target: /anon-nocopy, volume: {nocopy: true}}
      - {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}
    volumes_from: [db, 'db:ro', 'container:other:rw']
  db:
    image: busybox
volumes:
  data:
    name: shared-data
";

    #[test]
    fn named_volumes_and_simple_binds_go_as_binds_the_rest_as_mounts() {
        let p = project(APP);
        let app = p.service("app").cloned().unwrap_or_default();
        let m = service_mounts(&p, &app, &Inherit::default());
        assert_eq!(
            m.binds,
            [
                "shared-data:/data:rw",
                "shared-data:/ro:ro,nocopy",
                "/host:/h:rw,z"
            ]
        );
        let got: Vec<Value> = m
            .mounts
            .iter()
            .map(|x| serde_json::to_value(x).unwrap_or_default())
            .collect();
        let pick = |t: &str| {
            got.iter()
                .find(|x| x["Target"] == t)
                .cloned()
                .unwrap_or_default()
        };
        // An anonymous volume has no Source: left out, as Docker's `omitempty` writes it.
        assert_eq!(
            (
                pick("/cache")["Type"].as_str(),
                pick("/cache")["Source"].as_str()
            ),
            (Some("volume"), None)
        );
        assert_eq!(
            pick("/p")["BindOptions"],
            json!({"Propagation": "rslave", "CreateMountpoint": true})
        );
        assert_eq!(pick("/nc")["BindOptions"], json!({}));
        assert_eq!(pick("/sub")["Source"], "shared-data");
        assert_eq!(pick("/sub")["VolumeOptions"], json!({"Subpath": "s"}));
        assert_eq!(
            pick("/anon-nocopy")["VolumeOptions"],
            json!({"NoCopy": true})
        );
        assert_eq!(
            pick("/t")["TmpfsOptions"],
            json!({"SizeBytes": 1_048_576, "Mode": 1777})
        );
        assert_eq!(m.mounts.len(), 6);
        assert_eq!(
            volumes_from(&p, &app),
            ["proj-db-1", "proj-db-1:ro", "other:rw"]
        );
        // volumes_from makes db a dependency.
        assert!(app.depends_on.contains_key("db"));
    }

    #[test]
    fn a_recreated_container_keeps_its_anonymous_volumes() {
        let p = project(APP);
        let app = p.service("app").cloned().unwrap_or_default();
        let prev = |kind: &str, name: &str, dest: &str| Previous {
            kind: kind.into(),
            name: name.into(),
            source: format!("/var/lib/berth/volumes/{name}/_data"),
            destination: dest.into(),
            rw: true,
        };
        let inherit = Inherit {
            previous: vec![
                prev("volume", "a1b2", "/cache"),
                prev("volume", "shared-data", "/data"),
                prev("volume", "c3d4", "/image-vol/"),
                prev("volume", "e5f6", "/gone"),
                prev("tmpfs", "", "/t"),
            ],
            image_volumes: vec!["/image-vol".into()],
        };
        let m = service_mounts(&p, &app, &inherit);
        let by_target = |t: &str| m.mounts.iter().find(|x| x.target == t).cloned();
        // The declared anonymous volume and the image's VOLUME come back by name.
        assert_eq!(by_target("/cache").map(|x| x.source), Some("a1b2".into()));
        assert_eq!(
            by_target("/image-vol").map(|x| x.source),
            Some("c3d4".into())
        );
        // A volume the service no longer declares, and tmpfs, are not carried over.
        assert!(by_target("/gone").is_none());
        assert_eq!(by_target("/t").map(|x| x.kind), Some("tmpfs".into()));
        // The named volume stays a bind string.
        assert!(m.binds.contains(&"shared-data:/data:rw".to_string()));
        assert!(by_target("/data").is_none());
    }
}
