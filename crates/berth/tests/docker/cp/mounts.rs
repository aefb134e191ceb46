//! `docker cp` through a container's mounts (#9), driven by the real docker CLI: binds (directory
//! and file) and tmpfs of a running container, binds and named volumes of created and exited
//! containers (mounted for the copy where the host never sees them, and released after it), a
//! running container's volumes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::names_in;
use crate::harness::{code, opted_in, stderr, Daemon};

/// #9: a running container's bind mounts (a directory and a file) and its tmpfs, as it sees
/// them: copies out read what is there (the tmpfs's content too), copies in land in the bind's
/// host directory and in the tmpfs; `cp -L` follows a link by its target inside the container; a
/// copy of `/` takes `/proc` as an empty directory and ends.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_sees_binds_and_tmpfs_of_a_running_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let bind = d.dir.path().join("bind-run");
    std::fs::create_dir_all(&bind).expect("bind dir");
    std::fs::write(bind.join("on-host"), b"from the host\n").expect("on-host");
    let file = d.dir.path().join("bound-file");
    std::fs::write(&file, b"a bound file\n").expect("bound file");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cpmnt",
        "-v",
        &format!("{}:/data", s(&bind)),
        "-v",
        &format!("{}:/etc/bound.conf", s(&file)),
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "echo in tmpfs > /scratch/t && ln -s /data/on-host /scratch/link && \
         touch /scratch/ready && sleep 600",
    ]);
    crate::harness::eventually(Duration::from_secs(10), "the tmpfs content", || {
        d.docker(&["exec", "cpmnt", "test", "-e", "/scratch/ready"])
            .status
            .success()
    });
    let out = d.dir.path().join("out-run");
    std::fs::create_dir_all(&out).expect("out dir");
    d.ok(&["cp", "cpmnt:/data/on-host", &s(&out)]);
    d.ok(&["cp", "cpmnt:/etc/bound.conf", &s(&out)]);
    d.ok(&["cp", "cpmnt:/scratch", &s(&out)]);
    d.ok(&["cp", "-L", "cpmnt:/scratch/link", &s(&out.join("followed"))]);
    let read = |p: &str| std::fs::read_to_string(out.join(p)).expect(p);
    assert_eq!(read("on-host"), "from the host\n");
    assert_eq!(read("bound.conf"), "a bound file\n");
    assert_eq!(read("scratch/t"), "in tmpfs\n");
    assert_eq!(read("followed"), "from the host\n");

    let src = d.dir.path().join("into-run");
    std::fs::write(&src, b"copied in\n").expect("src");
    d.ok(&["cp", &s(&src), "cpmnt:/data/"]);
    d.ok(&["cp", &s(&src), "cpmnt:/scratch/"]);
    assert_eq!(
        std::fs::read(bind.join("into-run")).expect("in the bind's host dir"),
        b"copied in\n"
    );
    assert_eq!(
        d.ok(&["exec", "cpmnt", "cat", "/scratch/into-run"]),
        "copied in"
    );
    // Nothing landed in the rootfs beneath the mounts.
    let upper_hits = Command::new("find")
        .arg(d.data_root())
        .args(["-name", "into-run"])
        .output()
        .expect("find");
    assert_eq!(String::from_utf8_lossy(&upper_hits.stdout), "");

    let all = crate::bounded::docker_within(
        &d,
        &["cp", "cpmnt:/", "-"],
        b"",
        Duration::from_secs(60),
        || {},
    );
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    let tar = d.dir.path().join("all.tar");
    std::fs::write(&tar, &all.stdout).expect("tar");
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .expect("tar -t");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    // GNU tar may list the names with their leading `/` removed.
    let names: Vec<&str> = list.lines().map(|l| l.trim_start_matches('/')).collect();
    assert!(names.contains(&"proc/"), "{list}");
    assert!(
        !names.iter().any(|l| l.starts_with("proc/1")),
        "/proc was read"
    );
    assert!(names.contains(&"scratch/t"), "the tmpfs is missing");
    assert!(names.contains(&"data/on-host"), "the bind is missing");
}

