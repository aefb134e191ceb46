//! Network metadata in SQLite (`<data-root>/networks.db`, WAL): one row per network holding its
//! [`Network`] record (endpoints and pool included) as JSON with the name in a UNIQUE column, and
//! one row per running container holding its published ports. Every change is one transaction;
//! schema changes go through [`MIGRATIONS`] (by `user_version`), as the container store does.
//!
//! Durability: `synchronous=NORMAL` in WAL mode, so a container's start and stop (each writes its
//! endpoints' `active` flag) cost no fsync. A daemon killed at any point loses nothing (the
//! kernel holds the written WAL); an OS crash or power loss may roll back the last transactions,
//! and what they held does not outlive a reboot anyway: the running containers and their ports
//! are gone, reconcile recomputes every `active` flag, and a container whose endpoint was lost
//! is registered again at its next start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::model::{Network, PortRecord};
use crate::error::DaemonError;

const MIGRATIONS: &[&str] = &["CREATE TABLE networks (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE TABLE ports (
        container TEXT PRIMARY KEY NOT NULL,
        body TEXT NOT NULL
    );"];

/// The network tables.
pub struct NetworkStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl NetworkStore {
    /// Opens (creating and migrating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, DaemonError> {
        // No fsync per transaction (see the module header and `crate::sqlite`).
        let conn =
            crate::sqlite::open_migrated(path, MIGRATIONS).map_err(|e| sql_error(path, e))?;
        Ok(NetworkStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every network.
    pub fn load(&self) -> Result<Vec<Network>, DaemonError> {
        let conn = self.conn();
        let sql = |e| sql_error(&self.path, e);
        let mut stmt = conn.prepare("SELECT id, body FROM networks").map_err(sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(sql)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row.map_err(sql)?;
            out.push(serde_json::from_str(&body).map_err(|e| {
                DaemonError::Internal(format!(
                    "network store {}: record of network {id} is corrupt: {e}",
                    self.path.display()
                ))
            })?);
        }
        Ok(out)
    }

    /// Inserts or replaces `n`.
    pub fn put(&self, n: &Network) -> Result<(), DaemonError> {
        let body = encode(n)?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO networks (id, name, body) VALUES (?1, ?2, ?3)",
                params![n.id, n.name, body],
            )
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<(), DaemonError> {
        self.conn()
            .execute("DELETE FROM networks WHERE id = ?1", params![id])
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }

    /// Every container's published ports.
    pub fn load_ports(&self) -> Result<Vec<(String, PortRecord)>, DaemonError> {
        let conn = self.conn();
        let sql = |e| sql_error(&self.path, e);
        let mut stmt = conn
            .prepare("SELECT container, body FROM ports")
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(sql)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row.map_err(sql)?;
            if let Ok(rec) = serde_json::from_str(&body) {
                out.push((id, rec));
            }
        }
        Ok(out)
    }

    /// Records (or, when empty, forgets) the ports of `container`.
    pub fn put_ports(&self, container: &str, rec: &PortRecord) -> Result<(), DaemonError> {
        let conn = self.conn();
        let r = if rec.mappings.is_empty() {
            conn.execute("DELETE FROM ports WHERE container = ?1", params![container])
        } else {
            conn.execute(
                "INSERT OR REPLACE INTO ports (container, body) VALUES (?1, ?2)",
                params![container, encode(rec)?],
            )
        };
        r.map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }
}

fn encode(v: &impl serde::Serialize) -> Result<String, DaemonError> {
    serde_json::to_string(v)
        .map_err(|e| DaemonError::Internal(format!("encoding a network record: {e}")))
}

fn sql_error(path: &Path, e: rusqlite::Error) -> DaemonError {
    DaemonError::Internal(format!("network store {}: {e}", path.display()))
}
