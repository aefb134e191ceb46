//! Context tests, among them the security catalog's BLD-01, BLD-02 and BLD-08 at the unit level.

use std::os::unix::fs::symlink;

use super::*;

fn ctx(files: &[(&str, &str)], ignore: &str) -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in files {
        let p = dir.path().join(name);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, body).expect("write");
    }
    if !ignore.is_empty() {
        fs::write(dir.path().join(".dockerignore"), ignore).expect("write");
    }
    let c = Context::open(dir.path(), "Dockerfile").expect("open");
    (dir, c)
}

#[test]
fn bld01_parent_and_absolute_sources() {
    let (dir, c) = ctx(&[("a/x", "1"), ("etc/passwd", "mine")], "");
    for src in ["../secret", "..", "a/../../x", "./../x"] {
        let e = c.resolve(src).expect_err(src);
        assert_eq!(
            e.to_string(),
            format!("forbidden path outside the build context: {src}")
        );
    }
    // Absolute: relative to the context root, never the host's /etc/passwd.
    assert_eq!(c.resolve("/etc/passwd").expect("resolve"), ["etc/passwd"]);
    let e = c.resolve("/etc/shadow").expect_err("absent");
    assert!(matches!(e, ContextError::NotFound(_)));
    // Going up and back down inside the context is fine.
    assert_eq!(c.resolve("a/../a/x").expect("resolve"), ["a/x"]);
    drop(dir);
}

#[test]
fn bld02_links_resolve_inside_the_context() {
    let (dir, c) = ctx(&[("inside/f", "in")], "");
    symlink("/etc", dir.path().join("link")).expect("symlink");
    symlink("../../", dir.path().join("link2")).expect("symlink");
    symlink("/inside", dir.path().join("abs")).expect("symlink");
    // Through the link: inside the context, so not found, never the host's file.
    assert!(matches!(
        c.resolve("link/passwd"),
        Err(ContextError::NotFound(_))
    ));
    // The link itself is copied as a link.
    assert_eq!(c.resolve("link").expect("link"), ["link"]);
    let e = c.entries("link").expect("entries");
    assert_eq!(e[0].kind, Kind::Symlink("/etc".into()));
    assert_eq!(c.resolve("link2").expect("link2"), ["link2"]);
    // link2/inside/f: `../../` stops at the context root.
    assert_eq!(c.resolve("link2/inside/f").expect("resolve"), ["inside/f"]);
    assert_eq!(c.resolve("abs/f").expect("resolve"), ["inside/f"]);
}

#[test]
fn link_loops_end() {
    let (dir, c) = ctx(&[], "");
    symlink("b", dir.path().join("a")).expect("symlink");
    symlink("a", dir.path().join("b")).expect("symlink");
    assert!(matches!(c.resolve("a/x"), Err(ContextError::Loop { .. })));
}

#[test]
fn bld08_ignored_files_are_not_copied() {
    let (_dir, c) = ctx(
        &[
            ("secret.txt", "s"),
            ("app/main.c", "m"),
            ("app/x.log", "l"),
            ("README.md", "r"),
        ],
        "secret.txt\n**/*.log\n",
    );
    let names: Vec<String> = c
        .entries("")
        .expect("entries")
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert_eq!(
        names,
        ["", ".dockerignore", "README.md", "app", "app/main.c"]
    );
    assert!(matches!(
        c.resolve("secret.txt"),
        Err(ContextError::NotFound(_))
    ));
}

#[test]
fn exceptions_inside_an_excluded_directory() {
    let (_dir, c) = ctx(&[("d/a", "a"), ("d/keep", "k")], "d\n!d/keep\n");
    let names: Vec<String> = c
        .entries("")
        .expect("entries")
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert_eq!(names, ["", ".dockerignore", "d/keep"]);
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a"), "a").expect("write");
    fs::write(dir.path().join("b"), "b").expect("write");
    fs::write(dir.path().join(".dockerignore"), "a").expect("write");
    fs::write(dir.path().join("app.Dockerfile.dockerignore"), "b").expect("write");
    let c = Context::open(dir.path(), "app.Dockerfile").expect("open");
    assert!(c.resolve("a").is_ok());
    assert!(c.resolve("b").is_err());
}

#[test]
fn globs_match_per_segment() {
    let (_dir, c) = ctx(
        &[
            ("a.txt", ""),
            ("b.txt", ""),
            ("c.md", ""),
            ("sub/d.txt", ""),
        ],
        "b.txt",
    );
    assert_eq!(c.resolve("*.txt").expect("glob"), ["a.txt"]);
    assert_eq!(c.resolve("*/*.txt").expect("glob"), ["sub/d.txt"]);
    assert!(matches!(c.resolve("*.rs"), Err(ContextError::NotFound(_))));
}

#[test]
fn hashes_see_content_and_mode_not_time() {
    let (dir, c) = ctx(&[("f", "one")], "");
    let h1 = hash_entries(&c.entries("f").expect("entries")).expect("hash");
    filetime_touch(&dir.path().join("f"));
    assert_eq!(
        h1,
        hash_entries(&c.entries("f").expect("entries")).expect("hash")
    );
    fs::write(dir.path().join("f"), "two").expect("write");
    let h2 = hash_entries(&c.entries("f").expect("entries")).expect("hash");
    assert_ne!(h1, h2);
    fs::set_permissions(dir.path().join("f"), fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_ne!(
        h2,
        hash_entries(&c.entries("f").expect("entries")).expect("hash")
    );
}

fn filetime_touch(p: &Path) {
    let f = fs::File::options().append(true).open(p).expect("open");
    f.set_modified(std::time::SystemTime::UNIX_EPOCH)
        .expect("set mtime");
}
