//! The cases of `security-catalog.md` section 4 (IMG-01..07, IMG-10) as written there, on top of the
//! vector table in `vectors.rs`. The catalog's `tmp/dest` and `tmp/victim/hello` are the fixture's
//! `target` and `sentinel/secret`; every case checks that nothing outside `target` changed.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use berth_image::layer::{apply, ApplyOptions, LayerError, WhiteoutMode};
use berth_image::store::MAX_LAYER_BYTES;

use crate::support::{Fixture, RawTar};
use crate::vectors::{check, refused, v, Expect, MIB};

/// One case: its name in the catalog's words, the layer, and what must happen.
type Case = (&'static str, fn() -> Vec<u8>, Expect);

#[test]
fn img01_dotdot_and_absolute_names() {
    let cases: [Case; 4] = [
        (
            "IMG-01 ../victim/dotdot",
            || RawTar::new().file("../sentinel/dotdot", b"x").end(),
            refused("ParentComponent", "../sentinel/dotdot"),
        ),
        (
            "IMG-01 /../victim/slash-dotdot",
            || RawTar::new().file("/../sentinel/slash-dotdot", b"x").end(),
            refused("ParentComponent", "/../sentinel/slash-dotdot"),
        ),
        (
            "IMG-01 /etc/passwd lands inside",
            || {
                RawTar::new()
                    .file("/etc/passwd", b"root:x:0:0::/:/bin/sh\n")
                    .end()
            },
            Expect::Accepted(|t| {
                assert_eq!(
                    fs::read(t.join("etc/passwd")).unwrap(),
                    b"root:x:0:0::/:/bin/sh\n"
                )
            }),
        ),
        (
            "IMG-01 a/../../x",
            || RawTar::new().file("a/../../x", b"x").end(),
            refused("ParentComponent", "a/../../x"),
        ),
    ];
    for (name, build, expect) in cases {
        check(&v(name, build, expect), &build());
    }
}

#[test]
fn img02_hardlink_escapes() {
    let cases: [Case; 5] = [
        (
            "IMG-02 dotdot -> ../victim/hello",
            || RawTar::new().hardlink("dotdot", "../sentinel/secret").end(),
            refused("ParentComponent", "dotdot"),
        ),
        (
            "IMG-02 slash-dotdot -> /../victim/hello",
            || {
                RawTar::new()
                    .hardlink("slash-dotdot", "/../sentinel/secret")
                    .end()
            },
            refused("ParentComponent", "slash-dotdot"),
        ),
        (
            "IMG-02 hardlinked dir loophole-victim -> ../victim, then a file in it",
            || {
                RawTar::new()
                    .hardlink("loophole-victim", "../sentinel")
                    .file("loophole-victim/file", b"x")
                    .end()
            },
            refused("ParentComponent", "loophole-victim"),
        ),
        (
            "IMG-02 hardlink through an earlier symlink",
            || {
                RawTar::new()
                    .symlink("loophole", "../sentinel")
                    .hardlink("h", "loophole/secret")
                    .end()
            },
            refused("SymlinkEscape", "h"),
        ),
        (
            "IMG-02 hardlink to a symlink links the symlink, not its target",
            || {
                RawTar::new()
                    .symlink("lnk", "/etc/passwd")
                    .hardlink("h", "lnk")
                    .end()
            },
            Expect::Accepted(|t| {
                let md = fs::symlink_metadata(t.join("h")).unwrap();
                assert!(md.file_type().is_symlink(), "h is the symlink itself");
                assert_eq!(
                    fs::read_link(t.join("h")).unwrap(),
                    Path::new("/etc/passwd")
                );
            }),
        ),
    ];
    for (name, build, expect) in cases {
        check(&v(name, build, expect), &build());
    }
}

#[test]
fn img03_img04_writes_through_symlinks() {
    let cases: [Case; 5] = [
        (
            "IMG-03 loophole-victim -> ../victim, then loophole-victim/file",
            || {
                RawTar::new()
                    .symlink("loophole-victim", "../sentinel")
                    .file("loophole-victim/file", b"x")
                    .end()
            },
            refused("SymlinkEscape", "loophole-victim/file"),
        ),
        (
            "IMG-03 dir/loophole -> ../../victim, then dir/loophole/newdir/newfile",
            || {
                RawTar::new()
                    .dir("dir")
                    .symlink("dir/loophole", "../../sentinel")
                    .file("dir/loophole/newdir/newfile", b"x")
                    .end()
            },
            refused("SymlinkEscape", "dir/loophole/newdir/newfile"),
        ),
        (
            "IMG-03 absolute symlink -> / then a file under it lands inside",
            || {
                RawTar::new()
                    .symlink("rootlink", "/")
                    .file("rootlink/sentinel/secret", b"inside")
                    .end()
            },
            Expect::Accepted(|t| {
                assert_eq!(fs::read(t.join("sentinel/secret")).unwrap(), b"inside")
            }),
        ),
        (
            "IMG-04 dir a, then symlink a -> /victim (absolute), then a/x",
            || {
                RawTar::new()
                    .dir("a")
                    .symlink("a", "/sentinel")
                    .file("a/x", b"x")
                    .end()
            },
            Expect::Accepted(|t| {
                assert!(fs::symlink_metadata(t.join("a"))
                    .unwrap()
                    .file_type()
                    .is_symlink());
                assert_eq!(fs::read(t.join("sentinel/x")).unwrap(), b"x")
            }),
        ),
        (
            "IMG-04 dir a, then symlink a -> ../victim, then a/x",
            || {
                RawTar::new()
                    .dir("a")
                    .symlink("a", "../sentinel")
                    .file("a/x", b"x")
                    .end()
            },
            refused("SymlinkEscape", "a/x"),
        ),
    ];
    for (name, build, expect) in cases {
        check(&v(name, build, expect), &build());
    }
}

/// IMG-06 exactly as the catalog has it (the overlay form and the diff round trip are in
/// `whiteouts.rs`).
#[test]
fn img06_whiteout_semantics() {
    let fx = Fixture::new();
    let opts = ApplyOptions {
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    let lower = RawTar::new()
        .dir("a")
        .file("a/f", b"f")
        .dir("b")
        .file("b/x", b"x")
        .file("b/y", b"y")
        .end();
    let upper = RawTar::new()
        .file("a/.wh.f", b"")
        .file("b/.wh..wh..opq", b"")
        .file("b/z", b"z")
        .end();
    apply(&lower[..], &fx.target(), &opts).unwrap();
    apply(&upper[..], &fx.target(), &opts).unwrap();
    let names = |d: &str| -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(fx.target().join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert!(names("a").is_empty());
    assert_eq!(names("b"), ["z"]);
}

/// IMG-07: malicious whiteouts delete nothing outside the target.
#[test]
fn img07_malicious_whiteouts() {
    let lower_with_link = |link: &str| {
        RawTar::new()
            .dir("sentinel")
            .file("sentinel/secret", b"inside copy")
            .symlink("link", link)
            .end()
    };
    // `link/.wh.sentinel` where `link -> /`: resolved with the target as `/`.
    let fx = Fixture::new();
    let before = fx.outside();
    let opts = ApplyOptions {
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };
    apply(&lower_with_link("/")[..], &fx.target(), &opts).unwrap();
    let upper = RawTar::new().file("link/.wh.sentinel", b"").end();
    apply(&upper[..], &fx.target(), &opts).unwrap();
    assert!(fs::symlink_metadata(fx.target().join("sentinel")).is_err());
    assert_eq!(fx.outside(), before);

    // `link -> ..` climbs out: refused.
    let fx = Fixture::new();
    let before = fx.outside();
    apply(&lower_with_link("..")[..], &fx.target(), &opts).unwrap();
    let err = apply(&upper[..], &fx.target(), &opts).unwrap_err();
    assert!(matches!(err, LayerError::SymlinkEscape { .. }), "{err:?}");
    assert_eq!(fx.outside(), before);

    let cases: [Case; 5] = [
        (
            "IMG-07 .wh...",
            || RawTar::new().file(".wh...", b"").end(),
            refused("InvalidWhiteout", ".wh..."),
        ),
        (
            "IMG-07 .wh. + a name with a slash is a directory named .wh.x, inside",
            || RawTar::new().file(".wh.x/y", b"y").end(),
            Expect::Accepted(|t| assert_eq!(fs::read(t.join(".wh.x/y")).unwrap(), b"y")),
        ),
        (
            "IMG-07 .wh. + a name with a slash and .. is refused",
            || RawTar::new().file(".wh.x/../../sentinel/secret", b"").end(),
            refused("ParentComponent", ".wh.x/../../sentinel/secret"),
        ),
        (
            "IMG-07 a whiteout that is a hard link is a whiteout",
            || {
                RawTar::new()
                    .file("f", b"1")
                    .hardlink(".wh.f", "../sentinel/secret")
                    .end()
            },
            Expect::Accepted(|t| assert!(fs::symlink_metadata(t.join("f")).is_err())),
        ),
        (
            "IMG-07 a whiteout that is a device is a whiteout",
            || {
                let mut t = RawTar::new();
                t.file("f", b"1");
                t.header(b".wh.f", b'3', b"", 0, 0o600);
                t.end()
            },
            Expect::Accepted(|t| assert!(fs::symlink_metadata(t.join("f")).is_err())),
        ),
    ];
    for (name, build, expect) in cases {
        check(&v(name, build, expect), &build());
    }
}

/// A reader that makes a tar on the fly: `head`, then `fill` bytes of `byte`, then `tail`; the
/// test never holds the big part in memory either.
fn lazy(head: Vec<u8>, byte: u8, fill: u64, tail: Vec<u8>) -> impl Read + Send {
    io::Cursor::new(head)
        .chain(io::repeat(byte).take(fill))
        .chain(io::Cursor::new(tail))
}

fn header_block(name: &[u8], kind: u8, size: u64) -> Vec<u8> {
    let mut t = RawTar::new();
    t.header(name, kind, b"", size, 0o644);
    std::mem::take(&mut t.bytes)
}

/// Length of a PAX record `<len> <key>=<value>\n`, which counts its own digits.
fn pax_len(key: u64, value: u64) -> u64 {
    let base = key + value + 3;
    let mut len = base + 1;
    while base + len.to_string().len() as u64 != len {
        len = base + len.to_string().len() as u64;
    }
    len
}

/// IMG-10: huge declared sizes and headers fail with errors, never by holding them in memory.
#[test]
fn img10_huge_sizes_and_headers() {
    let tib = 1u64 << 40;
    let limited = |max| ApplyOptions {
        max_bytes: max,
        same_owner: false,
        ..ApplyOptions::new(WhiteoutMode::Delete)
    };

    // Size 2^40 with a truncated body: over the store's limit, and corrupt without one.
    let mut huge = header_block(b"huge", b'0', tib);
    huge.extend_from_slice(&[1u8; 4096]);
    let fx = Fixture::new();
    let err = apply(&huge[..], &fx.target(), &limited(Some(MAX_LAYER_BYTES))).unwrap_err();
    assert!(
        matches!(&err, LayerError::EntryTooLarge { entry, size, .. } if entry == "huge" && *size == tib),
        "{err:?}"
    );
    let fx = Fixture::new();
    let err = apply(&huge[..], &fx.target(), &limited(None)).unwrap_err();
    assert!(matches!(err, LayerError::Corrupt(_)), "{err:?}");

    // A PAX header of 100 MiB, streamed: refused once 16 MiB of header went by.
    let value = 100 * MIB;
    let rec_head = format!("{} comment=", pax_len("comment".len() as u64, value)).into_bytes();
    let pax_size = rec_head.len() as u64 + value + 1;
    let mut head = header_block(b"PaxHeader", b'x', pax_size);
    head.extend_from_slice(&rec_head);
    let mut tail = b"\n".to_vec();
    tail.resize(tail.len() + ((512 - pax_size % 512) % 512) as usize, 0);
    tail.extend_from_slice(&RawTar::new().file("small", b"x").end());
    let fx = Fixture::new();
    let err = apply(lazy(head, b'a', value, tail), &fx.target(), &limited(None)).unwrap_err();
    assert!(matches!(err, LayerError::HeadersTooLarge { .. }), "{err:?}");

    // A name 1 MiB long (GNU long name and PAX path): refused as longer than PATH_MAX.
    for build in [
        (|name: &[u8]| RawTar::new().gnu_long_name(name).file("x", b"x").end())
            as fn(&[u8]) -> Vec<u8>,
        |name: &[u8]| RawTar::new().pax("path", name).file("x", b"x").end(),
    ] {
        let name = vec![b'n'; MIB as usize];
        let fx = Fixture::new();
        let err = apply(&build(&name)[..], &fx.target(), &limited(Some(64 * MIB))).unwrap_err();
        assert!(matches!(err, LayerError::PathTooLong { .. }), "{err:?}");
    }
}
