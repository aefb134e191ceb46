//! `ps`: `GET /containers/json` rendered with docker's columns, truncation and context fields.

use super::{filters_json, int_flag, out, Ctx};
use crate::client::query;
use crate::error::Result;
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{ellipsis, short_id, Format};
use crate::units;
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
    let list: Vec<Value> = ctx.client.get_json(&format!("/containers/json{q}")).await?;
    let trunc = !p.bool("no-trunc");
    if p.bool("quiet") && p.string("format").is_none() {
        let ids: String = list
            .iter()
            .map(|c| {
                let id = c.get("Id").and_then(Value::as_str).unwrap_or("");
                format!("{}\n", if trunc { short_id(id) } else { id.to_string() })
            })
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

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

/// docker's container formatting context for one `GET /containers/json` entry.
pub fn container_row(c: &Value, trunc: bool, now: i64) -> Value {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s("Id");
    let mut image = s("Image");
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if short_id(&s("ImageID")) == short_id(&image) {
            image = short_id(&image);
        } else if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = s("Command");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let names: Vec<String> = strs(c.get("Names"))
        .into_iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| m.get("Source").and_then(Value::as_str))
                .unwrap_or("");
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter(|x| x.get("Driver").and_then(Value::as_str) == Some("local"))
                .count()
        })
        .unwrap_or(0);
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size = match (
        c.get("SizeRw").and_then(Value::as_i64),
        c.get("SizeRootFs").and_then(Value::as_i64),
    ) {
        (Some(rw), Some(root)) => format!(
            "{} (virtual {})",
            units::human_size_precision(rw as f64, 3),
            units::human_size_precision(root as f64, 3)
        ),
        (Some(rw), None) => units::human_size_precision(rw as f64, 3),
        _ => "0B".into(),
    };
    json!({
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": units::go_time(created),
        "ID": if trunc { short_id(&id) } else { id },
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": c.pointer("/ImageManifestDescriptor/platform").cloned().unwrap_or(Value::Null),
        "Ports": display_ports(c.get("Ports")),
        "RunningFor": units::ago(created, now),
        "Size": size,
        "State": s("State"),
        "Status": s("Status"),
    })
}

/// docker's PORTS column: unpublished ports grouped into ranges by protocol (and published
/// ports whose host and container numbers agree by address), then the other host mappings.
pub fn display_ports(ports: Option<&Value>) -> String {
    struct Port {
        private: i64,
        public: i64,
        ip: String,
        ty: String,
    }
    let mut list: Vec<Port> = ports
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| Port {
            private: p.get("PrivatePort").and_then(Value::as_i64).unwrap_or(0),
            public: p.get("PublicPort").and_then(Value::as_i64).unwrap_or(0),
            ip: p
                .get("IP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            ty: p
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_string(),
        })
        .collect();
    list.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.ty).cmp(&(b.private, &b.ip, b.public, &b.ty))
    });
    let join_host = |ip: &str, port: i64| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let form = |key: &str, first: i64, last: i64| {
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
    let mut groups: Vec<(String, i64, i64)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &list {
        let mut key = p.ty.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host(&p.ip, p.public),
                    p.private,
                    p.ty
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.ty);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2 + 1 => g.2 = p.private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
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
        let c = json!({
            "Id": "0123456789abcdef0123456789abcdef", "Names": ["/web"], "Image": "busybox",
            "Command": "sleep 100000000000000000", "Created": 100, "State": "running", "Status": "Up 5 minutes",
            "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}],
            "Labels": {"b": "2", "a": "1"}
        });
        let r = container_row(&c, true, 400);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Ports"], "443/tcp, 0.0.0.0:8080->80/tcp");
        let ranges = json!([{"PrivatePort": 81, "Type": "tcp"}, {"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"},
                            {"PrivatePort": 90, "PublicPort": 90, "IP": "0.0.0.0", "Type": "tcp"}]);
        assert_eq!(
            display_ports(Some(&ranges)),
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
