//! `docker cp` under attack from inside the container (the security catalog's CP cases and
//! CVE-03/CVE-04/CVE-12): symlinks resolve inside the container, also while a racer swaps them
//! (moby CVE-2018-15664); FIFOs are copied as FIFO headers and never opened, also when one is
//! swapped in for a file mid-copy; the stat header; no user lookup loads the image's NSS modules
//! (moby CVE-2019-14271); read-only rootfs and mounts refuse writes (CP-04); and a container
//! racing a symlink at a stopped container's mountpoint never makes the daemon create, mount or
//! write anything on the host (moby GHSA-vp62-88p7-qqf5).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::bounded::{docker_within, release_fifo};
use crate::harness::{code, opted_in, stderr, stdout, Daemon};

/// What one copy may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// Copies made while a racer runs.
const RACE_ROUNDS: usize = 200;
/// Rounds of the mountpoint race (three copies each).
const CVE12_ROUNDS: usize = 100;

/// (name, type flag, data) of each entry of a ustar/GNU tar with short names.
fn tar_entries(tar: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let h = &tar[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let name_end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&h[..name_end]).into_owned();
        let size_text = String::from_utf8_lossy(&h[124..136]);
        let size =
            usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .expect("octal size");
        let data = tar[at + 512..at + 512 + size].to_vec();
        out.push((name, h[156], data));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Nanoseconds now, for unique names.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn fifos_are_copied_as_fifo_headers_unopened() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cpfifo", "busybox", "sleep", "600"]);
    d.ok(&[
        "exec",
        "cpfifo",
        "sh",
        "-c",
        "mkfifo /fifo && mkdir /d && mkfifo /d/p && echo hi > /d/f",
    ]);
    let pid = d.inspect("cpfifo", "{{.State.Pid}}");
    let unblock = || {
        release_fifo(&format!("/proc/{pid}/root/fifo"));
        release_fifo(&format!("/proc/{pid}/root/d/p"));
    };
    // As Docker: a FIFO's header (type '6'), no data.
    let out = docker_within(&d, &["cp", "cpfifo:/fifo", "-"], b"", DEADLINE, unblock);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tar_entries(&out.stdout), [("fifo".into(), b'6', vec![])]);
    let out = docker_within(&d, &["cp", "cpfifo:/d", "-"], b"", DEADLINE, unblock);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names: Vec<(String, u8)> = tar_entries(&out.stdout)
        .into_iter()
        .map(|(n, t, _)| (n, t))
        .collect();
    assert_eq!(
        names,
        [
            ("d/".into(), b'5'),
            ("d/f".into(), b'0'),
            ("d/p".into(), b'6')
        ]
    );
}

/// A racer in the container swaps a file and a FIFO under the names `a` and `b` while the
/// directory is copied out: every copy ends, with each name the whole file or a FIFO header. A
/// lookup followed by an open by name blocked on the FIFO when the swap fell between the two.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_file_swapped_for_a_fifo_does_not_hang_cp() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cpswap",
        "busybox",
        "sh",
        "-c",
        "mkdir /r && cd /r && echo hello > a && mkfifo b && \
         while :; do mv a t; mv b a; mv t b; done",
    ]);
    let pid = d.inspect("cpswap", "{{.State.Pid}}");
    let unblock = || {
        for n in ["a", "b", "t"] {
            release_fifo(&format!("/proc/{pid}/root/r/{n}"));
        }
    };
    for _ in 0..RACE_ROUNDS {
        let out = docker_within(&d, &["cp", "cpswap:/r", "-"], b"", DEADLINE, unblock);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        for (name, kind, data) in tar_entries(&out.stdout) {
            match kind {
                b'0' => assert_eq!(data, b"hello\n", "{name}"),
                b'5' | b'6' => assert!(data.is_empty(), "{name}"),
                other => panic!("{name}: type {other}"),
            }
        }
    }
}

