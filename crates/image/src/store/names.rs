//! Names: resolving a name or ID prefix to an image, and `tag`.

use berth_oci::{Digest, Reference};
use rusqlite::Connection;

use super::ImageStore;
use crate::error::ImageError;
use crate::metadata::{self, RefRecord};

/// Resolves a name, a full ID or an ID prefix to a full image ID. Names are tried first, as Docker
/// does, then ID prefixes (with or without `sha256:`).
pub(crate) fn resolve(conn: &Connection, s: &str) -> Result<String, ImageError> {
    if let Ok(d) = Digest::parse(s) {
        if metadata::image(conn, d.as_str())?.is_some() {
            return Ok(d.to_string());
        }
    }
    if let Ok(r) = Reference::parse(s) {
        if let Some(found) = metadata::get_ref(conn, &r.full())? {
            return Ok(found.image_id);
        }
        if let Some(d) = r.digest() {
            // `name@digest` also finds an image by its manifest digest.
            if let Some(img) = metadata::images_by_manifest(conn, d.as_str())?
                .into_iter()
                .next()
            {
                return Ok(img.id);
            }
        }
    }
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let found = metadata::images_by_prefix(conn, &hex.to_ascii_lowercase())?;
        match found.len() {
            0 => {}
            1 => return Ok(found[0].id.clone()),
            n => {
                return Err(ImageError::Ambiguous {
                    prefix: s.to_string(),
                    count: n,
                })
            }
        }
    }
    Err(ImageError::NotFound(s.to_string()))
}

/// The metadata row of a reference pointing at `image_id`.
pub(crate) fn ref_record(r: &Reference, image_id: &str) -> RefRecord {
    RefRecord {
        name: r.full(),
        repository: r.name(),
        tag: r.tag().map(str::to_string),
        digest: r.digest().map(|d| d.to_string()),
        image_id: image_id.to_string(),
        updated: metadata::now(),
    }
}

impl ImageStore {
    /// `docker tag SOURCE TARGET`: points `target` (a tag; `latest` if none) at the image `source`
    /// names. A tag that pointed elsewhere moves; the image it left keeps its other names.
    pub fn tag(&self, source: &str, target: &str) -> Result<Reference, ImageError> {
        let r = Reference::parse(target)?;
        if r.digest().is_some() {
            return Err(ImageError::invalid(
                format!("tag {target:?}"),
                "refusing to create a tag with a digest reference",
            ));
        }
        let mut meta = self.meta();
        let id = resolve(meta.conn(), source)?;
        meta.write(|tx| metadata::set_ref(tx, &ref_record(&r, &id)))?;
        Ok(r)
    }

    /// Removes one name; returns whether it existed. The image stays (use `remove` for `rmi`).
    pub fn untag(&self, name: &str) -> Result<bool, ImageError> {
        let r = Reference::parse(name)?;
        let mut meta = self.meta();
        Ok(meta.write(|tx| metadata::delete_ref(tx, &r.full()))?)
    }
}
