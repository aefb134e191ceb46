//! Images of a project through the engine: `pull` (`POST /images/create`), `build` (`POST /build`
//! with a tar of the build context), `push` (`POST /images/{name}/push`), and what `up` does
//! first — pull what is missing, build `build:` services whose image is missing (or all with
//! `--build`), pulls and pushes with the user's registry credentials ([`super::auth`]). The
//! engine's JSON progress stream is read line by line; an `error` in it, or an engine that answers
//! 404/501 (no such endpoint yet), is reported with the engine's own words.

use super::client::{encode, Client, EngineError, Result};
use crate::model::{Project, Service};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Splits `name[:tag|@digest]` into the `fromImage` and `tag` query values.
fn split_reference(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Reads a JSON-lines progress answer; `show` prints `stream` text (build output). The first
/// `error` ends it as a failure.
async fn progress(
    resp: hyper::Response<hyper::body::Incoming>,
    what: &str,
    show: bool,
) -> Result<()> {
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let handle = |line: &[u8]| -> Result<()> {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            return Ok(());
        };
        if let Some(e) = v["error"].as_str().or(v["errorDetail"]["message"].as_str()) {
            return Err(EngineError::Daemon {
                status: 0,
                message: format!("{what}: {e}"),
            });
        }
        if show {
            if let Some(s) = v["stream"].as_str() {
                eprint!("{s}");
            }
        }
        Ok(())
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| EngineError::Transport {
            host: String::new(),
            detail: format!("{what}: {e}"),
        })?;
        if let Ok(data) = frame.into_data() {
            pending.extend_from_slice(&data);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                handle(&line)?;
            }
        }
    }
    if !pending.is_empty() {
        handle(&pending)?;
    }
    Ok(())
}

/// An engine's refusal with what was being done in front (its status kept).
fn naming(e: EngineError, what: &str) -> EngineError {
    match e {
        EngineError::Daemon { status, message } => EngineError::Daemon {
            status,
            message: format!("{what}: {message}"),
        },
        e => e,
    }
}

/// Whether the engine has `image`.
pub async fn exists(c: &Client, image: &str) -> Result<bool> {
    match c
        .get::<Value>(&format!("/images/{}/json", encode(image)))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_status(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Pulls `image` for `service`.
pub async fn pull(c: &Client, service: &str, image: &str) -> Result<()> {
    let (from, tag) = split_reference(image);
    eprintln!(" {service} Pulling");
    let mut path = format!("/images/create?fromImage={}", encode(&from));
    if !tag.is_empty() {
        path.push_str(&format!("&tag={}", encode(&tag)));
    }
    let what = format!("pulling {image} for service {service}");
    let auth: Vec<(&str, String)> = super::auth::header(image)
        .map(|h| ("X-Registry-Auth", h))
        .into_iter()
        .collect();
    let resp = c
        .post_with_headers(&path, &auth)
        .await
        .map_err(|e| naming(e, &what))?;
    progress(resp, &what, false).await?;
    eprintln!(" {service} Pulled");
    Ok(())
}

/// Pushes `image` for `service`.
pub async fn push(c: &Client, service: &str, image: &str) -> Result<()> {
    let (repo, tag) = split_reference(image);
    eprintln!(" {service} Pushing");
    let path = format!("/images/{}/push?tag={}", encode(&repo), encode(&tag));
    let what = format!("pushing {image} for service {service}");
    let auth: Vec<(&str, String)> = super::auth::header(image)
        .map(|h| ("X-Registry-Auth", h))
        .into_iter()
        .collect();
    let resp = c
        .post_with_headers(&path, &auth)
        .await
        .map_err(|e| naming(e, &what))?;
    progress(resp, &what, false).await?;
    eprintln!(" {service} Pushed");
    Ok(())
}

/// A tar of the build context directory (symlinks kept as links).
fn context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", dir)?;
    b.into_inner()
}

/// Builds a `build:` service's image through `POST /build`.
pub async fn build(c: &Client, p: &Project, svc: &Service, no_cache: bool) -> Result<()> {
    let Some(b) = &svc.build else {
        return Ok(());
    };
    let image = svc.image_name(&p.name);
    let dir = {
        let ctx = PathBuf::from(&b.context);
        if ctx.is_absolute() {
            ctx
        } else {
            Path::new(&p.working_dir).join(ctx)
        }
    };
    let body = context_tar(&dir).map_err(|e| EngineError::Daemon {
        status: 0,
        message: format!(
            "cannot read the build context {} of service {}: {e}",
            dir.display(),
            svc.name
        ),
    })?;
    let args: serde_json::Map<String, Value> = b
        .args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), Value::String(v))))
        .collect();
    let labels: serde_json::Map<String, Value> = b
        .labels
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), Value::String(v))))
        .collect();
    let mut path = format!(
        "/build?t={}&buildargs={}&labels={}&rm=1&forcerm=1",
        encode(&image),
        encode(&Value::Object(args).to_string()),
        encode(&Value::Object(labels).to_string())
    );
    for t in &b.tags {
        path.push_str(&format!("&t={}", encode(t)));
    }
    if let Some(d) = &b.dockerfile {
        path.push_str(&format!("&dockerfile={}", encode(d)));
    }
    if let Some(t) = &b.target {
        path.push_str(&format!("&target={}", encode(t)));
    }
    if no_cache || b.no_cache {
        path.push_str("&nocache=1");
    }
    if b.pull {
        path.push_str("&pull=1");
    }
    eprintln!(" {} Building", svc.name);
    let resp = c
        .request_with(hyper::Method::POST, &path, body, "application/x-tar")
        .await
        .map_err(|e| match e {
            EngineError::Daemon { status, message } if status == 404 || status == 501 => {
                EngineError::Daemon {
                    status,
                    message: format!(
                        "cannot build service {}: the engine has no image builder ({status}: {message})",
                        svc.name
                    ),
                }
            }
            e => e,
        })?;
    progress(resp, &format!("building service {}", svc.name), true).await?;
    eprintln!(" {} Built", svc.name);
    Ok(())
}

/// What `up`/`run`/`create` do before creating containers: build or pull missing images.
pub async fn ensure(
    c: &Client,
    p: &Project,
    services: &[&Service],
    force_build: bool,
    no_build: bool,
) -> Result<()> {
    // Images known to be there: services sharing one are looked up once.
    let mut present: Vec<String> = Vec::new();
    for svc in services {
        let image = svc.image_name(&p.name);
        let policy = svc.pull_policy.as_deref().unwrap_or("missing");
        if svc.build.is_some()
            && !no_build
            && (force_build || policy == "build" || !known(c, &image, &mut present).await?)
        {
            build(c, p, svc, false).await?;
            continue;
        }
        match policy {
            "never" => {}
            "always" => pull(c, &svc.name, &image).await?,
            _ if svc.build.is_none() && !known(c, &image, &mut present).await? => {
                pull(c, &svc.name, &image).await?;
                present.push(image);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `image` exists, asking the engine only about one not in `present` yet.
async fn known(c: &Client, image: &str, present: &mut Vec<String>) -> Result<bool> {
    if present.iter().any(|i| i == image) {
        return Ok(true);
    }
    let there = exists(c, image).await?;
    if there {
        present.push(image.to_string());
    }
    Ok(there)
}