/// CP-01: a symlink to a directory is followed inside the container, both ways.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp01_symlinks_resolve_in_the_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cp01", "busybox", "sleep", "600"]);
    d.ok(&["exec", "cp01", "ln", "-s", "/tmp", "/test"]);
    let name = format!("cp01-{}", unique());
    let src = d.dir.path().join(&name);
    std::fs::write(&src, b"cp01\n").expect("src");
    d.ok(&["cp", s(&src), "cp01:/test"]);
    assert_eq!(
        d.ok(&["exec", "cp01", "cat", &format!("/tmp/{name}")]),
        "cp01"
    );
    let back = d.dir.path().join("cp01-back");
    d.ok(&["cp", &format!("cp01:/test/{name}"), s(&back)]);
    assert_eq!(std::fs::read(&back).expect("copied back"), b"cp01\n");
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "written to the host's /tmp"
    );
}

/// CP-02: symlinks that climb out of the root stop at the container's root.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp02_climbing_symlinks_stay_inside() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cp02", "busybox", "sleep", "600"]);
    d.ok(&[
        "exec",
        "cp02",
        "sh",
        "-c",
        "ln -s ../../../../etc /x && ln -s /../../etc /y",
    ]);
    let inside = d.ok(&["exec", "cp02", "cat", "/etc/passwd"]);
    for link in ["x", "y"] {
        let out = d.dir.path().join(format!("cp02-{link}"));
        d.ok(&["cp", &format!("cp02:/{link}/passwd"), s(&out)]);
        let got = std::fs::read_to_string(&out).expect("copied");
        assert_eq!(got.trim(), inside, "through /{link}");
    }
}

/// CP-06: `HEAD /archive` answers with the base64 JSON stat header; a missing path is a 404.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp06_head_gives_the_path_stat_header() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cp06", "busybox", "sleep", "600"]);
    let head = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-I", "--unix-socket", s(&d.sock)])
            .arg(format!(
                "http://localhost/v1.50/containers/cp06/archive?path={path}"
            ))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let headers = head("/etc/passwd");
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    let b64 = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("X-Docker-Container-Path-Stat")
                .then(|| v.trim().to_string())
        })
        .expect("the stat header");
    let mut dec = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64");
    std::io::Write::write_all(&mut dec.stdin.take().expect("stdin"), b64.as_bytes())
        .expect("write");
    let json = dec.wait_with_output().expect("base64 -d").stdout;
    let v: serde_json::Value = serde_json::from_slice(&json).expect("stat JSON");
    let size = d.ok(&["exec", "cp06", "stat", "-c", "%s", "/etc/passwd"]);
    assert_eq!(v["name"], "passwd");
    assert_eq!(v["size"].to_string(), size);
    assert_eq!(v["mode"], 0o644);
    assert_eq!(v["linkTarget"], "");
    assert!(v["mtime"].as_str().is_some_and(|m| m.contains('T')), "{v}");
    assert!(head("/nope").starts_with("HTTP/1.1 404"));
}

/// CVE-03: a racer in the container swaps a directory for a symlink to a host directory (moby
/// CVE-2018-15664's loop) while the host copies out of and into it. Every copy out gives the
/// container's file or an error, never the host canary; nothing is written to the host.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve03_symlink_swap_race_never_reaches_the_host() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let canary_dir = d.dir.path().join("cve03-canary");
    std::fs::create_dir(&canary_dir).expect("canary dir");
    let canary = format!("host canary {}", unique());
    std::fs::write(canary_dir.join("secret"), &canary).expect("canary");
    let racer = format!(
        "mkdir /dir && echo inside > /dir/secret && \
         while :; do mv /dir /dtmp; ln -s {} /dir; rm /dir; mv /dtmp /dir; done",
        s(&canary_dir)
    );
    d.ok(&[
        "run", "-d", "--name", "cve03", "busybox", "sh", "-c", &racer,
    ]);
    let src = d.dir.path().join("file");
    std::fs::write(&src, b"from the host").expect("src");
    let mut copied_out = 0;
    for _ in 0..RACE_ROUNDS {
        let out = docker_within(&d, &["cp", "cve03:/dir/secret", "-"], b"", DEADLINE, || {});
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(&canary),
            "a copy out read the host's file"
        );
        if code(&out) == 0 {
            let entries = tar_entries(&out.stdout);
            assert_eq!(entries, [("secret".into(), b'0', b"inside\n".to_vec())]);
            copied_out += 1;
        }
        let _ = docker_within(
            &d,
            &["cp", s(&src), "cve03:/dir/file"],
            b"",
            DEADLINE,
            || {},
        );
    }
    assert!(copied_out > 0, "no copy out succeeded: {}", d.log());
    let mut names: Vec<String> = std::fs::read_dir(&canary_dir)
        .expect("canary dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["secret"], "a copy in wrote to the host");
    assert_eq!(
        std::fs::read_to_string(canary_dir.join("secret")).expect("canary"),
        canary
    );
}

