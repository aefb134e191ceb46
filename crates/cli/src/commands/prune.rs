//! `system prune` (containers, networks, volumes, images and build cache in docker's order),
//! `builder prune`, and what every prune shares: the request with its filters, the printing of the answers and the
//! `Total reclaimed space` line (`image prune`, `container prune`, `network prune`).

use super::{filters_json, out, Ctx};
use crate::client::query;
use crate::error::Result;
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::units;
use berth_api::container::ContainerPruneResponse;
use berth_api::image::{BuildCachePruneResponse, DeleteResponseItem, ImagePruneResponse};
use berth_api::network::NetworkPruneResponse;
use berth_api::volume::VolumePruneResponse;
use serde::de::DeserializeOwned;

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
    let c: ContainerPruneResponse = post_prune(ctx, spec, "/containers/prune", &filters).await?;
    total += print_pruned(
        c.containers_deleted.as_deref().unwrap_or_default(),
        "Deleted Containers:",
        c.space_reclaimed,
    );
    if let Ok(n) = post_prune::<NetworkPruneResponse>(ctx, spec, "/networks/prune", &filters).await
    {
        print_pruned(&n.networks_deleted, "Deleted Networks:", 0);
    }
    if p.bool("volumes") {
        if let Ok(v) =
            post_prune::<VolumePruneResponse>(ctx, spec, "/volumes/prune", &filters).await
        {
            total += print_pruned(&v.volumes_deleted, "Deleted Volumes:", v.space_reclaimed);
        }
    }
    let mut ifilters = filters.clone();
    ifilters.push(format!("dangling={}", !all));
    let i = post_prune(ctx, spec, "/images/prune", &ifilters).await?;
    total += print_images_pruned(&i);
    if let Ok(b) = ctx
        .client
        .post_for_json::<BuildCachePruneResponse>(&format!(
            "/build/prune{}",
            if all { "?all=1&filters=" } else { "?filters=" }
        ))
        .await
    {
        total += print_pruned(
            &b.caches_deleted,
            "Deleted build cache objects:",
            b.space_reclaimed,
        );
    }
    print_total(total);
    Ok(())
}

pub const BUILDER_PRUNE: Spec = Spec {
    name: "builder prune",
    usage: "[OPTIONS]",
    about: "Remove build cache",
    flags: &[
        switch(
            "all",
            Some('a'),
            "Remove all unused build cache, not just dangling ones",
        ),
        list("filter", None, "Provide filter values (e.g. \"until=24h\")"),
        switch("force", Some('f'), "Do not prompt for confirmation"),
        value(
            "keep-storage",
            None,
            "bytes",
            "Amount of disk space to keep for cache",
        ),
    ],
    args: Args::None,
    stop_at_positional: false,
};

/// `berth builder prune`: `POST /build/prune` with `all`, `keep-storage` and the filters, after
/// docker's prompt.
pub async fn builder_prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let all = p.bool("all");
    let keep = match p.string("keep-storage") {
        Some(text) => units::ram_in_bytes(text)
            .map_err(|e| spec.invalid_value("keep-storage", text, &e.to_string()))?,
        None => 0,
    };
    let warning = if all {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    if !p.bool("force") && !super::confirm(warning) {
        return Ok(());
    }
    // As the docker CLI's url.Values: sorted keys, `filters` always there (empty for none).
    let mut params: Vec<(&str, String)> = Vec::new();
    if all {
        params.push(("all", "1".to_string()));
    }
    let filters = filters_json(spec, &p.list("filter"))?.unwrap_or_default();
    params.push(("filters", filters));
    if keep != 0 {
        params.push(("keep-storage", keep.to_string()));
    }
    let b: BuildCachePruneResponse = ctx
        .client
        .post_for_json(&format!("/build/prune{}", query(&params)))
        .await?;
    print_total(print_pruned(
        &b.caches_deleted,
        "Deleted build cache objects:",
        b.space_reclaimed,
    ));
    Ok(())
}

/// `POST <path>?filters=...`: one prune with the command's `--filter` values, its answer as
/// the route's `berth_api` type.
pub async fn post_prune<T: DeserializeOwned>(
    ctx: &Ctx,
    spec: &Spec,
    path: &str,
    filters: &[String],
) -> Result<T> {
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
pub fn pruned_text(items: &[String], title: &str) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("{title}\n{}\n\n", items.join("\n"))
    }
}

/// Prints a prune answer's deleted list under `title`; returns the reclaimed bytes.
pub fn print_pruned(items: &[String], title: &str, reclaimed: u64) -> i64 {
    out(&pruned_text(items, title));
    i64::try_from(reclaimed).unwrap_or(i64::MAX)
}

/// Prints an image prune answer (`untagged: ...` / `deleted: ...`); returns the reclaimed bytes.
pub fn print_images_pruned(v: &ImagePruneResponse) -> i64 {
    let items: Vec<String> = v
        .images_deleted
        .iter()
        .map(|d| match d {
            DeleteResponseItem::Untagged(u) => format!("untagged: {u}"),
            DeleteResponseItem::Deleted(x) => format!("deleted: {x}"),
        })
        .collect();
    if !items.is_empty() {
        out(&format!("Deleted Images:\n{}\n\n", items.join("\n")));
    }
    i64::try_from(v.space_reclaimed).unwrap_or(i64::MAX)
}
