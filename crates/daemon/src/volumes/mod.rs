//! Volumes: data that outlives its container, kept in the store and provided by a driver — the
//! built-in `local` driver ([`local`]) or a plugin speaking Docker's `VolumeDriver` protocol
//! ([`plugin`]). [`VolumeService`] is the engine's one door to them: create, inspect, list,
//! remove, prune and disk usage for the API; references and mounts for the containers (and
//! `docker cp`); [`copyup`] fills an empty volume from an image when a container is created;
//! [`lookup`] finds the volumes plugins have that the store does not (list, inspect, create);
//! [`subpath`] resolves a mount's `volume-subpath` inside its volume; [`holders`] keeps who uses
//! each volume and mounts and unmounts it for them.
//!
//! Vocabulary ([`model`]): a volume's *references* are the containers that name it; its *mounts*
//! are the holders using its files now, each under a reference id of its own (a container's ID
//! for its run, any other unique id for a copy). Both live in memory: the containers service
//! registers its containers' references when it opens and their mounts when it re-adopts the
//! running ones; [`VolumeService::settle`] then unmounts what nobody uses any more.
//!
//! Locking: one async lock per volume name serialises create, remove, mount and unmount of that
//! name (a plugin call may be slow; other names go on); `table` is a short std lock around the
//! in-memory map, never held across an await. One prune runs at a time: another one asked for
//! meanwhile is refused (409, Docker's words) rather than queued.
//!
//! Crash safety: a create makes the local driver's directory whole (temporary name, rename) and
//! then inserts the record; a removal marks the record, deletes the data, deletes the record. At
//! open, directories no record claims are deleted and marked removals are finished, so a daemon
//! killed at any moment never shows a half-made volume. Crash point: `volume.create.after-dir`.

pub mod copyup;
mod holders;
pub mod local;
pub mod lookup;
pub mod model;
pub mod plugin;
pub mod populate;
pub mod store;
pub mod subpath;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::DaemonError;
use crate::events::{EventType, Events};
use local::LocalDriver;
use model::{
    no_such_volume, op_error, CreateVolume, LocalOptions, PruneFilter, PruneReport, Scope, Volume,
    VolumeFilter, VolumeUsage, ANONYMOUS_LABEL, LOCAL,
};
use plugin::PluginDriver;
use store::VolumeStore;

/// One volume's in-memory side.
#[derive(Debug, Clone)]
struct Entry {
    volume: Volume,
    /// Containers that name it.
    refs: BTreeSet<String>,
    /// Holders using its files now.
    mounts: BTreeSet<String>,
}

impl Entry {
    fn in_use(&self) -> bool {
        !self.refs.is_empty() || !self.mounts.is_empty()
    }

    /// Who uses it, sorted, without repeats.
    fn users(&self) -> Vec<String> {
        let all: BTreeSet<&String> = self.refs.iter().chain(&self.mounts).collect();
        all.into_iter().cloned().collect()
    }
}

struct Inner {
    store: VolumeStore,
    local: LocalDriver,
    events: Events,
    table: Mutex<BTreeMap<String, Entry>>,
    locks: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// A prune is running.
    pruning: AtomicBool,
}

/// The one prune running; ends it when dropped.
struct Pruning<'a>(&'a AtomicBool);

impl Drop for Pruning<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The volumes subsystem of the engine. Cheap to clone.
#[derive(Clone)]
pub struct VolumeService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VolumeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeService")
            .field("root", &self.inner.local.root())
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(DaemonError::join)?
}

impl VolumeService {
    /// Opens the store (`<data-root>/volumes.db`) and the local driver (`<data-root>/volumes`),
    /// finishes the removals a crash cut short and deletes the directories no record claims.
    /// Blocking.
    pub fn open(data_root: &Path, events: Events) -> Result<VolumeService, DaemonError> {
        Self::open_owned(data_root, events, None)
    }

