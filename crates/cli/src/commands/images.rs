//! Image commands over the API: `images`, `rmi`, `tag`, `history` and `image prune`.

use super::{filters_json, for_each, out, Ctx};
use crate::client::{encode_path, query};
use crate::error::Result;
use crate::flags::{list, switch, value, Args, Parsed, Spec};
use crate::format::{ellipsis, short_id, Format};
use crate::units;
use berth_api::image::{DeleteResponseItem, HistoryItem, ImageSummary};
use serde_json::{json, Value};

/// `Untagged: x` / `Deleted: x`, as `rmi` and `image prune` print a removal.
pub fn deleted_line(d: &DeleteResponseItem) -> String {
    match d {
        DeleteResponseItem::Untagged(u) => format!("Untagged: {u}"),
        DeleteResponseItem::Deleted(x) => format!("Deleted: {x}"),
    }
}

const FORMAT_HELP: &str =
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'";

pub const IMAGES: Spec = Spec {
    name: "images",
    usage: "[OPTIONS] [REPOSITORY[:TAG]]",
    about: "List images",
    flags: &[
        switch(
            "all",
            Some('a'),
            "Show all images (default hides intermediate images)",
        ),
        switch("digests", None, "Show digests"),
        list(
            "filter",
            Some('f'),
            "Filter output based on conditions provided",
        ),
        value("format", None, "string", FORMAT_HELP),
        switch("no-trunc", None, "Don't truncate output"),
        switch("quiet", Some('q'), "Only show image IDs"),
        switch(
            "tree",
            None,
            "List multi-platform images as a tree (EXPERIMENTAL)",
        ),
    ],
    args: Args::Range(0, 1),
    stop_at_positional: false,
};

/// One image list entry as rows for the table (one per tag), with docker's context fields.
pub fn image_rows(img: &ImageSummary, no_trunc: bool, show_digest: bool, now: i64) -> Vec<Value> {
    let id = if no_trunc {
        img.id.clone()
    } else {
        short_id(&img.id)
    };
    let (created, size) = (img.created, img.size);
    let digests = &img.repo_digests;
    let mut tags: Vec<(String, String)> = img
        .repo_tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .map(|t| {
            let (repo, tag) = split_tag(t);
            (repo, tag.unwrap_or_else(|| "latest".into()))
        })
        .collect();
    if tags.is_empty() {
        let repo = digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(r, _)| r.to_string())
            .unwrap_or_else(|| "<none>".into());
        tags.push((repo, "<none>".into()));
    }
    tags.into_iter()
        .map(|(repo, tag)| {
            let digest = show_digest
                .then(|| digests.iter().find_map(|d| d.split_once('@').filter(|(r, _)| *r == repo).map(|(_, h)| h.to_string()))).flatten().unwrap_or_else(|| "<none>".into());
            json!({
                "Containers": match img.containers { n if n >= 0 => n.to_string(), _ => "N/A".into() },
                "CreatedAt": units::go_time(created),
                "CreatedSince": units::ago(created, now),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": match img.shared_size { n if n >= 0 => units::human_size_precision(n as f64, 3), _ => "N/A".into() },
                "Size": units::human_size_precision(size as f64, 3),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": units::human_size(size as f64),
            })
        })
        .collect()
}

/// docker's normalised repository name: `busybox` → `docker.io/library/busybox`, `me/app` →
/// `docker.io/me/app`; names with a registry host (`a.b/x`, `host:5000/x`, `localhost/x`) stay.
pub fn normalize_repo(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            repo.to_string()
        }
        Some(_) => format!("docker.io/{repo}"),
        None => format!("docker.io/library/{repo}"),
    }
}

/// Splits `repo[:tag]` at the last colon after the last slash.
pub fn split_tag(r: &str) -> (String, Option<String>) {
    let name = r.split_once('@').map(|(n, _)| n).unwrap_or(r);
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[slash..].rfind(':') {
        Some(i) => (
            name[..slash + i].to_string(),
            Some(name[slash + i + 1..].to_string()),
        ),
        None => (name.to_string(), None),
    }
}

