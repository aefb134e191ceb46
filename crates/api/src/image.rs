//! Image endpoints: list entries, inspect, history, delete and prune answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `GET /images/json` (read leniently: a left-out field is its default, -1 for the
/// counts Docker computes only when asked; Docker's `null` for a list or map the empty one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
    /// -1: not computed (as Docker answers unless asked).
    #[serde(default = "not_computed")]
    pub shared_size: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// -1: not computed.
    #[serde(default = "not_computed")]
    pub containers: i64,
}

fn not_computed() -> i64 {
    -1
}

/// Docker's `null` for an empty list or map (its Go nil) read as the empty value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub docker_version: String,
    pub author: String,
    pub config: ImageConfig,
    /// The legacy `ContainerConfig` (Docker dropped it in API 1.45). Berth still sends it, the
    /// same as `Config`: docker-compose 1.29 reads `ContainerConfig.Volumes` when it recreates a
    /// container and fails without it; newer clients ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ImageConfig>,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    pub size: i64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: ImageMetadata,
}

/// The run-time defaults of an image (`Config` of image inspect), as API 1.50 shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// `GraphDriver` of inspect: the storage driver and its paths (`Data` is `null` from Docker's
/// containerd image store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub data: BTreeMap<String, String>,
}

/// `RootFS` of inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

/// `Metadata` of inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// One line of `GET /images/{name}/history`, newest first (read leniently: a left-out field is
/// its default, `null` tags none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

/// One item of `DELETE /images/{name}` and of prune's `ImagesDeleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteResponseItem {
    Untagged(String),
    Deleted(String),
}

/// `POST /build/prune` (read leniently: `null` deletions as none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCachePruneResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub caches_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `POST /images/prune` (read leniently: `null` deletions as none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub images_deleted: Vec<DeleteResponseItem>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_items_are_one_key_objects() {
        let items = vec![
            DeleteResponseItem::Untagged("busybox:latest".into()),
            DeleteResponseItem::Deleted("sha256:ab".into()),
        ];
        assert_eq!(
            serde_json::to_string(&items).unwrap_or_default(),
            r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:ab"}]"#
        );
    }
}
