//! `berth daemon --check` (hidden): the store consistency check run on a stopped daemon's roots,
//! the "engine-fsck" of the security catalog's REL cases. It opens the stores the way the daemon
//! does at start (the image store sweeps what no one holds, as every start does), changes nothing
//! else, and reports:
//!
//! - every finding of the image store's own check (blobs present and hashing to their names,
//!   layers unpacked, no orphan blob, layer or snapshot, no ingest or spooled archive left);
//! - containers: every record parses; each has its rootfs snapshot and holds its image and that
//!   snapshot; no hold is kept by a container the store does not know; no container data dir
//!   belongs to an unknown container;
//! - networks: every endpoint belongs to a known container; no address is given out twice in one
//!   network;
//! - volumes: every local volume has its directory, every directory a record, no removal was cut
//!   short, and every volume a container names exists.
//!
//! It refuses to run while a daemon serves the same exec root: the image store's sweep would
//! race with that daemon's operations.

use std::collections::{BTreeMap, BTreeSet};

use berth_image::metadata::{self, HoldKind};
use berth_image::snapshot::{OverlaySnapshotter, PlainSnapshotter, Snapshotter};
use berth_image::ImageStore;

use crate::config::{DaemonConfig, StorageDriver};
use crate::containers::store::ContainerStore;
use crate::error::DaemonError;
use crate::networks::store::NetworkStore;

/// Checks the stores under `config`'s roots; returns the problems found (none: consistent).
pub fn check(config: &DaemonConfig) -> Result<Vec<String>, DaemonError> {
    refuse_while_running(config)?;
    let _lock = crate::root_lock::RootLock::take(&config.data_root)?;
    let snap_root = config.data_root.join(config.storage_driver.name());
    let snapshots: Box<dyn Snapshotter> = match config.storage_driver {
        StorageDriver::Overlay => Box::new(
            OverlaySnapshotter::open(&snap_root).map_err(|e| DaemonError::Image(e.into()))?,
        ),
        StorageDriver::Vfs => {
            Box::new(PlainSnapshotter::open(&snap_root).map_err(|e| DaemonError::Image(e.into()))?)
        }
    };
    let store = ImageStore::open(&config.image_root(), snapshots)?
        .with_id_map(config.remap.as_ref().map(|r| r.map.clone()));
    let mut problems: Vec<String> = store
        .check()?
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect();
    let snapshot_names: BTreeSet<String> = store
        .snapshotter()
        .list()
        .map_err(|e| DaemonError::Image(e.into()))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let holds = read_holds(config)?;
    drop(store);

    let containers = ContainerStore::open(&config.data_root.join("containers.db"))?.load_all()?;
    let known: BTreeSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    for c in &containers {
        let held = |kind: HoldKind, target: &str| {
            holds
                .iter()
                .any(|h| h.holder == c.id && h.kind == kind && h.target == target)
        };
        if !snapshot_names.contains(&c.id) {
            problems.push(format!(
                "container {}: its rootfs snapshot is missing",
                c.id
            ));
        }
        if !held(HoldKind::Snapshot, &c.id) {
            problems.push(format!(
                "container {}: its rootfs snapshot is not held",
                c.id
            ));
        }
        if !held(HoldKind::Image, &c.image_id) {
            problems.push(format!(
                "container {}: image {} is not held",
                c.id, c.image_id
            ));
        }
    }
    let orphan_holders: BTreeSet<&str> = holds
        .iter()
        .map(|h| h.holder.as_str())
        .filter(|h| !known.contains(h))
        .collect();
    for h in orphan_holders {
        problems.push(format!("image store holds for unknown container {h}"));
    }
    let data = config.data_root.join("containers");
    if let Ok(rd) = std::fs::read_dir(&data) {
        for name in rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
        {
            let is_id = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if is_id && !known.contains(name.as_str()) {
                problems.push(format!(
                    "{}: data dir of an unknown container",
                    data.join(&name).display()
                ));
            }
        }
    }

    let (volume_problems, volumes) = crate::volumes::check(&config.data_root)?;
    problems.extend(volume_problems);
    for c in &containers {
        for m in c.settings.mounts.iter().filter(|m| {
            m.kind == crate::containers::settings::MountKind::Volume && !volumes.contains(&m.source)
        }) {
            problems.push(format!(
                "container {}: its volume {} is missing",
                c.id, m.source
            ));
        }
    }

    for n in NetworkStore::open(&config.data_root.join("networks.db"))?.load()? {
        let mut ips = BTreeMap::new();
        for (cid, ep) in &n.endpoints {
            if !known.contains(cid.as_str()) {
                problems.push(format!(
                    "network {}: endpoint of unknown container {cid}",
                    n.name
                ));
            }
            if let Some(other) = ips.insert(ep.ip, cid) {
                problems.push(format!(
                    "network {}: address {} given to containers {other} and {cid}",
                    n.name, ep.ip
                ));
            }
        }
    }
    Ok(problems)
}

/// Every hold of the image store, read from its database without writing.
fn read_holds(config: &DaemonConfig) -> Result<Vec<metadata::Hold>, DaemonError> {
    let path = config.image_root().join("metadata.db");
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| {
                DaemonError::Internal(format!("opening {} read-only: {e}", path.display()))
            })?;
    let mut out = Vec::new();
    for kind in [HoldKind::Image, HoldKind::Snapshot, HoldKind::Blob] {
        out.extend(metadata::holds_of_kind(&conn, kind).map_err(|e| {
            DaemonError::Internal(format!("reading the holds in {}: {e}", path.display()))
        })?);
    }
    Ok(out)
}

/// Fails when the pid file names a live process (a daemon serves these roots).
fn refuse_while_running(config: &DaemonConfig) -> Result<(), DaemonError> {
    let path = config.pid_file();
    let pid = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 0);
    if let Some(pid) = pid {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            return Err(DaemonError::Unavailable(format!(
                "pid file {} names running process {pid}: stop the daemon before checking its stores",
                path.display()
            )));
        }
    }
    Ok(())
}

/// `berth daemon --check`: prints each problem on stdout; 0 when there is none, 1 otherwise.
pub fn main(config: &DaemonConfig) -> i32 {
    match check(config) {
        Ok(problems) if problems.is_empty() => {
            println!("berth daemon --check: the stores are consistent");
            0
        }
        Ok(problems) => {
            for p in &problems {
                println!("{p}");
            }
            eprintln!("berth daemon --check: {} problem(s)", problems.len());
            1
        }
        Err(e) => {
            eprintln!("berth daemon --check: {e}");
            1
        }
    }
}
