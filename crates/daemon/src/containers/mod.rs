//! The container engine: one [`ContainerService`] holding the table of containers (in memory,
//! persisted by [`store`]), and one file per verb that extends it (`create`, `start`, `stop`,
//! `kill`, `wait`, `remove`, `inspect`, `list`, `logs`, `attach`, `resize`), plus the per-container
//! [`monitor`] that waits on a shim and applies restart policies, and [`restore`] which re-adopts
//! running containers when the daemon starts (live restore).
//!
//! Vocabulary: a container's *record* ([`model::Container`]) is the persisted truth; its *entry*
//! adds what only lives in memory: a lock that serialises verbs on the container, a watch channel
//! of its [`Observed`] state (wait and follow-logs listen on it), its shim handle and the attach
//! clients waiting for a start. Every state change goes through [`ContainerService::commit`]: one
//! store transaction, then the watchers are told.
//!
//! Locking: `table` (the map) is held only to look up or insert entries; `Entry::op` is held by a
//! verb for its whole run (async lock); `Entry::record` is a short std lock around reads and writes
//! of the record. Never hold `record` across an await.

pub mod archive;
pub mod attach;
pub mod changes;
pub mod commit;
pub mod create;
pub mod create_networks;
pub mod exec;
pub mod export;
pub mod health;
pub mod inspect;
pub mod kill;
pub mod links;
pub mod list;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod names;
pub mod netns;
pub mod pause;
pub mod prune;
pub mod remove;
pub mod rename;
pub mod resize;
pub mod restart;
pub mod restore;
pub mod settings;
pub mod shim;
pub mod spec;
pub mod start;
pub mod state;
pub mod stats;
pub mod stop;
pub mod store;
pub mod top;
pub mod update;
pub mod volumes;
pub mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::error::DaemonError;
use crate::events::{EventType, Events};
use crate::images::ImageService;
use model::Container;
use state::Status;
use store::ContainerStore;

/// What watchers of a container see change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub status: Status,
    pub exit_code: i64,
    /// How many times the container exited since the daemon knows it.
    pub exits: u64,
    pub removed: bool,
}

/// Where a container's files live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<data-root>/containers`: hosts, hostname, resolv.conf, the json-file log.
    pub data: PathBuf,
    /// `<exec-root>/containers`: the bundle and the shim's state dir.
    pub exec: PathBuf,
    /// The built-in runtime's state root.
    pub runtime_root: PathBuf,
    /// `<exec-root>/s`: the shims' state dirs.
    pub shims: PathBuf,
    /// `--userns-remap`: the files a container uses belong to the remapped root.
    pub remap: Option<crate::userns::Remap>,
}

impl Paths {
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.data.join(id)
    }
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.exec.join(id)
    }
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.bundle(id).join("rootfs")
    }
    /// The shim's state dir: short, because its socket path must fit in `sun_path` (108 bytes);
    /// 32 hex digits of the ID are as unique as the whole.
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.shims.join(&id[..32.min(id.len())])
    }
    /// The bound network namespace of a container with a private network.
    pub fn netns(&self, id: &str) -> PathBuf {
        self.bundle(id).join("netns")
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.data_dir(id).join(format!("{id}-json.log"))
    }
}

/// One container's in-memory side.
pub struct Entry {
    pub record: Mutex<Container>,
    /// Serialises verbs on this container.
    pub op: tokio::sync::Mutex<()>,
    pub observed: watch::Sender<Observed>,
    pub shim: Mutex<Option<berth_shim::client::ShimHandle>>,
    /// Attach clients waiting for the next start.
    pub waiting_attaches: Mutex<Vec<attach::PendingAttach>>,
}

