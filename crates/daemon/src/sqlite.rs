//! Opening the daemon's SQLite stores (containers, networks) one way: WAL with
//! `synchronous=NORMAL` — a transaction is durable against a killed daemon (it is in the WAL file
//! when the commit returns) and the database stays consistent across an OS crash, which may only
//! roll back the last transactions; no fsync per start and stop — a busy timeout, and the
//! store's migrations applied in order, counted in `user_version`, in one transaction.

use std::path::Path;

use rusqlite::Connection;

/// Opens (creating) the database at `path` and brings it to the last of `migrations`.
pub fn open_migrated(path: &Path, migrations: &[&str]) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tx = conn.transaction()?;
    for (i, m) in migrations.iter().enumerate().skip(done.max(0) as usize) {
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(conn)
}

/// A store error in words that say what to do: SQLite's "database or disk is full" is the file
/// system out of space, said as the kernel says it.
pub fn describe(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            "no space left on device (the database could not grow): free space and retry".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_said_as_no_space() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        assert!(describe(&full).starts_with("no space left on device"));
        let other = rusqlite::Error::QueryReturnedNoRows;
        assert_eq!(describe(&other), other.to_string());
    }

    #[test]
    fn migrations_run_once_each_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let first = ["CREATE TABLE a (x INTEGER)"];
        open_migrated(&db, &first).unwrap();
        let both = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"];
        let conn = open_migrated(&db, &both).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Opening again applies nothing (the first migration would fail if run twice).
        open_migrated(&db, &both).unwrap();
    }
}