/// A shared library that creates `canary` when it is loaded.
const EVIL_NSS: &str = r#"
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void loaded(void) {
    int fd = open(CANARY, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
}
int _nss_evil_getpwnam_r(void) { return 0; }
int _nss_files_getpwnam_r(void) { return 0; }
"#;

/// CVE-04: an image with a hostile `nsswitch.conf` and NSS modules that write a canary when
/// loaded; copies out, `cp -a` (which looks the container user up) and a start with a named user
/// load none of them, on the host or in the container. (The archive code's side is checked at
/// code level by the daemon's `archive::tests::no_user_lookup_or_code_loading`.)
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve04_cp_loads_no_nss_module_from_the_image() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let canary = d.dir.path().join("cve04-canary");
    let c_src = d.dir.path().join("evil.c");
    std::fs::write(&c_src, EVIL_NSS).expect("evil.c");
    let so = d.dir.path().join("libnss_evil.so.2");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o", s(&so), s(&c_src)])
        .arg(format!("-DCANARY=\"{}\"", s(&canary)))
        .status();
    if !built.is_ok_and(|st| st.success()) {
        eprintln!("skipping: no C compiler (cc) to build the hostile NSS module");
        return;
    }
    // The module works: loaded into a host process, it writes the canary.
    let st = Command::new("/bin/true")
        .env("LD_PRELOAD", &so)
        .status()
        .expect("true");
    assert!(
        st.success() && canary.exists(),
        "the test module does not fire"
    );
    std::fs::remove_file(&canary).expect("remove canary");

    d.ok(&["run", "-d", "--name", "cve04mk", "busybox", "sleep", "600"]);
    let dirs = "/lib/x86_64-linux-gnu /lib64 /lib /usr/lib/x86_64-linux-gnu /usr/lib";
    d.ok(&["exec", "cve04mk", "sh", "-c", &format!("mkdir -p {dirs}")]);
    for dir in dirs.split(' ') {
        for name in ["libnss_evil.so.2", "libnss_files.so.2"] {
            d.ok(&["cp", s(&so), &format!("cve04mk:{dir}/{name}")]);
        }
    }
    let nss = d.dir.path().join("nsswitch.conf");
    std::fs::write(
        &nss,
        "passwd: evil files\ngroup: evil files\nhosts: evil files\n",
    )
    .expect("nsswitch.conf");
    d.ok(&["cp", s(&nss), "cve04mk:/etc/nsswitch.conf"]);
    d.ok(&["commit", "cve04mk", "cve04:img"]);

    d.ok(&[
        "run",
        "-d",
        "-u",
        "nobody",
        "--name",
        "cve04",
        "cve04:img",
        "sleep",
        "600",
    ]);
    let out = d.dir.path().join("cve04-out");
    std::fs::create_dir(&out).expect("out dir");
    d.ok(&["cp", "cve04:/etc/passwd", s(&out)]);
    d.ok(&["cp", "cve04:/etc", s(&out.join("etc"))]);
    d.ok(&["cp", "-a", s(&nss), "cve04:/tmp/"]);
    let owner = d.ok(&["exec", "cve04", "stat", "-c", "%u:%g", "/tmp/nsswitch.conf"]);
    assert_eq!(
        owner, "65534:65534",
        "cp -a took the ids numerically from passwd"
    );
    d.ok(&["exec", "-u", "nobody", "cve04", "true"]);
    d.ok(&["stop", "-t", "1", "cve04"]);
    d.ok(&["cp", "cve04:/etc/group", s(&out)]);

    assert!(
        !canary.exists(),
        "an NSS module of the image ran on the host"
    );
    d.ok(&["start", "cve04"]);
    let inside = d.docker(&["exec", "cve04", "test", "-e", s(&canary)]);
    assert_eq!(
        code(&inside),
        1,
        "an NSS module of the image ran in the container: {}",
        stdout(&inside)
    );
}

