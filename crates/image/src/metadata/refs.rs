//! Rows of `refs`: tags (`repo:tag`) and digest references (`repo@sha256:…`) naming an image.
//!
//! `name` is the fully normalised reference (`docker.io/library/busybox:latest`); a name points at one
//! image, an image may have many names.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::MetadataError;

/// One reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRecord {
    pub name: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub image_id: String,
    pub updated: i64,
}

const COLUMNS: &str = "name, repository, tag, digest, image_id, updated";

fn from_row(r: &Row<'_>) -> rusqlite::Result<RefRecord> {
    Ok(RefRecord {
        name: r.get(0)?,
        repository: r.get(1)?,
        tag: r.get(2)?,
        digest: r.get(3)?,
        image_id: r.get(4)?,
        updated: r.get(5)?,
    })
}

/// Points `r.name` at `r.image_id`; returns the image it pointed at before, if another.
pub fn set_ref(conn: &Connection, r: &RefRecord) -> Result<Option<String>, MetadataError> {
    let before = get_ref(conn, &r.name)?.map(|old| old.image_id);
    conn.execute(
        &format!(
            "INSERT INTO refs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, updated = excluded.updated"
        ),
        params![r.name, r.repository, r.tag, r.digest, r.image_id, r.updated],
    )?;
    Ok(before.filter(|b| *b != r.image_id))
}

/// One reference by full name.
pub fn get_ref(conn: &Connection, name: &str) -> Result<Option<RefRecord>, MetadataError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM refs WHERE name = ?1"),
            [name],
            from_row,
        )
        .optional()?)
}

/// Removes a reference; returns whether it existed.
pub fn delete_ref(conn: &Connection, name: &str) -> Result<bool, MetadataError> {
    Ok(conn.execute("DELETE FROM refs WHERE name = ?1", [name])? > 0)
}

/// The references of one image, tags first, by name.
pub fn refs_of(conn: &Connection, image_id: &str) -> Result<Vec<RefRecord>, MetadataError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM refs WHERE image_id = ?1 ORDER BY digest IS NOT NULL, name"
    ))?;
    let rows = st.query_map([image_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every reference.
pub fn all_refs(conn: &Connection) -> Result<Vec<RefRecord>, MetadataError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM refs ORDER BY name"))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
