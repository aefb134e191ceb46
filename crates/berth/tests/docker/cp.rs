//! `docker cp` against berth (`HEAD|GET|PUT /containers/{id}/archive`), driven by the real docker
//! CLI: files and directories in and out of running, created and exited containers, `-` tar
//! streams, Docker's error for a missing path, and tars that try to write outside the container's
//! root or a bind's host directory (`../` entries, an absolute symlink followed by an entry through
//! it, an absolute name, hard links), PUT straight through the API: the host files they aim at
//! stay untouched. Copies through the container's mounts are in [`mounts`].

use std::path::Path;
use std::process::Command;

use crate::harness::{code, opted_in, stderr, Daemon};

mod mounts;

/// One ustar entry: name, type flag, link target, data.
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mode = if kind == b'5' {
        "0000755\0"
    } else {
        "0000644\0"
    };
    h[100..108].copy_from_slice(mode.as_bytes());
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn tar_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 1024]);
}

/// PUTs `tar` to the archive endpoint with curl; returns the HTTP status and body.
fn put_archive(d: &Daemon, container: &str, path: &str, tar: &[u8]) -> (u16, String) {
    let file = d.dir.path().join(format!("put-{}.tar", tar.len()));
    std::fs::write(&file, tar).expect("write tar");
    let out = Command::new("curl")
        .arg("-s")
        .arg("--unix-socket")
        .arg(&d.sock)
        .arg("-X")
        .arg("PUT")
        .arg("-w")
        .arg("\n%{http_code}")
        .arg("-H")
        .arg("Content-Type: application/x-tar")
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!(
            "http://localhost/v1.50/containers/{container}/archive?path={path}"
        ))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// Copies a file and a directory into `ctr` and back out, checking the content both ways.