/// CP-04 on a running and a stopped container: a `:ro` bind or named volume refuses writes
/// ("mounted volume is marked read-only"), a `--read-only` rootfs too ("container rootfs is marked
/// read-only"), also through a symlink in a writable bind or volume pointing into the rootfs
/// (moby TestPutContainerArchiveErrSymlinkInVolumeToReadOnlyRootfs); the writable ones take
/// writes; nothing is written anywhere by a refused copy.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cp04_read_only_rootfs_and_mounts_refuse_writes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let src = d.dir.path().join("cp04-file");
    std::fs::write(&src, b"cp04").expect("src");
    for (verb, ctr) in [("run", "cp04run"), ("create", "cp04stop")] {
        let ro = d.dir.path().join(format!("{ctr}-ro"));
        let rw = d.dir.path().join(format!("{ctr}-rw"));
        std::fs::create_dir_all(&ro).expect("ro dir");
        std::fs::create_dir_all(&rw).expect("rw dir");
        std::os::unix::fs::symlink("/etc", rw.join("toetc")).expect("symlink");
        // Named volumes: one mounted read-only, one holding a symlink into the rootfs.
        let (ro_vol, rw_vol) = (format!("{ctr}-rovol"), format!("{ctr}-rwvol"));
        d.ok(&["volume", "create", &ro_vol]);
        d.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{rw_vol}:/v"),
            "busybox",
            "ln",
            "-s",
            "/etc",
            "/v/toetc",
        ]);
        let mut args = vec![verb];
        if verb == "run" {
            args.push("-d");
        }
        let ro_bind = format!("{}:/ro:ro", s(&ro));
        let rw_bind = format!("{}:/rw", s(&rw));
        let ro_vol_mount = format!("{ro_vol}:/rovol:ro");
        let rw_vol_mount = format!("{rw_vol}:/rwvol");
        args.extend([
            "--read-only",
            "--tmpfs",
            "/scratch",
            "-v",
            &ro_bind,
            "-v",
            &rw_bind,
            "-v",
            &ro_vol_mount,
            "-v",
            &rw_vol_mount,
            "--name",
            ctr,
            "busybox",
            "sleep",
            "600",
        ]);
        d.ok(&args);
        let cp_in = |dest: &str| {
            docker_within(
                &d,
                &["cp", s(&src), &format!("{ctr}:{dest}")],
                b"",
                DEADLINE,
                || {},
            )
        };
        for (dest, words) in [
            ("/ro/", "mounted volume is marked read-only"),
            ("/tmp/", "container rootfs is marked read-only"),
            ("/rw/toetc/", "container rootfs is marked read-only"),
            ("/rovol/", "mounted volume is marked read-only"),
            ("/rwvol/toetc/", "container rootfs is marked read-only"),
        ] {
            let out = cp_in(dest);
            assert_eq!(code(&out), 1, "{ctr}:{dest} {}", stderr(&out));
            assert!(
                stderr(&out).contains(words),
                "{ctr}:{dest} {}",
                stderr(&out)
            );
        }
        assert_eq!(std::fs::read_dir(&ro).expect("ro").count(), 0);
        let out = cp_in("/rw/");
        assert_eq!(code(&out), 0, "{ctr}:/rw/ {}", stderr(&out));
        assert_eq!(std::fs::read(rw.join("cp04-file")).expect("rw"), b"cp04");
        let out = cp_in("/rwvol/");
        assert_eq!(code(&out), 0, "{ctr}:/rwvol/ {}", stderr(&out));
        let listed = d.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{rw_vol}:/v"),
            "-v",
            &format!("{ro_vol}:/r"),
            "busybox",
            "sh",
            "-c",
            "cat /v/cp04-file; ls -A /r",
        ]);
        assert_eq!(
            listed, "cp04",
            "the writable volume has the file, the read-only one nothing"
        );
        if verb == "run" {
            // A writable tmpfs of the running container takes writes, as from inside.
            let out = cp_in("/scratch/");
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            assert_eq!(d.ok(&["exec", ctr, "cat", "/scratch/cp04-file"]), "cp04");
            for p in ["/tmp/cp04-file", "/etc/cp04-file", "/ro/cp04-file"] {
                let st = d.docker(&["exec", ctr, "test", "-e", p]);
                assert_eq!(code(&st), 1, "{p} was written");
            }
        }
    }
}

