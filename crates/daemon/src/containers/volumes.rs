//! A container's volumes, through the engine's [`crate::volumes::VolumeService`]:
//! - at create ([`ContainerService::resolve_volumes`]) the mounts of the containers named in
//!   `VolumesFrom` join the user's (shown without a mode, as Docker shows a mount taken from
//!   another container), then anonymous volumes at the destinations of `Config.Volumes` (the
//!   request's `-v /path` and the image's `VOLUME`s) that nothing else covers; every volume is
//!   found or made (with the mount's driver, options and labels) and referenced by the
//!   container. A create that fails removes the anonymous volumes it made; the named ones it
//!   made stay, as in Docker. Then ([`ContainerService::populate_volumes`]) each empty volume
//!   is filled with what the image has at its destination, unless `nocopy` (dockerd copies at
//!   create too), and no start copies again;
//! - at start ([`ContainerService::mount_volumes`]) each is mounted under the container's ID and
//!   becomes, for the runtime's spec, a bind of its host path (the runtime does binds safely) or
//!   of its `volume-subpath` pinned by a temporary mount ([`crate::volumes::subpath`]); a
//!   `volume mount` event each;
//! - at stop ([`ContainerService::unmount_volumes`]) each is unmounted (`volume unmount`);
//! - at removal ([`ContainerService::release_volumes`]) the references go, and with `v` (or
//!   AutoRemove) the anonymous volumes no other container uses are removed; named ones stay;
//! - at daemon start ([`ContainerService::restore_volumes`]) the references of every container
//!   and the mounts of those that were running are registered again, without asking a driver:
//!   a plugin keeps the one `Mount` it had and gets the one `Unmount` when the container ends
//!   (also when it ended while the daemon was down).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::model::Container;
use super::settings::{Mount, MountKind, Settings, VolumeMount};
use super::state::Status;
use super::ContainerService;
use crate::error::DaemonError;
use crate::events::EventType;
use crate::volumes::model::CreateVolume;
use crate::volumes::populate::{self, Target};
use crate::volumes::subpath::{self, SubpathMount};

/// What a start gets from [`ContainerService::mount_volumes`].
pub(super) struct Mounted {
    /// The container as the runtime's spec must see it: each volume a bind of its host path,
    /// every user mount in depth order (a parent before what is mounted inside it).
    pub spec: Container,
    /// (destination, host path) of each volume still to fill from the image at a first start
    /// (a container created before volumes were filled at create).
    pub copy_ups: Vec<(String, PathBuf)>,
    /// The temporary mounts that pin the mounts' subpaths: kept until the start is over (the
    /// runtime has made its own binds by then), detached and removed when dropped.
    pub _pinned: Vec<SubpathMount>,
}

/// The names of the volumes `mounts` use, each once, in order.
fn volume_names(mounts: &[Mount]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
        .filter(|m| seen.insert(m.source.clone()))
        .map(|m| m.source.clone())
        .collect()
}

/// `path` cleaned lexically and made absolute (an image's `VOLUME /../../etc` is `/etc`, inside
/// the rootfs: security catalog IMG-13).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Anonymous volume mounts at the destinations of `Config.Volumes` (`dests`) that `taken`
/// leaves free.
fn anonymous_volumes(
    dests: &[String],
    taken: &[Mount],
    driver: &str,
) -> Result<Vec<Mount>, DaemonError> {
    let mut out: Vec<Mount> = Vec::new();
    for dest in dests {
        if !dest.starts_with('/') {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute"
            )));
        }
        let dest = clean(dest);
        if dest == "/" {
            tracing::warn!("a volume at / is ignored");
            continue;
        }
        if dest == "/proc" || dest.starts_with("/proc/") {
            return Err(DaemonError::InvalidArgument(format!(
                "invalid mount config for type \"volume\": a volume cannot be mounted on {dest}: /proc must be mounted on ordinary directory"
            )));
        }
        let covered = taken
            .iter()
            .chain(&out)
            .any(|m| clean(&m.destination) == dest);
        if covered {
            continue;
        }
        out.push(Mount {
            kind: MountKind::Volume,
            source: String::new(),
            destination: dest,
            read_only: false,
            options: Vec::new(),
            create_source: false,
            mode: String::new(),
            volume: Some(VolumeMount {
                driver: driver.to_string(),
                anonymous: true,
                from_config: true,
                ..Default::default()
            }),
        });
    }
    Ok(out)
}

