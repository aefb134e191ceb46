//! Read-only views and waits over the project's containers: `top`, `port`, `images`, `ls`
//! (every project the engine has, from the labels alone), `wait` and `events`.

use super::client::{encode, Client, EngineError, Result};
use super::ops::{name_of, selected, table};
use super::up::{containers, label};
use crate::plan;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `top [services]`: each running container's processes under its name.
pub async fn top(c: &Client, project: &str, services: &[String]) -> Result<()> {
    let list = selected(containers(c, project, false).await?, services);
    let mut first = true;
    for x in list
        .iter()
        .filter(|x| x["State"].as_str() == Some("running"))
    {
        let id = x["Id"].as_str().unwrap_or_default();
        let t: Value = c.get(&format!("/containers/{id}/top")).await?;
        if !first {
            println!();
        }
        first = false;
        println!("{}", name_of(x));
        let head: Vec<String> = t["Titles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        let rows: Vec<Vec<String>> = t["Processes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r.as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .collect();
        table(&head, &rows);
    }
    Ok(())
}

/// `port SERVICE PRIVATE_PORT`: the public address of a published port.
pub async fn port(
    c: &Client,
    project: &str,
    service: &str,
    private: &str,
    protocol: &str,
    index: u32,
) -> Result<()> {
    let list = containers(c, project, false).await?;
    let x = list
        .iter()
        .filter(|x| label(x, plan::SERVICE) == service)
        .find(|x| label(x, plan::NUMBER) == index.max(1).to_string())
        .ok_or_else(|| EngineError::Daemon {
            status: 0,
            message: format!(
                "service {service:?} has no container number {}",
                index.max(1)
            ),
        })?;
    let id = x["Id"].as_str().unwrap_or_default();
    let info: Value = c.get(&format!("/containers/{id}/json")).await?;
    let key = format!("{private}/{protocol}");
    let bound = info["NetworkSettings"]["Ports"][&key]
        .as_array()
        .and_then(|b| b.first())
        .ok_or_else(|| EngineError::Daemon {
            status: 0,
            message: format!("no port {key} for container {}", name_of(x)),
        })?;
    let ip = bound["HostIp"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("0.0.0.0");
    println!("{ip}:{}", bound["HostPort"].as_str().unwrap_or_default());
    Ok(())
}

/// `images [services]`: CONTAINER REPOSITORY TAG IMAGE ID SIZE.
pub async fn images(c: &Client, project: &str, services: &[String], quiet: bool) -> Result<()> {
    let list = selected(containers(c, project, false).await?, services);
    let mut rows = Vec::new();
    for x in &list {
        let image_id = x["ImageID"].as_str().unwrap_or_default();
        let img: Value = c
            .get(&format!("/images/{}/json", encode(image_id)))
            .await
            .unwrap_or(Value::Null);
        let short = image_id.trim_start_matches("sha256:");
        let short = short.get(..12).unwrap_or(short).to_string();
        if quiet {
            println!("{}", image_id);
            continue;
        }
        let image = x["Image"].as_str().unwrap_or_default();
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (image.to_string(), "latest".to_string()),
        };
        rows.push(vec![
            name_of(x),
            repo,
            tag,
            short,
            // Compose v2 prints image sizes with three significant digits.
            berth_api::units::human_size_precision(img["Size"].as_i64().unwrap_or(0) as f64, 3),
        ]);
    }
    if !quiet {
        let head = ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(String::from);
        table(&head, &rows);
    }
    Ok(())
}

/// `ls [-a]`: NAME STATUS CONFIG FILES over every project on the engine.
pub async fn ls(c: &Client, all: bool, quiet: bool) -> Result<()> {
    let filters = encode(&json!({ "label": [plan::PROJECT] }).to_string());
    let list: Vec<Value> = c
        .get(&format!("/containers/json?all=1&filters={filters}"))
        .await?;
    let mut projects: BTreeMap<String, (BTreeMap<String, u32>, String)> = BTreeMap::new();
    for x in &list {
        let name = label(x, plan::PROJECT).to_string();
        let entry = projects.entry(name).or_default();
        *entry
            .0
            .entry(x["State"].as_str().unwrap_or("unknown").to_string())
            .or_default() += 1;
        entry.1 = label(x, plan::CONFIG_FILES).to_string();
    }
    let mut rows = Vec::new();
    for (name, (states, files)) in projects {
        if !all && !states.contains_key("running") {
            continue;
        }
        if quiet {
            println!("{name}");
            continue;
        }
        let status: Vec<String> = states.iter().map(|(s, n)| format!("{s}({n})")).collect();
        rows.push(vec![name, status.join(", "), files]);
    }
    if !quiet {
        table(&["NAME", "STATUS", "CONFIG FILES"].map(String::from), &rows);
    }
    Ok(())
}

/// `wait SERVICE...`: blocks until the services' containers stop, printing each exit code;
/// returns the last one.
pub async fn wait(c: &Client, project: &str, services: &[String]) -> Result<i32> {
    let list = selected(containers(c, project, false).await?, services);
    let mut tasks = Vec::new();
    for x in list {
        let (c, id) = (c.clone(), x["Id"].as_str().unwrap_or_default().to_string());
        tasks.push(tokio::spawn(async move {
            c.post_json::<_, Value>(&format!("/containers/{id}/wait"), &json!({}))
                .await
        }));
    }
    let mut code = 0;
    for t in tasks {
        let Ok(r) = t.await else { continue };
        code = r?["StatusCode"].as_i64().unwrap_or(0) as i32;
        println!("{code}");
    }
    Ok(code)
}

/// `events [--json] [services]`: the engine's events for the project's containers as they come,
/// one line each (`<time> container <action> <id> (name=..., image=...)`) or as JSON.
pub async fn events(c: &Client, project: &str, services: &[String], json_out: bool) -> Result<()> {
    use http_body_util::BodyExt;
    let mut labels = vec![format!("{}={project}", plan::PROJECT)];
    if let [one] = services {
        labels.push(format!("{}={one}", plan::SERVICE));
    }
    let filters = encode(&json!({ "label": labels, "type": ["container"] }).to_string());
    let resp = c
        .request(
            hyper::Method::GET,
            &format!("/events?filters={filters}"),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let Ok(e) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let attrs = &e["Actor"]["Attributes"];
            let service = attrs[plan::SERVICE].as_str().unwrap_or_default();
            if !services.is_empty() && !services.iter().any(|s| s == service) {
                continue;
            }
            let id = e["Actor"]["ID"].as_str().unwrap_or_default();
            let action = e["Action"].as_str().unwrap_or_default();
            if json_out {
                let out = json!({
                    "time": e["timeNano"], "type": "container", "action": action, "id": id,
                    "service": service, "attributes": {"name": attrs["name"], "image": attrs["image"]},
                });
                println!("{out}");
            } else {
                println!(
                    "{} container {action} {id} (image={}, name={})",
                    e["time"].as_i64().unwrap_or(0),
                    attrs["image"].as_str().unwrap_or_default(),
                    attrs["name"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
