//! `cp`: files between a service's container and the host through the archive endpoints —
//! `SERVICE:SRC DEST` reads `GET /containers/{id}/archive` (a tar) and unpacks it inside DEST's
//! directory (the tar crate refuses entries that climb out of it), `SRC SERVICE:DEST` sends a tar
//! of SRC with `PUT /containers/{id}/archive?path=DEST`.

use super::client::{encode, read_all, Client, EngineError, Result};
use super::up::{containers, label};
use crate::plan;
use std::path::Path;

fn fail(message: String) -> EngineError {
    EngineError::Local(message)
}

/// `SERVICE:PATH` → (service, path); a plain path → None.
fn split(arg: &str) -> Option<(&str, &str)> {
    let (s, p) = arg.split_once(':')?;
    (!s.is_empty() && !s.contains('/')).then_some((s, p))
}

async fn container_of(c: &Client, project: &str, service: &str, index: u32) -> Result<String> {
    let list = containers(c, project, false).await?;
    list.iter()
        .filter(|x| label(x, plan::SERVICE) == service)
        .find(|x| label(x, plan::NUMBER) == index.max(1).to_string())
        .and_then(|x| x["Id"].as_str().map(String::from))
        .ok_or_else(|| {
            fail(format!(
                "service {service:?} has no container number {}",
                index.max(1)
            ))
        })
}

/// Whether `path` is a directory in the container (`HEAD .../archive`: Go's ModeDir bit of the
/// stat header); a missing path is not.
async fn is_dir_in(c: &Client, id: &str, path: &str) -> Result<bool> {
    use base64::Engine as _;
    let resp = c
        .send(
            hyper::Method::HEAD,
            &format!("/containers/{id}/archive?path={}", encode(path)),
            None,
            None,
            &[],
        )
        .await?;
    if !resp.status().is_success() {
        return Ok(false);
    }
    let stat = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok());
    Ok(stat.is_some_and(|s| s["mode"].as_u64().unwrap_or(0) & (1 << 31) != 0))
}

/// Copies between `src` and `dest`, one of them `SERVICE:PATH`.
pub async fn cp(c: &Client, project: &str, src: &str, dest: &str, index: u32) -> Result<()> {
    match (split(src), split(dest)) {
        (Some((service, path)), None) => {
            let id = container_of(c, project, service, index).await?;
            let resp = c
                .request(
                    hyper::Method::GET,
                    &format!("/containers/{id}/archive?path={}", encode(path)),
                    None,
                )
                .await?;
            let tar = read_all(resp).await?;
            let dest = Path::new(dest);
            let (dir, rename) = if dest.is_dir() {
                (dest.to_path_buf(), None)
            } else {
                let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
                (
                    parent.unwrap_or(Path::new(".")).to_path_buf(),
                    dest.file_name().map(|n| n.to_os_string()),
                )
            };
            let base = Path::new(path.trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            let mut archive = tar::Archive::new(tar.as_ref());
            let entries = archive
                .entries()
                .map_err(|e| fail(format!("reading the archive of {src}: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| fail(format!("reading the archive of {src}: {e}")))?;
                let Ok(name) = entry.path().map(|p| p.into_owned()) else {
                    continue;
                };
                // The engine's archive names stay inside DEST: no root, no `..`.
                if !name
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
                {
                    return Err(fail(format!(
                        "refused {} from {src}: outside {}",
                        name.display(),
                        dir.display()
                    )));
                }
                // The top entry takes DEST's name when DEST is not an existing directory.
                let target = match (&rename, name.strip_prefix(&base)) {
                    (Some(r), Ok(rest)) if rest.as_os_str().is_empty() => Path::new(r).to_path_buf(),
                    (Some(r), Ok(rest)) => Path::new(r).join(rest),
                    _ => name.clone(),
                };
                let out = dir.join(&target);
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
                }
                if !entry
                    .unpack_in(&dir)
                    .map_err(|e| fail(format!("cannot write {}: {e}", out.display())))?
                {
                    return Err(fail(format!("refused {}: outside {}", name.display(), dir.display())));
                }
                if rename.is_some() && target != name {
                    std::fs::rename(dir.join(&name), &out)
                        .map_err(|e| fail(format!("cannot write {}: {e}", out.display())))?;
                }
            }
            Ok(())
        }
        (None, Some((service, path))) => {
            let id = container_of(c, project, service, index).await?;
            let src_path = Path::new(src);
            let mut b = tar::Builder::new(Vec::new());
            b.follow_symlinks(false);
            // Into DEST when it is a directory in the container, else as DEST in its parent.
            let (into, name) = if is_dir_in(c, &id, path).await? {
                (path.to_string(), src_path.file_name().map(|n| n.to_os_string()))
            } else {
                let p = Path::new(path);
                let parent = p.parent().map(|d| d.display().to_string());
                (
                    parent.filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into()),
                    p.file_name().map(|n| n.to_os_string()),
                )
            };
            let name = name.ok_or_else(|| fail(format!("cannot copy {src}: no file name")))?;
            let meta = std::fs::symlink_metadata(src_path)
                .map_err(|e| fail(format!("cannot read {src}: {e}")))?;
            if meta.is_dir() {
                b.append_dir_all(name, src_path)
            } else {
                b.append_path_with_name(src_path, name)
            }
            .map_err(|e| fail(format!("cannot read {src}: {e}")))?;
            let body = b
                .into_inner()
                .map_err(|e| fail(format!("cannot read {src}: {e}")))?;
            c.request_with(
                hyper::Method::PUT,
                &format!("/containers/{id}/archive?path={}", encode(&into)),
                body,
                "application/x-tar",
            )
            .await?;
            Ok(())
        }
        _ => Err(fail(format!(
            "copying between services or between host paths is not supported: {src} {dest} (one must be SERVICE:PATH)"
        ))),
    }
}