/// #9: a stopped container's binds are mounted for the length of a copy, never on the host: a
/// created container (whose mount targets do not exist yet, one of them nested in another
/// bind) and an exited one; copies in land in the binds' host directories.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_sees_binds_of_a_stopped_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let outer = d.dir.path().join("bind-outer");
    let inner = d.dir.path().join("bind-inner");
    std::fs::create_dir_all(&outer).expect("outer");
    std::fs::create_dir_all(&inner).expect("inner");
    std::fs::write(inner.join("deep"), b"nested bind\n").expect("deep");
    let file = d.dir.path().join("stopped-file");
    std::fs::write(&file, b"bound file\n").expect("file");
    let binds = [
        "-v".to_string(),
        format!("{}:/new/outer", s(&outer)),
        "-v".to_string(),
        format!("{}:/new/outer/sub/inner", s(&inner)),
        "-v".to_string(),
        format!("{}:/etc/bound.conf", s(&file)),
    ];
    let args = |verb: &'static str, name: &'static str| {
        let mut a: Vec<String> = vec![verb.into(), "--name".into(), name.into()];
        a.extend(binds.iter().cloned());
        a.extend(["busybox".to_string(), "true".to_string()]);
        a
    };
    let created = args("create", "cpstopc");
    d.ok(&created.iter().map(String::as_str).collect::<Vec<_>>());
    let exited = args("run", "cpstope");
    d.ok(&exited.iter().map(String::as_str).collect::<Vec<_>>());
    for ctr in ["cpstopc", "cpstope"] {
        let out = d.dir.path().join(format!("out-{ctr}"));
        std::fs::create_dir_all(&out).expect("out dir");
        d.ok(&["cp", &format!("{ctr}:/new/outer/sub/inner/deep"), &s(&out)]);
        d.ok(&["cp", &format!("{ctr}:/etc/bound.conf"), &s(&out)]);
        assert_eq!(
            std::fs::read(out.join("deep")).expect("deep"),
            b"nested bind\n"
        );
        assert_eq!(
            std::fs::read(out.join("bound.conf")).expect("conf"),
            b"bound file\n"
        );
        let src = d.dir.path().join(format!("in-{ctr}"));
        std::fs::write(&src, ctr.as_bytes()).expect("src");
        d.ok(&["cp", &s(&src), &format!("{ctr}:/new/outer/")]);
        d.ok(&["cp", &s(&src), &format!("{ctr}:/new/outer/sub/inner/")]);
        assert_eq!(
            std::fs::read(outer.join(format!("in-{ctr}"))).expect("outer"),
            ctr.as_bytes()
        );
        assert_eq!(
            std::fs::read(inner.join(format!("in-{ctr}"))).expect("inner"),
            ctr.as_bytes()
        );
    }
    // The nested target was made inside the outer bind, as a start makes it.
    assert_eq!(
        names_in(&outer),
        ["in-cpstopc", "in-cpstope", "sub"],
        "the outer bind's host dir"
    );
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    for dir in [&outer, &inner] {
        assert!(
            !host_mounts.contains(&s(dir)),
            "{} is mounted on the host",
            dir.display()
        );
    }
    // The container starts afterwards with what was copied in (the copy released its rootfs).
    d.ok(&["start", "-a", "cpstopc"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{}:/o", s(&outer)),
            "busybox",
            "cat",
            "/o/in-cpstopc"
        ]),
        "cpstopc"
    );
}

/// #9: named volumes as the container sees them: a running container's through its own view; a
/// created and an exited container's mounted for the copy (sharing the running one's volume, so
/// a copy in shows there at once), an anonymous volume from `-v /path`, and a local volume on a
/// tmpfs of its own, whose mount the copy releases after it.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp_sees_volumes_of_running_and_stopped_containers() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    d.ok(&["volume", "create", "cpvol"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cpvrun",
        "-v",
        "cpvol:/vol",
        "busybox",
        "sh",
        "-c",
        "echo from the container > /vol/inside && sleep 600",
    ]);
    crate::harness::eventually(Duration::from_secs(10), "the volume's file", || {
        d.docker(&["exec", "cpvrun", "test", "-e", "/vol/inside"])
            .status
            .success()
    });
    let out = d.dir.path().join("out-vol");
    std::fs::create_dir_all(&out).expect("out dir");
    let src = d.dir.path().join("to-volume");
    std::fs::write(&src, b"copied in\n").expect("src");
    d.ok(&["cp", "cpvrun:/vol/inside", &s(&out.join("running"))]);
    d.ok(&["cp", &s(&src), "cpvrun:/vol/"]);
    assert_eq!(
        std::fs::read(out.join("running")).expect("running"),
        b"from the container\n"
    );
    assert_eq!(
        d.ok(&["exec", "cpvrun", "cat", "/vol/to-volume"]),
        "copied in"
    );

    d.ok(&[
        "create",
        "--name",
        "cpvstop",
        "-v",
        "cpvol:/shared",
        "-v",
        "/anon",
        "busybox",
        "true",
    ]);
    d.ok(&[
        "run", "--name", "cpvexit", "-v", "cpvol:/e", "busybox", "true",
    ]);
    d.ok(&["cp", "cpvstop:/shared/inside", &s(&out.join("created"))]);
    d.ok(&["cp", "cpvexit:/e/to-volume", &s(&out.join("exited"))]);
    assert_eq!(
        std::fs::read(out.join("created")).expect("created"),
        b"from the container\n"
    );
    assert_eq!(
        std::fs::read(out.join("exited")).expect("exited"),
        b"copied in\n"
    );
    let src2 = d.dir.path().join("via-stopped");
    std::fs::write(&src2, b"via a stopped container\n").expect("src2");
    d.ok(&["cp", &s(&src2), "cpvstop:/shared/"]);
    d.ok(&["cp", &s(&src2), "cpvstop:/anon/"]);
    assert_eq!(
        d.ok(&["exec", "cpvrun", "cat", "/vol/via-stopped"]),
        "via a stopped container"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "cpvstop",
            "busybox",
            "cat",
            "/anon/via-stopped"
        ]),
        "via a stopped container"
    );

    // A local volume on a tmpfs: mounted for the copy, unmounted after it.
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "cptmpvol",
    ]);
    d.ok(&[
        "create",
        "--name",
        "cpvtmp",
        "-v",
        "cptmpvol:/t",
        "busybox",
        "true",
    ]);
    let into = d.docker(&["cp", &s(&src), "cpvtmp:/t/"]);
    assert_eq!(code(&into), 0, "{}", stderr(&into));
    let held: Vec<String> = d
        .mounts_under_root()
        .into_iter()
        .filter(|m| m.contains("cptmpvol"))
        .collect();
    assert!(
        held.is_empty(),
        "the copy left its volume mounted: {held:?}"
    );
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !host_mounts.contains("rootfs/shared") && !host_mounts.contains("rootfs/anon"),
        "a stopped container's mount is visible on the host"
    );
}
