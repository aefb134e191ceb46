//! Image metadata in SQLite: images, references (tags and digests), layers (one per chain ID) and holds
//! (containers or in-flight operations that keep an image or snapshot alive).
//!
//! The database lives at `<root>/metadata.db`, in WAL mode with foreign keys on. The schema is versioned
//! with `PRAGMA user_version`; [`MIGRATIONS`] lists every step, applied in order, each in one transaction.
//! Every state change of the store is one transaction ([`Metadata::write`]). Digests are stored as their
//! `algorithm:hex` text.

mod holds;
mod images;
mod layers;
mod refs;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction};

pub use holds::*;
pub use images::*;
pub use layers::*;
pub use refs::*;

/// Errors of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("image metadata database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("image metadata database {path} has schema version {found}, newer than this berth ({known}); upgrade berth")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("image metadata: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Schema migrations; entry `n` moves `user_version` from `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        created TEXT,
        size INTEGER NOT NULL,
        top_chain_id TEXT,
        parent TEXT,
        added INTEGER NOT NULL
     );
     CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        parent TEXT REFERENCES layers(chain_id),
        snapshot_key TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        blob_digest TEXT
     );
     CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        chain_id TEXT NOT NULL REFERENCES layers(chain_id),
        blob_digest TEXT NOT NULL,
        blob_size INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        PRIMARY KEY (image_id, idx)
     );
     CREATE INDEX image_layers_chain ON image_layers(chain_id);
     CREATE TABLE image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
     );
     CREATE INDEX image_blobs_digest ON image_blobs(digest);
     CREATE TABLE refs (
        name TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        tag TEXT,
        digest TEXT,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        updated INTEGER NOT NULL
     );
     CREATE INDEX refs_image ON refs(image_id);
     CREATE TABLE holds (
        holder TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'snapshot', 'blob')),
        target TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (holder, kind, target)
     );
     CREATE INDEX holds_target ON holds(kind, target);",
];

/// The metadata database.
#[derive(Debug)]
pub struct Metadata {
    conn: Connection,
}

impl Metadata {
    /// Opens (creating if needed) the database at `path` and migrates it to the newest schema.
    pub fn open(path: &Path) -> Result<Self, MetadataError> {
        let err = |source| MetadataError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        migrate(&mut conn, path)?;
        Ok(Self { conn })
    }

    /// Read-only access (plain statements outside an explicit transaction).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one immediate transaction; commits when it returns `Ok`, rolls back otherwise.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<MetadataError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(MetadataError::from)?;
        let out = f(&tx)?;
        crate::fault::crash_point!("image.metadata.before-commit");
        tx.commit().map_err(MetadataError::from)?;
        Ok(out)
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), MetadataError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(MetadataError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Seconds since the Unix epoch, for `added`/`updated` columns.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
