//! System commands: `version`, `events` and `system df` (`info` has its own module).

use super::{filters_json, out, Ctx};
use crate::client::{self, body::JsonLines, query, CLIENT_API_VERSION};
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{self, Format};
use crate::units;
use hyper::Method;
use serde_json::{json, Value};

const FORMAT_HELP: &str =
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'";

pub const VERSION: Spec = Spec {
    name: "version",
    usage: "[OPTIONS]",
    about: "Show the Berth version information",
    flags: &[value("format", Some('f'), "string", FORMAT_HELP)],
    args: Args::None,
    stop_at_positional: false,
};

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `berth version`: the Client section, then the Server section from `GET /version`.
pub async fn version(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let negotiated = ctx.client.api_version().await;
    let api = match &negotiated {
        Ok(v) if v != CLIENT_API_VERSION => format!("{v} (downgraded from {CLIENT_API_VERSION})"),
        _ => CLIENT_API_VERSION.to_string(),
    };
    let server: Result<Value> = match negotiated {
        Ok(_) => ctx.client.get_json("/version").await,
        Err(e) => Err(e),
    };
    let client_info = json!({
        "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": api, "DefaultAPIVersion": CLIENT_API_VERSION,
        "Os": "linux", "Arch": go_arch(), "Context": "default",
    });
    if let Some(f) = p.string("format") {
        let data = json!({"Client": client_info, "Server": server.as_ref().ok()});
        let f = if f == "json" { "{{json .}}" } else { f };
        out(&format!("{}\n", format::render_one(f, &data)?));
        return server.map(|_| ());
    }
    let mut text = format!(
        "Client:\n Version:           {}\n API version:       {api}\n OS/Arch:           linux/{}\n Context:           default\n",
        env!("CARGO_PKG_VERSION"),
        go_arch()
    );
    let sv = match server {
        Ok(v) => v,
        Err(e) => {
            out(&text);
            return Err(e);
        }
    };
    let platform = sv
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    text.push_str(&format!("\nServer: {platform}\n"));
    let components = sv
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if components.is_empty() {
        text.push_str(&format!(
            " Engine:\n  Version:          {}\n",
            s(&sv, "Version")
        ));
    }
    for c in components {
        text.push_str(&format!(
            " {}:\n  Version:          {}\n",
            s(&c, "Name"),
            s(&c, "Version")
        ));
        if s(&c, "Name") == "Engine" {
            text.push_str(&format!(
                "  API version:      {} (minimum version {})\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                s(&sv, "ApiVersion"),
                s(&sv, "MinAPIVersion"),
                s(&sv, "GoVersion"),
                s(&sv, "GitCommit"),
                units::parse_rfc3339(s(&sv, "BuildTime")).map(units::ansic).unwrap_or_else(|| s(&sv, "BuildTime").to_string()),
                s(&sv, "Os"),
                s(&sv, "Arch"),
                sv.get("Experimental").and_then(Value::as_bool).unwrap_or(false)
            ));
        } else if let Some(commit) = c.pointer("/Details/GitCommit").and_then(Value::as_str) {
            text.push_str(&format!("  GitCommit:        {commit}\n"));
        }
    }
    out(&text);
    Ok(())
}

