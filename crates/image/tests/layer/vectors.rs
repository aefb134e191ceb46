//! Malicious and broken layers: the documented table of test vectors (see `tests/vectors/README.md`).
//!
//! Every vector is applied into `base/target` beside `base/sentinel`; whatever happens, nothing
//! outside `target` may change. A refused vector must fail with the named error variant and the error
//! message must name the offending entry. The vectors marked `committed` are also kept as files in
//! `tests/vectors/` (regenerate them with `BERTH_WRITE_VECTORS=1 cargo test -p berth-image --test
//! layer committed`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_image::layer::{apply, ApplyOptions, LayerError, WhiteoutMode};

use crate::support::{gzip, Fixture, RawTar};

pub enum Expect {
    /// Fails with this `LayerError` variant, naming this entry (empty: a stream-level error).
    Refused {
        variant: &'static str,
        entry: &'static str,
    },
    /// Applies; the check looks at the target.
    Accepted(fn(&Path)),
}

pub struct Vector {
    pub name: &'static str,
    /// File name under `tests/vectors/` when the vector is committed.
    pub committed: Option<&'static str>,
    pub build: fn() -> Vec<u8>,
    pub mode: WhiteoutMode,
    pub max_bytes: Option<u64>,
    pub expect: Expect,
}

pub const MIB: u64 = 1024 * 1024;

pub fn refused(variant: &'static str, entry: &'static str) -> Expect {
    Expect::Refused { variant, entry }
}

pub fn v(name: &'static str, build: fn() -> Vec<u8>, expect: Expect) -> Vector {
    Vector {
        name,
        committed: None,
        build,
        mode: WhiteoutMode::Delete,
        max_bytes: Some(64 * MIB),
        expect,
    }
}

fn committed(mut vector: Vector, file: &'static str) -> Vector {
    vector.committed = Some(file);
    vector
}

fn huge_size() -> Vec<u8> {
    let mut t = RawTar::new();
    t.header(b"huge", b'0', b"", 0, 0o644);
    // Rewrite the size field in GNU base-256: 2^62 bytes.
    let start = t.bytes.len() - 512;
    let size = &mut t.bytes[start + 124..start + 136];
    size.fill(0);
    size[0] = 0x80;
    size[4] = 0x40;
    let mut h = tar::Header::new_old();
    h.as_mut_bytes()
        .copy_from_slice(&t.bytes[start..start + 512]);
    h.set_cksum();
    t.bytes[start..start + 512].copy_from_slice(h.as_bytes());
    t.data(b"only a little data");
    t.end()
}

fn bomb() -> Vec<u8> {
    // 32 files of 512 KiB: each under the limit, together far over it.
    let mut t = RawTar::new();
    let zeros = vec![0u8; 512 * 1024];
    for i in 0..32 {
        t.file(&format!("zeros{i:02}"), &zeros);
    }
    gzip(&t.end())
}

fn truncated_gzip() -> Vec<u8> {
    let mut t = RawTar::new();
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    t.file("a", &data).file("b", &data);
    let gz = gzip(&t.end());
    gz[..gz.len() / 2].to_vec()
}

/// 32 MiB of PAX record (compresses to ~32 KiB) in front of one small file.
fn pax_bomb() -> Vec<u8> {
    let value = vec![b'a'; 32 * MIB as usize];
    gzip(
        &RawTar::new()
            .pax("comment", &value)
            .file("small", b"x")
            .end(),
    )
}

/// A 32 MiB GNU long name in front of one small file.
fn longname_bomb() -> Vec<u8> {
    let name = vec![b'a'; 32 * MIB as usize];
    gzip(&RawTar::new().gnu_long_name(&name).file("small", b"x").end())
}

fn corrupt_gzip_crc() -> Vec<u8> {
    let mut t = RawTar::new();
    t.file("a", b"hello");
    let mut gz = gzip(&t.end());
    let n = gz.len();
    gz[n - 8] ^= 0xff;
    gz
}

fn accepted_absolute(target: &Path) {
    assert_eq!(fs::read(target.join("abs.txt")).unwrap(), b"inside");
}

