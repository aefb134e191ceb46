//! Rows of `images`, `image_layers` and `image_blobs`: what an image is made of.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::MetadataError;

/// One image; `id` is its config digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    /// The config's `created` (RFC 3339), when it has one.
    pub created: Option<String>,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
    /// Chain ID of the top layer; `None` for an image without layers.
    pub top_chain_id: Option<String>,
    /// The image this one was committed from, if known.
    pub parent: Option<String>,
    /// When the image entered this store (seconds since the epoch).
    pub added: i64,
}

/// The `idx`-th layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub chain_id: String,
    pub blob_digest: String,
    pub blob_size: u64,
    pub media_type: String,
}

/// A blob an image keeps alive (manifest, config, layer, index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBlob {
    pub digest: String,
    pub role: String,
}

/// Everything inserted for a new image, in one transaction.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub record: ImageRecord,
    pub layers: Vec<ImageLayer>,
    pub blobs: Vec<ImageBlob>,
}

const COLUMNS: &str =
    "id, manifest_digest, manifest_media_type, created, size, top_chain_id, parent, added";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        id: r.get(0)?,
        manifest_digest: r.get(1)?,
        manifest_media_type: r.get(2)?,
        created: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        top_chain_id: r.get(5)?,
        parent: r.get(6)?,
        added: r.get(7)?,
    })
}

/// Inserts an image, or replaces the record of an image with the same ID (same config).
pub fn insert_image(conn: &Connection, img: &NewImage) -> Result<(), MetadataError> {
    let r = &img.record;
    conn.execute("DELETE FROM image_layers WHERE image_id = ?1", [&r.id])?;
    conn.execute("DELETE FROM image_blobs WHERE image_id = ?1", [&r.id])?;
    conn.execute(
        &format!(
            "INSERT INTO images ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest,
               manifest_media_type = excluded.manifest_media_type, size = excluded.size,
               top_chain_id = excluded.top_chain_id"
        ),
        params![
            r.id,
            r.manifest_digest,
            r.manifest_media_type,
            r.created,
            r.size as i64,
            r.top_chain_id,
            r.parent,
            r.added
        ],
    )?;
    for (idx, l) in img.layers.iter().enumerate() {
        conn.execute(
            "INSERT INTO image_layers (image_id, idx, chain_id, blob_digest, blob_size, media_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                r.id,
                idx as i64,
                l.chain_id,
                l.blob_digest,
                l.blob_size as i64,
                l.media_type
            ],
        )?;
    }
    for b in &img.blobs {
        conn.execute(
            "INSERT OR IGNORE INTO image_blobs (image_id, digest, role) VALUES (?1, ?2, ?3)",
            params![r.id, b.digest, b.role],
        )?;
    }
    Ok(())
}

/// Deletes an image with its layer and blob rows and its references.
pub fn delete_image(conn: &Connection, id: &str) -> Result<bool, MetadataError> {
    Ok(conn.execute("DELETE FROM images WHERE id = ?1", [id])? > 0)
}

/// One image by full ID.
pub fn image(conn: &Connection, id: &str) -> Result<Option<ImageRecord>, MetadataError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM images WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// All images, newest first.
pub fn images(conn: &Connection) -> Result<Vec<ImageRecord>, MetadataError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM images ORDER BY created DESC, id"
    ))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Images whose ID (hex part) starts with `hex_prefix`.
pub fn images_by_prefix(
    conn: &Connection,
    hex_prefix: &str,
) -> Result<Vec<ImageRecord>, MetadataError> {
    let pattern = format!("sha256:{}%", hex_prefix.replace(['%', '_'], ""));
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM images WHERE id LIKE ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([pattern], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Images whose manifest has this digest.
pub fn images_by_manifest(
    conn: &Connection,
    manifest_digest: &str,
) -> Result<Vec<ImageRecord>, MetadataError> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM images WHERE manifest_digest = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([manifest_digest], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Images whose parent is `id` (committed from it).
pub fn children(conn: &Connection, id: &str) -> Result<Vec<String>, MetadataError> {
    let mut st = conn.prepare("SELECT id FROM images WHERE parent = ?1 ORDER BY id")?;
    let rows = st.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The layers of an image, bottom first.
pub fn image_layers(conn: &Connection, id: &str) -> Result<Vec<ImageLayer>, MetadataError> {
    let mut st = conn.prepare(
        "SELECT chain_id, blob_digest, blob_size, media_type FROM image_layers
         WHERE image_id = ?1 ORDER BY idx",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(ImageLayer {
            chain_id: r.get(0)?,
            blob_digest: r.get(1)?,
            blob_size: r.get::<_, i64>(2)? as u64,
            media_type: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The blobs an image keeps alive.
pub fn image_blobs(conn: &Connection, id: &str) -> Result<Vec<ImageBlob>, MetadataError> {
    let mut st =
        conn.prepare("SELECT digest, role FROM image_blobs WHERE image_id = ?1 ORDER BY role")?;
    let rows = st.query_map([id], |r| {
        Ok(ImageBlob {
            digest: r.get(0)?,
            role: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every blob digest some image keeps alive.
pub fn referenced_blobs(
    conn: &Connection,
) -> Result<std::collections::BTreeSet<String>, MetadataError> {
    let mut st = conn.prepare(
        "SELECT digest FROM image_blobs UNION SELECT blob_digest FROM image_layers
         UNION SELECT target FROM holds WHERE kind = 'blob'",
    )?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
