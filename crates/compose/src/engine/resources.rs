//! What `up` (and `run`) make before any container: the project's named volumes and networks,
//! labelled as Compose labels them (`com.docker.compose.project`, `.volume`/`.network`,
//! `.version`) so that `down` and other Compose implementations find them, and the files of
//! environment- and content-sourced secrets and configs. External ones must exist already; a
//! volume of the same name made outside the project is used with Compose's warning.

use super::client::{encode, Client, EngineError, Result};
use super::up::Made;
use crate::model::{Network, Project, Volume};
use crate::plan;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The project's named volumes and networks, all at once (each is one look-up and at most one
/// create), then the files of its environment- and content-sourced secrets and configs. The first
/// failure is returned once every request has finished, so `made` holds all that was made.
///
/// A project volume that exists with another driver or other driver options than the file's is
/// Compose v2's question (`Recreate (data will be lost)?`), answered yes by `assume_yes` (`up -y`):
/// yes removes the containers that mount it and the volume, and makes it again; no (the answer
/// when stdin is not a terminal and gives none) keeps the volume as it is.
pub async fn ensure_resources(
    c: &Client,
    p: &Project,
    made: &Arc<Made>,
    assume_yes: bool,
) -> Result<()> {
    let mut set = JoinSet::new();
    for (key, vol) in &p.volumes {
        if used(p, key) {
            let (c, made, vol, body) = (
                c.clone(),
                made.clone(),
                vol.clone(),
                volume_body(p, key, vol),
            );
            let (key, project) = (key.clone(), p.name.clone());
            set.spawn(async move { ensure_volume(&c, &project, &key, &vol, body, &made).await });
        }
    }
    for (key, net) in &p.networks {
        if p.services.iter().any(|s| s.networks.contains_key(key)) {
            let (c, made, body) = (c.clone(), made.clone(), network_body(p, key, net));
            let (name, external) = (net.name.clone(), net.external);
            set.spawn(async move {
                ensure_network(&c, &name, external, body, &made)
                    .await
                    .map(|()| None)
            });
        }
    }
    let mut first = None;
    let mut diverged = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| c.transport(e)).and_then(|r| r) {
            Ok(Some(key)) => diverged.push(key),
            Ok(None) => {}
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first {
        return Err(e);
    }
    diverged.sort();
    for key in diverged {
        if let Some(vol) = p.volumes.get(&key) {
            recreate_if_confirmed(c, p, &key, vol, made, assume_yes).await?;
        }
    }
    write_file_objects(p)
}

/// Compose v2's words for a volume that does not match the file.
pub fn diverged_question(name: &str) -> String {
    format!("Volume {name:?} exists but doesn't match configuration in compose file. Recreate (data will be lost)?")
}

/// Whether existing volume `existing` (`GET /volumes/{name}`), made by a Compose, has another
/// driver or other driver options than `vol` asks for.
fn diverges(vol: &Volume, existing: &Value) -> bool {
    if existing["Labels"][plan::PROJECT].as_str().is_none() {
        return false;
    }
    let driver = vol.driver.as_deref().unwrap_or("local");
    let wanted = present(&vol.driver_opts);
    let have: BTreeMap<String, String> = existing["Options"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    existing["Driver"].as_str() != Some(driver) || have != wanted
}

/// Asks `question` as Compose v2 does: on a terminal with a `(y/N)` hint, else printed and one
/// line read from stdin (none, as from /dev/null, is no).
async fn confirm(question: String) -> Result<bool> {
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{IsTerminal, Write};
        let mut out = std::io::stdout();
        if std::io::stdin().is_terminal() {
            let _ = write!(out, "? {question} (y/N) ");
        } else {
            let _ = write!(out, "{question}");
        }
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = writeln!(out);
        line
    })
    .await
    .map_err(|e| EngineError::Daemon {
        status: 0,
        message: format!("reading the answer: {e}"),
    })?;
    let a = answer.trim().to_ascii_lowercase();
    Ok(matches!(a.as_str(), "y" | "yes" | "1" | "t" | "true"))
}