impl Entry {
    fn new(c: Container) -> Arc<Entry> {
        let observed = Observed {
            status: c.state.status,
            exit_code: c.state.exit_code,
            exits: 0,
            removed: false,
        };
        Arc::new(Entry {
            record: Mutex::new(c),
            op: tokio::sync::Mutex::new(()),
            observed: watch::channel(observed).0,
            shim: Mutex::new(None),
            waiting_attaches: Mutex::new(Vec::new()),
        })
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Container {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn id(&self) -> String {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .id
            .clone()
    }

    pub fn shim(&self) -> Option<berth_shim::client::ShimHandle> {
        self.shim.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_shim(&self, h: Option<berth_shim::client::ShimHandle>) {
        *self.shim.lock().unwrap_or_else(|p| p.into_inner()) = h;
    }
}

/// Options of the container engine taken from the daemon config.
#[derive(Debug, Clone)]
pub struct ContainerOptions {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The executable run as `<exe> shim ...`.
    pub shim_exe: PathBuf,
    /// The networks subsystem the container verbs plug containers into.
    pub networks: crate::networks::NetworkService,
    /// The volumes subsystem the containers' volume mounts come from.
    pub volumes: crate::volumes::VolumeService,
    /// Brings a record written before [`store::RECORD_FORMAT`] up to it (fills its
    /// [`settings::Settings`] from the request it kept); given by the front door whose request
    /// format old records hold.
    pub upgrade: RecordUpgrade,
    /// The settings `SIGHUP` reloads: the runtimes containers may name are read from it.
    pub settings: crate::config::Live,
    /// `no-new-privileges`: new containers that do not say otherwise get no_new_privs.
    pub no_new_privileges: bool,
    /// `--userns-remap`: containers run in user namespaces with these maps.
    pub remap: Option<crate::userns::Remap>,
}

/// See [`ContainerOptions::upgrade`].
pub type RecordUpgrade = fn(&mut Container) -> Result<(), DaemonError>;

pub(crate) struct Inner {
    pub store: ContainerStore,
    pub images: ImageService,
    pub events: Events,
    pub paths: Paths,
    /// Where shims are exec'ed from: the sealed copy's `/proc/self/fd` path.
    pub shim_exe: PathBuf,
    /// The sealed in-memory copy of the shim's executable that every shim runs from (its
    /// descriptor must live as long as the service): containers are cloned from shims, so none
    /// of them can reach the host's binary through `/proc/<pid>/exe` (CVE-2019-5736).
    _shim_copy: berth_runtime::sealed_exe::SealedExe,
    /// See [`ContainerOptions::settings`].
    pub settings: crate::config::Live,
    pub networks: crate::networks::NetworkService,
    pub volumes: crate::volumes::VolumeService,
    /// See [`ContainerOptions::no_new_privileges`].
    pub no_new_privileges: bool,
    pub table: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// Exec instances (see [`exec`]).
    pub execs: exec::ExecTable,
    /// Containers whose record holds a change the store refused (see
    /// [`ContainerService::commit_fact`]).
    unsaved: Mutex<std::collections::BTreeSet<String>>,
}

/// The containers subsystem of the engine. Cheap to clone.
#[derive(Clone)]
pub struct ContainerService {
    pub(crate) inner: Arc<Inner>,
}

impl ContainerService {
    /// Opens the store and loads every container (state as recorded; [`restore`] then reconciles).
    pub fn open(
        opts: &ContainerOptions,
        images: ImageService,
        events: Events,
    ) -> Result<Self, DaemonError> {
        let paths = Paths {
            data: opts.data_root.join("containers"),
            exec: opts.exec_root.join("containers"),
            runtime_root: opts.exec_root.join("runtime"),
            shims: opts.exec_root.join("s"),
            remap: opts.remap.clone(),
        };
        for dir in [&paths.data, &paths.exec, &paths.runtime_root, &paths.shims] {
            std::fs::create_dir_all(dir)
                .map_err(|e| DaemonError::io("creating directory", dir, e))?;
        }
        let shim_copy = berth_runtime::sealed_exe::SealedExe::of(&opts.shim_exe)
            .map_err(|e| DaemonError::Config(format!("shim executable: {e}")))?;
        let store = ContainerStore::open(&opts.data_root.join("containers.db"))?;
        // Every outdated record is upgraded in memory before any is written: one that cannot be
        // leaves the store as it was.
        let outdated = store.outdated()?;
        let mut loaded = store.load_all()?;
        for c in loaded.iter_mut().filter(|c| outdated.contains(&c.id)) {
            (opts.upgrade)(c).map_err(|e| {
                DaemonError::Internal(format!(
                    "upgrading the record of container {} to format {}: {e}; the store is left \
                     as it was (remove the container with the daemon that made it)",
                    c.id,
                    store::RECORD_FORMAT
                ))
            })?;
        }
        for c in loaded.iter().filter(|c| outdated.contains(&c.id)) {
            store.update(c)?;
        }
        let mut table = BTreeMap::new();
        for c in loaded {
            table.insert(c.id.clone(), Entry::new(c));
        }
        Ok(ContainerService {
            inner: Arc::new(Inner {
                store,
                images,
                events,
                paths,
                shim_exe: shim_copy.path(),
                _shim_copy: shim_copy,
                settings: opts.settings.clone(),
                networks: opts.networks.clone(),
                volumes: opts.volumes.clone(),
                no_new_privileges: opts.no_new_privileges,
                table: Mutex::new(table),
                execs: exec::ExecTable::default(),
                unsaved: Mutex::default(),
            }),
        })
    }

    /// Whether new containers get no_new_privs unless they say otherwise (`no-new-privileges`).
    pub fn no_new_privileges(&self) -> bool {
        self.inner.no_new_privileges
    }

    /// The `--userns-remap` in force, if any.
    pub fn remap(&self) -> Option<&crate::userns::Remap> {
        self.inner.paths.remap.as_ref()
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The runtimes containers may name, as configured now (reloaded on `SIGHUP`).
    pub fn runtimes(&self) -> crate::config::runtimes::Runtimes {
        self.inner.settings.get().runtimes.clone()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Entry>>> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every entry, oldest first.
    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        let mut all: Vec<Arc<Entry>> = self.table().values().cloned().collect();
        all.sort_by_key(|e| e.record.lock().map(|r| r.created).unwrap_or(0));
        all
    }

    /// Whether some container is running or paused (its shim and state live on).
    pub fn any_active(&self) -> bool {
        self.table()
            .values()
            .any(|e| e.snapshot().state.status.is_active())
    }

    /// Writes the records the store refused before; true when none is left unwritten (a daemon
    /// stopping with one must keep the shims' exit files, which restore reads instead).
    pub fn write_unsaved(&self) -> bool {
        let ids: Vec<String> = self.unsaved().iter().cloned().collect();
        for id in ids {
            let Some(entry) = self.table().get(&id).cloned() else {
                self.unsaved().remove(&id);
                continue;
            };
            if self.write_again(&entry) {
                self.unsaved().remove(&id);
            }
        }
        self.unsaved().is_empty()
    }

    fn unsaved(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.inner.unsaved.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `entry`'s record as it is; true when written or no longer wanted.
    fn write_again(&self, entry: &Entry) -> bool {
        if entry.observed.borrow().removed {
            return true;
        }
        // Under the record's lock, so that a newer commit cannot be overwritten by this one.
        let rec = entry.record.lock().unwrap_or_else(|p| p.into_inner());
        match self.inner.store.update(&rec) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(container = %rec.id, error = %e, "writing the record again");
                false
            }
        }
    }

    /// Finds a container by full ID, name (with or without `/`) or unique ID prefix, as Docker does.
    pub fn lookup(&self, name_or_id: &str) -> Result<Arc<Entry>, DaemonError> {
        let table = self.table();
        if let Some(e) = table.get(name_or_id) {
            return Ok(e.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(e) = table
            .values()
            .find(|e| e.record.lock().map(|r| r.name == name).unwrap_or(false))
        {
            return Ok(e.clone());
        }
        if !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<&Arc<Entry>> = table
                .range(name_or_id.to_string()..)
                .take_while(|(k, _)| k.starts_with(name_or_id))
                .map(|(_, v)| v)
                .collect();
            match matches.len() {
                1 => return Ok(matches[0].clone()),
                0 => {}
                _ => {
                    return Err(DaemonError::InvalidArgument(format!(
                        "multiple IDs found with provided prefix: {name_or_id}"
                    )))
                }
            }
        }
        Err(DaemonError::NoSuchContainer(name_or_id.to_string()))
    }

    /// Applies `change` to the record, checks the status move against the lifecycle
    /// ([`state::Status::check_move`]), persists it (one transaction) and tells the watchers.
    /// `exited` counts an exit for `next-exit` waiters.
    pub(crate) fn commit(
        &self,
        entry: &Entry,
        exited: bool,
        change: impl FnOnce(&mut Container),
    ) -> Result<Container, DaemonError> {
        self.commit_as(entry, exited, change, true)
    }

    /// [`Self::commit`] for a fact that happened whatever the store says — an exit: when the
    /// store refuses the write (a full disk), the change is kept in memory and written again
    /// every few seconds until the store takes it or the container is removed. A daemon
    /// restarted meanwhile reads the exit back from the shim's status file, so nothing is lost;
    /// without this the container would show `running` forever.
    pub(crate) fn commit_fact(
        &self,
        entry: &Arc<Entry>,
        exited: bool,
        change: impl Fn(&mut Container),
    ) -> Result<Container, DaemonError> {
        match self.commit_as(entry, exited, &change, true) {
            Err(e) if !matches!(e, DaemonError::Conflict(_)) => {
                tracing::error!(container = %entry.id(), error = %e,
                    "the store refused a state change: kept in memory, writing it again later");
                let c = self.commit_as(entry, exited, &change, false)?;
                self.persist_later(entry.clone());
                Ok(c)
            }
            other => other,
        }
    }

    /// Writes `entry`'s record until the store takes it or the container is gone.
    fn persist_later(&self, entry: Arc<Entry>) {
        const RETRY: std::time::Duration = std::time::Duration::from_secs(2);
        self.unsaved().insert(entry.id());
        let svc = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY).await;
                if !svc.unsaved().contains(&entry.id()) {
                    return;
                }
                if svc.write_again(&entry) {
                    svc.unsaved().remove(&entry.id());
                    return;
                }
            }
        });
    }

