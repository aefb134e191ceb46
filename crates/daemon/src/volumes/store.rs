//! Volume metadata in SQLite (`<data-root>/volumes.db`, WAL): one row per volume holding its
//! [`Volume`] record as JSON under its name, and a `removing` mark. Every change is one
//! transaction; schema changes go through [`MIGRATIONS`] (by `user_version`), as the container
//! and network stores do.
//!
//! Crash safety: a volume is visible once its row is inserted, which happens last in a create
//! (after the local driver's directory is in place); a removal marks the row first, then deletes
//! the data, then the row, so a daemon killed in between finds the mark at its next start and
//! finishes the removal.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::model::Volume;
use crate::error::DaemonError;

const MIGRATIONS: &[&str] = &["CREATE TABLE volumes (
        name TEXT PRIMARY KEY NOT NULL,
        body TEXT NOT NULL,
        removing INTEGER NOT NULL DEFAULT 0
    );"];

/// A row: the record and whether a removal of it was begun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub volume: Volume,
    pub removing: bool,
}

/// The volume table.
pub struct VolumeStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl VolumeStore {
    /// Opens (creating and migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, DaemonError> {
        let conn =
            crate::sqlite::open_migrated(path, MIGRATIONS).map_err(|e| sql_error(path, e))?;
        Ok(VolumeStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql(&self, e: rusqlite::Error) -> DaemonError {
        sql_error(&self.path, e)
    }

    /// Every row.
    pub fn load(&self) -> Result<Vec<Row>, DaemonError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, body, removing FROM volumes ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, body, removing) = row.map_err(|e| self.sql(e))?;
            let volume = serde_json::from_str(&body).map_err(|e| {
                DaemonError::Internal(format!(
                    "volume store {}: record of volume {name} is corrupt: {e}",
                    self.path.display()
                ))
            })?;
            out.push(Row {
                volume,
                removing: removing != 0,
            });
        }
        Ok(out)
    }

    /// Inserts a new volume; a volume of that name already there is a conflict.
    pub fn insert(&self, v: &Volume) -> Result<(), DaemonError> {
        let body = encode(v)?;
        let r = self.conn().execute(
            "INSERT INTO volumes (name, body) VALUES (?1, ?2)",
            params![v.name, body],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(DaemonError::Conflict(format!(
                    "volume {} already exists",
                    v.name
                )))
            }
            Err(e) => Err(self.sql(e)),
        }
    }

    /// Replaces the record of an existing volume (a plugin's new mount point).
    pub fn update(&self, v: &Volume) -> Result<(), DaemonError> {
        let body = encode(v)?;
        self.conn()
            .execute(
                "UPDATE volumes SET body = ?2 WHERE name = ?1",
                params![v.name, body],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Marks (or unmarks) `name` as being removed.
    pub fn set_removing(&self, name: &str, removing: bool) -> Result<(), DaemonError> {
        self.conn()
            .execute(
                "UPDATE volumes SET removing = ?2 WHERE name = ?1",
                params![name, i64::from(removing)],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    pub fn delete(&self, name: &str) -> Result<(), DaemonError> {
        self.conn()
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// One row, if present.
    pub fn get(&self, name: &str) -> Result<Option<Row>, DaemonError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                "SELECT body, removing FROM volumes WHERE name = ?1",
                params![name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some((body, removing)) = found else {
            return Ok(None);
        };
        let volume = serde_json::from_str(&body).map_err(|e| {
            DaemonError::Internal(format!(
                "volume store: record of volume {name} is corrupt: {e}"
            ))
        })?;
        Ok(Some(Row {
            volume,
            removing: removing != 0,
        }))
    }
}

fn encode(v: &Volume) -> Result<String, DaemonError> {
    serde_json::to_string(v)
        .map_err(|e| DaemonError::Internal(format!("encoding a volume record: {e}")))
}

fn sql_error(path: &Path, e: rusqlite::Error) -> DaemonError {
    let e = crate::sqlite::describe(&e);
    DaemonError::Internal(format!("volume store {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::model::Scope;
    use std::collections::BTreeMap;

    fn volume(name: &str) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            mountpoint: PathBuf::from("/v").join(name),
            created: 7,
            labels: BTreeMap::from([("k".into(), "v".into())]),
            options: BTreeMap::new(),
            scope: Scope::Local,
            status: None,
        }
    }

    #[test]
    fn rows_survive_a_reopen_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("volumes.db");
        let s = VolumeStore::open(&db).unwrap();
        s.insert(&volume("a")).unwrap();
        s.insert(&volume("b")).unwrap();
        let e = s.insert(&volume("a")).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Conflict);
        s.set_removing("b", true).unwrap();
        drop(s);
        let s = VolumeStore::open(&db).unwrap();
        let rows = s.load().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].volume, volume("a"));
        assert!(!rows[0].removing && rows[1].removing);
        s.delete("b").unwrap();
        assert!(s.get("b").unwrap().is_none());
        assert!(s.get("a").unwrap().is_some());
    }
}