/// The diverged volume `key`: when confirmed, the project's containers that mount it are stopped
/// and removed (up makes them again), the volume removed and made again from the file.
async fn recreate_if_confirmed(
    c: &Client,
    p: &Project,
    key: &str,
    vol: &Volume,
    made: &Made,
    assume_yes: bool,
) -> Result<()> {
    if !assume_yes && !confirm(diverged_question(&vol.name)).await? {
        return Ok(());
    }
    let services: Vec<&str> = p
        .services
        .iter()
        .filter(|s| {
            s.volumes
                .iter()
                .any(|m| m.kind == "volume" && m.source.as_deref() == Some(key))
        })
        .map(|s| s.name.as_str())
        .collect();
    let all = super::up::containers(c, &p.name, true).await?;
    let users: Vec<&Value> = all
        .iter()
        .filter(|x| services.contains(&super::up::label(x, plan::SERVICE)))
        .collect();
    super::down::remove_all(c, &users, false).await?;
    eprintln!(" Volume {:?}  Removing", vol.name);
    c.delete(&format!("/volumes/{}?force=1", encode(&vol.name)))
        .await?;
    eprintln!(" Volume {:?}  Removed", vol.name);
    create_volume(c, key, vol, volume_body(p, key, vol), made).await
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

/// The create body of a project network, with Compose's labels on top of its own.
fn network_body(p: &Project, key: &str, net: &Network) -> Value {
    let mut labels: BTreeMap<String, String> = net
        .labels
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    labels.insert(plan::PROJECT.into(), p.name.clone());
    labels.insert(plan::NETWORK.into(), key.into());
    labels.insert(plan::VERSION.into(), plan::COMPOSE_VERSION.into());
    let opts: BTreeMap<String, String> = net
        .driver_opts
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    json!({
        "Name": net.name, "CheckDuplicate": true, "Driver": net.driver.clone().unwrap_or_else(|| "bridge".into()),
        "Internal": net.internal, "Attachable": net.attachable, "Labels": labels, "Options": opts,
        "EnableIPv6": net.enable_ipv6.unwrap_or(false), "IPAM": net.ipam.clone().unwrap_or(json!({"Driver": "default"})),
    })
}

/// Creates network `name` unless it exists; an external one must exist.
async fn ensure_network(
    c: &Client,
    name: &str,
    external: bool,
    body: Value,
    made: &Made,
) -> Result<()> {
    match c.get::<Value>(&format!("/networks/{}", encode(name))).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is_status(404) && !external => {}
        Err(e) if e.is_status(404) => {
            return Err(EngineError::Daemon {
                status: 404,
                message: format!("network {name} declared as external, but could not be found"),
            })
        }
        Err(e) => return Err(e),
    }
    eprintln!(" Network {name}  Creating");
    let _: Value = c.post_json("/networks/create", &body).await?;
    made.network(name);
    Ok(())
}

/// Whether any service mounts the top-level volume `key`.
fn used(p: &Project, key: &str) -> bool {
    p.services.iter().any(|s| {
        s.volumes
            .iter()
            .any(|m| m.kind == "volume" && m.source.as_deref() == Some(key))
    })
}

/// The entries of `m` that have a value.
fn present(m: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    m.iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}

/// The create body of a project volume: its driver (`local` by default), options and labels,
/// with Compose's own labels on top.
pub fn volume_body(p: &Project, key: &str, vol: &Volume) -> Value {
    let some = present;
    let mut labels = some(&vol.labels);
    labels.insert(plan::PROJECT.into(), p.name.clone());
    labels.insert(plan::VOLUME.into(), key.into());
    labels.insert(plan::VERSION.into(), plan::COMPOSE_VERSION.into());
    json!({
        "Name": vol.name,
        "Driver": vol.driver.clone().unwrap_or_else(|| "local".into()),
        "DriverOpts": some(&vol.driver_opts),
        "Labels": labels,
    })
}

/// A volume that exists already: Compose's warning when another project (or no Compose at
/// all) made it; the project then shares it.
fn warn_if_foreign(project: &str, vol: &Volume, existing: &Value) {
    match existing["Labels"][plan::PROJECT].as_str() {
        None => eprintln!(
            "WARN[0000] volume {:?} already exists but was not created by Docker Compose. Use `external: true` to use an existing volume",
            vol.name
        ),
        Some(other) if other != project => eprintln!(
            "WARN[0000] volume {:?} already exists but was created for project {other:?} (expected {project:?}). Use `external: true` to use an existing volume",
            vol.name
        ),
        Some(_) => {}
    }
}

