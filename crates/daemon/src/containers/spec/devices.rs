//! The host's device nodes a privileged container gets, as Docker lists them (containerd's
//! `HostDevices`): every character and block device under the host's `/dev`, at the same path
//! in the container, with the host node's mode, owner and numbers. Directories are walked except
//! `pts`, `shm`, `fd`, `mqueue` and the LXC/udev private ones; symbolic links (`/dev/fd`,
//! `/dev/disk/by-*`, `/dev/char/*`) are never followed; `/dev/console` is left out (the
//! container's console is its own). Entries that vanish during the walk are skipped.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use super::SpecError;

/// Directories of `/dev` that are never walked: other mounts the container gets its own of,
/// and private directories of LXC and udev (as Docker skips them).
const SKIPPED_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// `linux.devices` entries for every device node under `root` (the host's `/dev`).
pub fn host_devices(root: &Path) -> Result<Vec<Value>, SpecError> {
    let mut out = Vec::new();
    walk(root, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Value>) -> Result<(), SpecError> {
    let fail = |e: std::io::Error| {
        SpecError::Invalid(format!(
            "error gathering the host's devices in {}: {e}",
            dir.display()
        ))
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let path = entry.path();
        // No symlink is followed: the entry's own type, and lstat for the node.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                match walk(&path, out) {
                    Ok(()) => {}
                    // Gone during the walk.
                    Err(_) if !path.exists() => {}
                    Err(e) => return Err(e),
                }
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        if let Some(device) = node(&path) {
            out.push(device);
        }
    }
    Ok(())
}

/// The `linux.devices` entry of the device node at `path`; `None` for anything else.
fn node(path: &Path) -> Option<Value> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(json!({
        "path": path,
        "type": kind,
        "major": nix::sys::stat::major(rdev),
        "minor": nix::sys::stat::minor(rdev),
        "fileMode": meta.mode() & 0o7777,
        "uid": meta.uid(),
        "gid": meta.gid(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_devices_are_listed_without_links_or_skipped_dirs() {
        let devices = host_devices(Path::new("/dev")).unwrap();
        let paths: Vec<&str> = devices.iter().filter_map(|d| d["path"].as_str()).collect();
        // Every Linux host has the null device, as a character device 1:3.
        let null = devices.iter().find(|d| d["path"] == "/dev/null").unwrap();
        assert_eq!(
            (null["type"].as_str(), null["major"].as_u64()),
            (Some("c"), Some(1))
        );
        assert_eq!(null["minor"], 3);
        assert!(!paths.contains(&"/dev/console"), "{paths:?}");
        assert!(
            !paths.iter().any(|p| p.starts_with("/dev/pts/")
                || p.starts_with("/dev/shm/")
                || p.starts_with("/dev/fd")),
            "{paths:?}"
        );
        // Symbolic links (`/dev/stdin`, `/dev/core`) are not devices.
        assert!(!paths.contains(&"/dev/stdin"), "{paths:?}");
    }

    #[test]
    fn a_directory_of_plain_files_has_no_devices() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"x").unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("link")).unwrap();
        assert!(host_devices(dir.path()).unwrap().is_empty());
        let e = host_devices(&dir.path().join("missing")).unwrap_err();
        assert!(
            e.to_string().contains("gathering the host's devices"),
            "{e}"
        );
    }
}
