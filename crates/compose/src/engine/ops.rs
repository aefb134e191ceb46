//! The project-wide verbs besides up/down: `ps`, `logs [-f]` with service prefixes, attached `up`
//! (`--abort-on-container-exit`, `--exit-code-from`), and the
//! per-container verbs (start, stop, restart, kill, pause, unpause, rm) over the project's
//! containers, optionally limited to some services.

use super::client::{demux, Client, Result};
use super::up::{containers, label};
use crate::plan;
use http_body_util::BodyExt;
use serde_json::Value;

pub fn name_of(x: &Value) -> String {
    x["Names"][0]
        .as_str()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string()
}

pub fn selected(all: Vec<Value>, services: &[String]) -> Vec<Value> {
    let mut v: Vec<Value> = all
        .into_iter()
        .filter(|x| services.is_empty() || services.iter().any(|s| s == label(x, plan::SERVICE)))
        .collect();
    v.sort_by_key(name_of);
    v
}

/// `ps`: NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS (or ids with `quiet`), as Compose v2.
pub async fn ps(
    c: &Client,
    project: &str,
    services: &[String],
    all: bool,
    quiet: bool,
) -> Result<()> {
    let list = selected(containers(c, project, false).await?, services);
    let list: Vec<Value> = list
        .into_iter()
        // Without -a, what the engine lists without all=1: running, paused and restarting.
        .filter(|x| {
            all || matches!(
                x["State"].as_str(),
                Some("running" | "paused" | "restarting")
            )
        })
        .collect();
    if quiet {
        for x in &list {
            println!("{}", x["Id"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rows: Vec<[String; 7]> = list
        .iter()
        .map(|x| {
            let ports: Vec<String> = x["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p["PublicPort"].as_u64() {
                    Some(pp) => format!(
                        "{}:{}->{}/{}",
                        p["IP"].as_str().unwrap_or("0.0.0.0"),
                        pp,
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                    None => format!(
                        "{}/{}",
                        p["PrivatePort"],
                        p["Type"].as_str().unwrap_or("tcp")
                    ),
                })
                .collect();
            [
                name_of(x),
                x["Image"].as_str().unwrap_or("").into(),
                format!("{:?}", truncate(x["Command"].as_str().unwrap_or(""), 20)),
                label(x, plan::SERVICE).into(),
                human_ago(now - x["Created"].as_i64().unwrap_or(now)),
                x["Status"].as_str().unwrap_or("").into(),
                ports.join(", "),
            ]
        })
        .collect();
    let head = [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    table(&head, &rows);
    Ok(())
}

/// The first `n` characters of `s`, with `…` when cut (Compose's COMMAND column).
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n - 1).collect();
    t.push('…');
    t
}

/// "5 seconds ago", "About a minute ago", "3 hours ago" (Docker's human durations).
fn human_ago(secs: i64) -> String {
    let s = secs.max(0);
    let text = match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".to_string(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".to_string(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    };
    format!("{text} ago")
}

/// Prints a table as Compose does: columns three spaces apart, the last one unpadded.
pub fn table(head: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(head);
    for r in rows {
        line(r);
    }
}

const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Streams one container's log with a `name  | ` prefix (coloured when `colour`).
pub async fn stream_logs(
    c: &Client,
    id: &str,
    prefix: &str,
    follow: bool,
    colour: Option<usize>,
) -> Result<()> {
    let info: Value = c.get(&format!("/containers/{id}/json")).await?;
    let raw = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let path = format!(
        "/containers/{id}/logs?stdout=1&stderr=1&follow={}",
        u8::from(follow)
    );
    let resp = c.request(hyper::Method::GET, &path, None).await?;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let tag = match colour {
        Some(i) => format!("\x1b[{}m{prefix} | \x1b[0m", COLOURS[i % COLOURS.len()]),
        None => format!("{prefix} | "),
    };
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            for (_, payload) in demux(&mut buf, raw) {
                pending.extend_from_slice(&payload);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    print!("{tag}{}", String::from_utf8_lossy(&line));
                }
            }
        }
    }
    if !pending.is_empty() {
        println!("{tag}{}", String::from_utf8_lossy(&pending));
    }
    Ok(())
}

/// `logs [-f] [services]`: every container's log, concurrently, prefixed by its name.
pub async fn logs(
    c: &Client,
    project: &str,
    services: &[String],
    follow: bool,
    colour: bool,
) -> Result<()> {
    let list = selected(containers(c, project, false).await?, services);
    let width = list.iter().map(|x| name_of(x).len()).max().unwrap_or(0);
    let mut tasks = Vec::new();
    for (i, x) in list.iter().enumerate() {
        let (c, id) = (c.clone(), x["Id"].as_str().unwrap_or("").to_string());
        let prefix = format!("{:<width$}", name_of(x));
        let colour = colour.then_some(i);
        tasks.push(tokio::spawn(async move {
            stream_logs(&c, &id, &prefix, follow, colour).await
        }));
    }
    for t in tasks {
        if let Ok(r) = t.await {
            r?;
        }
    }
    Ok(())
}

