//! Volumes (#9) through the real docker CLI: `volume create|ls|inspect|rm|prune` with Docker's
//! answers and errors, data shared between containers and kept across a daemon restart, copy-up
//! of an image directory (owners, modes, links; `nocopy`), the local driver's `type`/`device`/`o`
//! options (a tmpfs and a bind mounted while a user runs, gone after), anonymous volumes' lifetimes
//! (`--rm`, `rm -v`, plain `rm`), `--volumes-from`, an image's `VOLUME`, inspect's `Mounts`, the
//! volume events, and bad input that leaves nothing behind. Each test has its own daemon.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, unix_now, Daemon};

/// `docker run --rm ARGS... IMAGE sh -c SCRIPT`: trimmed stdout (must succeed).
fn run(d: &Daemon, args: &[&str], image: &str, script: &str) -> String {
    let mut all: Vec<&str> = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[image, "sh", "-c", script]);
    d.ok(&all)
}

/// `docker volume ls -q` with `filters`, sorted.
fn names(d: &Daemon, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    let mut v: Vec<String> = d.ok(&args).lines().map(String::from).collect();
    v.sort();
    v
}

/// The entries of the daemon's volumes directory, sorted.
fn volume_dirs(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.data_root().join("volumes"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Mount points at or under `dir`.
fn mounts_at(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| *m == dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

/// Imports `name`: busybox plus `/data` (owner 1234:5678, mode 0750) holding a file (0640), a
/// subdirectory, a symlink to an absolute path and a hard link, and the image volume `VOLUME
/// /data`.
fn import_data_image(d: &Daemon, name: &str) {
    let root = d.dir.path().join(format!("{name}-rootfs"));
    for dir in ["bin", "etc", "tmp", "data/sub"] {
        std::fs::create_dir_all(root.join(dir)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            symlink("busybox", root.join("bin").join(applet)).expect("applet link");
        }
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let data = root.join("data");
    std::fs::write(data.join("f"), "from the image\n").expect("file");
    std::fs::write(data.join("sub/g"), "deeper\n").expect("file");
    std::fs::hard_link(data.join("f"), data.join("hard")).expect("hard link");
    symlink("/etc/passwd", data.join("link")).expect("symlink");
    for p in [
        data.join("f"),
        data.join("sub/g"),
        data.join("sub"),
        data.clone(),
    ] {
        std::os::unix::fs::lchown(&p, Some(1234), Some(5678)).expect("chown");
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    std::fs::set_permissions(data.join("f"), std::fs::Permissions::from_mode(0o640))
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
        "-c",
        "VOLUME /data",
        tar.to_str().expect("utf-8 path"),
        name,
    ]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_verbs_filters_and_errors() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    assert_eq!(
        d.ok(&["volume", "create", "--label", "tier=db", "--label", "x", "dbdata"]),
        "dbdata"
    );
    d.ok(&["volume", "create", "cache"]);
    let opts = ["-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m"];
    let mut args = vec!["volume", "create"];
    args.extend_from_slice(&opts);
    args.push("scratch");
    d.ok(&args);
    // Creating an existing volume answers it as it is.
    assert_eq!(d.ok(&["volume", "create", "cache"]), "cache");
    // Without a name: 64 hex digits, labelled anonymous.
    let anon = d.ok(&["volume", "create"]);
    assert!(
        anon.len() == 64 && anon.bytes().all(|b| b.is_ascii_hexdigit()),
        "{anon}"
    );
    assert_eq!(
        d.inspect(&anon, "{{json .Labels}}"),
        r#"{"com.docker.volume.anonymous":""}"#
    );

    let mountpoint = d.data_root().join("volumes/dbdata/_data");
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Mountpoint}} {{json .Options}} {{json .Labels}}",
            "dbdata"
        ]),
        format!(
            "dbdata local local {} null {{\"tier\":\"db\",\"x\":\"\"}}",
            mountpoint.display()
        )
    );
    assert!(mountpoint.is_dir());
    let created = d.ok(&["volume", "inspect", "-f", "{{.CreatedAt}}", "dbdata"]);
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{json .Options}}", "scratch"]),
        r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"}"#
    );

    // Filters: name (substring), label (key, key=value), driver, dangling.
    assert_eq!(names(&d, &["name=ach"]), ["cache"]);
    assert_eq!(names(&d, &["label=tier=db"]), ["dbdata"]);
    assert_eq!(names(&d, &["label=x"]), ["dbdata"]);
    assert!(names(&d, &["label=tier=web"]).is_empty());
    assert_eq!(names(&d, &["driver=local"]).len(), 4);
    d.ok(&[
        "create", "--name", "user", "-v", "cache:/c", "busybox", "true",
    ]);
    assert_eq!(names(&d, &["dangling=false"]), ["cache"]);
    let dangling = names(&d, &["dangling=true"]);
    assert_eq!(dangling.len(), 3, "{dangling:?}");
    assert!(!dangling.contains(&"cache".to_string()));

    // In use: 409 naming the container, and nothing is removed, with -f too.
    let id = d.inspect("user", "{{.Id}}");
    for args in [
        &["volume", "rm", "cache"][..],
        &["volume", "rm", "-f", "cache"][..],
    ] {
        let out = d.docker(args);
        assert_eq!(code(&out), 1);
        assert!(
            stderr(&out).contains(&format!("remove cache: volume is in use - [{id}]")),
            "{}",
            stderr(&out)
        );
    }
    assert!(d.data_root().join("volumes/cache/_data").is_dir());
    // Unknown: 404 with Docker's words; -f takes it as done.
    let out = d.docker(&["volume", "rm", "nope"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("get nope: no such volume"),
        "{}",
        stderr(&out)
    );
    d.ok(&["volume", "rm", "-f", "nope"]);
    let (status, body) = d.curl("GET", "/v1.50/volumes/nope", None);
    assert_eq!(
        (status, body.contains("get nope: no such volume")),
        (404, true)
    );

    // Prune: anonymous unused ones only; -a (all=true) named ones too; in-use ones stay.
    let pruned = d.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains(&anon), "{pruned}");
    assert!(!d.data_root().join("volumes").join(&anon).exists());
    assert_eq!(names(&d, &[]), ["cache", "dbdata", "scratch"]);
    // API 1.42+: labels filter the named ones too with all=true; a volume with mount options is
    // not Docker's to prune (no space there).
    let (status, body) = d.curl(
        "POST",
        "/v1.50/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%2C%22label%21%22%3A%5B%22tier%22%5D%7D",
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"VolumesDeleted\":[]"), "{body}");
    let all = d.ok(&["volume", "prune", "-af"]);
    assert!(all.contains("dbdata") && !all.contains("cache"), "{all}");
    assert_eq!(names(&d, &[]), ["cache", "scratch"]);
    d.ok(&["rm", "user"]);
    d.ok(&["volume", "rm", "cache", "scratch"]);
    assert!(names(&d, &[]).is_empty());
    assert!(volume_dirs(&d).is_empty(), "{:?}", volume_dirs(&d));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bad_input_leaves_nothing_behind() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let refused: &[(&[&str], &str)] = &[
        (
            &["volume", "create", "a b"],
            "create a b: \"a b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
        ),
        (&["volume", "create", "_x"], "includes invalid characters"),
        (&["volume", "create", "a"], "volume name is too short"),
        (
            &["volume", "create", "-d", "nodriver", "v1"],
            "create v1: error looking up volume plugin nodriver: plugin \"nodriver\" not found",
        ),
        (
            &["volume", "create", "-o", "foo=bar", "v2"],
            "create v2: invalid option: \"foo\"",
        ),
        (
            &["volume", "create", "-o", "type=tmpfs", "v3"],
            "create v3: missing required option: \"device\"",
        ),
    ];
    for (args, words) in refused {
        let out = d.docker(args);
        assert_eq!(code(&out), 1, "{args:?}");
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
    }
    // A container over /proc is refused at create; a bad name through -v too.
    for args in [
        &["run", "--rm", "-v", "procvol:/proc", "busybox", "true"][..],
        &["run", "--rm", "-v", "/proc", "busybox", "true"][..],
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,dst=/proc/sys",
            "busybox",
            "true",
        ][..],
        &["run", "--rm", "-v", "bad@name:/x", "busybox", "true"][..],
        &[
            "run",
            "--rm",
            "-v",
            "opts:/x",
            "--mount",
            "type=volume,src=o2,dst=/y,volume-opt=zzz=1",
            "busybox",
            "true",
        ][..],
    ] {
        let out = d.docker(args);
        assert_eq!(code(&out), 125, "{args:?}: {}", stderr(&out));
    }
    // Nothing is left but the named volume the last create made before its next mount was
    // refused: dockerd keeps the named volumes a failed create made (anonymous ones go).
    assert_eq!(names(&d, &[]), ["opts"]);
    assert_eq!(volume_dirs(&d), ["opts"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    // The names are free for good ones afterwards.
    d.ok(&["volume", "create", "v1"]);
    d.ok(&["volume", "rm", "v1", "opts"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn data_outlives_its_container_and_the_daemon() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    d.ok(&["volume", "create", "--label", "keep=1", "shared"]);
    run(
        &d,
        &["-v", "shared:/w"],
        "busybox",
        "echo written > /w/note",
    );
    assert_eq!(
        run(
            &d,
            &["-v", "shared:/r:ro"],
            "busybox",
            "cat /r/note; touch /r/x 2>/dev/null || echo ro"
        ),
        "written\nro"
    );
    // A running user across the restart (live restore) keeps its volume in use.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-v",
        "shared:/h",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.stop();
    d.spawn();
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{json .Labels}} {{json .Options}}",
            "shared"
        ]),
        r#"{"keep":"1"} null"#
    );
    assert_eq!(
        run(&d, &["-v", "shared:/r"], "busybox", "cat /r/note"),
        "written"
    );
    let out = d.docker(&["volume", "rm", "shared"]);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "holder"]);
    d.ok(&["volume", "rm", "shared"]);
    assert!(volume_dirs(&d).is_empty());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn copy_up_takes_the_image_directory_once_unless_nocopy() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    import_data_image(&d, "withdata:1");
    let list = "stat -c '%n %u:%g %a' /data /data/f /data/sub /data/sub/g; cat /data/f; ls -l /data/link | sed 's/.*-> //'; stat -c %i /data/f /data/hard | uniq | wc -l";
    let expected = "/data 1234:5678 750\n/data/f 1234:5678 640\n/data/sub 1234:5678 755\n/data/sub/g 1234:5678 644\nfrom the image\n/etc/passwd\n1";
    assert_eq!(
        run(&d, &["-v", "filled:/data"], "withdata:1", list),
        expected
    );
    // On the host too: the volume's directory took the image directory's owner and mode.
    let data = d.data_root().join("volumes/filled/_data");
    let md = std::fs::metadata(&data).expect("volume dir");
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1234, 5678, 0o750)
    );
    // Not empty any more: another container sees the volume's files, not the image's.
    run(
        &d,
        &["-v", "filled:/data"],
        "withdata:1",
        "echo mine > /data/f; rm /data/hard",
    );
    assert_eq!(
        run(
            &d,
            &["-v", "filled:/data"],
            "withdata:1",
            "cat /data/f; ls /data"
        ),
        "mine\nf\nlink\nsub"
    );
    // Once per container: a restart after the volume was emptied copies nothing again.
    d.ok(&[
        "create",
        "--name",
        "once",
        "-v",
        "emptied:/data",
        "withdata:1",
        "sh",
        "-c",
        "ls /data | wc -l",
    ]);
    d.ok(&["start", "-a", "once"]);
    run(&d, &["-v", "emptied:/e"], "busybox", "rm -rf /e/*");
    assert_eq!(d.ok(&["start", "-a", "once"]), "0");
    // nocopy: in a -v mode and as --mount's volume-nocopy.
    assert_eq!(
        run(
            &d,
            &["-v", "bare:/data:nocopy"],
            "withdata:1",
            "ls -A /data | wc -l"
        ),
        "0"
    );
    assert_eq!(
        run(
            &d,
            &["--mount", "type=volume,src=bare2,dst=/data,volume-nocopy"],
            "withdata:1",
            "ls -A /data | wc -l"
        ),
        "0"
    );
    // A destination the image does not have is made, empty.
    assert_eq!(
        run(
            &d,
            &["-v", "fresh:/nothing/here"],
            "withdata:1",
            "ls -A /nothing/here | wc -l"
        ),
        "0"
    );
    d.ok(&["rm", "once"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn local_driver_options_mount_while_in_use() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,uid=1000",
        "tmp",
    ]);
    let data = d.data_root().join("volumes/tmp/_data");
    assert!(mounts_at(&data).is_empty(), "mounted before any use");
    d.ok(&[
        "run", "-d", "--name", "t1", "-v", "tmp:/t", "busybox", "sleep", "1000",
    ]);
    d.ok(&[
        "run", "-d", "--name", "t2", "-v", "tmp:/t", "busybox", "sleep", "1000",
    ]);
    assert_eq!(mounts_at(&data).len(), 1, "{:?}", mounts_at(&data));
    let inside = d.ok(&[
        "exec",
        "t1",
        "sh",
        "-c",
        "stat -c %u /t; df -k /t | tail -1 | awk '{print $2}'; echo x > /t/f",
    ]);
    assert_eq!(inside, "1000\n1024");
    assert_eq!(d.ok(&["exec", "t2", "cat", "/t/f"]), "x");
    d.ok(&["stop", "-t", "0", "t1"]);
    assert_eq!(mounts_at(&data).len(), 1, "the other user still runs");
    d.ok(&["stop", "-t", "0", "t2"]);
    eventually(
        Duration::from_secs(10),
        "the tmpfs unmounted after the last user",
        || mounts_at(&data).is_empty(),
    );
    // A new run gets a fresh tmpfs.
    assert_eq!(
        run(&d, &["-v", "tmp:/t"], "busybox", "ls -A /t | wc -l"),
        "0"
    );
    eventually(
        Duration::from_secs(10),
        "the tmpfs unmounted after --rm",
        || mounts_at(&data).is_empty(),
    );
    d.ok(&["rm", "t1", "t2"]);

    // A bind of a host directory: the container sees and writes the host's files; removing the
    // volume leaves them.
    let host = tempfile::tempdir().expect("host dir");
    std::fs::write(host.path().join("on-host"), "host file\n").expect("write");
    let device = format!("device={}", host.path().display());
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &device,
        "hostbind",
    ]);
    assert_eq!(
        run(
            &d,
            &["-v", "hostbind:/h"],
            "busybox",
            "cat /h/on-host; echo from-container > /h/new"
        ),
        "host file"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("new")).expect("written through the bind"),
        "from-container\n"
    );
    let bind_data = d.data_root().join("volumes/hostbind/_data");
    assert!(mounts_at(&bind_data).is_empty());
    d.ok(&["volume", "rm", "hostbind", "tmp"]);
    assert!(
        host.path().join("on-host").exists(),
        "the host's files were deleted"
    );
    assert!(volume_dirs(&d).is_empty());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn anonymous_volumes_lifetimes_and_volumes_from() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    // --rm takes its anonymous volumes, never a named one.
    run(&d, &["-v", "/anon", "-v", "named:/n"], "busybox", "true");
    assert_eq!(names(&d, &[]), ["named"]);
    // Plain rm keeps them; rm -v removes them (named ones stay).
    d.ok(&["create", "--name", "plain", "-v", "/a1", "busybox", "true"]);
    d.ok(&[
        "create", "--name", "withv", "-v", "/a2", "-v", "named:/n", "busybox", "true",
    ]);
    assert_eq!(names(&d, &[]).len(), 3);
    let a1 = d.inspect("plain", "{{range .Mounts}}{{.Name}}{{end}}");
    d.ok(&["rm", "plain"]);
    assert!(names(&d, &[]).contains(&a1));
    d.ok(&["rm", "-v", "withv"]);
    let left = names(&d, &[]);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&a1) && left.contains(&"named".to_string()));
    d.ok(&["volume", "rm", &a1]);

    // An image's VOLUME becomes an anonymous volume, not where the user mounts something.
    import_data_image(&d, "withdata:1");
    d.ok(&["create", "--name", "img", "withdata:1", "true"]);
    let m = d.inspect(
        "img",
        "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Driver}} [{{.Mode}}] {{.RW}}{{end}}",
    );
    assert_eq!(m, "volume /data local [] true");
    d.ok(&[
        "create",
        "--name",
        "covered",
        "-v",
        "named:/data",
        "withdata:1",
        "true",
    ]);
    assert_eq!(d.inspect("covered", "{{len .Mounts}}"), "1");

    // --volumes-from: binds and volumes, read-only when asked; rm -v of the taker leaves the
    // giver's anonymous volume to the giver.
    let host = tempfile::tempdir().expect("host dir");
    let bind = format!("{}:/b", host.path().display());
    d.ok(&[
        "run",
        "--name",
        "giver",
        "-v",
        "named:/n",
        "-v",
        "/g",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo n > /n/f; echo g > /g/f",
    ]);
    assert_eq!(
        run(
            &d,
            &["--volumes-from", "giver:ro"],
            "busybox",
            "cat /n/f /g/f; touch /n/x 2>/dev/null || echo ro; ls -d /b"
        ),
        "n\ng\nro\n/b"
    );
    d.ok(&[
        "create",
        "--name",
        "taker",
        "--volumes-from",
        "giver",
        "busybox",
        "touch",
        "/g/rw",
    ]);
    d.ok(&["start", "-a", "taker"]);
    let g = d.inspect(
        "giver",
        "{{range .Mounts}}{{if eq .Destination \"/g\"}}{{.Name}}{{end}}{{end}}",
    );
    d.ok(&["rm", "-v", "taker"]);
    assert!(
        names(&d, &[]).contains(&g),
        "the giver's volume went with the taker"
    );
    d.ok(&["rm", "-v", "giver", "img", "covered"]);
    assert!(!names(&d, &[]).contains(&g));
    let out = d.docker(&["create", "--volumes-from", "nobody", "busybox", "true"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("No such container: nobody"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn inspect_mounts_and_events_like_docker() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "mnt",
        "-v",
        "ev:/data",
        "-v",
        "ro:/ro:ro",
        "busybox",
        "true",
    ]);
    let source = d.data_root().join("volumes/ev/_data");
    let mounts = d.inspect("mnt", "{{json .Mounts}}");
    assert!(
        mounts.contains(&format!(
            "{{\"Type\":\"volume\",\"Name\":\"ev\",\"Source\":\"{}\",\"Destination\":\"/data\",\"Driver\":\"local\",\"Mode\":\"z\",\"RW\":true,\"Propagation\":\"\"}}",
            source.display()
        )),
        "{mounts}"
    );
    assert!(mounts.contains("\"Name\":\"ro\""), "{mounts}");
    assert!(mounts.contains("\"Mode\":\"ro\",\"RW\":false"), "{mounts}");
    let since = unix_now();
    let id = d.inspect("mnt", "{{.Id}}");
    d.ok(&["start", "-a", "mnt"]);
    d.ok(&["rm", "mnt"]);
    d.ok(&["volume", "rm", "ev", "ro"]);
    let until = unix_now();
    let events = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
    ]);
    let expect = [
        format!("mount ev {{\"container\":\"{id}\",\"destination\":\"/data\",\"driver\":\"local\",\"propagation\":\"\",\"read/write\":\"true\"}}"),
        format!("mount ro {{\"container\":\"{id}\",\"destination\":\"/ro\",\"driver\":\"local\",\"propagation\":\"\",\"read/write\":\"false\"}}"),
        format!("unmount ev {{\"container\":\"{id}\",\"driver\":\"local\"}}"),
        "destroy ev {\"driver\":\"local\"}".to_string(),
        "destroy ro {\"driver\":\"local\"}".to_string(),
    ];
    for e in &expect {
        assert!(events.lines().any(|l| l == e), "{e} not in:\n{events}");
    }
    let created = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--filter",
        "event=create",
        "--format",
        "{{.Actor.ID}}",
    ]);
    // The docker CLI sends `-v`'s Binds in a map's order: either volume may come first.
    let mut created: Vec<&str> = created.lines().collect();
    created.sort();
    assert_eq!(created, ["ev", "ro"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn crash_in_volume_create_leaves_nothing() {
    if !opted_in() {
        return;
    }
    let mut d = Daemon::start();
    let armed = crate::fault::arm(&mut d, "volume.create.after-dir");
    let out = d.docker(&["volume", "create", "half"]);
    assert_ne!(code(&out), 0, "create answered through a crash");
    crate::fault::crashed(&d, armed);
    d.spawn();
    assert!(names(&d, &[]).is_empty(), "{:?}", names(&d, &[]));
    assert!(volume_dirs(&d).is_empty(), "{:?}", volume_dirs(&d));
    crate::fault::store_check(&mut d);
    d.ok(&["volume", "create", "half"]);
    assert_eq!(volume_dirs(&d), ["half"]);
    crate::fault::store_check(&mut d);
    d.ok(&["volume", "rm", "half"]);
}
