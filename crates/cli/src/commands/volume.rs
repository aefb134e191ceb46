//! Volume commands over the API, as the docker CLI 28 sends and prints them: `volume create`,
//! `ls`, `inspect`, `rm` and `prune`, and the `volume` group's own usage text.

use super::network::natural_cmp;
use super::{filters_json, for_each, out, Ctx};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Flag, Kind, Parsed, Spec};
use crate::format::Format;
use crate::units;
use berth_api::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A repeatable flag shown with docker's type word (`map`, `filter`) instead of `list`.
const fn typed_list(
    long: &'static str,
    short: Option<char>,
    ty: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::List,
        ty,
        help,
    }
}

pub const CREATE: Spec = Spec {
    name: "volume create",
    usage: "[OPTIONS] [VOLUME]",
    about: "Create a volume",
    flags: &[
        value(
            "driver",
            Some('d'),
            "string",
            "Specify volume driver name (default \"local\")",
        ),
        typed_list("label", None, "list", "Set metadata for a volume"),
        value("name", None, "string", "Specify volume name"),
        typed_list(
            "opt",
            Some('o'),
            "map",
            "Set driver specific options (default map[])",
        ),
    ],
    args: Args::AtMost(1),
    stop_at_positional: false,
};

/// The create body from the parsed flags, with docker's checks: a name given once, labels
/// with a key (`key` alone is `key=""`), options split at the first `=`.
fn create_body(spec: &Spec, p: &Parsed) -> Result<VolumeCreateRequest> {
    let name = match (p.string("name"), p.args.first()) {
        (Some(_), Some(_)) => {
            return Err(CliError::Message(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
                    .into(),
            ))
        }
        (Some(n), None) => Some(n.to_string()),
        (None, Some(n)) => Some(n.clone()),
        (None, None) => None,
    };
    let mut labels = BTreeMap::new();
    for l in p.list("label") {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        if k.trim().is_empty() {
            return Err(spec.invalid_value(
                "label",
                &l,
                &format!("invalid label '{l}': empty name"),
            ));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let driver_opts: BTreeMap<String, String> = p
        .list("opt")
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    // The docker CLI leaves out what is empty (`omitempty`), the driver included.
    Ok(VolumeCreateRequest {
        driver: Some(p.string("driver").unwrap_or("local").to_string()).filter(|d| !d.is_empty()),
        driver_opts: Some(driver_opts).filter(|o| !o.is_empty()),
        labels: Some(labels).filter(|l| !l.is_empty()),
        name: name.filter(|n| !n.is_empty()),
    })
}

/// `berth volume create`: prints the new volume's name (the daemon's, when it made one up).
pub async fn create(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let body = create_body(spec, &p)?;
    let v: Volume = ctx.client.post_json("/volumes/create", &body).await?;
    out(&format!("{}\n", v.name));
    Ok(())
}

const FORMAT_HELP: &str =
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'";

pub const LS: Spec = Spec {
    name: "volume ls",
    usage: "[OPTIONS]",
    about: "List volumes",
    flags: &[
        typed_list(
            "filter",
            Some('f'),
            "filter",
            "Provide filter values (e.g. \"dangling=true\")",
        ),
        value("format", None, "string", FORMAT_HELP),
        switch("quiet", Some('q'), "Only display volume names"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

const LS_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Group", "GROUP"),
    ("Availability", "AVAILABILITY"),
    ("Status", "STATUS"),
];

/// One volume with docker's template fields (`volume ls`, `system df -v`): `Links` and `Size`
/// come from `UsageData` and read `N/A` without it; the cluster fields are always `N/A` here.
/// Labels are sorted (docker prints them in its map's random order).
pub fn ls_row(v: &Volume) -> Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let (links, size) = match v.usage_data {
        Some(u) => (u.ref_count.to_string(), units::human_size(u.size as f64)),
        None => ("N/A".to_string(), "N/A".to_string()),
    };
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": links,
        "Size": size,
        "Group": "N/A",
        "Availability": "N/A",
        "Status": "N/A",
    })
}

/// The `volume ls` format: the user's, else the table (`-q`: names only, unless a template
/// other than `table` is given, which wins as in docker).
fn ls_format(user: Option<&str>, quiet: bool) -> Result<Format> {
    match user.map(str::trim) {
        None | Some("") | Some("table") if quiet => Format::new(Some("{{.Name}}"), ""),
        Some("raw") if quiet => Format::new(Some("name: {{.Name}}"), ""),
        Some("raw") => Format::new(Some("name: {{.Name}}\\ndriver: {{.Driver}}\\n"), ""),
        user => Format::new(user, "table {{.Driver}}\t{{.Name}}"),
    }
}

/// `berth volume ls`: `GET /volumes` (with `--filter`), sorted by name naturally.
pub async fn ls(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let q = query(
        &filters_json(spec, &p.list("filter"))?
            .map(|f| vec![("filters", f)])
            .unwrap_or_default(),
    );
    let mut list: VolumeListResponse = ctx.client.get_json(&format!("/volumes{q}")).await?;
    list.volumes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let rows: Vec<Value> = list.volumes.iter().map(ls_row).collect();
    let f = ls_format(p.string("format"), p.bool("quiet"))?;
    out(&f.render(&rows, LS_HEADERS)?);
    Ok(())
}

pub const INSPECT: Spec = Spec {
    name: "volume inspect",
    usage: "[OPTIONS] VOLUME [VOLUME...]",
    about: "Display detailed information on one or more volumes",
    flags: &[value(
        "format",
        Some('f'),
        "string",
        "Format output using a custom template",
    )],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth volume inspect`: the generic inspect restricted to volumes.
pub async fn inspect(ctx: &Ctx, spec: &Spec, mut p: Parsed) -> Result<()> {
    p.set("type", "volume");
    super::inspect::inspect(ctx, spec, p).await
}

pub const RM: Spec = Spec {
    name: "volume rm",
    usage: "[OPTIONS] VOLUME [VOLUME...]",
    about: "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
    flags: &[switch(
        "force",
        Some('f'),
        "Force the removal of one or more volumes",
    )],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth volume rm`: `DELETE /volumes/NAME` (`?force=1` with `-f`) per volume; prints each name
/// removed and each refusal, failing with exit 1 if any was refused.
pub async fn rm(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let force = if p.bool("force") { "?force=1" } else { "" };
    for_each(&p.args, |name| async move {
        ctx.client
            .delete(&format!("/volumes/{}{force}", encode_path(&name)))
            .await?;
        Ok(Some(name))
    })
    .await
}

pub const PRUNE: Spec = Spec {
    name: "volume prune",
    usage: "[OPTIONS]",
    about: "Remove unused local volumes",
    flags: &[
        switch(
            "all",
            Some('a'),
            "Remove all unused volumes, not just anonymous ones",
        ),
        typed_list(
            "filter",
            None,
            "filter",
            "Provide filter values (e.g. \"label=<label>\")",
        ),
        switch("force", Some('f'), "Do not prompt for confirmation"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

const UNUSED_WARNING: &str = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
const ALL_WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

/// What a prune asks for: the filters to send and the question to ask. API 1.42 made prune
/// spare named volumes unless `all=true`; below it every unused volume goes, so the warning
/// says so and `--all` adds nothing.
fn prune_plan(all: bool, filters: &[String], api: &str) -> Result<(Vec<String>, &'static str)> {
    let mut filters = filters.to_vec();
    if crate::client::negotiate::less(api, "1.42") {
        return Ok((filters, ALL_WARNING));
    }
    if !all {
        return Ok((filters, UNUSED_WARNING));
    }
    if filters
        .iter()
        .any(|f| f.split_once('=').map_or(f.as_str(), |(k, _)| k).trim() == "all")
    {
        return Err(CliError::Message(
            "conflicting options: cannot specify both --all and --filter all=1".into(),
        ));
    }
    filters.push("all=true".into());
    Ok((filters, ALL_WARNING))
}

/// `berth volume prune`: `POST /volumes/prune` after the prompt; lists what went and the space
/// reclaimed. Declining the prompt ends quietly with status 0, as docker does.
pub async fn prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let api = ctx.client.api_version().await?;
    let (filters, warning) = prune_plan(p.bool("all"), &p.list("filter"), &api)?;
    if !p.bool("force") && !super::confirm(warning) {
        return Ok(());
    }
    let report: VolumePruneResponse =
        super::prune::post_prune(ctx, spec, "/volumes/prune", &filters).await?;
    out(&prune_text(&report));
    Ok(())
}

/// The report docker prints after a volume prune (space counted only when something went).
fn prune_text(r: &VolumePruneResponse) -> String {
    let mut text = String::new();
    let mut reclaimed = 0;
    if !r.volumes_deleted.is_empty() {
        text.push_str("Deleted Volumes:\n");
        for name in &r.volumes_deleted {
            text.push_str(name);
            text.push('\n');
        }
        text.push('\n');
        reclaimed = r.space_reclaimed;
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(reclaimed as f64)
    ));
    text
}

/// `volume <sub>` → the command name used by dispatch (`volume ls`, ...).
pub fn alias(sub: &str) -> Option<&'static str> {
    Some(match sub {
        "create" => "volume create",
        "ls" | "list" => "volume ls",
        "inspect" => "volume inspect",
        "rm" | "remove" => "volume rm",
        "prune" => "volume prune",
        _ => return None,
    })
}

const GROUP_USAGE: &str = "
Usage:  berth volume COMMAND

Manage volumes

Commands:
  create      Create a volume
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove unused local volumes
  rm          Remove one or more volumes

Run 'berth volume COMMAND --help' for more information on a command.
";

/// `berth volume` with no sub-command (or `--help`): the group's usage; an unknown
/// sub-command is an error naming it, as docker words it.
pub fn group(argv: &[String]) -> Result<()> {
    match argv.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            out(GROUP_USAGE);
            Ok(())
        }
        Some(other) => Err(CliError::Message(format!(
            "berth: unknown command: berth volume {other}\n\nUsage:  berth volume COMMAND\n\nRun 'berth volume --help' for more information"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::volume::UsageData;

    fn parsed(spec: &Spec, args: &[&str]) -> Parsed {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        spec.parse(&args).unwrap()
    }

    #[test]
    fn create_bodies_leave_empty_fields_out() {
        let b = create_body(&CREATE, &parsed(&CREATE, &[])).unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({"Driver": "local"})
        );
        let p = parsed(
            &CREATE,
            &[
                "-d",
                "foo",
                "--label",
                "a=b",
                "--label",
                "c",
                "-o",
                "type=tmpfs",
                "-o",
                "o=size=1m,uid=1000",
                "myv",
            ],
        );
        assert_eq!(
            serde_json::to_value(create_body(&CREATE, &p).unwrap()).unwrap(),
            json!({"Driver": "foo", "DriverOpts": {"o": "size=1m,uid=1000", "type": "tmpfs"},
                   "Labels": {"a": "b", "c": ""}, "Name": "myv"})
        );
        let both = parsed(&CREATE, &["--name", "x", "y"]);
        assert!(create_body(&CREATE, &both)
            .unwrap_err()
            .to_string()
            .contains("both --name and as a positional arg"));
        let bad = parsed(&CREATE, &["--label", " =x"]);
        let e = create_body(&CREATE, &bad).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(e.to_string().contains("invalid label ' =x': empty name"));
        assert_eq!(
            CREATE
                .parse(&["a".into(), "b".into()])
                .unwrap_err()
                .to_string()
                .lines()
                .next(),
            Some("berth: 'berth volume create' requires at most 1 argument")
        );
    }

    #[test]
    fn ls_rows_read_like_docker() {
        let mut v = Volume {
            name: "v".into(),
            driver: "local".into(),
            scope: "local".into(),
            labels: [("b".to_string(), "2".to_string()), ("a".into(), "1".into())].into(),
            ..Default::default()
        };
        let r = ls_row(&v);
        assert_eq!(
            (r["Labels"].as_str(), r["Links"].as_str()),
            (Some("a=1,b=2"), Some("N/A"))
        );
        assert_eq!(r["Size"], "N/A");
        v.usage_data = Some(UsageData {
            size: 12345,
            ref_count: 2,
        });
        let r = ls_row(&v);
        assert_eq!(
            (r["Size"].as_str(), r["Links"].as_str()),
            (Some("12.35kB"), Some("2"))
        );
        v.usage_data = Some(UsageData {
            size: -1,
            ref_count: 0,
        });
        assert_eq!(ls_row(&v)["Size"], "-1B");
        let rows = vec![ls_row(&v)];
        let table = ls_format(None, false)
            .unwrap()
            .render(&rows, LS_HEADERS)
            .unwrap();
        assert_eq!(table, "DRIVER    VOLUME NAME\nlocal     v\n");
        let quiet = ls_format(Some("table"), true)
            .unwrap()
            .render(&rows, LS_HEADERS)
            .unwrap();
        assert_eq!(quiet, "v\n");
        let custom = ls_format(Some("{{.Driver}}"), true)
            .unwrap()
            .render(&rows, LS_HEADERS);
        assert_eq!(custom.unwrap(), "local\n");
    }

    #[test]
    fn prune_asks_for_named_volumes_only_with_all() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            prune_plan(false, &none, "1.50").unwrap(),
            (none.clone(), UNUSED_WARNING)
        );
        assert_eq!(
            prune_plan(true, &["label=a".into()], "1.50").unwrap(),
            (vec!["label=a".to_string(), "all=true".into()], ALL_WARNING)
        );
        assert!(prune_plan(true, &["all=1".into()], "1.50").is_err());
        // Before 1.42 every unused volume goes: the warning says so, `--all` adds no filter.
        assert_eq!(
            prune_plan(true, &none, "1.41").unwrap(),
            (none, ALL_WARNING)
        );
        let r = VolumePruneResponse {
            volumes_deleted: vec!["v1".into(), "v2".into()],
            space_reclaimed: 2048,
        };
        assert_eq!(
            prune_text(&r),
            "Deleted Volumes:\nv1\nv2\n\nTotal reclaimed space: 2.048kB\n"
        );
        assert_eq!(
            prune_text(&VolumePruneResponse::default()),
            "Total reclaimed space: 0B\n"
        );
    }

    #[test]
    fn unknown_subcommands_and_aliases() {
        let e = group(&["bogus".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e
            .to_string()
            .starts_with("berth: unknown command: berth volume bogus"));
        assert_eq!(alias("list"), Some("volume ls"));
        assert_eq!(alias("remove"), Some("volume rm"));
        assert_eq!(alias("update"), None);
    }
}