fn accepted_abs_symlink(target: &Path) {
    // `/sentinel` means the target's own sentinel, created inside it.
    assert_eq!(fs::read(target.join("sentinel/pwned")).unwrap(), b"x");
}

fn accepted_file_over_symlink(target: &Path) {
    let md = fs::symlink_metadata(target.join("f")).unwrap();
    assert!(md.is_file());
    assert_eq!(fs::read(target.join("f")).unwrap(), b"replaced");
}

fn accepted_v7_directory(target: &Path) {
    assert!(fs::symlink_metadata(target.join("olddir"))
        .unwrap()
        .is_dir());
    assert_eq!(fs::read(target.join("olddir/f")).unwrap(), b"f");
}

fn accepted_rewrite_hardlinked(target: &Path) {
    assert_eq!(fs::read(target.join("a")).unwrap(), b"one");
    assert_eq!(fs::read(target.join("b")).unwrap(), b"two");
    assert_eq!(fs::metadata(target.join("a")).unwrap().nlink(), 1);
}

/// The table.
pub fn vectors() -> Vec<Vector> {
    vec![
        committed(
            v(
                "dotdot",
                || RawTar::new().file("../escape.txt", b"x").end(),
                refused("ParentComponent", "../escape.txt"),
            ),
            "dotdot.tar",
        ),
        v(
            "dotdot-inner",
            || RawTar::new().file("a/../../escape.txt", b"x").end(),
            refused("ParentComponent", "a/../../escape.txt"),
        ),
        v(
            "absolute-is-stripped",
            || RawTar::new().file("/abs.txt", b"inside").end(),
            Expect::Accepted(accepted_absolute),
        ),
        committed(
            v(
                "symlink-escape-write",
                || {
                    RawTar::new()
                        .symlink("evil", "../sentinel")
                        .file("evil/pwned", b"x")
                        .end()
                },
                refused("SymlinkEscape", "evil/pwned"),
            ),
            "symlink-escape.tar",
        ),
        v(
            "symlink-escape-nested",
            || {
                RawTar::new()
                    .dir("d")
                    .symlink("d/up", "../../sentinel")
                    .file("d/up/pwned", b"x")
                    .end()
            },
            refused("SymlinkEscape", "d/up/pwned"),
        ),
        v(
            "symlink-chain-escape",
            || {
                RawTar::new()
                    .dir("b")
                    .symlink("a", "b/../..")
                    .symlink("c", "a/sentinel")
                    .file("c/pwned", b"x")
                    .end()
            },
            refused("SymlinkEscape", "c/pwned"),
        ),
        v(
            "absolute-symlink-stays-inside",
            || {
                RawTar::new()
                    .symlink("evil", "/sentinel")
                    .file("evil/pwned", b"x")
                    .end()
            },
            Expect::Accepted(accepted_abs_symlink),
        ),
        v(
            "dir-replaced-by-symlink",
            || {
                RawTar::new()
                    .dir("d")
                    .file("d/f", b"1")
                    .symlink("d", "../sentinel")
                    .file("d/g", b"x")
                    .end()
            },
            refused("SymlinkEscape", "d/g"),
        ),
        v(
            "file-replaces-symlink",
            || {
                RawTar::new()
                    .symlink("f", "../sentinel/secret")
                    .file("f", b"replaced")
                    .end()
            },
            Expect::Accepted(accepted_file_over_symlink),
        ),
        v(
            "symlink-loop",
            || {
                RawTar::new()
                    .symlink("a", "b")
                    .symlink("b", "a")
                    .file("a/x", b"x")
                    .end()
            },
            refused("SymlinkLoop", "a/x"),
        ),
        committed(
            v(
                "hardlink-escape",
                || RawTar::new().hardlink("h", "../sentinel/secret").end(),
                refused("ParentComponent", "h"),
            ),
            "hardlink-escape.tar",
        ),
        v(
            "hardlink-through-symlink",
            || {
                RawTar::new()
                    .symlink("evil", "../sentinel")
                    .hardlink("h", "evil/secret")
                    .end()
            },
            refused("SymlinkEscape", "h"),
        ),
        v(
            "hardlink-absolute",
            || RawTar::new().hardlink("h", "/etc/passwd").end(),
            refused("HardlinkEscape", "h"),
        ),
        v(
            "hardlink-to-dir",
            || RawTar::new().dir("d").hardlink("h", "d").end(),
            refused("HardlinkEscape", "h"),
        ),
        v(
            "v7-directory-by-slash",
            || {
                let mut t = RawTar::new();
                t.header(b"olddir/", b'0', b"", 0, 0o755); // type '0', a directory by its slash
                t.file("olddir/f", b"f").end()
            },
            Expect::Accepted(accepted_v7_directory),
        ),
        v(
            "rewrite-hardlinked-file",
            || {
                RawTar::new()
                    .file("a", b"one")
                    .hardlink("b", "a")
                    .file("b", b"two")
                    .end()
            },
            Expect::Accepted(accepted_rewrite_hardlinked),
        ),
        committed(
            v(
                "whiteout-dotdot",
                || RawTar::new().file(".wh...", b"").end(),
                refused("InvalidWhiteout", ".wh..."),
            ),
            "whiteout-dotdot.tar",
        ),
        v(
            "whiteout-dot",
            || RawTar::new().file("a/.wh..", b"").end(),
            refused("InvalidWhiteout", "a/.wh.."),
        ),
        v(
            "whiteout-parent",
            || RawTar::new().file("../.wh.sentinel", b"").end(),
            refused("ParentComponent", "../.wh.sentinel"),
        ),
        v(
            "opaque-parent",
            || RawTar::new().file("../.wh..wh..opq", b"").end(),
            refused("ParentComponent", "../.wh..wh..opq"),
        ),
        v(
            "whiteout-through-symlink",
            || {
                RawTar::new()
                    .symlink("evil", "../sentinel")
                    .file("evil/.wh.secret", b"")
                    .end()
            },
            refused("SymlinkEscape", "evil/.wh.secret"),
        ),
        v(
            "opaque-through-symlink",
            || {
                RawTar::new()
                    .symlink("evil", "../sentinel")
                    .file("evil/.wh..wh..opq", b"")
                    .end()
            },
            refused("SymlinkEscape", "evil/.wh..wh..opq"),
        ),
        committed(
            v(
                "gnu-longname-escape",
                || {
                    let name = format!("{}/../../../escape.txt", "a".repeat(120));
                    RawTar::new()
                        .gnu_long_name(name.as_bytes())
                        .file("placeholder", b"x")
                        .end()
                },
                refused("ParentComponent", "/../../../escape.txt"),
            ),
            "gnu-longname-escape.tar",
        ),
        Vector {
            max_bytes: None,
            ..v("pax-header-bomb", pax_bomb, refused("HeadersTooLarge", ""))
        },
        Vector {
            max_bytes: None,
            ..v(
                "gnu-longname-bomb",
                longname_bomb,
                refused("HeadersTooLarge", ""),
            )
        },
        v(
            "pax-path-escape",
            || {
                RawTar::new()
                    .pax("path", b"../pax-escape.txt")
                    .file("placeholder", b"x")
                    .end()
            },
            refused("ParentComponent", "../pax-escape.txt"),
        ),
        v(
            "pax-linkpath-escape",
            || {
                RawTar::new()
                    .pax("linkpath", b"../sentinel/secret")
                    .hardlink("h", "placeholder")
                    .end()
            },
            refused("ParentComponent", "h"),
        ),
        v(
            "path-too-long",
            || {
                let name = "d/".repeat(2100) + "f";
                RawTar::new()
                    .pax("path", name.as_bytes())
                    .file("placeholder", b"x")
                    .end()
            },
            refused("PathTooLong", "d/d/d/"),
        ),
        committed(
            v(
                "huge-header-size",
                huge_size,
                refused("EntryTooLarge", "huge"),
            ),
            "huge-header-size.tar",
        ),
        Vector {
            max_bytes: None,
            ..v(
                "huge-header-size-unbounded",
                huge_size,
                refused("Corrupt", ""),
            )
        },
        v(
            "truncated-tar",
            || {
                let mut t = RawTar::new();
                t.header(b"short", b'0', b"", 10_000, 0o644);
                t.bytes.extend_from_slice(&[7u8; 100]);
                std::mem::take(&mut t.bytes)
            },
            refused("Corrupt", ""),
        ),
        v(
            "truncated-header",
            || RawTar::new().file("a", b"x").end()[..700].to_vec(),
            refused("Corrupt", ""),
        ),
        v(
            "bad-header-checksum",
            || {
                let mut t = RawTar::new().file("a", b"x").end();
                t[0] = b'b';
                t
            },
            refused("Corrupt", ""),
        ),
        committed(
            v("truncated-gzip", truncated_gzip, refused("Corrupt", "")),
            "truncated.tar.gz",
        ),
        v("corrupt-gzip-crc", corrupt_gzip_crc, refused("Corrupt", "")),
        v(
            "corrupt-zstd",
            || {
                let mut z =
                    zstd::encode_all(&RawTar::new().file("a", &[1u8; 5000]).end()[..], 3).unwrap();
                let n = z.len();
                z.truncate(n - 10);
                z
            },
            refused("Corrupt", ""),
        ),
        committed(
            Vector {
                max_bytes: Some(MIB),
                ..v("gzip-bomb", bomb, refused("TooLarge", ""))
            },
            "bomb-16m.tar.gz",
        ),
    ]
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Applies one vector and checks its expectation and the sentinel.
pub fn check(vector: &Vector, bytes: &[u8]) {
    let fx = Fixture::new();
    let before = fx.outside();
    let opts = ApplyOptions {
        whiteouts: vector.mode,
        max_bytes: vector.max_bytes,
        same_owner: false,
        literal_names: false,
        no_overwrite_dir_non_dir: false,
        owner: None,
        id_map: None,
    };
    let result = apply(bytes, &fx.target(), &opts);
    assert_eq!(
        fx.outside(),
        before,
        "{}: something outside the target changed",
        vector.name
    );
    match (&vector.expect, result) {
        (Expect::Refused { variant, entry }, Err(err)) => {
            let debug = format!("{err:?}");
            assert!(
                debug.starts_with(variant),
                "{}: expected {variant}, got {debug}",
                vector.name
            );
            assert!(
                err.to_string().contains(entry),
                "{}: {err} does not name {entry:?}",
                vector.name
            );
            if *variant != "Corrupt" {
                assert!(err.is_refusal(), "{}: {err} is not a refusal", vector.name);
            }
        }
        (Expect::Refused { variant, .. }, Ok(_)) => {
            panic!("{}: applied, expected {variant}", vector.name)
        }
        (Expect::Accepted(check), Ok(_)) => check(&fx.target()),
        (Expect::Accepted(_), Err(err)) => panic!("{}: refused: {err}", vector.name),
    }
}

#[test]
fn generated_vectors() {
    for vector in vectors() {
        check(&vector, &(vector.build)());
    }
}

#[test]
fn committed_vectors() {
    let write = std::env::var_os("BERTH_WRITE_VECTORS").is_some();
    for vector in vectors() {
        let Some(file) = vector.committed else {
            continue;
        };
        let path = vectors_dir().join(file);
        if write {
            fs::write(&path, (vector.build)()).unwrap();
        }
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&vector, &bytes);
    }
}

#[test]
fn errors_are_typed_and_readable() {
    let fx = Fixture::new();
    let bytes = RawTar::new()
        .symlink("evil", "../sentinel")
        .file("evil/pwned", b"x")
        .end();
    let err = apply(
        &bytes[..],
        &fx.target(),
        &ApplyOptions::new(WhiteoutMode::Delete),
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::SymlinkEscape { .. }));
    assert_eq!(
        err.to_string(),
        "layer entry \"evil/pwned\" resolves through symlink \"evil\" -> \"../sentinel\" to outside the target; refusing"
    );
}
