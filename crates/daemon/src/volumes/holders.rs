//! Who uses a volume: its references (the containers that name it) and its mounts (the holders
//! using its files now), and the mounts and unmounts of its file system those bring; see the
//! vocabulary in [`super`].

use std::path::PathBuf;

use super::*;

impl VolumeService {
    /// Registers container `reference` as a user of `name` (a daemon restart re-registers every
    /// container's). Unknown volumes are ignored.
    pub fn reference(&self, name: &str, reference: &str) {
        if let Some(e) = self.table().get_mut(name) {
            e.refs.insert(reference.to_string());
        }
    }

    /// Registers holder `reference`'s mount of `name` again after a daemon restart, asking no
    /// driver: the plugin still has it mounted for that holder (dockerd makes no call for a
    /// live-restored mount either), a local file system is still in place, and the holder's
    /// later unmount is the one that ends it. Unknown volumes are ignored.
    pub fn restore_mount(&self, name: &str, reference: &str) {
        if let Some(e) = self.table().get_mut(name) {
            e.mounts.insert(reference.to_string());
        }
    }

    /// Forgets container `reference` as a user of `name`.
    pub fn release(&self, name: &str, reference: &str) {
        if let Some(e) = self.table().get_mut(name) {
            e.refs.remove(reference);
        }
    }

    /// Whether anything but `except` references or mounts `name`.
    pub fn used_by_others(&self, name: &str, except: &str) -> bool {
        self.table()
            .get(name)
            .is_some_and(|e| e.users().iter().any(|u| u != except))
    }

    /// Makes `name`'s files available to holder `reference` and returns their host path: the
    /// local driver mounts its file system for the first holder; a plugin is asked to mount.
    /// Mounting again under the same reference changes nothing.
    pub async fn mount(&self, name: &str, reference: &str) -> Result<PathBuf, DaemonError> {
        let _lock = self.lock(name).await;
        let entry = self
            .table()
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_volume(name))?;
        let path = if entry.volume.driver == LOCAL {
            let opts = LocalOptions::parse(&entry.volume.options)?;
            if opts.needs_mount() && entry.mounts.is_empty() {
                let svc = self.clone();
                let n = name.to_string();
                blocking(move || svc.inner.local.mount(&n, &opts)).await?;
            }
            self.inner.local.data_path(name)
        } else {
            let plugin = PluginDriver::connect(&entry.volume.driver).await?;
            let path = plugin.mount(name, reference).await?;
            if path != entry.volume.mountpoint {
                let mut v = entry.volume.clone();
                v.mountpoint = path.clone();
                let svc = self.clone();
                let v2 = v.clone();
                blocking(move || svc.inner.store.update(&v2)).await?;
                if let Some(e) = self.table().get_mut(name) {
                    e.volume = v;
                }
            }
            path
        };
        if let Some(e) = self.table().get_mut(name) {
            e.mounts.insert(reference.to_string());
        }
        Ok(path)
    }

    /// Ends holder `reference`'s use of `name`: after the last holder the local driver unmounts
    /// its file system; a plugin is asked to unmount. Returns whether `reference` held it.
    pub async fn unmount(&self, name: &str, reference: &str) -> Result<bool, DaemonError> {
        let _lock = self.lock(name).await;
        let (volume, last) = {
            let mut table = self.table();
            let Some(e) = table.get_mut(name) else {
                return Ok(false);
            };
            if !e.mounts.remove(reference) {
                return Ok(false);
            }
            (e.volume.clone(), e.mounts.is_empty())
        };
        if volume.driver == LOCAL {
            let needs = LocalOptions::parse(&volume.options).is_ok_and(|o| o.needs_mount());
            if needs && last {
                let svc = self.clone();
                let n = name.to_string();
                blocking(move || svc.inner.local.unmount(&n)).await?;
            }
        } else {
            PluginDriver::connect(&volume.driver)
                .await?
                .unmount(name, reference)
                .await?;
        }
        Ok(true)
    }

    /// Unmounts the local volumes whose file system is mounted while no holder uses them (left
    /// by a daemon that stopped, or by containers that exited while it was down). Called once
    /// the containers' mounts are registered again.
    pub async fn settle(&self) {
        let idle: Vec<String> = self
            .table()
            .values()
            .filter(|e| e.volume.driver == LOCAL && e.mounts.is_empty())
            .filter(|e| LocalOptions::parse(&e.volume.options).is_ok_and(|o| o.needs_mount()))
            .map(|e| e.volume.name.clone())
            .collect();
        for name in idle {
            let _lock = self.lock(&name).await;
            if self
                .table()
                .get(&name)
                .is_some_and(|e| !e.mounts.is_empty())
            {
                continue;
            }
            let local = self.inner.local.clone();
            let n = name.clone();
            let done = blocking(move || {
                if local.is_mounted(&n) {
                    local.unmount(&n)?;
                }
                Ok(())
            })
            .await;
            if let Err(e) = done {
                tracing::warn!(volume = %name, error = %e, "unmounting an unused volume");
            }
        }
    }
}
