//! Rows of `holds`: a holder (a container, a build, a lease) keeping an image, a snapshot or a blob
//! alive. The daemon fills this table; GC never frees a held object and `remove` refuses (or, forced,
//! only untags) an image that a holder uses.

use rusqlite::{params, Connection};

use super::MetadataError;

/// What a hold protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldKind {
    Image,
    Snapshot,
    Blob,
}

impl HoldKind {
    fn as_str(self) -> &'static str {
        match self {
            HoldKind::Image => "image",
            HoldKind::Snapshot => "snapshot",
            HoldKind::Blob => "blob",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "image" => HoldKind::Image,
            "snapshot" => HoldKind::Snapshot,
            _ => HoldKind::Blob,
        }
    }
}

/// One hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub holder: String,
    pub kind: HoldKind,
    pub target: String,
}

/// Adds a hold (idempotent).
pub fn add_hold(conn: &Connection, h: &Hold) -> Result<(), MetadataError> {
    conn.execute(
        "INSERT OR IGNORE INTO holds (holder, kind, target, created) VALUES (?1, ?2, ?3, ?4)",
        params![h.holder, h.kind.as_str(), h.target, super::now()],
    )?;
    Ok(())
}

/// Drops every hold of `holder`; returns them.
pub fn release_holder(conn: &Connection, holder: &str) -> Result<Vec<Hold>, MetadataError> {
    let held = holds_by(conn, holder)?;
    conn.execute("DELETE FROM holds WHERE holder = ?1", [holder])?;
    Ok(held)
}

/// The holds of one holder.
pub fn holds_by(conn: &Connection, holder: &str) -> Result<Vec<Hold>, MetadataError> {
    let mut st = conn.prepare("SELECT holder, kind, target FROM holds WHERE holder = ?1")?;
    let rows = st.query_map([holder], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The holders of one object.
pub fn holders_of(
    conn: &Connection,
    kind: HoldKind,
    target: &str,
) -> Result<Vec<String>, MetadataError> {
    let mut st =
        conn.prepare("SELECT holder FROM holds WHERE kind = ?1 AND target = ?2 ORDER BY holder")?;
    let rows = st.query_map(params![kind.as_str(), target], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every hold of one kind.
pub fn holds_of_kind(conn: &Connection, kind: HoldKind) -> Result<Vec<Hold>, MetadataError> {
    let mut st = conn.prepare("SELECT holder, kind, target FROM holds WHERE kind = ?1")?;
    let rows = st.query_map([kind.as_str()], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        holder: r.get(0)?,
        kind: HoldKind::parse(&r.get::<_, String>(1)?),
        target: r.get(2)?,
    })
}