/// `berth images`: `GET /images/json`.
pub async fn images(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let mut filters = p.list("filter");
    if let Some(r) = p.args.first() {
        filters.push(format!("reference={r}"));
    }
    let mut q = Vec::new();
    if p.bool("all") {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(spec, &filters)? {
        q.push(("filters", f));
    }
    let list: Vec<ImageSummary> = ctx
        .client
        .get_json(&format!("/images/json{}", query(&q)))
        .await?;
    let now = units::now_unix();
    let no_trunc = p.bool("no-trunc");
    // docker fills DIGEST only when asked for (--digests, or a format naming .Digest).
    let show_digest =
        p.bool("digests") || p.string("format").is_some_and(|f| f.contains(".Digest"));
    let rows: Vec<Value> = list
        .iter()
        .flat_map(|i| image_rows(i, no_trunc, show_digest, now))
        .collect();
    if p.bool("quiet") && p.string("format").is_none() {
        // One ID per row, as docker 28 prints them (no de-duplication).
        out(&rows
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect::<String>());
        return Ok(());
    }
    let default = if p.bool("digests") {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let f = Format::new(p.string("format"), default)?;
    out(&f.render(&rows, IMAGE_HEADERS)?);
    Ok(())
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("Containers", "CONTAINERS"),
];

pub const RMI: Spec = Spec {
    name: "rmi",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    about: "Remove one or more images",
    flags: &[
        switch("force", Some('f'), "Force removal of the image"),
        switch("no-prune", None, "Do not delete untagged parents"),
    ],
    args: Args::AtLeast(1),
    stop_at_positional: false,
};

/// `berth rmi`: `DELETE /images/{name}` per image, printing `Untagged:`/`Deleted:` lines.
pub async fn rmi(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let mut q = Vec::new();
    if p.bool("force") {
        q.push(("force", "1".to_string()));
    }
    if p.bool("no-prune") {
        q.push(("noprune", "1".to_string()));
    }
    let q = query(&q);
    for_each(&p.args, |name| {
        let path = format!("/images/{}{q}", encode_path(&name));
        async move {
            let raw = ctx.client.delete(&path).await?;
            let items: Vec<DeleteResponseItem> = serde_json::from_slice(&raw).unwrap_or_default();
            let lines: Vec<String> = items.iter().map(deleted_line).collect();
            Ok((!lines.is_empty()).then(|| lines.join("\n")))
        }
    })
    .await
}

pub const TAG: Spec = Spec {
    name: "tag",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    about: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    flags: &[],
    args: Args::Exact(2),
    stop_at_positional: false,
};

/// `berth tag`: `POST /images/{src}/tag?repo=&tag=`.
pub async fn tag(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let (repo, tag) = split_tag(&p.args[1]);
    let q = query(&[
        ("repo", normalize_repo(&repo)),
        ("tag", tag.unwrap_or_else(|| "latest".into())),
    ]);
    ctx.client
        .post(&format!("/images/{}/tag{q}", encode_path(&p.args[0])))
        .await
}

pub const HISTORY: Spec = Spec {
    name: "history",
    usage: "[OPTIONS] IMAGE",
    about: "Show the history of an image",
    flags: &[
        value("format", None, "string", FORMAT_HELP),
        switch(
            "human",
            Some('H'),
            "Print sizes and dates in human readable format (default true)",
        ),
        switch("no-trunc", None, "Don't truncate output"),
        value(
            "platform",
            None,
            "string",
            "Show history for the given platform",
        ),
        switch("quiet", Some('q'), "Only show image IDs"),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// `berth history`: `GET /images/{name}/history`.
pub async fn history(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let list: Vec<HistoryItem> = ctx
        .client
        .get_json(&format!("/images/{}/history", encode_path(&p.args[0])))
        .await?;
    let human = p.bool_default_true("human");
    let no_trunc = p.bool("no-trunc");
    let now = units::now_unix();
    let rows: Vec<Value> = list
        .iter()
        .map(|h| {
            let id = if h.id.is_empty() || h.id == "<missing>" {
                "<missing>".to_string()
            } else if no_trunc {
                h.id.clone()
            } else {
                short_id(&h.id)
            };
            let (created, size) = (h.created, h.size);
            let by = h.created_by.replace('\t', " ");
            json!({
                "ID": id,
                "CreatedSince": if human { units::ago(created, now) } else { units::rfc3339(created) },
                "CreatedAt": units::rfc3339(created),
                "CreatedBy": if no_trunc { by } else { ellipsis(&by, 45) },
                "Size": if human { units::human_size_precision(size as f64, 3) } else { size.to_string() },
                "Comment": h.comment,
            })
        })
        .collect();
    if p.bool("quiet") && p.string("format").is_none() {
        out(&rows
            .iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect::<String>());
        return Ok(());
    }
    let f = Format::new(
        p.string("format"),
        if human {
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
        } else {
            "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
        },
    )?;
    out(&f.render(
        &rows,
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
    )?);
    Ok(())
}

pub const PRUNE: Spec = Spec {
    name: "image prune",
    usage: "[OPTIONS]",
    about: "Remove unused images",
    flags: &[
        switch(
            "all",
            Some('a'),
            "Remove all unused images, not just dangling ones",
        ),
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

/// `berth image prune`: `POST /images/prune?filters={"dangling":{"true":true}}` after a prompt.
pub async fn prune(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let all = p.bool("all");
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !p.bool("force")
        && !super::confirm(&format!("{warning}\nAre you sure you want to continue?"))
    {
        return Ok(());
    }
    let mut filters = p.list("filter");
    filters.insert(0, format!("dangling={}", !all));
    let v = super::prune::post_prune(ctx, spec, "/images/prune", &filters).await?;
    let total = super::prune::print_images_pruned(&v);
    super::prune::print_total(total);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags() {
        assert_eq!(split_tag("busybox"), ("busybox".into(), None));
        assert_eq!(
            split_tag("busybox:1.36"),
            ("busybox".into(), Some("1.36".into()))
        );
        assert_eq!(
            split_tag("localhost:5000/a/b:v1"),
            ("localhost:5000/a/b".into(), Some("v1".into()))
        );
        assert_eq!(
            split_tag("localhost:5000/a"),
            ("localhost:5000/a".into(), None)
        );
        assert_eq!(normalize_repo("busybox"), "docker.io/library/busybox");
        assert_eq!(normalize_repo("me/app"), "docker.io/me/app");
        assert_eq!(normalize_repo("localhost:5000/a"), "localhost:5000/a");
    }

    #[test]
    fn image_table_matches_docker_layout() {
        let img: ImageSummary = serde_json::from_value(json!({"Id": "sha256:0123456789abcdef0123", "RepoTags": ["busybox:latest", "bb:1"], "Created": 1000, "Size": 4_261_000})).unwrap();
        let rows = image_rows(&img, false, false, 1000 + 7200);
        // Counts the daemon left out read as not computed.
        assert_eq!(
            (
                rows[0]["Containers"].as_str(),
                rows[0]["SharedSize"].as_str()
            ),
            (Some("N/A"), Some("N/A"))
        );
        assert_eq!(rows.len(), 2);
        let f = Format::new(
            None,
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        )
        .unwrap();
        assert_eq!(
            f.render(&rows, IMAGE_HEADERS).unwrap(),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    0123456789ab   2 hours ago   4.26MB\n\
             bb           1         0123456789ab   2 hours ago   4.26MB\n"
        );
        let untagged: ImageSummary =
            serde_json::from_value(json!({"Id": "sha256:ab", "RepoTags": null})).unwrap();
        let untagged = image_rows(&untagged, true, true, 0);
        assert_eq!(untagged[0]["Repository"], "<none>");
        assert_eq!(untagged[0]["ID"], "sha256:ab");
    }
}
