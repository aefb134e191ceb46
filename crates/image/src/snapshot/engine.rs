//! The lifecycle half shared by every snapshotter: the index of keys, kinds and parents, its lock,
//! and the rules of the [`Snapshotter`] trait. The storage half is a [`Backend`].
//!
//! Layout under a snapshotter root:
//!
//! ```text
//! index.json           {"next_id": n, "snapshots": {key: {"id", "kind", "parent"}}}, replaced atomically
//! lock                 flock'ed for every operation (threads and processes share a root safely)
//! snapshots/<id>/      one directory per snapshot, filled by the backend (e.g. fs/, work/)
//! ```
//!
//! Ordering for crash safety: directories are created before the index names them and deleted after
//! the index forgets them, so the index never names a missing directory; orphans are swept by
//! [`Snapshotter::cleanup`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{check_key, Info, IoContext, Kind, Mount, SnapshotError, Snapshotter};
use crate::content::write_atomic;
use crate::layer::WhiteoutMode;

/// One snapshot's directory, as a backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapDir {
    /// Stable numeric id, unique for the root's lifetime.
    pub id: u64,
    /// `root/snapshots/<id>`.
    pub path: PathBuf,
}

impl SnapDir {
    /// The tree: the whole tree (plain) or this snapshot's diff (overlay upper).
    pub fn fs(&self) -> PathBuf {
        self.path.join("fs")
    }

    /// Overlay's work directory.
    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }
}

/// The storage half of a snapshotter: how a snapshot's directory is filled and mounted.
pub trait Backend: Send + Sync + Sized {
    /// The backend of the snapshotter rooted at `root` (which exists).
    fn new(root: &Path) -> Result<Self, SnapshotError>;

    /// Fills the new, empty `snap` directory; `chain` is its parents, nearest first.
    fn create(&self, snap: &SnapDir, kind: Kind, chain: &[SnapDir]) -> Result<(), SnapshotError>;

    /// How to mount `snap`, whose parents are `chain`, nearest first.
    fn mounts(
        &self,
        snap: &SnapDir,
        kind: Kind,
        chain: &[SnapDir],
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// Called after `snap` became committed.
    fn committed(&self, _snap: &SnapDir) -> Result<(), SnapshotError> {
        Ok(())
    }

    /// Removes what the backend keeps outside `snap.path` (which the engine deletes).
    fn removed(&self, _snap: &SnapDir) -> Result<(), SnapshotError> {
        Ok(())
    }

    /// Removes backend leftovers for ids not in `live`; returns how many.
    fn cleanup(&self, _live: &BTreeSet<u64>) -> Result<usize, SnapshotError> {
        Ok(0)
    }

    /// See [`Snapshotter::whiteout_mode`].
    fn whiteout_mode(&self) -> WhiteoutMode;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: u64,
    kind: Kind,
    parent: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    next_id: u64,
    snapshots: BTreeMap<String, Record>,
}

/// A snapshotter: the shared lifecycle over backend `B`.
#[derive(Debug)]
pub struct Snapshots<B> {
    root: PathBuf,
    backend: B,
}

/// The index, loaded under the lock.
struct Locked<'a> {
    root: &'a Path,
    state: State,
    _lock: Flock<File>,
}

impl<B: Backend> Snapshots<B> {
    /// Opens (creating if needed) the snapshotter rooted at `root`.
    pub fn open(root: &Path) -> Result<Self, SnapshotError> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).at(&snaps)?;
        Ok(Snapshots {
            root: root.to_path_buf(),
            backend: B::new(root)?,
        })
    }

    /// The snapshotter's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> Result<Locked<'_>, SnapshotError> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| SnapshotError::Io {
                path: path.clone(),
                source: io::Error::from(errno),
            })?;
        let index = self.root.join("index.json");
        let state = match fs::read(&index) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| SnapshotError::CorruptIndex {
                    path: index.clone(),
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                return Err(SnapshotError::Io {
                    path: index,
                    source: e,
                })
            }
        };
        Ok(Locked {
            root: &self.root,
            state,
            _lock: lock,
        })
    }

    fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
    ) -> Result<Vec<Mount>, SnapshotError> {
        check_key(key)?;
        let mut locked = self.lock()?;
        if locked.state.snapshots.contains_key(key) {
            return Err(SnapshotError::AlreadyExists {
                key: key.to_string(),
            });
        }
        let chain = locked.chain(parent)?;
        let snap = locked.snap_dir(locked.state.next_id);
        // An orphan left by a crash may hold this id: it is not in the index, so it is garbage.
        remove_tree(&snap.path)?;
        fs::create_dir(&snap.path).at(&snap.path)?;
        let created = self
            .backend
            .create(&snap, kind, &chain)
            .and_then(|()| self.backend.mounts(&snap, kind, &chain));
        let mounts = match created {
            Ok(m) => m,
            Err(e) => {
                let _ = self.backend.removed(&snap);
                let _ = remove_tree(&snap.path);
                return Err(e);
            }
        };
        locked.state.next_id += 1;
        locked.state.snapshots.insert(
            key.to_string(),
            Record {
                id: snap.id,
                kind,
                parent: parent.map(str::to_string),
            },
        );
        locked.save()?;
        Ok(mounts)
    }
}

