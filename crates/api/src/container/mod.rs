//! Container endpoints, in two parts: [`create`]'s body (`Config` + `HostConfig` +
//! `NetworkingConfig`, also the update body) and [`inspect`]'s answers (inspect and list
//! entries); the small answers (wait, prune, top, changes, update, a path's stat) are here. Request
//! types accept sparse bodies (docker-py sends only what the user set) and `null` for any
//! collection; answers spell every field Docker's clients read. Everything is re-exported here:
//! `berth_api::container::HostConfig`.

use serde::{Deserialize, Serialize};

pub mod create;
pub mod inspect;

pub use create::*;
pub use inspect::*;

/// Docker's `null` for an empty list or map (its Go nil) read as the empty value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// docker-py sends `null` for the durations the user left out.
fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(0))
}

/// Docker's `ContainerPathStat`: a path in a container as `HEAD`/`GET /containers/{id}/archive`
/// describe it, base64 JSON in the [`PATH_STAT_HEADER`] header (read leniently).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: the permission bits and the type bits ([`Self::MODE_DIR`],
    /// [`Self::MODE_SYMLINK`], ...).
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// Where a symlink points; empty otherwise.
    pub link_target: String,
}

/// The header that carries a [`ContainerPathStat`].
pub const PATH_STAT_HEADER: &str = "x-docker-container-path-stat";

impl ContainerPathStat {
    /// Go's `os.ModeDir`.
    pub const MODE_DIR: u32 = 1 << 31;
    /// Go's `os.ModeSymlink`.
    pub const MODE_SYMLINK: u32 = 1 << 27;

    pub fn is_dir(&self) -> bool {
        self.mode & Self::MODE_DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & Self::MODE_SYMLINK != 0
    }
}

/// `POST /containers/{id}/wait` answer (read leniently, as every answer the CLI reads: a field
/// left out is its default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitResponse {
    pub status_code: i64,
    pub error: Option<WaitError>,
}

