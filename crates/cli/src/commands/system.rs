//! System commands: `version`, `events` and `system df` (`info` has its own module).

use super::{filters_json, out, Ctx};
use crate::client::{self, body::JsonLines, query, CLIENT_API_VERSION};
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{self, Format};
use crate::units;
use berth_api::container::ContainerSummary;
use berth_api::events::EventMessage;
use berth_api::system::{DiskUsage, SystemVersion};
use berth_api::volume::Volume;
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

/// `berth version`: the Client section, then the Server section from `GET /version`.
pub async fn version(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let negotiated = ctx.client.api_version().await;
    let api = match &negotiated {
        Ok(v) if v != CLIENT_API_VERSION => format!("{v} (downgraded from {CLIENT_API_VERSION})"),
        _ => CLIENT_API_VERSION.to_string(),
    };
    // Templates see the answer as sent (every field, those berth_api does not name too).
    let server: Result<Value> = match negotiated {
        Ok(_) => ctx.client.get_json("/version").await,
        Err(e) => Err(e),
    };
    if let Some(f) = p.string("format") {
        let client_info = json!({
            "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": api, "DefaultAPIVersion": CLIENT_API_VERSION,
            "Os": "linux", "Arch": go_arch(), "Context": "default",
        });
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
    let sv: SystemVersion = match server.and_then(|v| {
        serde_json::from_value(v)
            .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))
    }) {
        Ok(v) => v,
        Err(e) => {
            out(&text);
            return Err(e);
        }
    };
    text.push_str(&format!("\nServer: {}\n", sv.platform.name));
    if sv.components.is_empty() {
        text.push_str(&format!(" Engine:\n  Version:          {}\n", sv.version));
    }
    for c in &sv.components {
        text.push_str(&format!(
            " {}:\n  Version:          {}\n",
            c.name, c.version
        ));
        if c.name == "Engine" {
            text.push_str(&format!(
                "  API version:      {} (minimum version {})\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                sv.api_version,
                sv.min_api_version,
                sv.go_version,
                sv.git_commit,
                units::parse_rfc3339(&sv.build_time).map(units::ansic).unwrap_or_else(|| sv.build_time.clone()),
                sv.os,
                sv.arch,
                sv.experimental.unwrap_or(false)
            ));
        } else if let Some(commit) = c.details.get("GitCommit") {
            text.push_str(&format!("  GitCommit:        {commit}\n"));
        }
    }
    out(&text);
    Ok(())
}

/// An answer (or one entry of it) as its `berth_api` type.
fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))
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
        // Templates see the event as sent (its legacy fields too).
        let line = match &tmpl {
            Some(t) => format::run(t, &ev)?,
            None => event_line(&decode(ev)?),
        };
        out(&format!("{line}\n"));
    }
    Ok(())
}

/// docker's default event line: `<time> <type> <action> <id> (k=v, ...)`.
pub fn event_line(ev: &EventMessage) -> String {
    let nanos = match ev.time_nano {
        0 => ev.time * 1_000_000_000,
        n => n,
    };
    let time = berth_oci::time::rfc3339_nanos(nanos);
    let (ty, action, id) = (&ev.kind, &ev.action, &ev.actor.id);
    let mut attrs: Vec<String> = ev
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
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
    let v: DiskUsage = ctx.client.get_json("/system/df").await?;
    if p.bool("verbose") {
        out(&super::disk_usage::verbose(
            &v,
            p.string("format"),
            units::now_unix(),
        )?);
        return Ok(());
    }
    let row = |ty: &str, total: usize, active: usize, size: i64, reclaim: i64| {
        let pct = if size > 0 && ty != "Build Cache" {
            format!(" ({}%)", reclaim * 100 / size)
        } else {
            String::new()
        };
        json!({"Type": ty, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": units::human_size(size as f64), "Reclaimable": format!("{}{pct}", units::human_size(reclaim as f64))})
    };
    let images = &v.images;
    let img_size: i64 = match v.layers_size {
        n if n >= 0 => n,
        _ => images.iter().map(|i| i.size).sum(),
    };
    let used = || images.iter().filter(|i| i.containers > 0);
    let img_active = used().count();
    let img_used: i64 = used().map(|i| i.size - i.shared_size.max(0)).sum();
    let cts = &v.containers;
    let running = |c: &&ContainerSummary| c.state == "running";
    let ct_size: i64 = cts.iter().filter_map(|c| c.size_rw).sum();
    let ct_active = cts.iter().filter(running).count();
    let ct_reclaim: i64 = cts
        .iter()
        .filter(|c| !running(c))
        .filter_map(|c| c.size_rw)
        .sum();
    let mut usage = Vec::new();
    for x in &v.volumes {
        let vol: Volume = decode(x.clone())?;
        usage.push(vol.usage_data.unwrap_or_default());
    }
    let vol_active = usage.iter().filter(|u| u.ref_count > 0).count();
    let vol_size: i64 = usage.iter().map(|u| u.size.max(0)).sum();
    let vol_reclaim: i64 = usage
        .iter()
        .filter(|u| u.ref_count == 0)
        .map(|u| u.size.max(0))
        .sum();
    // Shared records are counted once, under their owner; the ones in use cannot be reclaimed
    // (and docker shows no percentage here).
    let bc = &v.build_cache;
    let own = || bc.iter().filter(|b| !b.shared);
    let bc_size: i64 = own().map(|b| b.size).sum();
    let bc_reclaim = bc_size - own().filter(|b| b.in_use).map(|b| b.size).sum::<i64>();
    let bc_active = bc.iter().filter(|b| b.in_use).count();
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
            usage.len(),
            vol_active,
            vol_size,
            vol_reclaim,
        ),
        row("Build Cache", bc.len(), bc_active, bc_size, bc_reclaim),
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
            event_line(&decode(ev).unwrap()),
            "2026-11-25T10:00:00.000000123Z container start abc (image=busybox, name=web)"
        );
    }
}
