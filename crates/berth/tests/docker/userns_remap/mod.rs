//! ISO-27 (security catalog): `--userns-remap` maps the containers' root to an unprivileged host
//! uid. A daemon remapping to a test user with the range 100000:65536 (made here, removed again
//! by [`RemapUser`]'s drop) runs busybox: the uid map, the owners of files made in a bind mount,
//! a host-root file seen as 65534 and not writable, `mount` of the host's block device refused
//! despite `CAP_SYS_ADMIN`, the remapped data root, the image's files still root's inside, and
//! dockerd's refusals of `--privileged`, `--pid host` and `--network host` without
//! `--userns host`; then exec, commit, save, cp, export, builds, joined namespaces, a restart and
//! `--check` on the remapped root. A user without ranges stops the daemon at start; `default`
//! makes `dockremap`. The users come and go with [`users`].

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{code, opted_in, stderr, stdout, Daemon};

mod users;
use users::{DockremapGuard, RemapUser};

/// The daemon's temp dir must be traversable by the remapped root (dockerd refuses to start
/// otherwise, and so does Berth).
fn traversable(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso27_userns_remap_maps_root_to_an_unprivileged_host_uid() {
    if !opted_in() {
        return;
    }
    let user = RemapUser::create(Some((100000, 65536)));
    let d = Daemon::start_prepared(&["--userns-remap", &user.name], traversable);

    // The data root is <data-root>/<uid>.<gid>, 0710 root:remapped group, with the image store.
    let remapped = d.data_root().join("100000.100000");
    let m = std::fs::metadata(&remapped).expect("remapped data root");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 100000, 0o710));
    assert!(remapped.join("image/metadata.db").exists());
    assert!(!d.data_root().join("image").exists());
    assert!(d
        .ok(&["info", "-f", "{{json .SecurityOptions}}"])
        .contains("name=userns"));
    assert_eq!(
        d.ok(&["info", "-f", "{{.DockerRootDir}}"]),
        remapped.display().to_string()
    );

    // The image's files stay root's inside; on the host the layer holds them as 100000.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "busybox",
            "stat",
            "-c",
            "%u:%g",
            "/",
            "/bin/busybox",
            "/etc/passwd"
        ]),
        "0:0\n0:0\n0:0"
    );
    let shifted = Command::new("find")
        .arg(&remapped)
        .args(["-path", "*/bin/busybox", "-type", "f", "-uid", "100000"])
        .output()
        .expect("find");
    assert!(
        !stdout(&shifted).trim().is_empty(),
        "no layer file owned by 100000 under {}",
        remapped.display()
    );

    // Root inside is 100000 outside: uid_map, files made in a bind mount, a host-root file.
    let bind = d.dir.path().join("bind");
    std::fs::create_dir(&bind).expect("bind dir");
    std::os::unix::fs::chown(&bind, Some(100000), Some(100000)).expect("chown bind");
    let host_file = bind.join("rootfile");
    std::fs::write(&host_file, "host\n").expect("host file");
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", bind.display()),
        "busybox",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; touch /data/made; stat -c %u:%g /data/rootfile; \
         (echo x >> /data/rootfile) 2>/dev/null && echo WROTE || echo DENIED; \
         touch /new-in-rootfs && echo 10.9.8.7 extra >> /etc/hosts && echo OWN-FILES-OK",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{out}"
    );
    assert_eq!(owner(&bind.join("made")), (100000, 100000));
    assert_eq!(lines[2], "65534:65534", "{out}");
    assert_eq!(lines[3], "DENIED", "{out}");
    assert_eq!(
        std::fs::read_to_string(&host_file).ok().as_deref(),
        Some("host\n")
    );
    assert_eq!(lines[4], "OWN-FILES-OK", "{out}");

    // A named volume made by the remapped daemon is the remapped root's.
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "remapvol:/v",
        "busybox",
        "touch",
        "/v/f",
    ]);
    let vol = remapped.join("volumes/remapvol/_data");
    assert_eq!(owner(&vol), (100000, 100000));
    assert_eq!(owner(&vol.join("f")), (100000, 100000));

    // CAP_SYS_ADMIN counts only inside: mounting the host's block device is refused; the same
    // with --userns host (and --privileged, which it needs) works, so the namespace is the cause.
    let dev = root_block_device();
    let mount = format!("mkdir -p /mnt/x && mount -t ext4 {dev} /mnt/x && echo MOUNTED");
    let refused = d.docker(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "--device",
        &dev,
        "busybox",
        "sh",
        "-c",
        &mount,
    ]);
    assert_ne!(code(&refused), 0, "{}", stdout(&refused));
    assert!(!stdout(&refused).contains("MOUNTED"));
    assert!(
        stderr(&refused).contains("permission denied")
            || stderr(&refused).contains("not permitted"),
        "{}",
        stderr(&refused)
    );
    let host = d.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        &format!("cat /proc/self/uid_map; {mount}"),
    ]);
    assert!(host.contains("MOUNTED"), "{host}");
    assert_eq!(
        host.lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "0", "4294967295"])
    );

    // exec joins the container's user namespace (after its network namespace, which the host's
    // owns); a commit writes the owners the container saw, not the host's.
    d.ok(&["run", "-d", "--name", "ur", "busybox", "sleep", "1000"]);
    let exec = d.ok(&[
        "exec",
        "ur",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; touch /committed",
    ]);
    let exec: Vec<&str> = exec.lines().collect();
    assert_eq!(exec[0], "0");
    assert_eq!(
        exec[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    d.ok(&["commit", "ur", "remapped:c"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "remapped:c",
            "stat",
            "-c",
            "%u:%g",
            "/committed"
        ]),
        "0:0"
    );
    let saved = d.dir.path().join("saved");
    std::fs::create_dir(&saved).expect("saved dir");
    d.ok(&[
        "save",
        "-o",
        &saved.join("c.tar").display().to_string(),
        "remapped:c",
    ]);
    let listing = Command::new("sh")
        .current_dir(&saved)
        .arg("-c")
        .arg("tar -xf c.tar && for b in blobs/sha256/*; do tar -tvf \"$b\" --numeric-owner 2>/dev/null; done | grep ' committed$'")
        .output()
        .expect("tar");
    let line = stdout(&listing);
    assert!(line.contains(" 0/0 "), "the committed layer holds {line:?}");
    // docker cp and export write the owners the container sees; cp in shifts them into the range.
    let sh = |script: &str| {
        let out = Command::new("sh")
            .current_dir(&saved)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        stdout(&out)
    };
    let cp_out = sh("docker cp ur:/committed - | tar -tv --numeric-owner");
    assert!(cp_out.contains(" 0/0 "), "docker cp wrote {cp_out:?}");
    let export = sh("docker export ur | tar -tv --numeric-owner | grep ' committed$'");
    assert!(export.contains(" 0/0 "), "docker export wrote {export:?}");
    std::fs::write(saved.join("into"), "x").expect("file to copy");
    d.ok(&["cp", &saved.join("into").display().to_string(), "ur:/into"]);
    assert_eq!(d.ok(&["exec", "ur", "stat", "-c", "%u:%g", "/into"]), "0:0");

    // A build: COPY shifts into the range (the image says root, --chown's ids), RUN runs
    // remapped, COPY --from gives root what it copies (Docker's classic builder).
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir(&ctx).expect("context dir");
    std::fs::write(ctx.join("f"), "f").expect("context file");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox AS one\nCOPY f /f\nCOPY --chown=1000:1000 f /g\n\
         RUN stat -c %u:%g /f /g > /owners && cat /proc/self/uid_map >> /owners\n\
         FROM busybox\nCOPY --from=one /owners /g /\n",
    )
    .expect("Dockerfile");
    crate::build::build_ok(&d, &ctx, &["-t", "remapped:b"]);
    let built = d.ok(&[
        "run",
        "--rm",
        "remapped:b",
        "sh",
        "-c",
        "cat /owners; stat -c %u:%g /g /owners",
    ]);
    let built: Vec<Vec<&str>> = built
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        built,
        [
            vec!["0:0"],
            vec!["1000:1000"],
            vec!["0", "100000", "65536"],
            vec!["0:0"],
            vec!["0:0"]
        ]
    );

    // RUN --mount: a cache directory and a secret file the remapped root owns and can use.
    std::fs::write(ctx.join("s.txt"), "hush").expect("secret file");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN --mount=type=cache,target=/c --mount=type=secret,id=s \\\n\
         sh -c 'touch /c/x && stat -c %u:%g /c/x /run/secrets/s > /m && cat /run/secrets/s >> /m'\n",
    )
    .expect("Dockerfile");
    let out = crate::build_secrets::berth(
        &d,
        &ctx,
        &[
            "-t",
            "remapped:m",
            "--secret",
            &format!("id=s,src={}", ctx.join("s.txt").display()),
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        d.ok(&["run", "--rm", "remapped:m", "cat", "/m"]),
        "0:0\n0:0\nhush"
    );

    // Joining another remapped container's PID namespace (and its user namespace); its IPC
    // namespace is refused by name (not built remapped).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "1000",
    ]);
    let ipc = d.docker(&["run", "--rm", "--ipc", "container:donor", "busybox", "true"]);
    assert_eq!(code(&ipc), 125, "{}", stderr(&ipc));
    assert!(stderr(&ipc).contains("IPC namespace is not supported with user namespaces"));
    // Another container's network namespace (the daemon's, owned by the host's user namespace).
    let net = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/uid_map; ip -o link | grep -c eth0",
    ]);
    assert_eq!(
        net.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536", "1"]
    );
    assert!(d
        .ok(&[
            "run",
            "--rm",
            "--pid",
            "container:donor",
            "busybox",
            "ps",
            "-o",
            "args"
        ])
        .contains("sleep 1000"));

    // dockerd's refusals without --userns host.
    for (flags, words) in [
        (
            &["--privileged"][..],
            "privileged mode is incompatible with user namespaces",
        ),
        (
            &["--pid", "host"][..],
            "cannot share the host PID namespace when user namespaces are enabled",
        ),
        (
            &["--network", "host"][..],
            "cannot share the host's network namespace when user namespaces are enabled",
        ),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let out = d.docker(&args);
        assert_eq!(code(&out), 125, "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{flags:?}: {}", stderr(&out));
    }

    // `berth daemon --check` on the stopped daemon checks the remapped root's stores (a pulled
    // image, a container, a volume: all found where the remapped daemon keeps them).
    let mut d = d;
    // A restarted daemon finds its remapped root again and adopts the running container.
    d.stop();
    d.spawn();
    assert_eq!(d.inspect("ur", "{{.State.Running}}"), "true");
    let again = d.ok(&["exec", "ur", "cat", "/proc/self/uid_map"]);
    assert_eq!(
        again.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert!(d.ok(&["images", "-q", "remapped:c"]).len() > 1);
    d.ok(&["rm", "-f", "ur"]);
    d.stop();
    let check = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .arg("--check")
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(d.exec_root())
        .args(["--userns-remap", &user.name])
        .output()
        .expect("berth daemon --check");
    assert!(
        check.status.success() && stdout(&check).contains("the stores are consistent"),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    // The check reads the remapped root: a blob taken away there is a problem it reports.
    let blobs = remapped.join("image/content/blobs/sha256");
    let blob = std::fs::read_dir(&blobs)
        .expect("remapped blobs")
        .flatten()
        .next()
        .expect("a blob");
    std::fs::remove_file(blob.path()).expect("remove a blob");
    let check = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .arg("--check")
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(d.exec_root())
        .args(["--userns-remap", &user.name])
        .output()
        .expect("berth daemon --check");
    assert!(!check.status.success(), "{}", stdout(&check));
    assert!(stderr(&check).contains("problem(s)"), "{}", stderr(&check));
}

/// `/dev/<name>` of the block device the host's `/` is on.
fn root_block_device() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let majmin = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .and_then(|l| l.split(' ').nth(2))
        .expect("the root mount")
        .to_string();
    let link = std::fs::read_link(format!("/sys/dev/block/{majmin}")).expect("sysfs block link");
    let name = link
        .file_name()
        .expect("device name")
        .to_string_lossy()
        .to_string();
    format!("/dev/{name}")
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso27_a_remap_user_without_ranges_stops_the_daemon() {
    if !opted_in() {
        return;
    }
    let user = RemapUser::create(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .args(["--userns-remap", &user.name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth daemon");
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon started without subordinate ranges for its remap user");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "no subuid ranges found for user \"{}\"",
            user.name
        )),
        "{err}"
    );
    assert!(!dir.path().join("data/image").exists());
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn iso27_userns_remap_default_makes_dockremap_with_a_range() {
    if !opted_in() {
        return;
    }
    let guard = DockremapGuard::new();
    let d = Daemon::start_prepared(&["--userns-remap", "default"], traversable);
    let uid = Command::new("id")
        .args(["-u", "dockremap"])
        .output()
        .expect("id");
    assert!(uid.status.success(), "dockremap was not made");
    let range = |file: &str| -> (u32, u32) {
        let text = std::fs::read_to_string(file).expect(file);
        let line = text
            .lines()
            .find(|l| l.starts_with("dockremap:"))
            .unwrap_or_else(|| panic!("no dockremap range in {file}: {text:?}"));
        let f: Vec<&str> = line.split(':').collect();
        (f[1].parse().expect("start"), f[2].parse().expect("count"))
    };
    let (uid0, ucount) = range("/etc/subuid");
    let (gid0, gcount) = range("/etc/subgid");
    assert_eq!((ucount, gcount), (65536, 65536));
    assert!(uid0 >= 100000 && gid0 >= 100000);
    assert!(d.data_root().join(format!("{uid0}.{gid0}/image")).exists());
    let map = d.ok(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0".to_string(), uid0.to_string(), "65536".to_string()]
    );
    drop(d);
    drop(guard);
}