impl Locked<'_> {
    fn snap_dir(&self, id: u64) -> SnapDir {
        SnapDir {
            id,
            path: self.root.join("snapshots").join(id.to_string()),
        }
    }

    fn get(&self, key: &str) -> Result<&Record, SnapshotError> {
        self.state
            .snapshots
            .get(key)
            .ok_or_else(|| SnapshotError::NotFound {
                key: key.to_string(),
            })
    }

    /// The directories of `parent` and its ancestors, nearest first; `parent` must be committed.
    fn chain(&self, parent: Option<&str>) -> Result<Vec<SnapDir>, SnapshotError> {
        let mut chain = Vec::new();
        let mut next = parent;
        while let Some(name) = next {
            let record = self.get(name)?;
            if record.kind != Kind::Committed {
                return Err(SnapshotError::ParentNotCommitted {
                    parent: name.to_string(),
                    kind: record.kind,
                });
            }
            if chain.len() > self.state.snapshots.len() {
                return Err(SnapshotError::CorruptIndex {
                    path: self.root.join("index.json"),
                    reason: format!("the parent chain of {name:?} has a cycle"),
                });
            }
            chain.push(self.snap_dir(record.id));
            next = record.parent.as_deref();
        }
        Ok(chain)
    }

    fn children(&self, key: &str) -> Vec<String> {
        self.state
            .snapshots
            .iter()
            .filter(|(_, r)| r.parent.as_deref() == Some(key))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn info(&self, key: &str, record: &Record) -> Info {
        Info {
            name: key.to_string(),
            kind: record.kind,
            parent: record.parent.clone(),
        }
    }

    fn save(&self) -> Result<(), SnapshotError> {
        let path = self.root.join("index.json");
        let bytes = serde_json::to_vec(&self.state).map_err(|e| SnapshotError::CorruptIndex {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes).at(&path)
    }
}

impl<B: Backend> Snapshots<B> {
    /// The index half of a removal: drops `key` (refusing while it has children) and tells the
    /// backend; returns the directory left to delete.
    fn forget(&self, key: &str) -> Result<SnapDir, SnapshotError> {
        let mut locked = self.lock()?;
        let id = locked.get(key)?.id;
        let children = locked.children(key);
        if !children.is_empty() {
            return Err(SnapshotError::HasChildren {
                key: key.to_string(),
                children,
            });
        }
        locked.state.snapshots.remove(key);
        locked.save()?;
        let snap = locked.snap_dir(id);
        self.backend.removed(&snap)?;
        Ok(snap)
    }
}

fn remove_tree(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SnapshotError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

impl<B: Backend> Snapshotter for Snapshots<B> {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::Active)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Kind::View)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let locked = self.lock()?;
        let record = locked.get(key)?;
        let chain = locked.chain(record.parent.as_deref())?;
        self.backend
            .mounts(&locked.snap_dir(record.id), record.kind, &chain)
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        check_key(name)?;
        let mut locked = self.lock()?;
        let record = locked.get(key)?.clone();
        if record.kind != Kind::Active {
            return Err(SnapshotError::NotActive {
                key: key.to_string(),
                kind: record.kind,
                operation: "commit",
            });
        }
        if locked.state.snapshots.contains_key(name) {
            return Err(SnapshotError::AlreadyExists {
                key: name.to_string(),
            });
        }
        locked.state.snapshots.remove(key);
        let snap = locked.snap_dir(record.id);
        locked.state.snapshots.insert(
            name.to_string(),
            Record {
                kind: Kind::Committed,
                ..record
            },
        );
        locked.save()?;
        self.backend.committed(&snap)
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let snap = self.forget(key)?;
        remove_tree(&snap.path)
    }

    fn remove_detached(&self, key: &str) -> Result<(), SnapshotError> {
        let snap = self.forget(key)?;
        // Ids are never reused, so nothing can claim the directory meanwhile; a crash leaves an
        // orphan for `cleanup`.
        let path = snap.path.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot-rm".into())
            .spawn(move || remove_tree(&path));
        match spawned {
            Ok(_) => Ok(()),
            Err(_) => remove_tree(&snap.path),
        }
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        let locked = self.lock()?;
        let record = locked.get(key)?;
        Ok(locked.info(key, record))
    }

    fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        let locked = self.lock()?;
        Ok(locked
            .state
            .snapshots
            .iter()
            .map(|(k, r)| locked.info(k, r))
            .collect())
    }

    fn writable_dir(&self, key: &str) -> Result<PathBuf, SnapshotError> {
        let locked = self.lock()?;
        let record = locked.get(key)?;
        if record.kind != Kind::Active {
            return Err(SnapshotError::NotActive {
                key: key.to_string(),
                kind: record.kind,
                operation: "writing",
            });
        }
        Ok(locked.snap_dir(record.id).fs())
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        self.backend.whiteout_mode()
    }

    fn cleanup(&self) -> Result<usize, SnapshotError> {
        let locked = self.lock()?;
        let live: BTreeSet<u64> = locked.state.snapshots.values().map(|r| r.id).collect();
        let dir = self.root.join("snapshots");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let id = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            if id.is_some_and(|id| live.contains(&id)) {
                continue;
            }
            remove_tree(&entry.path())?;
            removed += 1;
        }
        // Index temp files: under the lock nobody is writing one, so any left is from a crash.
        for entry in fs::read_dir(&self.root).at(&self.root)? {
            let entry = entry.at(&self.root)?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                fs::remove_file(entry.path()).at(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed + self.backend.cleanup(&live)?)
    }
}
