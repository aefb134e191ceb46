//! `system df -v`: the four detailed sections docker prints from one `GET /system/df` answer —
//! images (first tag of each), containers (without their virtual size), local volumes (links
//! and size from `UsageData`) and build cache — each its own aligned table.

use super::images::image_rows;
use super::ps::container_row;
use super::volume::ls_row;
use crate::error::{CliError, Result};
use crate::format::Format;
use crate::units;
use berth_api::container::ContainerSummary;
use berth_api::image::ImageSummary;
use berth_api::system::{BuildCache, DiskUsage};
use berth_api::volume::Volume;
use serde_json::{json, Value};

const IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("Size", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];
const CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const CONTAINER_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Size", "SIZE"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("Names", "NAMES"),
];
const VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];
const CACHE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";
const CACHE_HEADERS: &[(&str, &str)] = &[
    ("ID", "CACHE ID"),
    ("CacheType", "CACHE TYPE"),
    ("Size", "SIZE"),
    ("CreatedSince", "CREATED"),
    ("LastUsedSince", "LAST USED"),
    ("UsageCount", "USAGE"),
    ("Shared", "SHARED"),
];

/// An image's row: its first tag only (`<none>` when it has none), the unique size computed.
fn image_row(img: &ImageSummary, now: i64) -> Option<Value> {
    let mut row = image_rows(img, false, false, now).into_iter().next()?;
    let (size, shared) = (img.size, img.shared_size);
    row["UniqueSize"] = json!(if size < 0 || shared < 0 {
        "N/A".to_string()
    } else {
        units::human_size(size.saturating_sub(shared) as f64)
    });
    Some(row)
}

/// A container's row, its virtual size left out as docker does here.
fn container(c: ContainerSummary, now: i64) -> Value {
    let c = ContainerSummary {
        size_root_fs: None,
        ..c
    };
    container_row(&c, true, now)
}

/// A build cache record's row (`*` marks one in use).
fn cache_row(b: &BuildCache, now: i64) -> Value {
    let since = |t: &str| {
        units::parse_rfc3339(t)
            .map(|t| units::ago(t, now))
            .unwrap_or_default()
    };
    let mut id = crate::format::short_id(&b.id);
    if b.in_use {
        id.push('*');
    }
    json!({
        "ID": id,
        "CacheType": b.kind,
        "Size": units::human_size_precision(b.size as f64, 3),
        "CreatedSince": since(&b.created_at),
        "LastUsedSince": since(b.last_used_at.as_deref().unwrap_or_default()),
        "UsageCount": b.usage_count.to_string(),
        "Shared": b.shared.to_string(),
    })
}

fn table(template: &str, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
    Format::new(None, template)?.render(rows, headers)
}

/// The verbose report for a `/system/df` answer; a user `--format` other than `table` renders
/// once against the four lists (`{{json .}}`, `{{range .Volumes}}...`).
pub fn verbose(df: &DiskUsage, format: Option<&str>, now: i64) -> Result<String> {
    let images: Vec<Value> = df.images.iter().filter_map(|i| image_row(i, now)).collect();
    let containers: Vec<Value> = df
        .containers
        .iter()
        .map(|c| container(c.clone(), now))
        .collect();
    let mut volumes = Vec::new();
    for v in &df.volumes {
        let v: Volume = serde_json::from_value(v.clone())
            .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))?;
        volumes.push(ls_row(&v));
    }
    // docker's order: least recently used first (never used before all), then by ID.
    let mut caches: Vec<&BuildCache> = df.build_cache.iter().collect();
    caches.sort_by_cached_key(|b| {
        let used = b.last_used_at.as_deref().and_then(units::parse_rfc3339);
        (used.unwrap_or(i64::MIN), b.id.clone())
    });
    let cache_size: i64 = caches.iter().filter(|b| !b.shared).map(|b| b.size).sum();
    let cache: Vec<Value> = caches.iter().map(|b| cache_row(b, now)).collect();
    if let Some(f) = format
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "table")
    {
        let all = json!({"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache});
        return Format::new(Some(f), "table")?.render(&[all], &[]);
    }
    Ok(format!(
        "Images space usage:\n\n{}\nContainers space usage:\n\n{}\nLocal Volumes space usage:\n\n{}\nBuild cache usage: {}\n\n{}",
        table(IMAGES, &images, IMAGE_HEADERS)?,
        table(CONTAINERS, &containers, CONTAINER_HEADERS)?,
        table(VOLUMES, &volumes, VOLUME_HEADERS)?,
        units::human_size(cache_size as f64),
        table(CACHE, &cache, CACHE_HEADERS)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_read_like_docker() {
        let df = json!({
            "LayersSize": 4_400_000,
            "Images": [{"Id": "sha256:0123456789abcdef", "RepoTags": ["busybox:latest", "bb:1"],
                        "Created": 1_000, "Size": 4_400_000, "SharedSize": 0, "Containers": 1}],
            "Containers": [{"Id": "fedcba9876543210", "Names": ["/web"], "Image": "busybox",
                            "ImageID": "sha256:0123456789abcdef", "Command": "sleep 1000",
                            "Created": 1_000, "SizeRw": 12, "SizeRootFs": 4_400_012,
                            "State": "running", "Status": "Up 2 minutes",
                            "Mounts": [{"Type": "volume", "Name": "data", "Driver": "local"}]}],
            "Volumes": [{"Name": "data", "Driver": "local", "Labels": null,
                         "UsageData": {"Size": 2048, "RefCount": 1}}],
            "BuildCache": []
        });
        let df: DiskUsage = serde_json::from_value(df).unwrap();
        let text = verbose(&df, None, 1_000 + 7_200).unwrap();
        let want = "Images space usage:\n\n\
            REPOSITORY   TAG       IMAGE ID       CREATED       SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\n\
            busybox      latest    0123456789ab   2 hours ago   4.4MB     0B            4.4MB         1\n\n\
            Containers space usage:\n\n\
            CONTAINER ID   IMAGE     COMMAND        LOCAL VOLUMES   SIZE      CREATED       STATUS         NAMES\n\
            fedcba987654   busybox   \"sleep 1000\"   1               12B       2 hours ago   Up 2 minutes   web\n\n\
            Local Volumes space usage:\n\n\
            VOLUME NAME   LINKS     SIZE\n\
            data          1         2.048kB\n\n\
            Build cache usage: 0B\n\n\
            CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n";
        assert_eq!(text, want);
        let names = verbose(&df, Some("{{range .Volumes}}{{.Name}}{{end}}"), 0).unwrap();
        assert_eq!(names, "data\n");
    }
}