/// A per-container verb over the selected services' containers, all of them concurrently (stop
/// and restart with each container's own stop timeout).
pub async fn each(c: &Client, project: &str, services: &[String], verb: &str) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for x in selected(containers(c, project, false).await?, services) {
        let (c, verb) = (c.clone(), verb.to_string());
        set.spawn(async move { one(&c, &x, &verb).await });
    }
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(c.transport(e));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

async fn one(c: &Client, x: &Value, verb: &str) -> Result<()> {
    let id = x["Id"].as_str().unwrap_or("");
    let name = name_of(x);
    let running = x["State"].as_str() == Some("running");
    match verb {
        "rm" if running => {}
        "rm" => {
            c.delete(&format!("/containers/{id}")).await?;
            eprintln!(" Container {name}  Removed");
        }
        "start" if running => {}
        v => {
            match c.post(&format!("/containers/{id}/{v}")).await {
                Ok(_) => {}
                Err(e) if e.is_status(304) => {}
                Err(e) => return Err(e),
            }
            eprintln!(" Container {name}  {}", capitalise(v));
        }
    }
    Ok(())
}

fn capitalise(v: &str) -> String {
    let mut s = v.to_string();
    if let Some(f) = s.get_mut(..1) {
        f.make_ascii_uppercase();
    }
    s
}

/// How `up` without `-d` follows the project.
#[derive(Debug, Clone, Default)]
pub struct Attached {
    pub services: Vec<String>,
    pub colour: bool,
    /// `--abort-on-container-exit`: the first container to stop stops them all.
    pub abort: bool,
    /// `--exit-code-from`: whose exit status to return.
    pub exit_code_from: Option<String>,
}

/// Attached `up`: every container's log followed with its prefix, "<name> exited with code N"
/// as each stops; with `abort`, the first stop stops the rest and its status (or that of the
/// `exit_code_from` service's container) is returned. Ctrl-C stops the containers (exit 130).
pub async fn attached(c: &Client, project: &str, o: &Attached) -> Result<i32> {
    let list = selected(containers(c, project, false).await?, &o.services);
    let width = list.iter().map(|x| name_of(x).len()).max().unwrap_or(0);
    let mut logs = Vec::new();
    let mut waits = tokio::task::JoinSet::new();
    for (i, x) in list.iter().enumerate() {
        let (cl, id, name) = (
            c.clone(),
            x["Id"].as_str().unwrap_or("").to_string(),
            name_of(x),
        );
        let prefix = format!("{name:<width$}");
        let colour = o.colour.then_some(i);
        let id2 = id.clone();
        logs.push(tokio::spawn(async move {
            stream_logs(&cl, &id2, &prefix, true, colour).await
        }));
        let (cl, service) = (c.clone(), label(x, plan::SERVICE).to_string());
        waits.spawn(async move {
            let w: Result<Value> = cl
                .post_json(&format!("/containers/{id}/wait"), &serde_json::json!({}))
                .await;
            (
                name,
                service,
                w.map(|w| w["StatusCode"].as_i64().unwrap_or(0) as i32),
            )
        });
    }
    let mut code = 0;
    loop {
        let r = tokio::select! {
            r = waits.join_next() => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                each(c, project, &o.services, "stop").await?;
                code = 130;
                break;
            }
        };
        let Some(r) = r else { break };
        let Ok((name, service, status)) = r else {
            continue;
        };
        let status = status?;
        println!("{name} exited with code {status}");
        let from_this = o.exit_code_from.as_deref().is_none_or(|s| s == service);
        if from_this {
            code = status;
        }
        if o.abort {
            println!("Aborting on container exit...");
            each(c, project, &o.services, "stop").await?;
            if let Some(s) = &o.exit_code_from {
                if !from_this {
                    code = exit_code_of(c, project, s).await?;
                }
            }
            break;
        }
    }
    for l in logs {
        let _ = l.await;
    }
    Ok(code)
}

async fn exit_code_of(c: &Client, project: &str, service: &str) -> Result<i32> {
    let list = selected(containers(c, project, false).await?, &[service.to_string()]);
    let Some(id) = list.first().and_then(|x| x["Id"].as_str()) else {
        return Ok(0);
    };
    let i: Value = c.get(&format!("/containers/{id}/json")).await?;
    Ok(i["State"]["ExitCode"].as_i64().unwrap_or(0) as i32)
}