    /// [`Self::open`] for a daemon with `--userns-remap`: new local volumes' `_data` belong to
    /// `owner`, the remapped root (as dockerd makes them).
    pub fn open_owned(
        data_root: &Path,
        events: Events,
        owner: Option<(u32, u32)>,
    ) -> Result<VolumeService, DaemonError> {
        let local = LocalDriver::open(&data_root.join("volumes"))?.owned_by(owner);
        let store = VolumeStore::open(&data_root.join("volumes.db"))?;
        let mut table = BTreeMap::new();
        for row in store.load()? {
            let v = row.volume;
            if row.removing {
                let gone = if v.driver == LOCAL {
                    local.remove(&v.name)
                } else {
                    tracing::warn!(volume = %v.name, driver = %v.driver,
                        "finishing a removal cut short: the plugin may still hold the volume");
                    Ok(())
                };
                match gone.and_then(|()| store.delete(&v.name)) {
                    Ok(()) => {
                        tracing::info!(volume = %v.name, "finished a removal cut short");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(volume = %v.name, error = %e, "a removal cut short cannot be finished; the volume stays");
                        store.set_removing(&v.name, false)?;
                    }
                }
            }
            table.insert(
                v.name.clone(),
                Entry {
                    volume: v,
                    refs: BTreeSet::new(),
                    mounts: BTreeSet::new(),
                },
            );
        }
        let swept = local.sweep(|n| table.get(n).is_some_and(|e| e.volume.driver == LOCAL));
        for name in swept {
            tracing::warn!(entry = %name, "deleted a volume directory no record claims (a create or removal cut short)");
        }
        Ok(VolumeService {
            inner: Arc::new(Inner {
                store,
                local,
                events,
                table: Mutex::new(table),
                locks: Mutex::new(BTreeMap::new()),
                pruning: AtomicBool::new(false),
            }),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock of volume `name`.
    async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone();
        m.lock_owned().await
    }

    fn event(&self, action: &str, name: &str, attrs: &[(&str, &str)]) {
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.inner
            .events
            .publish(EventType::Volume, action, name, attrs);
    }

    /// The local driver's data path of `name` (where it is or would be).
    pub fn local_path(&self, name: &str) -> PathBuf {
        self.inner.local.data_path(name)
    }

    /// `POST /volumes/create`, and a container's volume made on first use (`reference` is then
    /// the container's ID, registered in the same step so that no removal slips in between).
    /// An existing volume of that name is answered as it is (a driver asked for that is not its
    /// own is a 409); returns whether it was made now.
    pub async fn create(
        &self,
        req: CreateVolume,
        reference: Option<&str>,
    ) -> Result<(Volume, bool), DaemonError> {
        let anonymous = req.name.is_empty();
        let name = if anonymous {
            crate::containers::model::new_id()?
        } else {
            req.name.clone()
        };
        let mut labels = req.labels.clone();
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
        }
        let _lock = self.lock(&name).await;
        let existing = self.table().get(&name).map(|e| e.volume.driver.clone());
        if let Some(driver) = existing.filter(|d| !req.driver.is_empty() && *d != req.driver) {
            // As Docker: a driver that cannot be found is that error, not a name conflict.
            if req.driver != LOCAL {
                PluginDriver::connect(&req.driver)
                    .await
                    .map_err(|e| op_error("create", &name, e))?;
            }
            return Err(op_error(
                "create",
                &name,
                DaemonError::Conflict(format!(
                    "driver '{driver}' already has volume '{name}': volume name must be unique"
                )),
            ));
        }
        // The name's lock is held: the entry cannot change between the check above and here.
        if let Some(e) = self.table().get_mut(&name) {
            if let Some(r) = reference {
                e.refs.insert(r.to_string());
            }
            return Ok((e.volume.clone(), false));
        }
        // No driver named: a plugin that has a volume of that name provides it, as in dockerd.
        if req.driver.is_empty() && !anonymous {
            let adopted = self
                .adopt(&name)
                .await
                .map_err(|e| op_error("create", &name, e))?;
            if let Some(v) = adopted {
                if let Some(e) = self.table().get_mut(&name) {
                    if let Some(r) = reference {
                        e.refs.insert(r.to_string());
                    }
                    return Ok((e.volume.clone(), false));
                }
                return Ok((v, false));
            }
        }
        let driver = if req.driver.is_empty() {
            LOCAL.to_string()
        } else {
            req.driver.clone()
        };
        let made = if driver == LOCAL {
            self.create_local(&name, req.options.clone(), labels).await
        } else {
            self.create_plugin(&name, &driver, req.options.clone(), labels)
                .await
        };
        let volume = made.map_err(|e| op_error("create", &name, e))?;
        let entry = Entry {
            volume: volume.clone(),
            refs: reference.map(str::to_string).into_iter().collect(),
            mounts: BTreeSet::new(),
        };
        self.table().insert(name.clone(), entry);
        self.event("create", &name, &[("driver", &volume.driver)]);
        Ok((volume, true))
    }

    async fn create_local(
        &self,
        name: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume, DaemonError> {
        model::check_name(name)?;
        LocalOptions::parse(&options)?;
        let svc = self.clone();
        let name = name.to_string();
        blocking(move || {
            let local = &svc.inner.local;
            let mountpoint = local.create(&name)?;
            crate::fault::crash_point!("volume.create.after-dir");
            let v = Volume {
                name: name.clone(),
                driver: LOCAL.to_string(),
                mountpoint,
                created: crate::events::now_nanos(),
                labels,
                options,
                scope: Scope::Local,
                status: None,
            };
            if let Err(e) = svc.inner.store.insert(&v) {
                if let Err(undo) = local.remove(&name) {
                    tracing::warn!(volume = %name, error = %undo, "undoing a failed create");
                }
                return Err(e);
            }
            Ok(v)
        })
        .await
    }

    async fn create_plugin(
        &self,
        name: &str,
        driver: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume, DaemonError> {
        let plugin = PluginDriver::connect(driver).await?;
        plugin.create(name, &options).await?;
        let undo = |e: DaemonError| async {
            if let Err(undo) = plugin.remove(name).await {
                tracing::warn!(volume = %name, error = %undo, "undoing a failed create");
            }
            e
        };
        let mountpoint = match plugin.get(name).await {
            Ok(found) => found.and_then(|v| v.mountpoint).unwrap_or_default(),
            Err(e) => return Err(undo(e).await),
        };
        let scope = match plugin.capabilities().await {
            Ok(plugin::Scope::Global) => Scope::Global,
            Ok(plugin::Scope::Local) => Scope::Local,
            Err(e) => return Err(undo(e).await),
        };
        let v = Volume {
            name: name.to_string(),
            driver: plugin.name().to_string(),
            mountpoint,
            created: crate::events::now_nanos(),
            labels,
            options,
            scope,
            status: None,
        };
        let svc = self.clone();
        let v2 = v.clone();
        match blocking(move || svc.inner.store.insert(&v2)).await {
            Ok(()) => Ok(v),
            Err(e) => Err(undo(e).await),
        }
    }

    /// `GET /volumes/{name}`: the volume, with a plugin's status and mount point as it gives them;
    /// one the store does not hold is looked for in the plugins and adopted ([`lookup`]).
    pub async fn get(&self, name: &str) -> Result<Volume, DaemonError> {
        let stored = self.table().get(name).map(|e| e.volume.clone());
        let mut v = match stored {
            Some(v) => v,
            None => {
                let _lock = self.lock(name).await;
                let again = self.table().get(name).map(|e| e.volume.clone());
                match again {
                    Some(v) => v,
                    None => {
                        return self
                            .adopt(name)
                            .await
                            .map_err(|e| op_error("get", name, e))?
                            .ok_or_else(|| no_such_volume(name));
                    }
                }
            }
        };
        if v.driver != LOCAL {
            let plugin = PluginDriver::connect(&v.driver)
                .await
                .map_err(|e| op_error("get", name, e))?;
            if let Some(p) = plugin
                .get(name)
                .await
                .map_err(|e| op_error("get", name, e))?
            {
                v.status = p.status;
                if let Some(m) = p.mountpoint {
                    v.mountpoint = m;
                }
            }
        }
        Ok(v)
    }

    /// The stored volumes `filter` lets through, by name (`GET /volumes` adds the plugins'
    /// others: [`Self::list`]).
    pub fn list_stored(&self, filter: &VolumeFilter) -> Vec<Volume> {
        self.table()
            .values()
            .filter(|e| model::matches(filter, &e.volume, !e.refs.is_empty()))
            .map(|e| e.volume.clone())
            .collect()
    }

    /// `DELETE /volumes/{name}`: refused (409, naming them) while containers use it; `force`
    /// ignores a volume that does not exist and a driver that fails to delete it.
    pub async fn remove(&self, name: &str, force: bool) -> Result<(), DaemonError> {
        let _lock = self.lock(name).await;
        let Some(entry) = self.table().get(name).cloned() else {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        };
        if entry.in_use() {
            return Err(DaemonError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                entry.users().join(", ")
            )));
        }
        let v = entry.volume;
        let svc = self.clone();
        let n = name.to_string();
        blocking(move || svc.inner.store.set_removing(&n, true)).await?;
        let deleted = if v.driver == LOCAL {
            let svc = self.clone();
            let n = name.to_string();
            blocking(move || svc.inner.local.remove(&n)).await
        } else {
            match PluginDriver::connect(&v.driver).await {
                Ok(p) => p.remove(name).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = deleted {
            if !force {
                let svc = self.clone();
                let n = name.to_string();
                let _ = blocking(move || svc.inner.store.set_removing(&n, false)).await;
                return Err(op_error("remove", name, e));
            }
            tracing::warn!(volume = %name, error = %e, "forced removal: the driver failed to delete the volume");
        }
        let svc = self.clone();
        let n = name.to_string();
        blocking(move || svc.inner.store.delete(&n)).await?;
        self.table().remove(name);
        self.event("destroy", name, &[("driver", &v.driver)]);
        Ok(())
    }

    /// `POST /volumes/prune`: removes the local volumes without mount options that no container
    /// uses and `filter` takes (anonymous ones only unless `all`). Refused (409) while another
    /// prune runs.
    pub async fn prune(&self, filter: &PruneFilter) -> Result<PruneReport, DaemonError> {
        let _pruning = self.begin_prune()?;
        let candidates: Vec<String> = self
            .table()
            .values()
            .filter(|e| !e.in_use() && model::prunable(filter, &e.volume))
            .map(|e| e.volume.name.clone())
            .collect();
        let mut report = PruneReport::default();
        for name in candidates {
            let svc = self.clone();
            let n = name.clone();
            let size = blocking(move || Ok(svc.inner.local.size(&n)))
                .await
                .unwrap_or(0);
            match self.remove(&name, false).await {
                Ok(()) => {
                    report.reclaimed = report.reclaimed.saturating_add(size);
                    report.deleted.push(name);
                }
                Err(e) => tracing::debug!(volume = %name, error = %e, "prune: kept"),
            }
        }
        self.event("prune", "", &[("reclaimed", &report.reclaimed.to_string())]);
        Ok(report)
    }

    /// Marks a prune as running; refused while one is.
    fn begin_prune(&self) -> Result<Pruning<'_>, DaemonError> {
        let flag = &self.inner.pruning;
        if flag
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(DaemonError::Conflict(
                "a prune operation is already running".into(),
            ));
        }
        Ok(Pruning(flag))
    }

    /// What the local volumes without mount options take on disk (`/system/df`), with how many
    /// containers reference each.
    pub async fn usage(&self) -> Result<Vec<VolumeUsage>, DaemonError> {
        let entries: Vec<Entry> = self
            .table()
            .values()
            .filter(|e| e.volume.driver == LOCAL && e.volume.options.is_empty())
            .cloned()
            .collect();
        let local = self.inner.local.clone();
        blocking(move || {
            Ok(entries
                .into_iter()
                .map(|e| VolumeUsage {
                    size: local.size(&e.volume.name),
                    references: e.refs.len(),
                    volume: e.volume,
                })
                .collect())
        })
        .await
    }
}

/// `berth daemon --check`: what is wrong with the volumes under `data_root`, one line each (a
/// local volume whose directory is missing, a directory no record claims, a removal cut short),
/// and the names of the volumes the store holds.
pub fn check(data_root: &Path) -> Result<(Vec<String>, BTreeSet<String>), DaemonError> {
    let db = data_root.join("volumes.db");
    if !db.exists() {
        return Ok((Vec::new(), BTreeSet::new()));
    }
    let store = VolumeStore::open(&db)?;
    let root = data_root.join("volumes");
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    let mut local = BTreeSet::new();
    for row in store.load()? {
        let v = row.volume;
        let data = root.join(&v.name).join(local::DATA_DIR);
        if row.removing {
            problems.push(format!(
                "volume {}: a removal was cut short (the next daemon start finishes it)",
                v.name
            ));
        } else if v.driver == LOCAL && !data.is_dir() {
            problems.push(format!(
                "volume {}: its directory {} is missing",
                v.name,
                data.display()
            ));
        }
        if v.driver == LOCAL {
            local.insert(v.name.clone());
        }
        names.insert(v.name);
    }
    if let Ok(rd) = std::fs::read_dir(&root) {
        for name in rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
        {
            if !local.contains(&name) {
                problems.push(format!(
                    "{}: no volume record claims it",
                    root.join(&name).display()
                ));
            }
        }
    }
    Ok((problems, names))
}
