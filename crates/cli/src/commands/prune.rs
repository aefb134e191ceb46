//! `system prune` (containers, networks, volumes, images and build cache in docker's order) and
//! the printing of prune answers shared with `image prune` and `container prune`.

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
    let cf = filters_json(spec, &filters)?;
    let q =
        |f: &Option<String>| query(&f.iter().map(|f| ("filters", f.clone())).collect::<Vec<_>>());
    let c: Value = ctx
        .client
        .post_for_json(&format!("/containers/prune{}", q(&cf)))
        .await?;
    total += print_pruned(&c, "ContainersDeleted", "Deleted Containers:");
    let n: Result<Value> = ctx
        .client
        .post_for_json(&format!("/networks/prune{}", q(&cf)))
        .await;
    if let Ok(n) = n {
        print_pruned(&n, "NetworksDeleted", "Deleted Networks:");
    }
    if p.bool("volumes") {
        if let Ok(v) = ctx
            .client
            .post_for_json::<Value>(&format!("/volumes/prune{}", q(&cf)))
            .await
        {
            total += print_pruned(&v, "VolumesDeleted", "Deleted Volumes:");
        }
    }
    let mut ifilters = filters.clone();
    ifilters.push(format!("dangling={}", !all));
    let i: Value = ctx
        .client
        .post_for_json(&format!(
            "/images/prune{}",
            q(&filters_json(spec, &ifilters)?)
        ))
        .await?;
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
    out(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(total as f64)
    ));
    Ok(())
}

/// Prints a prune answer's deleted list under `title`; returns the reclaimed bytes.
pub fn print_pruned(v: &Value, key: &str, title: &str) -> i64 {
    let items: Vec<&str> = v
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !items.is_empty() {
        out(&format!("{title}\n{}\n\n", items.join("\n")));
    }
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