/// Creates the named volume `key` unless it exists; an external one must exist. `Some(key)`
/// when it exists with another driver or other options than the file's.
async fn ensure_volume(
    c: &Client,
    project: &str,
    key: &str,
    vol: &Volume,
    body: Value,
    made: &Made,
) -> Result<Option<String>> {
    match c
        .get::<Value>(&format!("/volumes/{}", encode(&vol.name)))
        .await
    {
        Ok(existing) => {
            if vol.external {
                return Ok(None);
            }
            warn_if_foreign(project, vol, &existing);
            return Ok(diverges(vol, &existing).then(|| key.to_string()));
        }
        Err(e) if e.is_status(404) && vol.external => {
            return Err(EngineError::Daemon {
                status: 404,
                message: format!("external volume {:?} not found", vol.name),
            })
        }
        Err(e) if e.is_status(404) => {}
        Err(e) => return Err(e),
    }
    create_volume(c, key, vol, body, made).await.map(|()| None)
}

/// `POST /volumes/create` of project volume `key`.
async fn create_volume(
    c: &Client,
    key: &str,
    vol: &Volume,
    body: Value,
    made: &Made,
) -> Result<()> {
    eprintln!(" Volume {:?}  Creating", vol.name);
    let _: Value = c
        .post_json("/volumes/create", &body)
        .await
        .map_err(|e| match e {
            EngineError::Daemon { status, message } => EngineError::Daemon {
                status,
                message: format!("volumes.{key}: {message}"),
            },
            e => e,
        })?;
    made.volume(&vol.name);
    eprintln!(" Volume {:?}  Created", vol.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{load, Options};

    #[test]
    fn volumes_are_made_with_compose_labels_and_their_options() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let yaml = "services:\n  a: {image: busybox, volumes: ['data:/d', 'ext:/e']}\n  b: {image: busybox}\nvolumes:\n  data:\n    driver_opts: {type: tmpfs, device: tmpfs, o: 'size=64m'}\n    labels: {team: x}\n  ext: {external: true}\n  spare: {}\n";
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
        let o = Options {
            cwd: d.path().to_path_buf(),
            project_name: Some("proj".into()),
            ..Options::default()
        };
        let p = load(&o).unwrap_or_else(|e| panic!("{e}"));
        let data = p.volumes.get("data").cloned().unwrap_or_default();
        assert_eq!(
            volume_body(&p, "data", &data),
            json!({"Name": "proj_data", "Driver": "local",
                   "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"},
                   "Labels": {"team": "x", "com.docker.compose.project": "proj",
                              "com.docker.compose.volume": "data",
                              "com.docker.compose.version": plan::COMPOSE_VERSION}})
        );
        assert!(used(&p, "data") && used(&p, "ext") && !used(&p, "spare"));
        assert_eq!(p.volumes.get("ext").map(|v| v.name.as_str()), Some("ext"));
    }

    #[test]
    fn a_compose_volume_with_another_driver_or_options_diverges() {
        let vol = Volume {
            name: "proj_data".into(),
            driver_opts: BTreeMap::from([
                ("type".to_string(), Some("tmpfs".to_string())),
                ("o".to_string(), Some("size=1m".to_string())),
            ]),
            ..Volume::default()
        };
        let existing = |driver: &str, opts: Value, project: Option<&str>| {
            json!({"Name": "proj_data", "Driver": driver, "Options": opts,
                   "Labels": project.map(|p| json!({plan::PROJECT: p})).unwrap_or(Value::Null)})
        };
        let same = json!({"type": "tmpfs", "o": "size=1m"});
        assert!(!diverges(
            &vol,
            &existing("local", same.clone(), Some("proj"))
        ));
        assert!(diverges(
            &vol,
            &existing("other", same.clone(), Some("proj"))
        ));
        let changed = json!({"type": "tmpfs", "o": "size=2m"});
        assert!(diverges(
            &vol,
            &existing("local", changed.clone(), Some("proj"))
        ));
        assert!(diverges(
            &vol,
            &existing("local", Value::Null, Some("other"))
        ));
        // A volume no Compose made is only warned about, as Compose does.
        assert!(!diverges(&vol, &existing("local", changed, None)));
        let plain = Volume {
            name: "proj_data".into(),
            ..Volume::default()
        };
        assert!(!diverges(
            &plain,
            &existing("local", Value::Null, Some("proj"))
        ));
        assert!(!diverges(
            &plain,
            &existing("local", json!({}), Some("proj"))
        ));
        assert_eq!(
            diverged_question("proj_data"),
            "Volume \"proj_data\" exists but doesn't match configuration in compose file. Recreate (data will be lost)?"
        );
    }
}
