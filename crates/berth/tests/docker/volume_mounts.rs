//! How containers take their volumes (#9), through the real docker CLI, where Berth first
//! differed from Docker: a create that fails keeps the named volumes it made and removes the
//! anonymous ones; inspect's `Mounts` of a `--volumes-from` taker (no mode, read-only when
//! asked); the image's files copied into an empty volume at `docker create`, so `docker cp` of a
//! created container already sees them; and `--mount ...,volume-subpath=` (Docker 26+): a
//! directory or file inside the volume, through symlinks that stay inside, never one that leads
//! out, with Docker's errors (and API 1.45's gate), and no temporary mount left behind. Each
//! test has its own daemon.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{code, opted_in, stderr, Daemon};

/// `docker volume ls -q`, sorted.
fn names(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Entries named `subpath-*` anywhere under the daemon's exec root.
fn subpath_leftovers(d: &Daemon) -> Vec<String> {
    let out = Command::new("find")
        .arg(d.exec_root())
        .args(["-name", "subpath-*"])
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Imports `name`: busybox with `/seed/f` ("seeded") and `/seed/sub/g`.
fn import_seeded(d: &Daemon, name: &str) {
    let root = d.dir.path().join(format!("{name}-rootfs"));
    for dir in ["bin", "etc", "tmp", "seed/sub"] {
        std::fs::create_dir_all(root.join(dir)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox");
    for applet in [
        "sh", "cat", "ls", "touch", "echo", "sleep", "true", "mkdir", "ln",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(root.join("seed/f"), "seeded\n").expect("file");
    std::fs::write(root.join("seed/sub/g"), "deeper\n").expect("file");
    std::fs::set_permissions(root.join("seed"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    let tar = d.dir.path().join(format!("{name}.tar"));
    let st = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    d.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().expect("utf-8 path"),
        name,
    ]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_failed_create_keeps_the_named_volumes_it_made() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // `fresh` and an anonymous volume are made, then the third mount is refused.
    let out = d.docker(&[
        "create",
        "-v",
        "fresh:/a",
        "--mount",
        "type=volume,dst=/anon",
        "--mount",
        "type=volume,src=refused,dst=/b,volume-opt=bogus=1",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("invalid option: \"bogus\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(names(&d), ["fresh"]);
    // The anonymous one's files went too.
    let dirs: Vec<String> = std::fs::read_dir(d.data_root().join("volumes"))
        .expect("volumes dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, ["fresh"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    // Nothing references it: it can go.
    d.ok(&["volume", "rm", "fresh"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volumes_from_mounts_show_as_docker_shows_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = tempfile::tempdir().expect("host dir");
    let bind = format!("{}:/b:ro", host.path().display());
    d.ok(&[
        "create", "--name", "giver", "-v", "named:/n", "-v", "/g", "-v", &bind, "busybox", "true",
    ]);
    let format = "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}} [{{.Mode}}] {{.RW}} [{{.Propagation}}] {{.Source}}\n{{end}}";
    let anon = d.inspect(
        "giver",
        "{{range .Mounts}}{{if eq .Destination \"/g\"}}{{.Name}}{{end}}{{end}}",
    );
    let source = |name: &str| {
        d.data_root()
            .join("volumes")
            .join(name)
            .join("_data")
            .display()
            .to_string()
    };
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let giver = sorted(d.inspect("giver", format));
    assert_eq!(
        giver,
        [
            format!("bind /b  [ro] false [rprivate] {}", host.path().display()),
            format!("volume /g {anon} [] true [] {}", source(&anon)),
            format!("volume /n named [z] true [] {}", source("named")),
        ]
    );
    // Taken from another container: no mode, as dockerd copies a mount point; `:ro` makes
    // every one read-only.
    d.ok(&[
        "create",
        "--name",
        "taker",
        "--volumes-from",
        "giver:ro",
        "busybox",
        "true",
    ]);
    assert_eq!(
        sorted(d.inspect("taker", format)),
        [
            format!("bind /b  [] false [rprivate] {}", host.path().display()),
            format!("volume /g {anon} [] false [] {}", source(&anon)),
            format!("volume /n named [] false [] {}", source("named")),
        ]
    );
    d.ok(&[
        "create",
        "--name",
        "taker-rw",
        "--volumes-from",
        "giver",
        "busybox",
        "true",
    ]);
    assert_eq!(
        sorted(d.inspect("taker-rw", format)),
        [
            format!("bind /b  [] false [rprivate] {}", host.path().display()),
            format!("volume /g {anon} [] true [] {}", source(&anon)),
            format!("volume /n named [] true [] {}", source("named")),
        ]
    );
    d.ok(&["rm", "-v", "taker", "taker-rw", "giver"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn create_fills_an_empty_volume_before_any_start() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    import_seeded(&d, "seeded:1");
    d.ok(&[
        "create",
        "--name",
        "made",
        "-v",
        "early:/seed",
        "seeded:1",
        "true",
    ]);
    // On the host and through docker cp, before the container ever ran.
    let data = d.data_root().join("volumes/early/_data");
    assert_eq!(
        std::fs::read_to_string(data.join("f")).expect("copied at create"),
        "seeded\n"
    );
    let md = std::fs::metadata(&data).expect("volume dir");
    assert_eq!(md.permissions().mode() & 0o7777, 0o750);
    let out = d.docker(&["cp", "made:/seed/sub/g", "-"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let tar = String::from_utf8_lossy(&out.stdout);
    assert!(tar.contains("deeper"), "{tar}");
    // The container's layer got nothing: the copy read a read-only view of the image.
    assert_eq!(
        d.ok(&["diff", "made"]),
        "",
        "the create wrote into the container's layer"
    );
    // A start copies nothing more: what the volume holds by then is what the container sees.
    std::fs::remove_file(data.join("f")).expect("rm");
    d.ok(&["start", "-a", "made"]);
    assert!(!data.join("f").exists());
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "early:/v", "busybox", "ls", "/v"]),
        "sub"
    );
    // A destination the image does not have is left alone, and nocopy still holds.
    d.ok(&[
        "create",
        "--name",
        "bare",
        "-v",
        "empty:/elsewhere",
        "-v",
        "nc:/seed:nocopy",
        "seeded:1",
        "true",
    ]);
    for v in ["empty", "nc"] {
        let dir = d.data_root().join("volumes").join(v).join("_data");
        assert_eq!(
            std::fs::read_dir(&dir).expect("volume dir").count(),
            0,
            "{v} was filled"
        );
    }
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
    d.ok(&["rm", "made", "bare"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_subpath_mounts_a_path_inside_the_volume_only() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("secret"), "host secret\n").expect("secret");
    let link_out = format!("ln -s {} /v/out", outside.path().display());
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "sv:/v",
        "busybox",
        "sh",
        "-c",
        &format!(
            "mkdir -p /v/sub/dir && echo hi > /v/sub/dir/f && echo top > /v/top && \
             ln -s sub/dir /v/inside && ln -s /etc /v/abs && ln -s ../.. /v/sub/climb && {link_out}"
        ),
    ]);
    let sub = |subpath: &str, extra: &str| {
        format!("type=volume,src=sv,dst=/m,volume-subpath={subpath}{extra}")
    };
    let run = |mount: &str, script: &str| {
        d.docker(&[
            "run", "--rm", "--mount", mount, "busybox", "sh", "-c", script,
        ])
    };
    let ok = |mount: &str, script: &str| {
        let out = run(mount, script);
        assert_eq!(code(&out), 0, "{mount}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(ok(&sub("sub/dir", ""), "ls /m; cat /m/f"), "f\nhi");
    assert_eq!(ok(&sub("sub/../sub/dir", ""), "cat /m/f"), "hi");
    // A symlink that stays inside the volume is followed.
    assert_eq!(ok(&sub("inside", ""), "cat /m/f"), "hi");
    // A file.
    assert_eq!(ok(&sub("top", ""), "cat /m"), "top");
    // Writes land in the volume; readonly holds.
    ok(&sub("sub", ""), "echo w > /m/new");
    assert_eq!(ok("type=volume,src=sv,dst=/m", "cat /m/sub/new"), "w");
    assert_eq!(
        ok(
            &sub("sub", ",readonly"),
            "touch /m/x 2>/dev/null || echo ro"
        ),
        "ro"
    );
    // Out of the volume: refused with Docker's words, by a symlink or by the path itself.
    for escape in ["abs", "sub/climb", "out", "sub/climb/x"] {
        let out = run(&sub(escape, ""), "cat /m/secret /m/passwd");
        assert_ne!(code(&out), 0, "{escape} was mounted");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("host secret"),
            "{escape}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("path concatenation escapes the base directory")
                || err.contains("cannot access path"),
            "{escape}: {err}"
        );
    }
    let out = run(&sub("nope/dir", ""), "true");
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("cannot access path") && stderr(&out).contains("nope/dir"),
        "{}",
        stderr(&out)
    );
    for (mount, why) in [
        (
            sub("../sv", ""),
            "subpath must be a relative path within the volume",
        ),
        (
            sub("/etc", ""),
            "subpath must be a relative path within the volume",
        ),
        (
            "type=volume,dst=/m,volume-subpath=x".to_string(),
            "must not set Subpath when using anonymous volumes",
        ),
    ] {
        let out = run(&mount, "true");
        assert_ne!(code(&out), 0, "{mount}");
        assert!(stderr(&out).contains(why), "{mount}: {}", stderr(&out));
    }
    // API 1.45 brought the field; an older client's request is refused, as dockerd does.
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Mounts":[{"Type":"volume","Source":"sv","Target":"/m","VolumeOptions":{"Subpath":"sub"}}]}}"#;
    let (status, answer) = d.curl("POST", "/v1.44/containers/create", Some(body));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("VolumeOptions.Subpath needs API v1.45 or newer"),
        "{answer}"
    );
    let (status, answer) = d.curl("POST", "/v1.45/containers/create?name=v145", Some(body));
    assert_eq!(status, 201, "{answer}");
    d.ok(&["rm", "v145"]);
    // A container that keeps running holds its view; nothing temporary stays behind.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "held",
        "--mount",
        &sub("sub/dir", ""),
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(
        subpath_leftovers(&d).is_empty(),
        "{:?}",
        subpath_leftovers(&d)
    );
    assert_eq!(d.ok(&["exec", "held", "cat", "/m/f"]), "hi");
    d.ok(&["restart", "-t", "0", "held"]);
    assert_eq!(d.ok(&["exec", "held", "cat", "/m/f"]), "hi");
    d.ok(&["rm", "-f", "held"]);
    assert!(
        subpath_leftovers(&d).is_empty(),
        "{:?}",
        subpath_leftovers(&d)
    );
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
    // docker cp of a container that is not running sees the subpath too.
    d.ok(&[
        "create",
        "--name",
        "copied",
        "--mount",
        &sub("sub/dir", ""),
        "busybox",
        "true",
    ]);
    let out = d.docker(&["cp", "copied:/m/f", "-"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hi\n"));
    let out = d.docker(&["cp", "copied:/m/new", "-"]);
    assert_ne!(code(&out), 0, "the copy saw the volume's root");
    d.ok(&["rm", "copied"]);
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
    let archive_leftovers: Vec<_> = std::fs::read_dir(d.data_root().join("containers"))
        .expect("containers dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("archive-"))
        .collect();
    assert!(archive_leftovers.is_empty(), "{archive_leftovers:?}");
    assert!(outside.path().join("secret").exists());
    d.ok(&["volume", "rm", "sv"]);
}
