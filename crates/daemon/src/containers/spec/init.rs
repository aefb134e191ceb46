//! `HostConfig.Init` (`--init`): like Docker, the container runs a tiny reaping init as PID 1,
//! bind-mounted read-only at `/sbin/docker-init`, and the process becomes
//! `/sbin/docker-init -- <command>`. The init is `berth-init` (crates/init), a static executable
//! installed beside the daemon's own or found on the `PATH`; when it is missing the container
//! runs without one and create warns.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Where the init appears inside the container (Docker's path).
pub const CONTAINER_PATH: &str = "/sbin/docker-init";

/// The file name of the init installed beside the daemon's executable.
pub const BINARY_NAME: &str = "berth-init";

/// The init executable on the host: `berth-init` beside the daemon's executable, else the first
/// on the `PATH`.
pub fn binary() -> Option<PathBuf> {
    crate::companion_exe(BINARY_NAME)
}

/// Makes `spec` run its process under the init at `host_path`: a read-only bind mount at
/// [`CONTAINER_PATH`] and the args prefixed with `CONTAINER_PATH --`.
pub fn apply(spec: &mut Value, host_path: &Path) {
    if let Some(args) = spec["process"]["args"].as_array_mut() {
        args.splice(0..0, [json!(CONTAINER_PATH), json!("--")]);
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| m["destination"] != CONTAINER_PATH);
        mounts.push(json!({
            "destination": CONTAINER_PATH,
            "type": "bind",
            "source": host_path,
            "options": ["rbind", "ro", "nosuid", "nodev"],
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_prefixes_args_and_mounts_read_only() {
        let mut spec = json!({
            "process": {"args": ["ps", "-o", "pid"]},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        });
        apply(&mut spec, Path::new("/opt/berth/berth-init"));
        assert_eq!(
            spec["process"]["args"],
            json!(["/sbin/docker-init", "--", "ps", "-o", "pid"])
        );
        let m = &spec["mounts"][1];
        assert_eq!(m["destination"], "/sbin/docker-init");
        assert_eq!(m["source"], "/opt/berth/berth-init");
        assert!(m["options"]
            .as_array()
            .is_some_and(|o| o.contains(&json!("ro"))));
    }
}
