//! Sparse files in layers (issue #14, catalog IMG-10): GNU sparse entries are created with holes and
//! count at their apparent size against the size limit; PAX sparse formats, which the tar crate does
//! not decode, are refused rather than extracted as their raw map and data.

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};

use berth_image::layer::{apply, ApplyOptions, LayerError, WhiteoutMode};
use berth_image::store::MAX_LAYER_BYTES;

use crate::support::{Fixture, RawTar};
use crate::vectors::MIB;

fn opts(max_bytes: Option<u64>) -> ApplyOptions {
    ApplyOptions {
        max_bytes,
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    }
}

/// The case: a ~10 KiB layer describing a 512 MiB file with two 4 KiB data blocks. Before
/// the fix the whole 512 MiB were written out as zeros.
#[test]
fn gnu_sparse_file_is_created_with_holes() {
    let fx = Fixture::new();
    let a = vec![b'a'; 4096];
    let b = vec![b'b'; 4096];
    let real = 512 * MIB;
    let layer = RawTar::new()
        .gnu_sparse("big", real, &[(0, &a), (256 * MIB, &b), (real, b"")])
        .end();
    assert!(layer.len() < 16 * 1024, "the layer itself is small");
    apply(&layer[..], &fx.target(), &opts(Some(MAX_LAYER_BYTES))).unwrap();
    let f = fs::File::open(fx.target().join("big")).unwrap();
    let md = f.metadata().unwrap();
    assert_eq!(md.len(), real, "apparent size");
    assert!(
        md.blocks() * 512 < 4 * MIB,
        "{} bytes allocated for 8 KiB of data: holes were written out",
        md.blocks() * 512
    );
    let at = |off: u64, len: usize| {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, off).unwrap();
        buf
    };
    assert_eq!(at(0, 4096), a);
    assert_eq!(at(256 * MIB, 4096), b);
    assert_eq!(at(4096, 4096), vec![0u8; 4096]);
    assert_eq!(at(real - 10, 10), vec![0u8; 10]);
}

/// Data segments with zeros inside them, an unaligned last segment, and a file with no trailing
/// hole read back byte for byte.
#[test]
fn sparse_content_reads_back_exactly() {
    let fx = Fixture::new();
    let mut seg1 = vec![0u8; 8192];
    seg1[5000] = 1; // a data block that is mostly zeros
    let seg2: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8 + 1).collect();
    let real = 64 * 1024 + 1000;
    let layer = RawTar::new()
        .gnu_sparse("f", real, &[(4096, &seg1), (64 * 1024, &seg2)])
        .gnu_sparse("empty-holes", 3 * 4096, &[(3 * 4096, b"")])
        .file("after", b"next entry intact")
        .end();
    apply(&layer[..], &fx.target(), &opts(Some(64 * MIB))).unwrap();
    let mut want = vec![0u8; real as usize];
    want[4096..4096 + 8192].copy_from_slice(&seg1);
    want[64 * 1024..].copy_from_slice(&seg2);
    assert!(fs::read(fx.target().join("f")).unwrap() == want);
    assert_eq!(
        fs::read(fx.target().join("empty-holes")).unwrap(),
        vec![0u8; 3 * 4096]
    );
    assert_eq!(
        fs::read(fx.target().join("after")).unwrap(),
        b"next entry intact"
    );
}

/// Three 40 MiB sparse files from a few KiB of layer: each is under a 64 MiB limit, together they
/// are not. Before the fix only the (tiny) stream was counted.
#[test]
fn apparent_sizes_count_against_the_limit() {
    let fx = Fixture::new();
    let data = vec![b'x'; 512];
    let size = 40 * MIB;
    let layer = RawTar::new()
        .gnu_sparse("s1", size, &[(0, &data), (size, b"")])
        .gnu_sparse("s2", size, &[(0, &data), (size, b"")])
        .gnu_sparse("s3", size, &[(0, &data), (size, b"")])
        .end();
    let before = fx.outside();
    let err = apply(&layer[..], &fx.target(), &opts(Some(64 * MIB))).unwrap_err();
    assert!(
        matches!(&err, LayerError::ExpandedTooLarge { entry, limit } if entry == "s2" && *limit == 64 * MIB),
        "{err:?}"
    );
    assert!(err.is_refusal());
    assert!(err.to_string().contains("\"s2\""), "{err}");
    assert_eq!(fx.outside(), before);
}

/// IMG-10: a GNU sparse entry of 1 TiB apparent size is refused before any byte is written.
#[test]
fn terabyte_sparse_entry_is_refused() {
    let fx = Fixture::new();
    let tib = 1u64 << 40;
    let layer = RawTar::new()
        .gnu_sparse("tera", tib, &[(0, &[7u8; 512]), (tib, b"")])
        .end();
    let err = apply(&layer[..], &fx.target(), &opts(Some(MAX_LAYER_BYTES))).unwrap_err();
    assert!(
        matches!(&err, LayerError::EntryTooLarge { entry, size, .. } if entry == "tera" && *size == tib),
        "{err:?}"
    );
    assert!(fs::symlink_metadata(fx.target().join("tera")).is_err());
}

fn pax_sparse_1_0() -> Vec<u8> {
    // GNU tar --format=posix --sparse, format 1.0: the map is the start of the data.
    let mut data = b"1\n0\n512\n".to_vec();
    data.resize(512, 0);
    data.extend_from_slice(&[9u8; 512]);
    RawTar::new()
        .pax_records(&[
            ("GNU.sparse.major", b"1"),
            ("GNU.sparse.minor", b"0"),
            ("GNU.sparse.name", b"sparse-file"),
            ("GNU.sparse.realsize", b"1048576"),
        ])
        .entry(b"GNUSparseFile.0/sparse-file", b'0', b"", &data)
        .end()
}

fn pax_sparse_0_1() -> Vec<u8> {
    RawTar::new()
        .pax_records(&[
            ("GNU.sparse.size", b"1048576"),
            ("GNU.sparse.numblocks", b"1"),
            ("GNU.sparse.map", b"0,512"),
        ])
        .file("old-sparse", &[9u8; 512])
        .end()
}

/// PAX sparse files (formats 0.x and 1.0) are refused with an error naming the entry; extracting
/// them as plain files would give the map and the packed data as the file's content.
#[test]
fn pax_sparse_formats_are_refused() {
    for (build, entry) in [
        (
            pax_sparse_1_0 as fn() -> Vec<u8>,
            "GNUSparseFile.0/sparse-file",
        ),
        (pax_sparse_0_1, "old-sparse"),
    ] {
        let fx = Fixture::new();
        let err = apply(&build()[..], &fx.target(), &opts(Some(64 * MIB))).unwrap_err();
        assert!(
            matches!(&err, LayerError::PaxSparse { entry: e } if e == entry),
            "{entry}: {err:?}"
        );
        assert!(err.is_refusal());
        assert!(err.to_string().contains(entry), "{err}");
        assert!(fs::read_dir(fx.target()).unwrap().next().is_none());
    }
}
