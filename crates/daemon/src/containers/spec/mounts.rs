//! Mounts of a container: Docker's defaults (`/proc`, `/dev`, `/dev/pts`, `/sys`, the cgroup tree,
//! `/dev/mqueue`, `/dev/shm`), the `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` files, and
//! the user's `Binds` (`/host:/ctr[:ro]`), `Mounts` (types `bind` and `tmpfs`) and `Tmpfs`. Later
//! mounts replace earlier ones with the same destination, so a user's `--tmpfs /dev/shm` wins.

use std::path::Path;

use berth_api::container::{HostConfig, MountPoint};
use serde_json::{json, Value};

use super::SpecError;

/// Docker's default `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// A user mount after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMount {
    /// `bind` or `tmpfs`.
    pub kind: &'static str,
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// Extra mount options (`size=...`, propagation).
    pub options: Vec<String>,
    /// The mode text of `docker inspect` (`ro`, `rw`, `z`...).
    pub mode: String,
}

impl UserMount {
    /// The inspect entry.
    pub fn mount_point(&self) -> MountPoint {
        MountPoint {
            kind: self.kind.to_string(),
            name: None,
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: None,
            mode: self.mode.clone(),
            rw: !self.read_only,
            propagation: if self.kind == "bind" {
                self.options
                    .iter()
                    .find(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
                    .cloned()
                    .unwrap_or_else(|| "rprivate".to_string())
            } else {
                String::new()
            },
        }
    }
}

fn invalid(msg: String) -> SpecError {
    SpecError::Invalid(msg)
}

fn check_destination(dest: &str, what: &str) -> Result<(), SpecError> {
    if !dest.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    if dest == "/" {
        return Err(invalid(format!(
            "invalid mount config for type \"{what}\": invalid specification: destination can't be '/'"
        )));
    }
    Ok(())
}

/// One `-v` entry.
fn parse_bind(spec: &str) -> Result<UserMount, SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid(format!("invalid volume specification: '{spec}'"))),
    };
    if !source.starts_with('/') {
        return Err(SpecError::Invalid(format!(
            "named volumes are not supported by berth yet: '{spec}': use an absolute host path"
        )));
    }
    check_destination(dest, "bind")?;
    let mut read_only = false;
    let mut options = Vec::new();
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "nocopy" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                options.push(m.to_string())
            }
            other => {
                return Err(invalid(format!(
                    "invalid mode: {other} in volume specification '{spec}'"
                )))
            }
        }
    }
    // `-v` creates a missing host directory, as Docker does.
    if !Path::new(source).exists() {
        std::fs::create_dir_all(source)
            .map_err(|e| invalid(format!("creating bind source {source}: {e}")))?;
    }
    Ok(UserMount {
        kind: "bind",
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
        options,
        mode: mode.to_string(),
    })
}

/// Every user mount of `host`, validated (create calls this to answer 400 early).
pub fn user_mounts(host: &HostConfig) -> Result<Vec<UserMount>, SpecError> {
    let mut out = Vec::new();
    for b in host.binds.iter().flatten() {
        out.push(parse_bind(b)?);
    }
    for m in host.mounts.iter().flatten() {
        check_destination(&m.target, &m.kind)?;
        match m.kind.as_str() {
            "bind" => {
                if !Path::new(&m.source).is_absolute() || !Path::new(&m.source).exists() {
                    return Err(invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                out.push(UserMount {
                    kind: "bind",
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options: Vec::new(),
                    mode: String::new(),
                });
            }
            "tmpfs" => {
                let mut options = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                out.push(UserMount {
                    kind: "tmpfs",
                    source: String::new(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                    options,
                    mode: String::new(),
                });
            }
            "volume" => {
                return Err(SpecError::Invalid(
                    "mounts of type \"volume\" are not supported by berth yet".to_string(),
                ))
            }
            other => {
                return Err(invalid(format!(
                    "invalid mount config: mount type unknown: {other:?}"
                )))
            }
        }
    }
    for (dest, opts) in host.tmpfs.iter().flatten() {
        check_destination(dest, "tmpfs")?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        out.push(UserMount {
            kind: "tmpfs",
            source: String::new(),
            destination: dest.clone(),
            read_only: options.iter().any(|o| o == "ro"),
            options,
            mode: String::new(),
        });
    }
    Ok(out)
}

/// Docker's default mounts.
pub fn default_mounts(shm_size: i64, privileged: bool) -> Vec<Value> {
    let shm = if shm_size > 0 {
        shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    let sys_ro = if privileged { "rw" } else { "ro" };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ]
}

/// The OCI mount of a user mount.
pub fn oci_mount(m: &UserMount) -> Value {
    match m.kind {
        "bind" => {
            let mut options = vec!["rbind".to_string()];
            options.push(if m.read_only { "ro" } else { "rw" }.to_string());
            if !m
                .options
                .iter()
                .any(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
            {
                options.push("rprivate".to_string());
            }
            options.extend(m.options.iter().cloned());
            json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
        }
        _ => {
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            options.extend(m.options.iter().filter(|o| *o != "ro").cloned());
            if m.read_only {
                options.push("ro".to_string());
            }
            json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
        }
    }
}

/// A bind of one of the container's own files (`/etc/hosts` ...).
pub fn file_bind(source: &Path, destination: &str, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

/// Appends `m`, replacing an earlier mount at the same destination.
pub fn push_mount(mounts: &mut Vec<Value>, m: Value) {
    let dest = m["destination"].clone();
    mounts.retain(|x| x["destination"] != dest);
    mounts.push(m);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let m = parse_bind(&format!("{src}:/data:ro")).unwrap();
        assert!(m.read_only);
        assert_eq!(m.destination, "/data");
        assert!(parse_bind("vol:/data").is_err());
        assert!(parse_bind(&format!("{src}:data")).is_err());
        assert!(parse_bind(&format!("{src}:/data:bogus")).is_err());
        let o = oci_mount(&m);
        assert_eq!(o["options"], json!(["rbind", "ro", "rprivate"]));
    }

    #[test]
    fn later_mounts_replace_earlier_ones() {
        let mut mounts = default_mounts(0, false);
        let n = mounts.len();
        push_mount(
            &mut mounts,
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs", "options": []}),
        );
        assert_eq!(mounts.len(), n);
        assert_eq!(mounts[n - 1]["source"], "tmpfs");
    }
}
