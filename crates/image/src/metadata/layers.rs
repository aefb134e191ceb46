//! Rows of `layers`: one unpacked layer per chain ID, with the snapshot that holds it.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::MetadataError;

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    /// The committed snapshot's name.
    pub snapshot_key: String,
    /// Uncompressed size of this layer's tar.
    pub size: u64,
    /// The (possibly compressed) blob it was unpacked from, when known.
    pub blob_digest: Option<String>,
}

const COLUMNS: &str = "chain_id, diff_id, parent, snapshot_key, size, blob_digest";

fn from_row(r: &Row<'_>) -> rusqlite::Result<LayerRecord> {
    Ok(LayerRecord {
        chain_id: r.get(0)?,
        diff_id: r.get(1)?,
        parent: r.get(2)?,
        snapshot_key: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        blob_digest: r.get(5)?,
    })
}

/// Records a layer; a layer already recorded under the chain ID is kept as it is.
pub fn insert_layer(conn: &Connection, l: &LayerRecord) -> Result<(), MetadataError> {
    conn.execute(
        &format!("INSERT OR IGNORE INTO layers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            l.chain_id,
            l.diff_id,
            l.parent,
            l.snapshot_key,
            l.size as i64,
            l.blob_digest
        ],
    )?;
    Ok(())
}

/// One layer by chain ID.
pub fn layer(conn: &Connection, chain_id: &str) -> Result<Option<LayerRecord>, MetadataError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM layers WHERE chain_id = ?1"),
            [chain_id],
            from_row,
        )
        .optional()?)
}

/// Every recorded layer.
pub fn layers(conn: &Connection) -> Result<Vec<LayerRecord>, MetadataError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM layers ORDER BY chain_id"))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Layers no image uses and no other layer stands on, children before parents when deleted in
/// order (the caller deletes them one by one and asks again until none is left).
pub fn unreferenced_leaves(conn: &Connection) -> Result<Vec<LayerRecord>, MetadataError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM layers l
         WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)
           AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)
           AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.kind = 'snapshot' AND h.target = l.snapshot_key)
         ORDER BY chain_id"
    ))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Forgets a layer.
pub fn delete_layer(conn: &Connection, chain_id: &str) -> Result<(), MetadataError> {
    conn.execute("DELETE FROM layers WHERE chain_id = ?1", [chain_id])?;
    Ok(())
}

/// Chain IDs some image uses.
pub fn used_chain_ids(
    conn: &Connection,
) -> Result<std::collections::BTreeSet<String>, MetadataError> {
    let mut st = conn.prepare("SELECT DISTINCT chain_id FROM image_layers")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