/// Number of components of a destination, for Docker's mount order.
fn depth(dest: &str) -> usize {
    clean(dest).split('/').filter(|p| !p.is_empty()).count()
}

impl ContainerService {
    /// The mounts of a new container `id`: those of `settings.volumes_from`'s containers (binds
    /// and volumes, read-only when asked) where the user mounts nothing, the user's, and
    /// anonymous volumes at the destinations `anonymous_at` (`Config.Volumes`) where nothing
    /// else is; each
    /// volume found or made and referenced by `id`, its name, driver and host path filled in.
    /// On failure nothing stays referenced, and the volumes it made are removed.
    pub(super) async fn resolve_volumes(
        &self,
        id: &str,
        settings: &Settings,
        anonymous_at: &[String],
    ) -> Result<Vec<Mount>, DaemonError> {
        let mut mounts: Vec<Mount> = Vec::new();
        for from in &settings.volumes_from {
            let other = self
                .lookup(&from.container)
                .map_err(|e| DaemonError::InvalidArgument(e.to_string()))?
                .snapshot();
            for m in &other.settings.mounts {
                if !matches!(m.kind, MountKind::Bind | MountKind::Volume) {
                    continue;
                }
                if settings
                    .mounts
                    .iter()
                    .any(|u| clean(&u.destination) == clean(&m.destination))
                {
                    continue;
                }
                let mut m = m.clone();
                m.read_only |= from.read_only;
                // Docker's mount point taken from another container keeps no mode.
                m.mode = String::new();
                if let Some(v) = &mut m.volume {
                    // Taken, not made: its files are already there.
                    v.nocopy = true;
                    v.from_config = true;
                }
                mounts.retain(|x| x.destination != m.destination);
                mounts.push(m);
            }
        }
        mounts.extend(settings.mounts.iter().cloned());
        let anonymous = anonymous_volumes(anonymous_at, &mounts, &settings.volume_driver)?;
        mounts.extend(anonymous);
        // (name, anonymous) of each volume made here.
        let mut made: Vec<(String, bool)> = Vec::new();
        let mut taken: Vec<String> = Vec::new();
        for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Volume) {
            let v = m.volume.get_or_insert_with(Default::default);
            let req = CreateVolume {
                name: m.source.clone(),
                driver: v.driver.clone(),
                options: v.driver_options.clone(),
                labels: v.labels.clone(),
            };
            let got = self.inner.volumes.create(req, Some(id)).await;
            let (volume, created) = match got {
                Ok(x) => x,
                Err(e) => {
                    self.undo_volumes(id, &taken, &made).await;
                    return Err(e);
                }
            };
            if created {
                made.push((volume.name.clone(), v.anonymous));
            }
            taken.push(volume.name.clone());
            m.source = volume.name.clone();
            v.driver = volume.driver.clone();
            v.mountpoint = volume.mountpoint.display().to_string();
        }
        Ok(mounts)
    }

    /// Drops `id`'s references to `taken` and removes the anonymous volumes in `made` (the
    /// named ones stay, as dockerd keeps them).
    async fn undo_volumes(&self, id: &str, taken: &[String], made: &[(String, bool)]) {
        for name in taken {
            self.inner.volumes.release(name, id);
        }
        for (name, _) in made.iter().filter(|(_, anonymous)| *anonymous) {
            if let Err(e) = self.inner.volumes.remove(name, false).await {
                tracing::warn!(volume = %name, error = %e, "removing a volume a failed create made");
            }
        }
    }

    /// Fills the empty volumes of new container `c` (its rootfs prepared, not mounted) with what
    /// its image has at their destinations, as dockerd does at create, then marks every volume
    /// mount `nocopy`, so that no start copies again. A destination the image's layers show
    /// nothing at costs no mount; otherwise the volumes are mounted for the copy under a
    /// reference of their own and unmounted after.
    pub(super) async fn populate_volumes(&self, c: &mut Container) -> Result<(), DaemonError> {
        let rootfs_mounts = c.rootfs_mounts.clone();
        let wanted: Vec<(String, String, String)> = c
            .settings
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
            .filter_map(|m| {
                let v = m.volume.as_ref()?;
                (!v.nocopy).then(|| (m.source.clone(), m.destination.clone(), v.subpath.clone()))
            })
            .collect();
        // A container without a volume to fill (a plain `run`) pays no hop to a blocking thread.
        let wanted = if wanted.is_empty() {
            wanted
        } else {
            tokio::task::spawn_blocking(move || {
                wanted
                    .into_iter()
                    .filter(|(_, dest, _)| populate::image_may_have(&rootfs_mounts, dest))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(DaemonError::join)?
        };
        if !wanted.is_empty() {
            let reference = super::model::new_id()?;
            let mut mounted: Vec<String> = Vec::new();
            let mut targets = Vec::new();
            let mut failed = None;
            for (name, destination, subpath) in wanted {
                match self.inner.volumes.mount(&name, &reference).await {
                    Ok(volume) => {
                        mounted.push(name);
                        targets.push(Target {
                            destination,
                            volume,
                            subpath,
                        });
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if failed.is_none() {
                let (mounts, at) = (c.rootfs_mounts.clone(), self.paths().rootfs(&c.id));
                failed =
                    tokio::task::spawn_blocking(move || populate::populate(&mounts, &at, &targets))
                        .await
                        .map_err(DaemonError::join)
                        .and_then(|r| r)
                        .err();
            }
            for name in &mounted {
                if let Err(e) = self.inner.volumes.unmount(name, &reference).await {
                    tracing::warn!(volume = %name, error = %e, "unmounting a volume after filling it");
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        for m in c.settings.mounts.iter_mut() {
            if let Some(v) = m.volume.as_mut() {
                v.nocopy = true;
            }
        }
        Ok(())
    }

    /// Forgets container `c`'s references to its volumes; with `remove_anonymous`, removes its
    /// anonymous volumes that no other container uses (as `rm -v` does; named ones stay).
    pub(super) async fn release_volumes(&self, c: &Container, remove_anonymous: bool) {
        let names = volume_names(&c.settings.mounts);
        for name in &names {
            self.inner.volumes.release(name, &c.id);
        }
        if !remove_anonymous {
            return;
        }
        let anonymous: Vec<String> = c
            .settings
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
            .filter(|m| m.volume.as_ref().is_some_and(|v| v.anonymous))
            .map(|m| m.source.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for name in anonymous {
            match self.inner.volumes.remove(&name, false).await {
                Ok(()) => {}
                // Another container uses it: it stays, as in Docker.
                Err(DaemonError::Conflict(_)) => {}
                Err(e) => {
                    tracing::warn!(container = %c.id, volume = %name, error = %e, "removing an anonymous volume")
                }
            }
        }
    }

    /// Mounts `c`'s volumes for its start; see [`Mounted`]. On failure the ones mounted are
    /// unmounted again.
    pub(super) async fn mount_volumes(&self, c: &Container) -> Result<Mounted, DaemonError> {
        let mut spec = c.clone();
        let mut copy_ups = Vec::new();
        let mut events = Vec::new();
        let mut mounted: Vec<String> = Vec::new();
        let mut subpaths: Vec<SubpathMount> = Vec::new();
        let bundle = self.paths().bundle(&c.id);
        let uses_subpaths = c
            .settings
            .mounts
            .iter()
            .any(|m| m.volume.as_ref().is_some_and(|v| !v.subpath.is_empty()));
        if uses_subpaths {
            let dir = bundle.clone();
            let made = tokio::task::spawn_blocking(move || {
                subpath::sweep(&dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| DaemonError::io("creating directory", &dir, e))
            })
            .await
            .map_err(DaemonError::join)
            .and_then(|r| r);
            made?;
        }
        for (index, m) in spec
            .settings
            .mounts
            .iter_mut()
            .filter(|m| m.kind == MountKind::Volume)
            .enumerate()
        {
            let path = match self.inner.volumes.mount(&m.source, &c.id).await {
                Ok(volume) => {
                    mounted.push(m.source.clone());
                    let at = subpath::mount_point(&bundle, index);
                    pin_subpath(m, volume, at, &mut subpaths).await
                }
                Err(e) => Err(e),
            };
            let path = match path {
                Ok(p) => p,
                Err(e) => {
                    for name in &mounted {
                        let _ = self.inner.volumes.unmount(name, &c.id).await;
                    }
                    return Err(e);
                }
            };
            let v = m.volume.take().unwrap_or_default();
            if !v.nocopy {
                copy_ups.push((m.destination.clone(), path.clone()));
            }
            events.push((
                m.source.clone(),
                vec![
                    ("driver", v.driver),
                    ("container", c.id.clone()),
                    ("destination", m.destination.clone()),
                    ("read/write", (!m.read_only).to_string()),
                    ("propagation", String::new()),
                ],
            ));
            m.kind = MountKind::Bind;
            m.source = path.display().to_string();
            m.options = Vec::new();
            m.create_source = false;
        }
        spec.settings.mounts.sort_by_key(|m| depth(&m.destination));
        for (name, attrs) in events {
            self.volume_event("mount", &name, &attrs);
        }
        Ok(Mounted {
            spec,
            copy_ups,
            _pinned: subpaths,
        })
    }

    /// Unmounts `c`'s volumes after its run (each one `c` had mounted: idempotent).
    pub(super) async fn unmount_volumes(&self, c: &Container) {
        for m in volumes_of(&c.settings.mounts) {
            match self.inner.volumes.unmount(&m.source, &c.id).await {
                Ok(true) => {
                    let driver = m
                        .volume
                        .as_ref()
                        .map(|v| v.driver.clone())
                        .unwrap_or_default();
                    self.volume_event(
                        "unmount",
                        &m.source,
                        &[("driver", driver), ("container", c.id.clone())],
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(container = %c.id, volume = %m.source, error = %e, "unmounting a volume")
                }
            }
        }
    }

    /// Registers `c`'s references again (daemon start), and its mounts when it runs or its
    /// record says it was running (its volumes were mounted then, and its exit, found now,
    /// unmounts them).
    pub(super) async fn restore_volumes(&self, c: &Container, running: bool) {
        // A restarting container's volumes were unmounted at its exit.
        let was_running = matches!(c.state.status, Status::Running | Status::Paused);
        for name in volume_names(&c.settings.mounts) {
            self.inner.volumes.reference(&name, &c.id);
            if running || was_running {
                self.inner.volumes.restore_mount(&name, &c.id);
            }
        }
    }

    fn volume_event(&self, action: &str, name: &str, attrs: &[(&str, String)]) {
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.inner
            .events
            .publish(EventType::Volume, action, name, attrs);
    }
}

/// Where volume mount `m` is bound from, `volume` being its volume's files: `volume` itself, or
/// the mount's subpath inside it, pinned by a temporary mount at `at` whose guard joins `pinned`
/// (see [`crate::volumes::subpath`]).
pub(super) async fn pin_subpath(
    m: &Mount,
    volume: PathBuf,
    at: PathBuf,
    pinned: &mut Vec<SubpathMount>,
) -> Result<PathBuf, DaemonError> {
    let sub = match m.volume.as_ref() {
        Some(v) if !v.subpath.is_empty() => v.subpath.clone(),
        _ => return Ok(volume),
    };
    let guard = tokio::task::spawn_blocking(move || SubpathMount::bind(&volume, &sub, &at))
        .await
        .map_err(DaemonError::join)??;
    let path = guard.path().to_path_buf();
    pinned.push(guard);
    Ok(path)
}

/// The volume mounts of `mounts`, one per volume.
fn volumes_of(mounts: &[Mount]) -> Vec<&Mount> {
    let mut seen = BTreeSet::new();
    mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && seen.insert(m.source.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: MountKind, dest: &str) -> Mount {
        Mount {
            kind,
            source: String::new(),
            destination: dest.into(),
            read_only: false,
            options: vec![],
            create_source: false,
            mode: String::new(),
            volume: None,
        }
    }

    #[test]
    fn image_volumes_are_cleaned_and_skip_covered_destinations() {
        let taken = [mount(MountKind::Tmpfs, "/cache/")];
        let image: Vec<String> = ["/data", "/../../etc/x", "/cache", "/data/", "/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = anonymous_volumes(&image, &taken, "drv").unwrap();
        let dests: Vec<&str> = got.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests, ["/data", "/etc/x"]);
        let v = got[0].volume.clone().unwrap();
        assert!(v.anonymous && v.from_config);
        assert_eq!(v.driver, "drv");
        assert!(anonymous_volumes(&["/proc/../proc".to_string()], &[], "").is_err());
        assert!(anonymous_volumes(&["x:/proc".to_string()], &[], "").is_err());
    }

    #[test]
    fn names_once_and_depth_order() {
        let mut a = mount(MountKind::Volume, "/a");
        a.source = "v".into();
        let mut b = mount(MountKind::Volume, "/b");
        b.source = "v".into();
        assert_eq!(volume_names(&[a.clone(), b]), ["v"]);
        assert!(depth("/a/b/c") > depth("/a/"));
        assert_eq!(depth("/"), 0);
    }
}