/// Host entries under `dir`, recursively, as paths relative to it.
fn host_tree(dir: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(dir)
        .arg("-mindepth")
        .arg("1")
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// CVE-12, the cp half (moby GHSA-vp62-88p7-qqf5): a running container shares a directory with a
/// stopped one, in which the stopped container has another bind's mountpoint (`/v/x/mnt`, not
/// made yet). The racer makes `x` missing, a directory, and a symlink to a host canary directory
/// in a tight loop while the host copies into and out of that mountpoint of the stopped
/// container, and into the racing path of the running one. The canary stays empty and unmounted;
/// a copy out that succeeds reads the nested bind's file and nothing else.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cve12_mountpoint_race_creates_nothing_on_the_host() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let canary = d.dir.path().join("cve12-canary");
    let shared = d.dir.path().join("cve12-shared");
    let other = d.dir.path().join("cve12-other");
    for dir in [&canary, &shared, &other] {
        std::fs::create_dir(dir).expect("dir");
    }
    std::fs::write(other.join("inner"), b"the nested bind\n").expect("inner");
    let racer = format!(
        "while :; do mkdir /s/x; rmdir /s/x; ln -s {c} /s/x; rm /s/x; \
         mkdir /s/x; mv /s/x /s/y; ln -s {c} /s/x; mv /s/y /s/x 2>/dev/null; rm -rf /s/x /s/y; done",
        c = s(&canary)
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cve12racer",
        "-v",
        &format!("{}:/s", s(&shared)),
        "busybox",
        "sh",
        "-c",
        &racer,
    ]);
    d.ok(&[
        "create",
        "--name",
        "cve12",
        "-v",
        &format!("{}:/v", s(&shared)),
        "-v",
        &format!("{}:/v/x/mnt", s(&other)),
        "busybox",
        "true",
    ]);
    let src = d.dir.path().join("cve12-file");
    std::fs::write(&src, b"from the host").expect("src");
    let (mut copied_out, mut copied_in) = (0, 0);
    for _ in 0..CVE12_ROUNDS {
        let out = docker_within(
            &d,
            &["cp", "cve12:/v/x/mnt/inner", "-"],
            b"",
            DEADLINE,
            || {},
        );
        if code(&out) == 0 {
            assert_eq!(
                tar_entries(&out.stdout),
                [("inner".into(), b'0', b"the nested bind\n".to_vec())]
            );
            copied_out += 1;
        }
        let into = docker_within(
            &d,
            &["cp", s(&src), "cve12:/v/x/mnt/"],
            b"",
            DEADLINE,
            || {},
        );
        copied_in += usize::from(code(&into) == 0);
        let _ = docker_within(
            &d,
            &["cp", s(&src), "cve12racer:/s/x/"],
            b"",
            DEADLINE,
            || {},
        );
        assert_eq!(
            host_tree(&canary),
            Vec::<String>::new(),
            "written on the host"
        );
    }
    eprintln!("cve12: {copied_out} copies out and {copied_in} in succeeded of {CVE12_ROUNDS}");
    assert!(copied_out + copied_in > 0, "no copy succeeded: {}", d.log());
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !host_mounts.contains(s(&canary)),
        "something is mounted on the canary"
    );
    d.ok(&["rm", "-f", "cve12racer"]);
    assert!(d.leaked_mounts().is_empty(), "{:?}", d.leaked_mounts());
}