/// This machine's architecture as Go names it (`amd64`, `arm64`), as docker prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub const EVENTS: Spec = Spec {
    name: "events",
    usage: "[OPTIONS]",
    about: "Get real time events from the server",
    flags: &[
        list(
            "filter",
            Some('f'),
            "Filter output based on conditions provided",
        ),
        value("format", None, "string", FORMAT_HELP),
        value(
            "since",
            None,
            "string",
            "Show all events created since timestamp",
        ),
        value(
            "until",
            None,
            "string",
            "Stream events until this timestamp",
        ),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth events`: streams `GET /events`, one line per event.
pub async fn events(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let now = units::now_unix();
    let mut q = Vec::new();
    for k in ["since", "until"] {
        if let Some(v) = p.string(k) {
            let ts = units::api_timestamp(v, now).ok_or_else(|| {
                CliError::Message(format!(
                    "invalid value for \"{k}\": {v:?} is not a timestamp or duration"
                ))
            })?;
            q.push((k, ts));
        }
    }
    if let Some(f) = filters_json(spec, &p.list("filter"))? {
        q.push(("filters", f));
    }
    let tmpl = match p.string("format") {
        Some("json") => Some(format::compile("{{json .}}")?),
        Some(f) => Some(format::compile(&f.replace("\\t", "\t"))?),
        None => None,
    };
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/events{}", query(&q)),
            client::body::empty(),
            &[],
        )
        .await?;
    let mut lines = JsonLines::new(resp.into_body());
    while let Some(ev) = lines.next().await? {
        let line = match &tmpl {
            Some(t) => format::run(t, &ev)?,
            None => event_line(&ev),
        };
        out(&format!("{line}\n"));
    }
    Ok(())
}

/// docker's default event line: `<time> <type> <action> <id> (k=v, ...)`.
pub fn event_line(ev: &Value) -> String {
    let nanos = ev
        .get("timeNano")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| ev.get("time").and_then(Value::as_i64).unwrap_or(0) * 1_000_000_000);
    let time = berth_oci::time::rfc3339_nanos(nanos);
    let ty = s(ev, "Type");
    let action = s(ev, "Action");
    let id = ev
        .pointer("/Actor/ID")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut attrs: Vec<String> = ev
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    if attrs.is_empty() {
        format!("{time} {ty} {action} {id}")
    } else {
        format!("{time} {ty} {action} {id} ({})", attrs.join(", "))
    }
}

pub const DF: Spec = Spec {
    name: "system df",
    usage: "[OPTIONS]",
    about: "Show docker disk usage",
    flags: &[
        value("format", None, "string", FORMAT_HELP),
        switch(
            "verbose",
            Some('v'),
            "Show detailed information on space usage",
        ),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth system df`: the TYPE/TOTAL/ACTIVE/SIZE/RECLAIMABLE summary of `GET /system/df`
/// (`-v`: the detailed sections of [`super::disk_usage`]).
pub async fn df(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let v: Value = ctx.client.get_json("/system/df").await?;
    if p.bool("verbose") {
        out(&super::disk_usage::verbose(
            &v,
            p.string("format"),
            units::now_unix(),
        )?);
        return Ok(());
    }
    let arr = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let num = |x: &Value, k: &str| x.get(k).and_then(Value::as_i64).unwrap_or(0);
    let row = |ty: &str, total: usize, active: usize, size: i64, reclaim: i64| {
        let pct = if size > 0 {
            format!(" ({}%)", reclaim * 100 / size)
        } else {
            String::new()
        };
        json!({"Type": ty, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": units::human_size(size as f64), "Reclaimable": format!("{}{pct}", units::human_size(reclaim as f64))})
    };
    let images = arr("Images");
    let img_size: i64 = v
        .get("LayersSize")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| images.iter().map(|i| num(i, "Size")).sum());
    let img_active = images.iter().filter(|i| num(i, "Containers") > 0).count();
    let img_used: i64 = images
        .iter()
        .filter(|i| num(i, "Containers") > 0)
        .map(|i| num(i, "Size") - num(i, "SharedSize").max(0))
        .sum();
    let cts = arr("Containers");
    let ct_size: i64 = cts.iter().map(|c| num(c, "SizeRw")).sum();
    let ct_active = cts
        .iter()
        .filter(|c| c.get("State").and_then(Value::as_str) == Some("running"))
        .count();
    let ct_reclaim: i64 = cts
        .iter()
        .filter(|c| c.get("State").and_then(Value::as_str) != Some("running"))
        .map(|c| num(c, "SizeRw"))
        .sum();
    let vols = arr("Volumes");
    let vsize = |x: &Value| {
        x.pointer("/UsageData/Size")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0)
    };
    let vol_active = vols
        .iter()
        .filter(|x| {
            x.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
        })
        .count();
    let vol_size: i64 = vols.iter().map(vsize).sum();
    let vol_reclaim: i64 = vols
        .iter()
        .filter(|x| {
            x.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
        })
        .map(vsize)
        .sum();
    let bc = arr("BuildCache");
    let bc_size: i64 = bc.iter().map(|b| num(b, "Size")).sum();
    let bc_active = bc
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
        .count();
    let rows = vec![
        row(
            "Images",
            images.len(),
            img_active,
            img_size,
            (img_size - img_used).max(0),
        ),
        row("Containers", cts.len(), ct_active, ct_size, ct_reclaim),
        row(
            "Local Volumes",
            vols.len(),
            vol_active,
            vol_size,
            vol_reclaim,
        ),
        row("Build Cache", bc.len(), bc_active, bc_size, bc_size),
    ];
    let f = Format::new(
        p.string("format"),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )?;
    out(&f.render(
        &rows,
        &[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ],
    )?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_read_like_docker() {
        let ev = json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox"}}, "time": 1_795_600_800, "timeNano": 1_795_600_800_000_000_123i64});
        assert_eq!(
            event_line(&ev),
            "2026-11-25T10:00:00.000000123Z container start abc (image=busybox, name=web)"
        );
    }
}