fn round_trip(d: &Daemon, ctr: &str, running: bool) {
    let host = d.dir.path().join(format!("host-{ctr}"));
    std::fs::create_dir_all(host.join("dir/sub")).expect("host dir");
    std::fs::write(host.join("file.txt"), b"hello file\n").expect("file");
    std::fs::write(host.join("dir/a"), b"alpha\n").expect("dir/a");
    std::fs::write(host.join("dir/sub/b"), b"beta\n").expect("dir/sub/b");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();

    let out = d.docker(&["cp", &s(&host.join("file.txt")), &format!("{ctr}:/tmp/")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Docker 28 reports "Successfully copied ..." only when stderr is a terminal.
    assert_eq!(stderr(&out), "");
    d.ok(&["cp", &s(&host.join("dir")), &format!("{ctr}:/tmp/copied")]);
    d.ok(&[
        "cp",
        &s(&host.join("file.txt")),
        &format!("{ctr}:/tmp/renamed.txt"),
    ]);
    if running {
        assert_eq!(d.ok(&["exec", ctr, "cat", "/tmp/file.txt"]), "hello file");
        assert_eq!(d.ok(&["exec", ctr, "cat", "/tmp/copied/sub/b"]), "beta");
        assert_eq!(
            d.ok(&["exec", ctr, "cat", "/tmp/renamed.txt"]),
            "hello file"
        );
    }

    let back = d.dir.path().join(format!("back-{ctr}"));
    std::fs::create_dir_all(&back).expect("back dir");
    d.ok(&["cp", &format!("{ctr}:/tmp/file.txt"), &s(&back)]);
    d.ok(&["cp", &format!("{ctr}:/tmp/copied"), &s(&back.join("dir"))]);
    d.ok(&[
        "cp",
        &format!("{ctr}:/tmp/copied/."),
        &s(&back.join("flat")),
    ]);
    d.ok(&["cp", &format!("{ctr}:/etc/passwd"), &s(&back.join("pw"))]);
    let read = |p: &str| std::fs::read_to_string(back.join(p)).expect(p);
    assert_eq!(read("file.txt"), "hello file\n");
    assert_eq!(read("dir/a"), "alpha\n");
    assert_eq!(read("dir/sub/b"), "beta\n");
    assert_eq!(read("flat/sub/b"), "beta\n");
    assert!(read("pw").starts_with("root:x:0:0:"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_in_and_out_of_a_running_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cprun", "busybox", "sleep", "600"]);
    round_trip(&d, "cprun", true);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_in_and_out_of_stopped_containers() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["create", "--name", "cpcreated", "busybox", "true"]);
    round_trip(&d, "cpcreated", false);
    d.ok(&["start", "-a", "cpcreated"]);
    d.ok(&["run", "--name", "cpexited", "busybox", "true"]);
    round_trip(&d, "cpexited", false);
    // What was copied into the stopped container is there when it runs.
    d.ok(&["commit", "cpexited", "cpexited:img"]);
    assert_eq!(
        d.ok(&["run", "--rm", "cpexited:img", "cat", "/tmp/copied/a"]),
        "alpha"
    );
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_streams_and_errors() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cpstream", "busybox", "sleep", "600"]);

    // `docker cp - ctr:/dir` takes a tar on stdin.
    let mut tar = Vec::new();
    tar_entry(&mut tar, "streamed/", b'5', "", b"");
    tar_entry(&mut tar, "streamed/x", b'0', "", b"from stdin\n");
    tar_end(&mut tar);
    let out = d.docker_input(&["cp", "-", "cpstream:/tmp"], &tar);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        d.ok(&["exec", "cpstream", "cat", "/tmp/streamed/x"]),
        "from stdin"
    );

    // Owners: the tar's by default, the container user's (root here) with -a.
    let owned = d.dir.path().join("owned");
    std::fs::write(&owned, b"o").expect("owned");
    std::os::unix::fs::chown(&owned, Some(1234), Some(4321)).expect("chown");
    let owned = owned.to_str().expect("utf-8");
    d.ok(&["cp", owned, "cpstream:/tmp/kept"]);
    d.ok(&["cp", "-a", owned, "cpstream:/tmp/mapped"]);
    let owners = d.ok(&[
        "exec",
        "cpstream",
        "stat",
        "-c",
        "%u:%g",
        "/tmp/kept",
        "/tmp/mapped",
    ]);
    assert_eq!(owners.lines().collect::<Vec<_>>(), ["1234:4321", "0:0"]);
    // With -a, a container running as another user gets that user's ids (its passwd's nobody).
    d.ok(&[
        "run", "-d", "-u", "nobody", "--name", "cpuser", "busybox", "sleep", "600",
    ]);
    d.ok(&["cp", "-a", owned, "cpuser:/tmp/mine"]);
    assert_eq!(
        d.ok(&["exec", "cpuser", "stat", "-c", "%u:%g", "/tmp/mine"]),
        "65534:65534"
    );

    // `docker cp ctr:/path -` writes a tar to stdout.
    let out = d.docker(&["cp", "cpstream:/tmp/streamed", "-"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let file = d.dir.path().join("out.tar");
    std::fs::write(&file, &out.stdout).expect("write");
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&file)
        .output()
        .expect("tar -t");
    let names = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["streamed/", "streamed/x"]
    );

    // A missing path: Docker's message and exit code 1.
    let out = d.docker(&[
        "cp",
        "cpstream:/nope",
        d.dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("Could not find the file /nope in container cpstream"),
        "{}",
        stderr(&out)
    );
    // A missing destination directory.
    let src = d.dir.path().join("src.txt");
    std::fs::write(&src, b"x").expect("src");
    let out = d.docker(&["cp", src.to_str().expect("utf-8"), "cpstream:/no/such/dir/"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The docker CLI asks not to replace a directory with a file (noOverwriteDirNonDir): a
    // stream whose `streamed` is a file meets the directory of that name.
    let mut clash = Vec::new();
    tar_entry(&mut clash, "streamed", b'0', "", b"a file now\n");
    tar_end(&mut clash);
    let out = d.docker_input(&["cp", "-", "cpstream:/tmp"], &clash);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot overwrite directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.ok(&["exec", "cpstream", "cat", "/tmp/streamed/x"]),
        "from stdin",
        "the directory is untouched"
    );
    // An unknown container.
    let out = d.docker(&["cp", "nosuchctr:/etc/passwd", "-"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
    // A read-only rootfs refuses writes.
    d.ok(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "cpro",
        "busybox",
        "sleep",
        "600",
    ]);
    let out = d.docker(&["cp", src.to_str().expect("utf-8"), "cpro:/tmp/"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("container rootfs is marked read-only"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn tars_cannot_write_outside_the_rootfs() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // A bind whose host directory is a sibling of the victim's: `..` from it would reach it.
    let bind_src = d.dir.path().join("escbind");
    std::fs::create_dir_all(&bind_src).expect("bind dir");
    let bind = format!("{}:/data", bind_src.to_str().expect("utf-8"));
    d.ok(&["create", "--name", "cpesc", "-v", &bind, "busybox", "true"]);
    d.ok(&[
        "run", "-d", "--name", "cpescrun", "-v", &bind, "busybox", "sleep", "600",
    ]);
    let victim_dir = d.dir.path().join("victim");
    std::fs::create_dir_all(&victim_dir).expect("victim dir");
    let victim = victim_dir.join("file");
    std::fs::write(&victim, b"original").expect("victim");
    let victim_abs = victim_dir.to_str().expect("utf-8");

    for (ctr, dest) in [
        ("cpesc", "/tmp"),
        ("cpescrun", "/tmp"),
        ("cpesc", "/data"),
        ("cpescrun", "/data"),
    ] {
        // `..` entries climbing out of the destination.
        let mut dots = Vec::new();
        let climb = format!("../../../../../../../../../..{victim_abs}/file");
        tar_entry(&mut dots, &climb, b'0', "", b"pwned");
        tar_end(&mut dots);
        let (status, body) = put_archive(&d, ctr, dest, &dots);
        assert!(status >= 400, "{status} {body}");
        let mut up = Vec::new();
        tar_entry(&mut up, "../victim/new", b'0', "", b"pwned");
        tar_end(&mut up);
        let (status, body) = put_archive(&d, ctr, dest, &up);
        assert!(status >= 400, "{status} {body}");

        // An absolute symlink, then an entry written through it.
        let mut link = Vec::new();
        tar_entry(&mut link, "evil", b'2', victim_abs, b"");
        tar_entry(&mut link, "evil/file", b'0', "", b"pwned");
        tar_entry(&mut link, "evil/new", b'0', "", b"pwned");
        tar_end(&mut link);
        let _ = put_archive(&d, ctr, dest, &link);

        // An absolute name.
        let mut abs = Vec::new();
        tar_entry(&mut abs, &format!("{victim_abs}/abs"), b'0', "", b"pwned");
        tar_end(&mut abs);
        let _ = put_archive(&d, ctr, dest, &abs);

        // Hard links to the victim (IMG-02's vectors): a climbing name is refused; an absolute
        // one names a file inside the destination (here the one written through `evil` above),
        // never the host's.
        let mut hard = Vec::new();
        tar_entry(&mut hard, "hl", b'1', "../victim/file", b"");
        tar_end(&mut hard);
        let (status, body) = put_archive(&d, ctr, dest, &hard);
        assert!(status >= 400, "{status} {body}");
        let mut hard = Vec::new();
        tar_entry(&mut hard, "hl2", b'1', &format!("{victim_abs}/file"), b"");
        tar_end(&mut hard);
        let _ = put_archive(&d, ctr, dest, &hard);

        // The destination itself through a symlink that points out of the root.
        let mut plain = Vec::new();
        tar_entry(&mut plain, "plain", b'0', "", b"pwned");
        tar_end(&mut plain);
        let (status, body) = put_archive(&d, ctr, &format!("{victim_abs}/../victim"), &plain);
        assert_eq!(status, 404, "{body}");

        assert_eq!(std::fs::read(&victim).expect("victim"), b"original");
        let meta = std::fs::metadata(&victim).expect("victim");
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&meta),
            1,
            "the victim was hard-linked"
        );
        assert_eq!(
            names_in(&victim_dir),
            ["file"],
            "files appeared outside the rootfs"
        );
    }
    // The entry through the symlink landed inside: the applier resolves links with the
    // destination directory as `/`; in the bind, that is inside its host directory.
    let inside = format!("/tmp{victim_abs}/new");
    assert_eq!(d.ok(&["exec", "cpescrun", "cat", &inside]), "pwned");
    let in_bind = bind_src
        .join(victim_abs.trim_start_matches('/'))
        .join("new");
    assert_eq!(std::fs::read(&in_bind).expect("in the bind"), b"pwned");
}

/// The berth CLI's own `cp` against the same daemon: host paths both ways, `-` streams, errors.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berth_cli_cp() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "bcp", "busybox", "sleep", "600"]);
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", d.sock.display()))
            .args(args)
            .current_dir(d.dir.path())
            .output()
            .expect("running berth")
    };
    let host = d.dir.path().join("bsrc");
    std::fs::create_dir_all(host.join("sub")).expect("src");
    std::fs::write(host.join("sub/f"), b"berth\n").expect("f");
    let out = berth(&["cp", "bsrc", "bcp:/tmp/in"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(d.ok(&["exec", "bcp", "cat", "/tmp/in/sub/f"]), "berth");
    let out = berth(&["cp", "bcp:/tmp/in/.", "bout"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.dir.path().join("bout/sub/f")).expect("copied back"),
        b"berth\n"
    );
    let out = berth(&["cp", "bcp:/tmp/in/sub/f", "-"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.len() >= 1024 && out.stdout.starts_with(b"f\0"));
    let out = berth(&["cp", "bcp:/nope", "x"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: Could not find the file /nope in container bcp"
    );
    let out = berth(&["cp", "a", "b"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "must specify at least one container source"
    );
}

/// Names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
