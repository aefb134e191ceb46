//! Store-level cases of issue #14 and `security-catalog.md` section 4: the total cap of `docker
//! load`, a layer forging overlayfs xattrs, and IMG-15 (crafted paths, IDs and names in a `docker
//! save` archive). Every refusal leaves the store exactly as it was, with nothing left in `tmp/`.

use berth_image::formats::import::ImportOptions;
use berth_image::store::{Limits, SaveFormat};
use berth_image::ImageStore;
use berth_oci::Digest;

use crate::common::*;
use crate::vectors::{archive, assert_rejected};

const KIB: u64 = 1024;

fn store_with_load_limit(dir: &std::path::Path, load_bytes: u64) -> ImageStore {
    open_store(dir).with_limits(Limits {
        load_bytes,
        ..Limits::default()
    })
}

fn tmp_is_empty(store: &ImageStore) -> bool {
    std::fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

/// A `docker save` archive of one image whose layer holds `data`.
fn saved(data: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "victim:1", &[("payload", data)]);
    let mut out = Vec::new();
    store
        .save(&["victim:1"], SaveFormat::DockerArchive, &mut out)
        .unwrap();
    out
}

/// A tar whose one member is a GNU sparse file of `apparent` bytes holding 512 bytes of data.
fn sparse_member_archive(apparent: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path("sparse").unwrap();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(512);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(0);
    gnu.sparse[0].set_length(512);
    gnu.sparse[1].set_offset(apparent);
    gnu.sparse[1].set_length(0);
    gnu.set_real_size(apparent);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[1u8; 512][..]).unwrap();
    b.into_inner().unwrap()
}

/// `docker load` spools at most `load_bytes`: a plain archive, a gzip bomb and a sparse member past
/// the cap are refused with an error naming the limit, before anything is stored.
#[test]
fn load_over_the_cap_is_refused_and_leaves_nothing() {
    let big = saved(&vec![7u8; 1024 * 1024]);
    let cases = [
        ("plain archive", big.clone()),
        ("gzip bomb", gzip(&big)),
        ("sparse member", sparse_member_archive(64 << 20)),
    ];
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_load_limit(dir.path(), 256 * KIB);
        import(&store, "existing:1", &[("keep", b"me")]);
        let before = fingerprint(&store);
        let err = store.load(&bytes[..], None).expect_err(what);
        let msg = err.to_string();
        assert!(
            msg.contains("262144 bytes") && msg.contains("limit"),
            "{what}: {msg}"
        );
        assert_eq!(fingerprint(&store), before, "{what}");
        assert!(tmp_is_empty(&store), "{what}: the spool was left behind");
        assert_clean(&store);
    }
}

/// Under the cap the same archive loads.
#[test]
fn load_under_the_cap_works() {
    let bytes = saved(&vec![7u8; 1024 * 1024]);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_load_limit(dir.path(), 4 << 20);
    let loaded = store.load(&bytes[..], None).unwrap();
    assert_eq!(loaded[0].names, ["victim:1"]);
    assert!(tmp_is_empty(&store));
}

/// A rootfs tar whose directory carries `user.overlay.opaque` (one PAX record).
fn overlay_xattr_rootfs() -> Vec<u8> {
    let body = "SCHILY.xattr.user.overlay.opaque=y\n";
    let record = format!("{} {body}", body.len() + 3).into_bytes(); // two digits, one space
    let mut pax = tar::Header::new_ustar();
    pax.set_path("PaxHeader").unwrap();
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_size(record.len() as u64);
    pax.set_mode(0o644);
    pax.set_cksum();
    let mut dir = tar::Header::new_ustar();
    dir.set_path("etc/").unwrap();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&pax, &record[..]).unwrap();
    b.append(&dir, &[][..]).unwrap();
    b.into_inner().unwrap()
}

/// A layer that forges an overlayfs xattr is refused, naming the entry and the xattr, and the store
/// is as before: no image, blob or snapshot.
#[test]
fn layer_with_overlay_xattr_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    import(&store, "existing:1", &[("keep", b"me")]);
    let before = fingerprint(&store);
    let opts = ImportOptions {
        reference: Some("victim:1".into()),
        ..Default::default()
    };
    let err = store
        .import(&overlay_xattr_rootfs()[..], &opts)
        .expect_err("overlay xattr");
    let msg = err.to_string();
    assert!(
        msg.contains("\"etc/\"") && msg.contains("user.overlay.opaque"),
        "{msg}"
    );
    assert_eq!(fingerprint(&store), before);
    assert!(store.get("victim:1").is_err());
    assert_clean(&store);
}

/// A pre-25 `docker save` archive: `manifest.json` naming the config (`None`: `<hex>.json` of its
/// digest) and one layer, with `tags`.
fn old_archive(config_name: Option<&str>, layer_name: &str, tags: &[&str]) -> Vec<u8> {
    let layer = tar_of(&[("f", b"1")]);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::sha256_of(&layer)
    );
    let digest_name = format!("{}.json", Digest::sha256_of(config.as_bytes()).hex());
    let config_name = config_name.unwrap_or(&digest_name);
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": tags,
        "Layers": [layer_name],
    }]);
    let mut files = vec![(
        "manifest.json".to_string(),
        serde_json::to_vec(&manifest).unwrap(),
    )];
    // Members stored under their cleaned names where that is possible, so only the crafted name
    // itself can be the reason for a refusal.
    let clean = |n: &str| {
        n.trim_start_matches("../")
            .trim_start_matches("../")
            .to_string()
    };
    files.push((clean(config_name), config.into_bytes()));
    files.push((clean(layer_name), layer));
    archive(&files)
}

/// IMG-15: crafted layer paths, image IDs and names are refused; nothing lands outside the root.
#[test]
fn img15_crafted_docker_archives() {
    // Layer path `../../etc/x`.
    assert_rejected(&old_archive(None, "../../etc/x", &["victim:1"]), "'..'");
    // Image ID (config name) `../../x`.
    assert_rejected(
        &old_archive(Some("../../x.json"), "l/layer.tar", &["victim:1"]),
        "'..'",
    );
    // A name that is not a reference.
    assert_rejected(
        &old_archive(None, "l/layer.tar", &["evil:tag/../../"]),
        "evil:tag/../../",
    );
    // A member named `../../etc/x` in the archive itself.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..11].copy_from_slice(b"../../etc/x");
    h.set_mode(0o644);
    h.set_size(1);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    assert_rejected(&b.into_inner().unwrap(), "'..'");
}
