//! Unit tests of the metadata database.

use super::*;

fn sample(id: &str, chain: &str) -> NewImage {
    NewImage {
        record: ImageRecord {
            id: id.to_string(),
            manifest_digest: format!("{id}-m"),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            created: Some("2026-01-01T00:00:00Z".into()),
            size: 10,
            top_chain_id: Some(chain.into()),
            parent: None,
            added: 1,
        },
        layers: vec![ImageLayer {
            chain_id: chain.into(),
            blob_digest: "sha256:blob".into(),
            blob_size: 10,
            media_type: "tar".into(),
        }],
        blobs: vec![ImageBlob {
            digest: "sha256:cfg".into(),
            role: "config".into(),
        }],
    }
}

#[test]
fn migrates_inserts_and_cascades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let mut md = Metadata::open(&path).unwrap();
    md.write(|tx| -> Result<(), MetadataError> {
        insert_layer(
            tx,
            &LayerRecord {
                chain_id: "c1".into(),
                diff_id: "d1".into(),
                parent: None,
                snapshot_key: "c1".into(),
                size: 10,
                blob_digest: None,
            },
        )?;
        insert_image(tx, &sample("sha256:aaaa", "c1"))?;
        set_ref(
            tx,
            &RefRecord {
                name: "docker.io/library/x:latest".into(),
                repository: "docker.io/library/x".into(),
                tag: Some("latest".into()),
                digest: None,
                image_id: "sha256:aaaa".into(),
                updated: 1,
            },
        )?;
        Ok(())
    })
    .unwrap();
    drop(md);
    let mut md = Metadata::open(&path).unwrap();
    assert_eq!(images_by_prefix(md.conn(), "aa").unwrap().len(), 1);
    assert!(unreferenced_leaves(md.conn()).unwrap().is_empty());
    md.write(|tx| delete_image(tx, "sha256:aaaa")).unwrap();
    assert!(all_refs(md.conn()).unwrap().is_empty());
    assert_eq!(unreferenced_leaves(md.conn()).unwrap().len(), 1);
    assert!(referenced_blobs(md.conn()).unwrap().is_empty());
}

#[test]
fn refuses_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    drop(Metadata::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    assert!(matches!(
        Metadata::open(&path),
        Err(MetadataError::TooNew { found: 99, .. })
    ));
}
