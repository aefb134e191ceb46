//! `ps`: `GET /containers/json` rendered with docker's columns, truncation and context fields.

use super::{filters_json, int_flag, out, Ctx};
use crate::client::query;
use crate::error::Result;
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{ellipsis, short_id, Format};
use crate::units;
use berth_api::container::{ContainerSummary, Port};
use serde_json::{json, Value};

pub const PS: Spec = Spec {
    name: "ps",
    usage: "[OPTIONS]",
    about: "List containers",
    flags: &[
        switch("all", Some('a'), "Show all containers (default shows just running)"),
        list("filter", Some('f'), "Filter output based on conditions provided"),
        value("format", None, "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        value("last", Some('n'), "int", "Show n last created containers (includes all states) (default -1)"),
        switch("latest", Some('l'), "Show the latest created container (includes all states)"),
        switch("no-trunc", None, "Don't truncate output"),
        switch("quiet", Some('q'), "Only display container IDs"),
        switch("size", Some('s'), "Display total file sizes"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// The query `ps` sends for its flags.
pub fn ps_query(spec: &Spec, p: &Parsed) -> Result<String> {
    let mut q = Vec::new();
    let last = int_flag(spec, p, "last")?.unwrap_or(-1);
    let limit = if p.bool("latest") { 1 } else { last };
    if p.bool("all") {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(spec, &p.list("filter"))? {
        q.push(("filters", f));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if p.bool("size") {
        q.push(("size", "1".to_string()));
    }
    Ok(query(&q))
}

pub async fn ps(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let q = ps_query(spec, &p)?;
    let list: Vec<ContainerSummary> = ctx.client.get_json(&format!("/containers/json{q}")).await?;
    let trunc = !p.bool("no-trunc");
    if p.bool("quiet") && p.string("format").is_none() {
        let ids: String = list
            .iter()
            .map(|c| format!("{}\n", if trunc { short_id(&c.id) } else { c.id.clone() }))
            .collect();
        out(&ids);
        return Ok(());
    }
    let now = units::now_unix();
    let rows: Vec<Value> = list.iter().map(|c| container_row(c, trunc, now)).collect();
    let mut default = String::from("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}");
    if p.bool("size") {
        default.push_str("\t{{.Size}}");
    }
    let f = Format::new(p.string("format"), &default)?;
    out(&f.render(&rows, HEADERS)?);
    Ok(())
}

/// docker's container formatting context for one `GET /containers/json` entry.
pub fn container_row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let mut image = c.image.clone();
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if short_id(&c.image_id) == short_id(&image) {
            image = short_id(&image);
        } else if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let names: Vec<&str> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    // Sorted: docker prints them in its map's random order.
    let mut labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = m
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(&m.source);
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c
        .mounts
        .iter()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let networks: Vec<&str> = c
        .network_settings
        .networks
        .keys()
        .map(String::as_str)
        .collect();
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) => format!(
            "{} (virtual {})",
            units::human_size_precision(rw as f64, 3),
            units::human_size_precision(root as f64, 3)
        ),
        (Some(rw), None) => units::human_size_precision(rw as f64, 3),
        _ => "0B".into(),
    };
    let platform = c
        .image_manifest_descriptor
        .as_ref()
        .and_then(|d| d.get("platform"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": units::go_time(c.created),
        "ID": if trunc { short_id(&c.id) } else { c.id.clone() },
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": platform,
        "Ports": display_ports(&c.ports),
        "RunningFor": units::ago(c.created, now),
        "Size": size,
        "State": c.state,
        "Status": c.status,
    })
}

/// docker's PORTS column: unpublished ports grouped into ranges by protocol (and published
/// ports whose host and container numbers agree by address), then the other host mappings.
pub fn display_ports(ports: &[Port]) -> String {
    let mut list: Vec<(u16, u16, &str, &str)> = ports
        .iter()
        .map(|p| {
            let ty = if p.kind.is_empty() { "tcp" } else { &p.kind };
            (
                p.private_port,
                p.public_port.unwrap_or(0),
                p.ip.as_deref().unwrap_or(""),
                ty,
            )
        })
        .collect();
    list.sort_by(|a, b| (a.0, a.2, a.1, a.3).cmp(&(b.0, b.2, b.1, b.3)));
    let join_host = |ip: &str, port: u16| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let form = |key: &str, first: u16, last: u16| {
        let (ip, ty) = match key.rsplit_once('/') {
            Some((ip, ty)) => (ip, ty),
            None => ("", key),
        };
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if !ip.is_empty() {
            group = format!("{ip}:{group}->{group}");
        }
        format!("{group}/{ty}")
    };
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for &(private, public, ip, ty) in &list {
        let mut key = ty.to_string();
        if !ip.is_empty() {
            if public != private {
                host_mappings.push(format!("{}->{private}/{ty}", join_host(ip, public)));
                continue;
            }
            key = format!("{ip}/{ty}");
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, private, private)),
            Some(g) if u32::from(private) == u32::from(g.2) + 1 => g.2 = private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = private;
                g.2 = private;
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Parsed;

    #[test]
    fn rows_truncate_like_docker() {
        let c: ContainerSummary = serde_json::from_value(json!({
            "Id": "0123456789abcdef0123456789abcdef", "Names": ["/web"], "Image": "busybox",
            "Command": "sleep 100000000000000000", "Created": 100, "State": "running", "Status": "Up 5 minutes",
            "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}],
            "Labels": {"b": "2", "a": "1"}
        }))
        .unwrap();
        let r = container_row(&c, true, 400);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Ports"], "443/tcp, 0.0.0.0:8080->80/tcp");
        let ranges: Vec<Port> = serde_json::from_value(json!([{"PrivatePort": 81, "Type": "tcp"}, {"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"},
                            {"PrivatePort": 90, "PublicPort": 90, "IP": "0.0.0.0", "Type": "tcp"}])).unwrap();
        assert_eq!(
            display_ports(&ranges),
            "53/udp, 80-81/tcp, 0.0.0.0:90->90/tcp"
        );
        assert_eq!(r["RunningFor"], "5 minutes ago");
        assert_eq!(r["Labels"], "a=1,b=2");
        let full = container_row(&c, false, 400);
        assert_eq!(full["Command"], "\"sleep 100000000000000000\"");
    }

    #[test]
    fn query_matches_docker_cli() {
        let mut p = Parsed::default();
        p.set("all", "true");
        p.set("filter", "status=exited");
        p.set("last", "3");
        p.set("size", "true");
        assert_eq!(
            ps_query(&PS, &p).unwrap(),
            "?all=1&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&limit=3&size=1"
        );
        assert_eq!(ps_query(&PS, &Parsed::default()).unwrap(), "");
    }
}
