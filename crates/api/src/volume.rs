//! Volume endpoints: `/volumes` list, inspect, create, remove and prune bodies, the volume entries
//! of `/system/df`, and `VolumeOptions` of a `--mount type=volume` in a create request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A volume as list, inspect and create answer it (`/system/df` adds `UsageData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// `<data-root>/volumes/NAME/_data` for the local driver; where a plugin says otherwise.
    pub mountpoint: String,
    /// RFC 3339, seconds precision.
    pub created_at: String,
    /// A plugin's own status object; absent for the local driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, Value>>,
    /// Docker answers `null` when there are none.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `local` or `global`.
    pub scope: String,
    /// The driver options the volume was created with; `null` when none.
    pub options: Option<BTreeMap<String, String>>,
    /// Only in `/system/df`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// Docker's `null` for an empty map or list (its Go nil) read as the empty value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `UsageData` of a volume in `/system/df`: `-1` when not computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// `POST /volumes/create` body (every field optional; docker-py sends `null` for the maps).
/// Written as the docker CLI writes it: the fields it leaves empty are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /volumes` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub volumes: Vec<Volume>,
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumePruneResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `VolumeOptions` of a mount of type `volume` (`--mount type=volume,volume-nocopy,
/// volume-label=k=v,volume-driver=d,volume-opt=k=v`); unset fields left out, as Docker writes
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
    /// A directory inside the volume to mount instead of its root (API 1.45).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `VolumeOptions.DriverConfig`; unset fields left out (the docker CLI sends `{}` when only
/// labels were given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_of_every_client_decode() {
        // The docker CLI.
        let cli: VolumeCreateRequest = serde_json::from_value(json!({
            "Driver": "local", "DriverOpts": {}, "Labels": {"a": "b"}, "Name": "v"
        }))
        .unwrap();
        assert_eq!(cli.name.as_deref(), Some("v"));
        assert_eq!(cli.labels.unwrap()["a"], "b");
        // docker-py: nulls for what was not given.
        let py: VolumeCreateRequest = serde_json::from_value(json!({
            "Name": null, "Driver": null, "DriverOpts": null
        }))
        .unwrap();
        assert_eq!(py, VolumeCreateRequest::default());
    }

    #[test]
    fn volumes_encode_like_docker() {
        let v = Volume {
            name: "v".into(),
            driver: "local".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["Options"], Value::Null);
        assert_eq!(j["Labels"], json!({}));
        assert!(j.get("Status").is_none() && j.get("UsageData").is_none());
        let opts: VolumeOptions = serde_json::from_value(json!({
            "NoCopy": true, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}
        }))
        .unwrap();
        assert!(opts.no_copy);
        // Docker's own answers carry nulls for its empty maps and lists.
        let list: VolumeListResponse = serde_json::from_value(json!({
            "Volumes": [{"Name": "v", "Labels": null, "Options": null}], "Warnings": null
        }))
        .unwrap();
        assert!(list.volumes[0].labels.is_empty() && list.warnings.is_empty());
        let pruned: VolumePruneResponse =
            serde_json::from_value(json!({"VolumesDeleted": null, "SpaceReclaimed": 0})).unwrap();
        assert!(pruned.volumes_deleted.is_empty());
        assert_eq!(
            opts.driver_config.unwrap().options.unwrap()["type"],
            "tmpfs"
        );
    }
}
