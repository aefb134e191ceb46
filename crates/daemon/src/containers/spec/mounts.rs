//! Mounts of a container: Docker's defaults (`/proc`, `/dev`, `/dev/pts`, `/sys`, the cgroup tree,
//! `/dev/mqueue`, `/dev/shm`), the `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` files, and
//! the user's binds and tmpfs mounts ([`Mount`], parsed by a front door). A volume reaches the
//! spec as a bind of its host path (start resolves it). Later mounts replace
//! earlier ones with the same destination, so a user's `--tmpfs /dev/shm` wins.

use std::path::Path;

use serde_json::{json, Value};

use super::SpecError;
use crate::containers::settings::{Mount, MountKind};

/// Docker's default `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// Readies the sources of the user's binds: a missing one made as a directory when the mount
/// asks for it (Docker's `-v`), else refused with Docker's words (`--mount`). Create calls this
/// to answer 400 early; every start calls it again (the host may have changed).
pub fn prepare_sources(mounts: &[Mount]) -> Result<(), SpecError> {
    for m in mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let source = Path::new(&m.source);
        if m.create_source {
            if !source.exists() {
                std::fs::create_dir_all(source).map_err(|e| {
                    SpecError::Invalid(format!("creating bind source {}: {e}", m.source))
                })?;
            }
        } else if !source.is_absolute() || !source.exists() {
            return Err(SpecError::Invalid(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
    }
    Ok(())
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
pub fn oci_mount(m: &Mount) -> Value {
    match m.kind {
        // A volume's source is its host path by now (start resolves it): a bind like any other.
        MountKind::Bind | MountKind::Volume => {
            let mut options = vec!["rbind".to_string()];
            options.push(if m.read_only { "ro" } else { "rw" }.to_string());
            if m.propagation().is_none() {
                options.push("rprivate".to_string());
            }
            options.extend(m.options.iter().cloned());
            json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
        }
        MountKind::Tmpfs => {
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
    fn binds_become_oci_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mount {
            kind: MountKind::Bind,
            source: dir.path().join("made").display().to_string(),
            destination: "/data".into(),
            read_only: true,
            options: vec![],
            create_source: true,
            mode: "ro".into(),
            volume: None,
        };
        prepare_sources(std::slice::from_ref(&m)).unwrap();
        assert!(dir.path().join("made").is_dir());
        let o = oci_mount(&m);
        assert_eq!(o["options"], json!(["rbind", "ro", "rprivate"]));
        let strict = Mount {
            create_source: false,
            source: dir.path().join("missing").display().to_string(),
            ..m
        };
        let e = prepare_sources(&[strict]).unwrap_err().to_string();
        assert!(e.contains("bind source path does not exist"), "{e}");
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
