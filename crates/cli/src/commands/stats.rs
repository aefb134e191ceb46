//! `stats`: containers' resource usage from `GET /containers/{id}/stats`, with docker's columns,
//! number formatting and calculations (CPU % from the `precpu_stats` delta against the host's,
//! memory without the inactive file cache, summed network and block I/O).
//!
//! Without names it shows the running containers (all with `-a`); streaming, it keeps one stats
//! stream per container, refreshes the container list, and redraws the table every half second
//! (clear screen, as docker does). `--no-stream` prints one table from one object per container.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{out, Ctx};
use crate::client::{body::JsonLines, encode_path};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};
use crate::format::{short_id, Format};
use crate::units;
use berth_api::container::ContainerSummary;
use berth_api::stats::StatsResponse;
use hyper::Method;
use serde_json::{json, Value};

pub const STATS: Spec = Spec {
    name: "stats",
    usage: "[OPTIONS] [CONTAINER...]",
    about: "Display a live stream of container(s) resource usage statistics",
    flags: &[
        switch("all", Some('a'), "Show all containers (default shows just running)"),
        value("format", None, "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        switch("no-stream", None, "Disable streaming stats and only pull the first result"),
        switch("no-trunc", None, "Do not truncate output"),
    ],
    args: Args::Any,
    stop_at_positional: false,
};

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// How often the streaming table is redrawn.
const REDRAW: Duration = Duration::from_millis(500);

/// docker's numbers for one container, from one stats object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub name: String,
    pub id: String,
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
}

/// Computes docker's figures from a stats object.
pub fn figures(v: &StatsResponse) -> Figures {
    let (cpu, pre) = (&v.cpu_stats, &v.precpu_stats);
    let online = match cpu.online_cpus {
        0 => cpu.cpu_usage.percpu_usage.len() as f64,
        n => f64::from(n),
    };
    let cpu_delta = cpu.cpu_usage.total_usage as f64 - pre.cpu_usage.total_usage as f64;
    let system_delta = cpu.system_cpu_usage as f64 - pre.system_cpu_usage as f64;
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &v.memory_stats;
    let inactive = mem
        .stats
        .get("total_inactive_file")
        .or_else(|| mem.stats.get("inactive_file"));
    let memory = match inactive {
        Some(&inactive) if inactive < mem.usage => mem.usage - inactive,
        _ => mem.usage,
    } as f64;
    let memory_limit = mem.limit as f64;
    let memory_percent = if memory_limit != 0.0 {
        memory / memory_limit * 100.0
    } else {
        0.0
    };
    let net_rx = v.networks.values().map(|n| n.rx_bytes as f64).sum();
    let net_tx = v.networks.values().map(|n| n.tx_bytes as f64).sum();
    let (mut block_read, mut block_write) = (0.0, 0.0);
    for e in v.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.chars().next() {
            Some('r' | 'R') => block_read += e.value as f64,
            Some('w' | 'W') => block_write += e.value as f64,
            _ => {}
        }
    }
    Figures {
        name: v.name.clone(),
        id: v.id.clone(),
        cpu_percent,
        memory,
        memory_limit,
        memory_percent,
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: v.pids_stats.current,
    }
}

/// go-units' `BytesSize`: binary (1024-based) units, four significant digits.
pub fn bytes_size(size: f64) -> String {
    const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < BINARY.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", units::go_g(s, 4), BINARY[i])
}

/// The template fields of one row: `container` is what the user named (or the ID); `figures`
/// is `None` until the first object arrives or after an error (docker's `--`).
pub fn row(container: &str, figures: Option<&Figures>, trunc: bool) -> Value {
    let Some(f) = figures else {
        return json!({
            "Container": container, "ID": "", "Name": "--", "CPUPerc": "--",
            "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "-- / --", "BlockIO": "-- / --",
            "PIDs": "--",
        });
    };
    let pair = |a: f64, b: f64| {
        format!(
            "{} / {}",
            units::human_size_precision(a, 3),
            units::human_size_precision(b, 3)
        )
    };
    json!({
        "Container": container,
        "ID": if trunc { short_id(&f.id) } else { f.id.clone() },
        "Name": f.name.strip_prefix('/').unwrap_or(&f.name),
        "CPUPerc": format!("{:.2}%", f.cpu_percent),
        "MemUsage": format!("{} / {}", bytes_size(f.memory), bytes_size(f.memory_limit)),
        "MemPerc": format!("{:.2}%", f.memory_percent),
        "NetIO": pair(f.net_rx, f.net_tx),
        "BlockIO": pair(f.block_read, f.block_write),
        "PIDs": f.pids.to_string(),
    })
}

/// One redraw of the streaming table: the cursor goes home (the screen is cleared first the
/// first time), each line erases what is left of the old one, and what is below is erased.
fn frame(table: &str, first: bool) -> String {
    let mut f = String::from(if first { "\x1b[2J\x1b[H" } else { "\x1b[H" });
    for line in table.lines() {
        f.push_str(line);
        f.push_str("\x1b[K\n");
    }
    f.push_str("\x1b[J");
    f
}

/// One container's latest figures, shared between its stream task and the drawing loop.
#[derive(Default)]
struct Slot {
    figures: Option<Figures>,
    error: Option<String>,
    /// The stream ended (the container stopped or went away).
    ended: bool,
}

