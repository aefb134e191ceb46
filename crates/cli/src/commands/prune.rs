//! `system prune` (containers, networks, volumes, images and build cache in docker's order) and
//! what every prune shares: the request with its filters, the printing of the answers and the
//! `Total reclaimed space` line (`image prune`, `container prune`, `network prune`).

use super::{filters_json, out, Ctx};
use crate::client::query;
use crate::error::Result;
use crate::flags::{list, switch, Args, Parsed, Spec};
use crate::units;
use serde_json::Value;

pub const PRUNE: Spec = Spec {
    name: "system prune",
    usage: "[OPTIONS]",
    about: "Remove unused data",
    flags: &[
        switch(
            "all",
            Some('a'),
            "Remove all unused images not just dangling ones",
        ),
        list(
            "filter",
            None,
            "Provide filter values (e.g. \"label=<key>=<value>\")",
        ),
        switch("force", Some('f'), "Do not prompt for confirmation"),
        switch("volumes", None, "Prune anonymous volumes"),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth system prune`: containers, networks, images, build cache, in docker's order.
pub async fn prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let all = p.bool("all");
    let mut warn = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if p.bool("volumes") {
        warn.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warn.push_str(if all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    warn.push_str(if all {
        "  - all build cache\n"
    } else {
        "  - unused build cache\n"
    });
    if !p.bool("force") && !super::confirm(&format!("{warn}\nAre you sure you want to continue?")) {
        return Ok(());
    }
    let filters = p.list("filter");
    let mut total = 0i64;
    let c = post_prune(ctx, spec, "/containers/prune", &filters).await?;
    total += print_pruned(&c, "ContainersDeleted", "Deleted Containers:");
    if let Ok(n) = post_prune(ctx, spec, "/networks/prune", &filters).await {
        print_pruned(&n, "NetworksDeleted", "Deleted Networks:");
    }
    if p.bool("volumes") {
        if let Ok(v) = post_prune(ctx, spec, "/volumes/prune", &filters).await {
            total += print_pruned(&v, "VolumesDeleted", "Deleted Volumes:");
        }
    }
    let mut ifilters = filters.clone();
    ifilters.push(format!("dangling={}", !all));
    let i = post_prune(ctx, spec, "/images/prune", &ifilters).await?;
    total += print_images_pruned(&i);
    if let Ok(b) = ctx
        .client
        .post_for_json::<Value>(&format!(
            "/build/prune{}",
            if all { "?all=1&filters=" } else { "?filters=" }
        ))
        .await
    {
        total += print_pruned(&b, "CachesDeleted", "Deleted build cache objects:");
    }
    print_total(total);
    Ok(())
}

/// `POST <path>?filters=...`: one prune with the command's `--filter` values.
pub async fn post_prune(ctx: &Ctx, spec: &Spec, path: &str, filters: &[String]) -> Result<Value> {
    let q = query(
        &filters_json(spec, filters)?
            .map(|f| vec![("filters", f)])
            .unwrap_or_default(),
    );
    ctx.client.post_for_json(&format!("{path}{q}")).await
}

/// docker's last line of a prune.
pub fn print_total(total: i64) {
    out(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(total as f64)
    ));
}

/// A prune answer's deleted list under `title`, then a blank line (nothing when none went).
pub fn pruned_text(v: &Value, key: &str, title: &str) -> String {
    let items: Vec<&str> = v
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if items.is_empty() {
        String::new()
    } else {
        format!("{title}\n{}\n\n", items.join("\n"))
    }
}

/// Prints a prune answer's deleted list under `title`; returns the reclaimed bytes.
pub fn print_pruned(v: &Value, key: &str, title: &str) -> i64 {
    out(&pruned_text(v, key, title));
    v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0)
}

/// Prints an image prune answer (`untagged: ...` / `deleted: ...`); returns the reclaimed bytes.
pub fn print_images_pruned(v: &Value) -> i64 {
    let items: Vec<String> = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            d.get("Untagged")
                .and_then(Value::as_str)
                .map(|u| format!("untagged: {u}"))
                .or_else(|| {
                    d.get("Deleted")
                        .and_then(Value::as_str)
                        .map(|x| format!("deleted: {x}"))
                })
        })
        .collect();
    if !items.is_empty() {
        out(&format!("Deleted Images:\n{}\n\n", items.join("\n")));
    }
    v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0)
}
