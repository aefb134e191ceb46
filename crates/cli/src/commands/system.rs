//! System commands: `version`, `info`, `events` and `system df`.

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

pub const INFO: Spec = Spec {
    name: "info",
    usage: "[OPTIONS]",
    about: "Display system-wide information",
    flags: &[value("format", Some('f'), "string", FORMAT_HELP)],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth info`: `GET /info`, printed as docker prints its Server section.
pub async fn info(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let v: Value = ctx.client.get_json("/info").await?;
    if let Some(f) = p.string("format") {
        let f = if f == "json" { "{{json .}}" } else { f };
        out(&format!("{}\n", format::render_one(f, &v)?));
        return Ok(());
    }
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut t = format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    );
    t.push_str(&format!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n Images: {}\n Server Version: {}\n Storage Driver: {}\n",
        n("Containers"),
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped"),
        n("Images"),
        s(&v, "ServerVersion"),
        s(&v, "Driver")
    ));
    for pair in v
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, val]) = pair.as_array().map(Vec::as_slice) {
            t.push_str(&format!(
                "  {}: {}\n",
                k.as_str().unwrap_or(""),
                val.as_str().unwrap_or("")
            ));
        }
    }
    t.push_str(&format!(
        " Logging Driver: {}\n Cgroup Driver: {}\n Cgroup Version: {}\n",
        s(&v, "LoggingDriver"),
        s(&v, "CgroupDriver"),
        s(&v, "CgroupVersion")
    ));
    if let Some(rt) = v.get("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = rt.keys().collect();
        names.sort();
        t.push_str(&format!(
            " Runtimes: {}\n",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    t.push_str(&format!(" Default Runtime: {}\n", s(&v, "DefaultRuntime")));
    let sec: Vec<String> = v
        .get("SecurityOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    if !sec.is_empty() {
        t.push_str(" Security Options:\n");
        for o in sec {
            t.push_str(&format!("  {}\n", o.trim_start_matches("name=")));
        }
    }
    t.push_str(&format!(
        " Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n ID: {}\n Docker Root Dir: {}\n Debug Mode: {}\n Experimental: {}\n Live Restore Enabled: {}\n",
        s(&v, "KernelVersion"),
        s(&v, "OperatingSystem"),
        s(&v, "OSType"),
        s(&v, "Architecture"),
        n("NCPU"),
        binary_size(n("MemTotal") as f64),
        s(&v, "Name"),
        s(&v, "ID"),
        s(&v, "DockerRootDir"),
        v.get("Debug").and_then(Value::as_bool).unwrap_or(false),
        v.get("ExperimentalBuild").and_then(Value::as_bool).unwrap_or(false),
        v.get("LiveRestoreEnabled").and_then(Value::as_bool).unwrap_or(false),
    ));
    out(&t);
    for w in v
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!("{}", w.as_str().unwrap_or(""));
    }
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

/// go-units `BytesSize` (binary, "1.944GiB").
fn binary_size(size: f64) -> String {
    const U: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let (mut s, mut i) = (size, 0);
    while s >= 1024.0 && i < U.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", units::go_g(s, 4), U[i])
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
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let time = units::rfc3339(secs).replace('Z', &format!(".{frac:09}Z"));
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

/// `berth system df`: the TYPE/TOTAL/ACTIVE/SIZE/RECLAIMABLE summary of `GET /system/df`.
pub async fn df(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let v: Value = ctx.client.get_json("/system/df").await?;
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
        assert_eq!(binary_size(2_087_354_368.0), "1.944GiB");
    }
}
