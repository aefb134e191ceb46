//! Network commands over the API, as the docker CLI sends and prints them: `network create`,
//! `ls`, `inspect`, `rm`, `connect`, `disconnect` and `prune`.

use std::cmp::Ordering;

use super::{filters_json, for_each, out, Ctx};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{short_id, Format};
use berth_api::container::{EndpointIpamConfig, EndpointSettings};
use berth_api::network::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource,
};
use serde::de::IgnoredAny;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const CREATE: Spec = Spec {
    name: "network create",
    usage: "[OPTIONS] NETWORK",
    about: "Create a network",
    flags: &[
        switch("attachable", None, "Enable manual container attachment"),
        list(
            "aux-address",
            None,
            "Auxiliary IPv4 or IPv6 addresses used by Network driver",
        ),
        value(
            "driver",
            Some('d'),
            "string",
            "Driver to manage the Network (default \"bridge\")",
        ),
        list(
            "gateway",
            None,
            "IPv4 or IPv6 Gateway for the master subnet",
        ),
        switch("internal", None, "Restrict external access to the network"),
        list("ip-range", None, "Allocate container ip from a sub-range"),
        value(
            "ipam-driver",
            None,
            "string",
            "IP Address Management Driver (default \"default\")",
        ),
        list("ipam-opt", None, "Set IPAM driver specific options"),
        switch("ipv4", None, "Enable or disable IPv4 address assignment"),
        switch("ipv6", None, "Enable or disable IPv6 address assignment"),
        list("label", None, "Set metadata on a network"),
        list("opt", Some('o'), "Set driver specific options"),
        value("scope", None, "string", "Control the network's scope"),
        list(
            "subnet",
            None,
            "Subnet in CIDR format that represents a network segment",
        ),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `key=value` flags as a map (a bare `key` maps to "").
fn kv(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The `IPAM.Config` entries: the n-th `--gateway`/`--ip-range` belongs to the n-th `--subnet`.
fn ipam_config(spec: &Spec, p: &Parsed) -> Result<Vec<IpamConfig>> {
    let subnets = p.list("subnet");
    let (gateways, ranges) = (p.list("gateway"), p.list("ip-range"));
    if gateways.len() > subnets.len() || ranges.len() > subnets.len() {
        let (flag, v) = if gateways.len() > subnets.len() {
            ("gateway", gateways.last())
        } else {
            ("ip-range", ranges.last())
        };
        return Err(spec.invalid_value(
            flag,
            v.map(String::as_str).unwrap_or(""),
            "no matching subnet",
        ));
    }
    Ok(subnets
        .iter()
        .enumerate()
        .map(|(i, s)| IpamConfig {
            subnet: s.clone(),
            ip_range: ranges.get(i).cloned().unwrap_or_default(),
            gateway: gateways.get(i).cloned().unwrap_or_default(),
            ..Default::default()
        })
        .collect())
}

/// `berth network create`: `POST /networks/create`; prints the new ID.
pub async fn create(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let body = NetworkCreateRequest {
        name: p.args[0].clone(),
        check_duplicate: None,
        driver: Some(p.string("driver").unwrap_or("bridge").to_string()),
        scope: Some(p.str_or_empty("scope").to_string()),
        ipam: Some(Ipam {
            driver: p.string("ipam-driver").unwrap_or("default").to_string(),
            options: Some(kv(&p.list("ipam-opt"))),
            config: Some(ipam_config(spec, &p)?),
        }),
        internal: Some(p.bool("internal")),
        attachable: Some(p.bool("attachable")),
        ingress: Some(false),
        config_only: Some(false),
        config_from: None,
        options: Some(kv(&p.list("opt"))),
        labels: Some(kv(&p.list("label"))),
        enable_ipv4: p.is_set("ipv4").then(|| p.bool("ipv4")),
        enable_ipv6: p.is_set("ipv6").then(|| p.bool("ipv6")),
    };
    let v: NetworkCreateResponse = ctx.client.post_json("/networks/create", &body).await?;
    out(&format!("{}\n", v.id));
    Ok(())
}

const FORMAT_HELP: &str =
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'";

pub const LS: Spec = Spec {
    name: "network ls",
    usage: "[OPTIONS]",
    about: "List networks",
    flags: &[
        list(
            "filter",
            Some('f'),
            "Provide filter values (e.g. \"driver=bridge\")",
        ),
        value("format", None, "string", FORMAT_HELP),
        switch("no-trunc", None, "Do not truncate the output"),
        switch("quiet", Some('q'), "Only display network IDs"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

const LS_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// Natural order of names (`n2` before `n10`), as docker sorts `network ls`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while !x.is_empty() && !y.is_empty() {
        if x[0].is_ascii_digit() && y[0].is_ascii_digit() {
            let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (dx, dy) = (&x[..nx], &y[..ny]);
            let tx = dx
                .iter()
                .position(|c| *c != b'0')
                .map_or(&dx[nx..], |i| &dx[i..]);
            let ty = dy
                .iter()
                .position(|c| *c != b'0')
                .map_or(&dy[ny..], |i| &dy[i..]);
            let o = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
            if o != Ordering::Equal {
                return o;
            }
            (x, y) = (&x[nx..], &y[ny..]);
        } else {
            if x[0] != y[0] {
                return x[0].cmp(&y[0]);
            }
            (x, y) = (&x[1..], &y[1..]);
        }
    }
    x.len().cmp(&y.len())
}

/// Go's `time.Time.String()` of an RFC 3339 UTC timestamp (`2026-11-25 10:00:00.5 +0000 UTC`).
pub fn go_time_string(rfc3339: &str) -> String {
    let Some(t) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_string();
    };
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!(
        "{} +0000 UTC",
        format!("{secs}{dot}{frac}").replacen('T', " ", 1)
    )
}

/// One network as a `network ls` row with docker's context fields (a template context, so JSON).
pub fn ls_row(n: &NetworkResource, no_trunc: bool) -> Value {
    let mut labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    json!({
        "ID": if no_trunc { n.id.clone() } else { short_id(&n.id) },
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": go_time_string(&n.created),
    })
}

/// `berth network ls`: `GET /networks`, sorted by name.
pub async fn ls(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let q = query(
        &filters_json(spec, &p.list("filter"))?
            .map(|f| vec![("filters", f)])
            .unwrap_or_default(),
    );
    let mut nets: Vec<NetworkResource> = ctx.client.get_json(&format!("/networks{q}")).await?;
    nets.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let rows: Vec<Value> = nets.iter().map(|n| ls_row(n, p.bool("no-trunc"))).collect();
    if p.bool("quiet") && p.string("format").is_none() {
        out(&rows
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect::<String>());
        return Ok(());
    }
    let f = Format::new(
        p.string("format"),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    )?;
    out(&f.render(&rows, LS_HEADERS)?);
    Ok(())
}

pub const INSPECT: Spec = Spec {
    name: "network inspect",
    usage: "[OPTIONS] NETWORK [NETWORK...]",
    about: "Display detailed information on one or more networks",
    flags: &[
        value(
            "format",
            Some('f'),
            "string",
            "Format output using a custom template",
        ),
        switch("verbose", Some('v'), "Verbose output for diagnostics"),
    ],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth network inspect`: the generic inspect restricted to networks.
pub async fn inspect(ctx: &Ctx, spec: &Spec, mut p: Parsed) -> Result<()> {
    p.set("type", "network");
    super::inspect::inspect(ctx, spec, p).await
}

pub const RM: Spec = Spec {
    name: "network rm",
    usage: "NETWORK [NETWORK...]",
    about: "Remove one or more networks",
    flags: &[switch(
        "force",
        Some('f'),
        "Do not error if the network does not exist",
    )],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth network rm`: per network, `GET` (as docker does, to spot swarm networks) then
/// `DELETE`; prints each name removed; `-f` ignores missing networks.
pub async fn rm(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let force = p.bool("force");
    for_each(&p.args, |name| async move {
        let path = format!("/networks/{}", encode_path(&name));
        let _ = ctx.client.get_json::<IgnoredAny>(&path).await;
        match ctx.client.delete(&path).await {
            Ok(_) => Ok(Some(name)),
            Err(e) if force && e.is_status(404) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
    // docker ends a partly failed `network rm` with this line.
    .map_err(|_| CliError::Message("exit status 1".into()))
}

pub const CONNECT: Spec = Spec {
    name: "network connect",
    usage: "[OPTIONS] NETWORK CONTAINER",
    about: "Connect a container to a network",
    flags: &[
        list("alias", None, "Add network-scoped alias for the container"),
        list("driver-opt", None, "driver options for the network"),
        value(
            "gw-priority",
            None,
            "int",
            "Highest gw-priority provides the default gateway. Accepts positive and negative values.",
        ),
        value("ip", None, "string", "IPv4 address (e.g., \"172.30.100.104\")"),
        value("ip6", None, "string", "IPv6 address (e.g., \"2001:db8::33\")"),
        list("link", None, "Add link to another container"),
        list("link-local-ip", None, "Add a link-local address for the container"),
    ],
    args: Args::Exact(2),
    stop_at_positional: false,
};

/// `berth network connect`: `POST /networks/{id}/connect` with the endpoint's settings.
pub async fn connect(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let ipam = EndpointIpamConfig {
        ipv4_address: p.str_or_empty("ip").to_string(),
        ipv6_address: p.str_or_empty("ip6").to_string(),
        link_local_ips: p.list("link-local-ip"),
    };
    let links = p.list("link");
    let endpoint = EndpointSettings {
        // The shared field is still untyped (the daemon reads it as JSON): the typed value goes in.
        ipam_config: Some(
            serde_json::to_value(ipam).map_err(|e| CliError::Message(e.to_string()))?,
        ),
        links: (!links.is_empty()).then_some(links),
        aliases: Some(p.list("alias")),
        driver_opts: Some(kv(&p.list("driver-opt"))),
        gw_priority: Some(super::int_flag(spec, &p, "gw-priority")?.unwrap_or(0)),
        ..EndpointSettings::default()
    };
    let body = NetworkConnectRequest {
        container: p.args[1].clone(),
        endpoint_config: Some(endpoint),
    };
    post_action(ctx, &p.args[0], "connect", &body).await
}

pub const DISCONNECT: Spec = Spec {
    name: "network disconnect",
    usage: "[OPTIONS] NETWORK CONTAINER",
    about: "Disconnect a container from a network",
    flags: &[switch(
        "force",
        Some('f'),
        "Force the container to disconnect from a network",
    )],
    args: Args::Exact(2),
    stop_at_positional: false,
};

/// `berth network disconnect`: `POST /networks/{id}/disconnect`.
pub async fn disconnect(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let body = NetworkDisconnectRequest {
        container: p.args[1].clone(),
        force: p.bool("force"),
    };
    post_action(ctx, &p.args[0], "disconnect", &body).await
}

async fn post_action<B: serde::Serialize>(
    ctx: &Ctx,
    net: &str,
    action: &str,
    body: &B,
) -> Result<()> {
    let path = format!("/networks/{}/{action}", encode_path(net));
    let resp = ctx
        .client
        .request(
            hyper::Method::POST,
            &path,
            crate::client::body::json(body)?,
            &[("content-type", "application/json")],
        )
        .await?;
    crate::client::read_all(resp).await?;
    Ok(())
}

pub const PRUNE: Spec = Spec {
    name: "network prune",
    usage: "[OPTIONS]",
    about: "Remove all unused networks",
    flags: &[
        list(
            "filter",
            None,
            "Provide filter values (e.g. \"until=<timestamp>\")",
        ),
        switch("force", Some('f'), "Do not prompt for confirmation"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth network prune`: `POST /networks/prune` after a prompt; lists what went.
pub async fn prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    if !p.bool("force")
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n\
             Are you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let v: NetworkPruneResponse =
        super::prune::post_prune(ctx, spec, "/networks/prune", &p.list("filter")).await?;
    super::prune::print_pruned(&v.networks_deleted, "Deleted Networks:", 0);
    Ok(())
}

/// `network <sub>` → the command name used by dispatch (`network ls`, ...).
pub fn alias(sub: &str) -> Option<&'static str> {
    Some(match sub {
        "create" => "network create",
        "ls" | "list" => "network ls",
        "inspect" => "network inspect",
        "rm" | "remove" => "network rm",
        "connect" => "network connect",
        "disconnect" => "network disconnect",
        "prune" => "network prune",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["n10", "n2", "bridge", "host", "n1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["bridge", "host", "n1", "n2", "n10"]);
    }

    #[test]
    fn created_at_reads_like_go() {
        assert_eq!(
            go_time_string("2026-11-25T20:38:06.123450000Z"),
            "2026-11-25 20:38:06.12345 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-11-25T20:38:06Z"),
            "2026-11-25 20:38:06 +0000 UTC"
        );
    }

    #[test]
    fn ls_rows_and_prune_report() {
        let n = json!({"Name":"n1","Id":"0123456789abcdef0123","Driver":"bridge","Scope":"local",
            "Labels":{"b":"2","a":"1"},"Created":"2026-11-25T20:38:06Z"});
        let n: NetworkResource = serde_json::from_value(n).unwrap();
        let r = ls_row(&n, false);
        assert_eq!(r["IPv4"], "true");
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Labels"], "a=1,b=2");
        let pruned = |v: serde_json::Value| {
            let v: NetworkPruneResponse = serde_json::from_value(v).unwrap();
            super::super::prune::pruned_text(&v.networks_deleted, "Deleted Networks:")
        };
        assert_eq!(
            pruned(json!({"NetworksDeleted":["a"]})),
            "Deleted Networks:\na\n\n"
        );
        assert_eq!(pruned(json!({"NetworksDeleted":null})), "");
    }
}
