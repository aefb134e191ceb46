//! The `HostConfig` fields Berth does not act on, refused by name at create and update instead of
//! taken and ignored (issue #15: no request is silently answered with something else). A field
//! counts as given when it holds something: the docker CLI sends most of them empty or zero in
//! every create, and those pass.

use berth_api::container::{ContainerUpdateRequest, HostConfig};

use super::error::ApiError;

/// Why each field is refused, in the words of the error.
const CGROUP_PARENT: &str = "containers are placed in Berth's own cgroup (/berth/<id>)";
const BLKIO_DEVICE: &str = "per-device block I/O limits are not built (BlkioWeight is)";
const DEVICE_CGROUP_RULES: &str = "device cgroup rules are not built (--device is)";
const DEVICE_REQUESTS: &str = "device requests (--gpus) are not built";
const WINDOWS_ONLY: &str = "it applies to Windows containers only";
const ANNOTATIONS: &str = "OCI annotations are not passed to the runtime";
const STORAGE_OPT: &str = "the storage driver takes no per-container options";

fn refuse(field: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "HostConfig.{field} is not supported by Berth: {why}"
    ))
}

fn given<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Refuses a create whose `HostConfig` gives a field Berth would ignore.
pub fn refuse_in_create(host: &HostConfig) -> Result<(), ApiError> {
    if host.cgroup_parent.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(refuse("CgroupParent", CGROUP_PARENT));
    }
    if host.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(refuse("Annotations", ANNOTATIONS));
    }
    if host.storage_opt.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(refuse("StorageOpt", STORAGE_OPT));
    }
    if !matches!(host.isolation.as_deref().unwrap_or(""), "" | "default") {
        return Err(refuse(
            "Isolation",
            "only \"default\" isolation exists on Linux",
        ));
    }
    common(
        &[
            ("BlkioWeightDevice", given(&host.blkio_weight_device)),
            ("BlkioDeviceReadBps", given(&host.blkio_device_read_bps)),
            ("BlkioDeviceWriteBps", given(&host.blkio_device_write_bps)),
            ("BlkioDeviceReadIOps", given(&host.blkio_device_read_iops)),
            ("BlkioDeviceWriteIOps", given(&host.blkio_device_write_iops)),
        ],
        given(&host.device_cgroup_rules),
        given(&host.device_requests),
        [
            host.cpu_count,
            host.cpu_percent,
            host.io_maximum_iops,
            host.io_maximum_bandwidth,
        ],
    )
}

/// Refuses an update that gives a field Berth would ignore.
pub fn refuse_in_update(req: &ContainerUpdateRequest) -> Result<(), ApiError> {
    if req.cgroup_parent.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(refuse("CgroupParent", CGROUP_PARENT));
    }
    common(
        &[
            ("BlkioWeightDevice", given(&req.blkio_weight_device)),
            ("BlkioDeviceReadBps", given(&req.blkio_device_read_bps)),
            ("BlkioDeviceWriteBps", given(&req.blkio_device_write_bps)),
            ("BlkioDeviceReadIOps", given(&req.blkio_device_read_iops)),
            ("BlkioDeviceWriteIOps", given(&req.blkio_device_write_iops)),
        ],
        given(&req.device_cgroup_rules),
        given(&req.device_requests),
        [
            req.cpu_count,
            req.cpu_percent,
            req.io_maximum_iops,
            req.io_maximum_bandwidth,
        ],
    )
}

fn common(
    blkio: &[(&str, bool)],
    cgroup_rules: bool,
    requests: bool,
    windows: [i64; 4],
) -> Result<(), ApiError> {
    if let Some((field, _)) = blkio.iter().find(|(_, set)| *set) {
        return Err(refuse(field, BLKIO_DEVICE));
    }
    if cgroup_rules {
        return Err(refuse("DeviceCgroupRules", DEVICE_CGROUP_RULES));
    }
    if requests {
        return Err(refuse("DeviceRequests", DEVICE_REQUESTS));
    }
    let names = [
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
    ];
    if let Some((field, _)) = names.iter().zip(windows).find(|(_, v)| *v != 0) {
        return Err(refuse(field, WINDOWS_ONLY));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(json: &str) -> HostConfig {
        serde_json::from_str(json).expect("a HostConfig")
    }

    #[test]
    fn what_the_docker_cli_sends_empty_passes() {
        let cli = r#"{"CgroupParent":"","BlkioWeightDevice":[],"BlkioDeviceReadBps":[],
            "BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],
            "DeviceCgroupRules":null,"DeviceRequests":null,"CpuCount":0,"CpuPercent":0,
            "IOMaximumIOps":0,"IOMaximumBandwidth":0,"Isolation":""}"#;
        assert!(refuse_in_create(&host(cli)).is_ok());
        assert!(refuse_in_create(&HostConfig::default()).is_ok());
    }

    #[test]
    fn each_ignored_field_is_refused_by_name() {
        for (json, field) in [
            (r#"{"CgroupParent":"/mine"}"#, "CgroupParent"),
            (
                r#"{"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":1}]}"#,
                "BlkioDeviceReadBps",
            ),
            (
                r#"{"DeviceCgroupRules":["c 1:3 rwm"]}"#,
                "DeviceCgroupRules",
            ),
            (
                r#"{"DeviceRequests":[{"Count":-1,"Capabilities":[["gpu"]]}]}"#,
                "DeviceRequests",
            ),
            (r#"{"CpuPercent":50}"#, "CpuPercent"),
            (r#"{"Annotations":{"a":"b"}}"#, "Annotations"),
            (r#"{"StorageOpt":{"size":"1G"}}"#, "StorageOpt"),
            (r#"{"Isolation":"hyperv"}"#, "Isolation"),
        ] {
            let err = refuse_in_create(&host(json)).expect_err(json);
            assert!(
                err.0
                    .to_string()
                    .contains(&format!("HostConfig.{field} is not supported")),
                "{json}: {}",
                err.0
            );
        }
    }
}
