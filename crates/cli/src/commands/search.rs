//! `berth search TERM`: the daemon asks the registry (`GET /images/search`); columns as docker
//! prints them.

use serde_json::Value;

use super::{filters_json, out, Ctx};
use crate::client::query;
use crate::error::Result;
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::Format;

pub const SEARCH: Spec = Spec {
    name: "search",
    usage: "[OPTIONS] TERM",
    about: "Search Docker Hub (or a registry, as HOST/TERM) for images",
    flags: &[
        list(
            "filter",
            Some('f'),
            "Filter output based on conditions provided",
        ),
        value(
            "format",
            None,
            "string",
            "Pretty-print search using a Go template",
        ),
        value("limit", None, "int", "Max number of search results"),
        switch("no-trunc", None, "Don't truncate output"),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

const HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

pub async fn search(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let filters: Vec<String> = p.list("filter");
    let mut pairs = vec![("term", p.args[0].clone())];
    if let Some(l) = p.string("limit") {
        pairs.push(("limit", l.to_string()));
    }
    if let Some(f) = filters_json(spec, &filters)? {
        pairs.push(("filters", f));
    }
    let results: Vec<Value> = ctx
        .client
        .get_json(&format!("/images/search{}", query(&pairs)))
        .await?;
    let trunc = !p.bool("no-trunc");
    let rows: Vec<Value> = results
        .iter()
        .map(|r| {
            let desc = r["description"].as_str().unwrap_or_default();
            let desc = if trunc && desc.chars().count() > 45 {
                format!("{}...", desc.chars().take(42).collect::<String>())
            } else {
                desc.to_string()
            };
            serde_json::json!({
                "Name": r["name"],
                "Description": desc,
                "StarCount": r["star_count"].as_u64().unwrap_or(0).to_string(),
                "IsOfficial": if r["is_official"].as_bool() == Some(true) { "[OK]" } else { "" },
                "IsAutomated": if r["is_automated"].as_bool() == Some(true) { "[OK]" } else { "" },
            })
        })
        .collect();
    let f = Format::new(
        p.string("format"),
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
    )?;
    out(&f.render(&rows, HEADERS)?);
    Ok(())
}