/// `Error` of a wait answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `POST /containers/prune` answer (read leniently: a left-out field is its default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerPruneResponse {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// `GET /containers/{id}/top` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One entry of `GET /containers/{id}/changes`: `Kind` 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn sparse_docker_py_create_body_parses() {
        let body = r#"{"Tty":false,"OpenStdin":false,"StdinOnce":false,"AttachStdin":false,
            "AttachStdout":true,"AttachStderr":true,"Cmd":["true"],"Image":"busybox",
            "NetworkDisabled":false,"HostConfig":{"NetworkMode":"default"}}"#;
        let req: ContainerCreateRequest = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(req.config.image, "busybox");
        assert_eq!(req.config.cmd, Some(vec!["true".to_string()]));
        assert_eq!(
            req.host_config.and_then(|h| h.network_mode),
            Some("default".to_string())
        );
    }

    #[test]
    fn cli_create_body_with_nulls_parses() {
        let body = r#"{"Image":"busybox","Cmd":["sh"],"Entrypoint":null,"Env":null,
            "Labels":{},"HostConfig":{"Binds":null,"AutoRemove":true,"ConsoleSize":[40,120],
            "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
            "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}},
            "NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#;
        let req: Result<ContainerCreateRequest, _> = serde_json::from_str(body);
        let req = req.map_err(|e| e.to_string());
        assert!(req.is_ok(), "{req:?}");
        let host = req.unwrap_or_default().host_config.unwrap_or_default();
        assert!(host.auto_remove);
        assert_eq!(host.console_size, Some([40, 120]));
        assert_eq!(host.restart_policy.map(|r| r.maximum_retry_count), Some(2));
    }

    #[test]
    fn omitempty_fields_are_left_out_and_the_rest_written_null() {
        let j = serde_json::to_value(ContainerCreateRequest::default()).unwrap_or_default();
        for absent in [
            "ExposedPorts",
            "Healthcheck",
            "StopSignal",
            "StopTimeout",
            "Shell",
        ] {
            assert!(j.get(absent).is_none(), "{absent}");
        }
        assert_eq!(j["Entrypoint"], Value::Null);
        assert_eq!(j["OnBuild"], Value::Null);
        let h = serde_json::to_value(HostConfig::default()).unwrap_or_default();
        for absent in [
            "Init",
            "Mounts",
            "Tmpfs",
            "Sysctls",
            "Runtime",
            "Annotations",
        ] {
            assert!(h.get(absent).is_none(), "{absent}");
        }
        for null in [
            "DeviceRequests",
            "BlkioDeviceReadIOps",
            "Binds",
            "PidsLimit",
        ] {
            assert_eq!(h[null], Value::Null, "{null}");
        }
        assert_eq!(
            (h["CpuCount"].as_i64(), h["IOMaximumIOps"].as_i64()),
            (Some(0), Some(0))
        );
        let m = Mount {
            kind: "volume".into(),
            target: "/d".into(),
            ..Mount::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap_or_default(),
            r#"{"Target":"/d","Type":"volume"}"#
        );
        let t = TmpfsOptions {
            mode: Some(0o700),
            ..TmpfsOptions::default()
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap_or_default(),
            r#"{"Mode":448}"#
        );
    }

    #[test]
    fn answers_with_dockers_nulls_and_gaps_read() {
        let inspect = r#"{"Id":"c1","Args":null,"Config":{"Tty":true},"Mounts":null,
            "State":{"Running":true,"Health":{"Status":"starting","Log":null}},
            "NetworkSettings":{"Ports":null,"Networks":null}}"#;
        let i: Result<ContainerInspect, _> = serde_json::from_str(inspect);
        let i = i.map_err(|e| e.to_string());
        assert!(i.is_ok(), "{i:?}");
        let i = i.unwrap_or_default();
        assert!(i.config.tty && i.state.running && i.args.is_empty());
        let list = r#"[{"Id":"c1","Names":null,"Labels":null,"Ports":[{"PrivatePort":80}],
            "Mounts":[{"Type":"volume","Name":"v","Driver":"local"}],"NetworkSettings":{}}]"#;
        let l: Result<Vec<ContainerSummary>, _> = serde_json::from_str(list);
        let l = l.map_err(|e| e.to_string());
        assert!(l.is_ok(), "{l:?}");
        let l = l.unwrap_or_default();
        assert_eq!(l[0].ports[0].private_port, 80);
        assert_eq!(l[0].mounts[0].driver.as_deref(), Some("local"));
        let created: Result<ContainerCreateResponse, _> =
            serde_json::from_str(r#"{"Id":"c1","Warnings":null}"#);
        assert_eq!(created.map(|c| c.warnings.len()).ok(), Some(0));
    }

    #[test]
    fn update_bodies_read_and_become_host_config() {
        let body = r#"{"BlkioWeight":0,"CpuShares":512,"Memory":0,"CgroupParent":"","CpuCount":0,
            "Devices":null,"MemorySwappiness":null,"PidsLimit":null,"IOMaximumIOps":0,
            "RestartPolicy":{"Name":"always","MaximumRetryCount":0},"Ulimits":null}"#;
        let req: Result<ContainerUpdateRequest, _> = serde_json::from_str(body);
        let req = req.map_err(|e| e.to_string());
        assert!(req.is_ok(), "{req:?}");
        let host = HostConfig::from(req.unwrap_or_default());
        assert_eq!((host.cpu_shares, host.pids_limit), (Some(512), None));
        assert_eq!(host.restart_policy.map(|r| r.name), Some("always".into()));
        // docker-py's sparse body.
        let py: Result<ContainerUpdateRequest, _> = serde_json::from_str(r#"{"Memory":1024}"#);
        assert_eq!(py.map(|u| u.memory).ok().flatten(), Some(1024));
    }
}
