//! Round trips: `apply(tar_dir(x))` reproduces `x`, and the diff functions are deterministic.
//!
//! The strongest check is byte equality of `tar_dir` of the source and of the re-applied copy: the
//! tar carries names, types, modes (setuid/setgid/sticky), owners, mtimes, xattrs, link targets,
//! hard link groups and devices. Owners and device nodes are only exercised as root.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use berth_image::layer::{apply, diff_dirs, tar_dir, ApplyOptions, DiffOptions, WhiteoutMode};
use filetime::FileTime;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree with one of everything; mtimes are set last, deepest first.
fn build_tree(root: &Path) {
    let long = "l".repeat(120);
    let deep = format!("{}/{}", "n".repeat(150), "m".repeat(180));
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join(&deep)).unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    fs::create_dir(root.join("tmp")).unwrap();
    fs::create_dir(root.join("ro")).unwrap();
    fs::write(root.join("etc/hostname"), b"berth\n").unwrap();
    fs::write(root.join("etc/conf.d/a.conf"), vec![b'a'; 70_000]).unwrap();
    fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::write(root.join("usr/bin/suid"), b"s").unwrap();
    fs::write(root.join("usr/bin/sgid"), b"g").unwrap();
    fs::write(root.join(&long), b"long name").unwrap();
    fs::write(root.join(&deep).join("file"), b"deep").unwrap();
    fs::write(root.join("ro/inside"), b"read-only dir content").unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-link")).unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("etc/tool-link2")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink("/etc/hostname", root.join("etc/abs-link")).unwrap();
    symlink("../nowhere", root.join("etc/dangling")).unwrap();
    symlink(&deep, root.join("to-deep")).unwrap();
    nix::unistd::mkfifo(
        &root.join("tmp/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    xattr::set(root.join("etc/hostname"), "user.berth.test", b"value").unwrap();
    xattr::set(root.join("etc"), "user.berth.dir", b"dir value").unwrap();
    chmod(&root.join("usr/bin/tool"), 0o755);
    chmod(&root.join("usr/bin/suid"), 0o4755);
    chmod(&root.join("usr/bin/sgid"), 0o2711);
    chmod(&root.join("tmp"), 0o1777);
    if is_root() {
        let chown = |p: &str, u, g| {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &root.join(p),
                Some(nix::unistd::Uid::from_raw(u)),
                Some(nix::unistd::Gid::from_raw(g)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap()
        };
        chown("etc/hostname", 1234, 5678);
        chown("etc", 100, 101);
        chown("bin", 7, 8);
        chown("usr/bin/suid", 0, 1000);
        chmod(&root.join("usr/bin/suid"), 0o4755);
        nix::sys::stat::mknod(
            &root.join("tmp/null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        xattr::set(root.join("etc/hostname"), "trusted.berth", b"t").unwrap();
    }
    chmod(&root.join("ro"), 0o555);
    set_mtimes(root, 1_500_000_000);
}

/// Gives every object a distinct whole-second mtime, content before its directory.
fn set_mtimes(dir: &Path, base: i64) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for (i, p) in names.iter().enumerate() {
        let md = fs::symlink_metadata(p).unwrap();
        if md.is_dir() {
            set_mtimes(p, base + 1000);
        }
        let t = FileTime::from_unix_time(base + i as i64, 0);
        filetime::set_symlink_file_times(p, t, t).unwrap();
    }
    let t = FileTime::from_unix_time(base - 1, 0);
    filetime::set_symlink_file_times(dir, t, t).unwrap();
}

fn tar_of(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    tar_dir(dir, &mut out, &DiffOptions::default()).unwrap();
    out
}

fn opts() -> ApplyOptions {
    ApplyOptions::new(WhiteoutMode::Delete)
}

#[test]
fn tar_dir_then_apply_reproduces_the_tree() {
    let base = tempfile::tempdir().unwrap();
    let (src, dst) = (base.path().join("src"), base.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    build_tree(&src);

    let mut first = Vec::new();
    let written = tar_dir(&src, &mut first, &DiffOptions::default()).unwrap();
    assert_eq!(first, tar_of(&src), "tar_dir is deterministic");
    assert_eq!(written.size, first.len() as u64);

    let applied = apply(&first[..], &dst, &opts()).unwrap();
    assert_eq!(
        applied.diff_id, written.diff_id,
        "diff ID of the same stream"
    );
    assert_eq!(applied.size, written.size);
    if !is_root() {
        assert!(
            applied.warnings.iter().any(|w| w.contains("tmp/null"))
                || !src.join("tmp/null").exists()
        );
    }
    let again = tar_of(&dst);
    assert!(
        again == first,
        "re-archived copy differs from the source archive"
    );

    // Spot checks on the file system itself.
    let mode = |p: &str| {
        fs::symlink_metadata(dst.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("usr/bin/suid"), 0o4755);
    assert_eq!(mode("usr/bin/sgid"), 0o2711);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(
        xattr::get(dst.join("etc/hostname"), "user.berth.test")
            .unwrap()
            .unwrap(),
        b"value"
    );
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| fs::metadata(dst.join(p)).unwrap().ino();
    assert_eq!(ino("usr/bin/tool"), ino("etc/tool-link2"));
    assert_eq!(
        fs::symlink_metadata(dst.join("etc")).unwrap().mtime(),
        1_500_000_002 // bin, empty, etc: third in the sorted root
    );
    chmod(&src.join("ro"), 0o755);
    chmod(&dst.join("ro"), 0o755);
}

#[test]
fn gzip_and_zstd_layers_have_the_plain_diff_id() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), vec![b'z'; 100_000]).unwrap();
    let plain = tar_of(&src);
    let mut want = None;
    for (i, layer) in [
        plain.clone(),
        crate::support::gzip(&plain),
        zstd::encode_all(&plain[..], 3).unwrap(),
    ]
    .iter()
    .enumerate()
    {
        let dst = base.path().join(format!("dst{i}"));
        fs::create_dir(&dst).unwrap();
        let applied = apply(&layer[..], &dst, &opts()).unwrap();
        assert_eq!(fs::read(dst.join("f")).unwrap().len(), 100_000);
        assert_eq!(
            *want.get_or_insert(applied.diff_id.clone()),
            applied.diff_id
        );
    }
}

#[test]
fn clamp_mtime() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("new"), b"").unwrap();
    fs::write(src.join("old"), b"").unwrap();
    filetime::set_file_mtime(src.join("new"), FileTime::from_unix_time(2_000_000_000, 0)).unwrap();
    filetime::set_file_mtime(src.join("old"), FileTime::from_unix_time(100, 0)).unwrap();
    let mut out = Vec::new();
    tar_dir(
        &src,
        &mut out,
        &DiffOptions {
            clamp_mtime: Some(1_000),
            id_map: None,
        },
    )
    .unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let mtimes: Vec<u64> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().mtime().unwrap())
        .collect();
    assert_eq!(mtimes, [1_000, 100]);
}