type Table = Arc<Mutex<BTreeMap<usize, (String, Arc<Mutex<Slot>>)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The short IDs of the containers to show when none are named (docker's `Container` field).
async fn listed(ctx: &Ctx, all: bool) -> Result<Vec<String>> {
    let path = if all {
        "/containers/json?all=1"
    } else {
        "/containers/json"
    };
    let list: Vec<ContainerSummary> = ctx.client.get_json(path).await?;
    Ok(list.iter().map(|c| short_id(&c.id)).collect())
}

/// Reads `container`'s stats into `slot` until the stream ends (one object without `stream`).
async fn follow(
    ctx: Arc<crate::client::Client>,
    container: String,
    stream: bool,
    slot: Arc<Mutex<Slot>>,
) {
    let path = format!(
        "/containers/{}/stats?stream={}",
        encode_path(&container),
        if stream { "1" } else { "0" }
    );
    let result: Result<()> = async {
        let resp = ctx
            .request(Method::GET, &path, crate::client::body::empty(), &[])
            .await?;
        let mut lines = JsonLines::new(resp.into_body());
        while let Some(v) = lines.next().await? {
            let v: StatsResponse = serde_json::from_value(v)
                .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))?;
            lock(&slot).figures = Some(figures(&v));
            if !stream {
                break;
            }
        }
        Ok(())
    }
    .await;
    let mut s = lock(&slot);
    if let Err(e) = result {
        s.error = Some(e.to_string());
        s.figures = None;
    }
    s.ended = true;
}

pub async fn stats(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let format = Format::new(p.string("format"), DEFAULT_TABLE)?;
    let trunc = !p.bool("no-trunc");
    let stream = !p.bool("no-stream");
    let named = !p.args.is_empty();
    let all = p.bool("all");
    let table: Table = Arc::default();
    let mut next_key = 0usize;
    let mut add = |table: &Table, container: String| {
        let slot = Arc::new(Mutex::new(Slot::default()));
        lock(table).insert(next_key, (container.clone(), slot.clone()));
        next_key += 1;
        tokio::spawn(follow(ctx.client.clone(), container, stream, slot))
    };
    let initial = if named {
        p.args.clone()
    } else {
        listed(ctx, all).await?
    };
    let mut tasks = Vec::new();
    for c in initial {
        tasks.push(add(&table, c));
    }
    if !stream {
        for t in tasks {
            let _ = t.await;
        }
        let entries: Vec<(String, Arc<Mutex<Slot>>)> = lock(&table).values().cloned().collect();
        let mut errors = Vec::new();
        let mut rows = Vec::new();
        for (container, slot) in entries {
            let s = lock(&slot);
            match &s.error {
                Some(e) => errors.push(e.clone()),
                None => rows.push(row(&container, s.figures.as_ref(), trunc)),
            }
        }
        if named && !errors.is_empty() {
            return Err(CliError::Message(errors.join("\n")));
        }
        out(&format.render(&rows, HEADERS)?);
        return Ok(());
    }
    let mut first_frame = true;
    loop {
        tokio::time::sleep(REDRAW).await;
        if !named {
            // Follow the container list as docker follows start and die events.
            let current = listed(ctx, all).await?;
            // An ended stream is started again (a stopped container shown with `-a`, or one
            // that started again).
            lock(&table).retain(|_, (c, slot)| current.contains(c) && !lock(slot).ended);
            let known: Vec<String> = lock(&table).values().map(|(c, _)| c.clone()).collect();
            for c in current.into_iter().filter(|c| !known.contains(c)) {
                add(&table, c);
            }
        }
        let entries: Vec<(String, Arc<Mutex<Slot>>)> = lock(&table).values().cloned().collect();
        let rows: Vec<Value> = entries
            .iter()
            .map(|(c, slot)| row(c, lock(slot).figures.as_ref(), trunc))
            .collect();
        out(&frame(&format.render(&rows, HEADERS)?, first_frame));
        first_frame = false;
        if named && entries.iter().all(|(_, s)| lock(s).error.is_some()) {
            let errors: Vec<String> = entries
                .iter()
                .filter_map(|(_, s)| lock(s).error.clone())
                .collect();
            return Err(CliError::Message(errors.join("\n")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_calculations() {
        let v = json!({
            "name": "/web", "id": "0123456789abcdef0123",
            "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64}, "system_cpu_usage": 2_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64}, "system_cpu_usage": 1_000_000_000u64},
            "memory_stats": {"usage": 10_485_760u64, "limit": 67_108_864u64, "stats": {"total_inactive_file": 4_194_304u64}},
            "networks": {"eth0": {"rx_bytes": 1296, "tx_bytes": 746}, "eth1": {"rx_bytes": 4, "tx_bytes": 4}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 1_500_000},
                {"major": 8, "minor": 0, "op": "Total", "value": 1}]},
            "pids_stats": {"current": 3}
        });
        let f = figures(&serde_json::from_value(v).unwrap());
        assert!((f.cpu_percent - 40.0).abs() < 1e-9, "{}", f.cpu_percent);
        assert_eq!(f.memory, 6_291_456.0);
        let r = row("web", Some(&f), true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "6MiB / 64MiB");
        assert_eq!(r["MemPerc"], "9.38%");
        assert_eq!(r["NetIO"], "1.3kB / 750B");
        assert_eq!(r["BlockIO"], "4.1kB / 1.5MB");
        assert_eq!(r["PIDs"], "3");
    }

    #[test]
    fn stopped_and_missing_rows() {
        let f = figures(
            &serde_json::from_value(
                json!({"name": "/x", "id": "abc", "read": "0001-01-01T00:00:00Z"}),
            )
            .unwrap(),
        );
        let r = row("x", Some(&f), false);
        assert_eq!(r["CPUPerc"], "0.00%");
        assert_eq!(r["MemUsage"], "0B / 0B");
        assert_eq!(r["NetIO"], "0B / 0B");
        assert_eq!(r["PIDs"], "0");
        assert_eq!(row("y", None, true)["MemUsage"], "-- / --");
        assert_eq!(bytes_size(1_491_000.0), "1.422MiB");
        assert_eq!(bytes_size(2_096_103_424.0), "1.952GiB");
    }
}
