//! Container metadata in SQLite (`<data-root>/containers.db`, WAL): one row per container holding its
//! [`Container`] record as JSON, the name in its own UNIQUE column so that two creates can never take
//! the same name. Every state change is one transaction, so a container survives `kill -9` of the
//! daemon in the state it last reached. Schema changes go through [`MIGRATIONS`] (by `user_version`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::model::Container;
use crate::error::DaemonError;

/// Schema migrations, applied in order; `user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE containers (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL,
        body TEXT NOT NULL
    );",
    // Which format each record's body has (see RECORD_FORMAT); records before it are format 1.
    "ALTER TABLE containers ADD COLUMN format INTEGER NOT NULL DEFAULT 1;",
];

/// The format of the records this daemon writes. 1: Docker's `Config`/`HostConfig` only; 2: with
/// [`Settings`](super::settings::Settings), which a record of format 1 gets when the service
/// opens ([`ContainerOptions::upgrade`](super::ContainerOptions::upgrade)).
pub const RECORD_FORMAT: i64 = 2;

/// Errors of the container store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("container store {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("container store {path}: record of container {id} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("container name {0:?} is already taken")]
    NameTaken(String),
}

impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NameTaken(_) => DaemonError::Conflict(e.to_string()),
            other => DaemonError::Internal(other.to_string()),
        }
    }
}

/// The container table.
pub struct ContainerStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl ContainerStore {
    /// Opens (creating and migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn =
            crate::sqlite::open_migrated(path, MIGRATIONS).map_err(|source| StoreError::Sql {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(ContainerStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    fn encode(c: &Container) -> String {
        // A record of plain strings, numbers and maps always serialises.
        serde_json::to_string(c).unwrap_or_default()
    }

    /// Every container, oldest first.
    pub fn load_all(&self) -> Result<Vec<Container>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare("SELECT id, body FROM containers ORDER BY created")
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.sql(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row.map_err(|e| self.sql(e))?;
                let c = serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                    path: self.path.clone(),
                    id,
                    source,
                })?;
                out.push(c);
            }
            Ok(out)
        })
    }

    /// The IDs of the records written in a format before [`RECORD_FORMAT`].
    pub fn outdated(&self) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare("SELECT id FROM containers WHERE format < ?1")
                .map_err(|e| self.sql(e))?;
            let ids = stmt
                .query_map([RECORD_FORMAT], |r| r.get::<_, String>(0))
                .map_err(|e| self.sql(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sql(e))?;
            Ok(ids)
        })
    }

    /// Records a new container; fails with [`StoreError::NameTaken`] if the name is in use.
    pub fn insert(&self, c: &Container) -> Result<(), StoreError> {
        self.with(|conn| {
            let taken: Option<String> = conn
                .query_row(
                    "SELECT id FROM containers WHERE name = ?1",
                    [&c.name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.sql(e))?;
            if taken.is_some() {
                return Err(StoreError::NameTaken(c.name.clone()));
            }
            conn.execute(
                "INSERT INTO containers (id, name, created, body, format) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.id, c.name, c.created, Self::encode(c), RECORD_FORMAT],
            )
            .map_err(|e| self.sql(e))?;
            Ok(())
        })
    }

    /// Saves the container's new state (one transaction).
    pub fn update(&self, c: &Container) -> Result<(), StoreError> {
        self.with(|conn| {
            crate::fault::crash_point!("container.store.update");
            conn.execute(
                "UPDATE containers SET name = ?2, body = ?3, format = ?4 WHERE id = ?1",
                params![c.id, c.name, Self::encode(c), RECORD_FORMAT],
            )
            .map_err(|e| self.sql(e))?;
            Ok(())
        })
    }

    /// Forgets a container (idempotent).
    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM containers WHERE id = ?1", [id])
                .map_err(|e| self.sql(e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::model::RunState;

    fn container(id: &str, name: &str) -> Container {
        Container {
            id: id.to_string(),
            name: name.to_string(),
            created: 1,
            image_name: "busybox".into(),
            image_id: "sha256:abc".into(),
            config: Default::default(),
            host_config: Default::default(),
            path: "sh".into(),
            args: vec![],
            state: RunState::default(),
            warnings: vec![],
            rootfs_mounts: vec![],
            settings: Default::default(),
        }
    }

    #[test]
    fn records_survive_reopen_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = ContainerStore::open(&path).unwrap();
        let mut a = container("a1", "web");
        store.insert(&a).unwrap();
        assert!(matches!(
            store.insert(&container("b2", "web")),
            Err(StoreError::NameTaken(_))
        ));
        a.state.exit_code = 3;
        store.update(&a).unwrap();
        drop(store);
        let store = ContainerStore::open(&path).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all, vec![a]);
        assert!(store.outdated().unwrap().is_empty());
        store.delete("a1").unwrap();
        assert!(store.load_all().unwrap().is_empty());
    }
}