#[test]
fn diff_dirs_applied_to_lower_gives_upper() {
    let base = tempfile::tempdir().unwrap();
    let p = |n: &str| base.path().join(n);
    for d in ["lower", "upper", "result"] {
        fs::create_dir(p(d)).unwrap();
    }
    build_tree(&p("lower"));
    let lower_tar = tar_of(&p("lower"));
    apply(&lower_tar[..], &p("upper"), &opts()).unwrap();
    apply(&lower_tar[..], &p("result"), &opts()).unwrap();

    // Unchanged trees: an empty layer.
    let mut empty = Vec::new();
    diff_dirs(
        &p("lower"),
        &p("upper"),
        &mut empty,
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(empty.len(), 1024, "no changes, only the end blocks");

    let up = p("upper");
    fs::write(up.join("etc/new-file"), b"new").unwrap();
    fs::write(up.join("etc/hostname"), b"changed\n").unwrap();
    fs::remove_file(up.join("usr/bin/sgid")).unwrap();
    fs::remove_dir_all(up.join("etc/conf.d")).unwrap();
    fs::remove_file(up.join("bin")).unwrap();
    fs::create_dir(up.join("bin")).unwrap();
    fs::write(up.join("bin/sh"), b"sh").unwrap();
    chmod(&up.join("usr/bin/tool"), 0o700);
    fs::remove_dir(up.join("empty")).unwrap();
    fs::write(up.join("empty"), b"now a file").unwrap();

    let mut layer = Vec::new();
    diff_dirs(&p("lower"), &up, &mut layer, &DiffOptions::default()).unwrap();
    apply(&layer[..], &p("result"), &opts()).unwrap();
    assert!(tar_of(&p("result")) == tar_of(&up), "lower + diff != upper");
    for d in ["lower", "upper", "result"] {
        chmod(&p(d).join("ro"), 0o755);
    }
}

/// GNU tar's own archives (PAX with xattrs, and GNU long names) apply to the same tree.
#[test]
fn gnu_tar_archives_apply_like_the_source() {
    if std::process::Command::new("tar")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("GNU tar not installed: skipping");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    fs::create_dir(&src).unwrap();
    build_tree(&src);
    for (format, xattrs) in [("pax", true), ("gnu", false)] {
        let archive = base.path().join(format!("{format}.tar.gz"));
        let mut cmd = std::process::Command::new("tar");
        cmd.arg(format!("--format={format}"));
        if xattrs {
            cmd.args(["--xattrs", "--xattrs-include=*"]);
        }
        let status = cmd
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success(), "tar --format={format} failed");
        let dst = base.path().join(format!("dst-{format}"));
        fs::create_dir(&dst).unwrap();
        apply(fs::File::open(&archive).unwrap(), &dst, &opts()).unwrap();
        if xattrs {
            assert!(
                tar_of(&dst) == tar_of(&src),
                "{format}: applied tree differs"
            );
        } else {
            let long = "l".repeat(120);
            assert_eq!(fs::read(dst.join(long)).unwrap(), b"long name");
            use std::os::unix::fs::MetadataExt;
            let ino = |p: &str| fs::metadata(dst.join(p)).unwrap().ino();
            assert_eq!(ino("usr/bin/tool"), ino("etc/tool-link2"));
        }
        chmod(&dst.join("ro"), 0o755);
    }
    chmod(&src.join("ro"), 0o755);
}