    fn commit_as(
        &self,
        entry: &Entry,
        exited: bool,
        change: impl FnOnce(&mut Container),
        persist: bool,
    ) -> Result<Container, DaemonError> {
        let updated = {
            let mut rec = entry.record.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = rec.clone();
            change(&mut next);
            // The state machine is enforced here, on the one write path: an illegal move is
            // refused before anything is stored.
            rec.state.status.check_move(&next.id, next.state.status)?;
            if persist {
                self.inner.store.update(&next)?;
            }
            *rec = next.clone();
            next
        };
        entry.observed.send_modify(|o| {
            o.status = updated.state.status;
            o.exit_code = updated.state.exit_code;
            if exited {
                o.exits += 1;
            }
        });
        Ok(updated)
    }

    /// Publishes a container event with Docker's attributes (name, image, labels).
    pub(crate) fn event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = c.labels();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.image_name.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.inner
            .events
            .publish(EventType::Container, action, &c.id, attrs);
    }

    /// Inserts a new container into the store and the table.
    pub(crate) fn insert(&self, c: Container) -> Result<Arc<Entry>, DaemonError> {
        let mut table = self.table();
        if let Some(other) = table
            .values()
            .find(|e| e.record.lock().map(|r| r.name == c.name).unwrap_or(false))
        {
            return Err(name_conflict(&c.name, &other.id()));
        }
        self.inner.store.insert(&c).map_err(|e| match e {
            store::StoreError::NameTaken(_) => name_conflict(&c.name, ""),
            other => other.into(),
        })?;
        let entry = Entry::new(c.clone());
        table.insert(c.id, entry.clone());
        Ok(entry)
    }

    /// Forgets a removed container.
    pub(crate) fn forget(&self, entry: &Entry) -> Result<(), DaemonError> {
        let id = entry.id();
        self.inner.store.delete(&id)?;
        self.table().remove(&id);
        entry.observed.send_modify(|o| o.removed = true);
        Ok(())
    }

    /// How many containers are in each state: (running, paused, stopped), for `/info`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for e in self.entries() {
            match e.snapshot().state.status {
                Status::Running | Status::Restarting => c.0 += 1,
                Status::Paused => c.1 += 1,
                _ => c.2 += 1,
            }
        }
        c
    }
}

/// Docker's name-conflict error.
pub fn name_conflict(name: &str, id: &str) -> DaemonError {
    DaemonError::Conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// Nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    crate::events::now_nanos()
}
