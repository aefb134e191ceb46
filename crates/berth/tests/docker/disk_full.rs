//! A full disk (issue 14, catalog REL-08..REL-10): the daemon's data root on a 64 MiB loop-mounted
//! ext4, filled by a filler file until a few MiB are left. `docker load` of a bigger image,
//! `docker commit` of a container that wrote a lot, `docker volume create` (REL-09: no half
//! volume, the others' metadata intact), and a container whose log fills the disk each fail with
//! an error that says there is no space (the log's in the shim's log, as the container itself
//! carries on), the daemon keeps answering, and once the filler is deleted the stores pass
//! `berth daemon --check` and the same operations work. IMG-09: decompression bombs (gzip and
//! zstd) pulled onto that disk fail the same way and leave nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fault::store_check;
use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

/// The loop file system's size.
const DISK_MIB: u64 = 64;

/// A loop-mounted ext4 in its own temp dir: unmounted and its loop device detached on drop, even
/// when the test failed (declare it before the [`Daemon`] that uses it, so that it drops after).
struct LoopDisk {
    dir: tempfile::TempDir,
    device: String,
    mounted: Option<PathBuf>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

impl LoopDisk {
    fn new() -> LoopDisk {
        let dir = tempfile::Builder::new()
            .prefix("berth-disk")
            .tempdir()
            .expect("temp dir");
        let img = dir.path().join("disk.img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(DISK_MIB << 20))
            .expect("disk image");
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&img));
        let device = run(Command::new("losetup").args(["-f", "--show"]).arg(&img));
        LoopDisk {
            dir,
            device,
            mounted: None,
        }
    }

    /// Moves what is in `target` onto the disk and mounts the disk there.
    fn take_over(&mut self, target: &Path) {
        let staging = self.dir.path().join("mnt");
        std::fs::create_dir_all(&staging).expect("staging dir");
        run(Command::new("mount").arg(&self.device).arg(&staging));
        self.mounted = Some(staging.clone());
        run(Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", target.display()))
            .arg(&staging));
        run(Command::new("umount").arg(&staging));
        run(Command::new("mount").arg(&self.device).arg(target));
        self.mounted = Some(target.to_path_buf());
    }

    /// Bytes free on the mounted disk.
    fn free(&self) -> u64 {
        let at = self.mounted.as_ref().expect("mounted");
        let st = nix::sys::statvfs::statvfs(at).expect("statvfs");
        st.blocks_available() as u64 * st.fragment_size() as u64
    }

    /// Fills the disk with `filler` until `left_mib` MiB are free (0: until nothing is).
    fn fill(&self, left_mib: u64) -> PathBuf {
        let at = self.mounted.as_ref().expect("mounted");
        let filler = at.join("filler");
        let want = self.free().saturating_sub(left_mib << 20);
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0x5au8; 1 << 20];
        let mut written = 0;
        while written < want {
            let n = block.len().min((want - written) as usize);
            match f.write_all(&block[..n]) {
                // Filling to the last byte: the file's own metadata takes some of it.
                Err(e) if left_mib == 0 && e.raw_os_error() == Some(libc::ENOSPC) => break,
                r => r.expect("writing the filler"),
            }
            written += n as u64;
        }
        f.sync_all().expect("syncing the filler");
        filler
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

/// A daemon whose data root is a small disk that already holds busybox.
fn small_daemon(disk: &mut LoopDisk) -> Daemon {
    let mut d = Daemon::start();
    d.stop();
    disk.take_over(&d.data_root());
    d.spawn();
    d
}

fn assert_no_space(out: &std::process::Output, what: &str) {
    assert_ne!(code(out), 0, "{what} succeeded on a full disk");
    let err = stderr(out).to_lowercase();
    assert!(err.contains("no space"), "{what}: {err}");
}

/// A rootfs tar with `mib` MiB of incompressible data in `/big`.
fn big_rootfs_tar(dir: &Path, mib: usize) -> PathBuf {
    let root = dir.join("big-rootfs");
    std::fs::create_dir_all(&root).expect("rootfs dir");
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        // xorshift: random enough that no layer compression helps.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(root.join("big"), data).expect("big file");
    let tar = dir.join("big-rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn load_on_a_full_disk() {
    if !opted_in() {
        return;
    }
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    // A 12 MiB image made and saved outside the small disk's reach, then dropped from it.
    let rootfs = big_rootfs_tar(disk.dir.path(), 12);
    d.ok(&["import", rootfs.to_str().expect("utf-8"), "big:1"]);
    let archive = disk.dir.path().join("big.tar");
    let archive = archive.to_str().expect("utf-8");
    d.ok(&["save", "-o", archive, "big:1"]);
    d.ok(&["rmi", "big:1"]);
    // Room for the archive's spool but not for its blobs as well: the load fails after reading
    // the whole request, so the client gets the daemon's answer. (With less room the spool
    // fails and the daemon answers before the client finished sending: the CLI then reports a
    // broken pipe, not the error.)
    let filler = disk.fill(16);
    let out = d.docker(&["load", "-i", archive]);
    assert_no_space(&out, "docker load");
    d.ok(&["version"]);
    assert_eq!(
        d.ok(&["images", "-q", "big"]),
        "",
        "a partial image is visible"
    );
    std::fs::remove_file(&filler).expect("removing the filler");
    store_check(&mut d);
    d.ok(&["load", "-i", archive]);
    assert!(
        !d.ok(&["images", "-q", "big:1"]).is_empty(),
        "big:1 not loaded"
    );
    store_check(&mut d);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn commit_on_a_full_disk() {
    if !opted_in() {
        return;
    }
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    d.ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 8388608 /dev/urandom >/big && echo written",
    ]);
    let filler = disk.fill(3);
    let out = d.docker(&["commit", "writer", "written:1"]);
    assert_no_space(&out, "docker commit");
    d.ok(&["version"]);
    assert_eq!(
        d.ok(&["images", "-q", "written"]),
        "",
        "a partial image is visible"
    );
    std::fs::remove_file(&filler).expect("removing the filler");
    store_check(&mut d);
    d.ok(&["commit", "writer", "written:1"]);
    let size = d.ok(&["run", "--rm", "written:1", "stat", "-c", "%s", "/big"]);
    assert_eq!(size, "8388608");
    store_check(&mut d);
}

/// An exit the store cannot write (no space even for SQLite's journal) still shows: the daemon
/// keeps it in memory and writes it once space is back; a restart meanwhile reads it back from
/// the shim. (Before, the container showed `running` forever: the likely cause of the log test's
/// timeouts in full runs, whose exit came when the log had filled the disk.)
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_exit_on_a_full_disk_is_not_lost() {
    if !opted_in() {
        return;
    }
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    let ctl = tempfile::tempdir().expect("control dir");
    let bind = format!("{}:/ctl", ctl.path().display());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "waiter",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        // Bounded, so that a failed test leaves no container behind for long.
        "i=0; while [ ! -e /ctl/go ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; [ -e /ctl/go ] && exit 3; exit 4",
    ]);
    let filler = disk.fill(0);
    std::fs::write(ctl.path().join("go"), b"").expect("go file");
    eventually(Duration::from_secs(60), "the waiter's exit", || {
        d.inspect("waiter", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect("waiter", "{{.State.ExitCode}}"), "3");
    d.ok(&["ps", "-a"]);
    std::fs::remove_file(&filler).expect("removing the filler");
    d.stop();
    d.spawn();
    assert_eq!(
        d.inspect("waiter", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    d.ok(&["rm", "waiter"]);
    store_check(&mut d);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn logs_fill_the_disk() {
    if !opted_in() {
        return;
    }
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    let filler = disk.fill(3);
    // About 14 MiB of log entries (200 000 lines) for 3 MiB of space.
    let script = "seq 1 200000; echo chatty-done";
    d.ok(&[
        "run", "-d", "--name", "chatty", "busybox", "sh", "-c", script,
    ]);
    // The container is never blocked by its log: it runs to its end.
    // A generous deadline: the whole suite runs beside it on two cores.
    eventually(
        Duration::from_secs(180),
        "the chatty container's exit",
        || d.inspect("chatty", "{{.State.Status}}") == "exited",
    );
    assert_eq!(d.inspect("chatty", "{{.State.ExitCode}}"), "0");
    let id = d.inspect("chatty", "{{.Id}}");
    let shim_log = d.exec_root().join("s").join(&id[..32]).join("shim.log");
    let said = std::fs::read_to_string(&shim_log).unwrap_or_default();
    assert!(
        said.contains("No space left on device"),
        "the shim did not say why the log stopped: {said}"
    );
    // The daemon answers, and what the log holds reads back.
    d.ok(&["ps", "-a"]);
    let out = d.docker(&["logs", "--tail", "5", "chatty"]);
    assert_eq!(
        code(&out),
        0,
        "docker logs on a full disk: {}",
        stderr(&out)
    );
    std::fs::remove_file(&filler).expect("removing the filler");
    d.ok(&["rm", "chatty"]);
    store_check(&mut d);
    d.ok(&["run", "--name", "after", "busybox", "sh", "-c", script]);
    let tail = d.ok(&["logs", "--tail", "1", "after"]);
    assert_eq!(tail, "chatty-done");
    d.ok(&["rm", "after"]);
    store_check(&mut d);
}

/// REL-09 for volumes: on a full disk `docker volume create` (named, and anonymous through
/// `docker run -v /path`) fails saying there is no space, leaves no half volume (no record, no
/// directory), and the volumes made before keep their labels and their data; once space is back
/// the stores pass `berth daemon --check` and the same create works.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_create_on_a_full_disk() {
    if !opted_in() {
        return;
    }
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    d.ok(&["volume", "create", "--label", "keep=yes", "kept"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "kept:/k",
        "busybox",
        "sh",
        "-c",
        "echo kept-data > /k/f",
    ]);
    let volumes_dir = d.data_root().join("volumes");
    let entries = || {
        let mut v: Vec<String> = std::fs::read_dir(&volumes_dir)
            .expect("volumes dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = entries();
    let filler = disk.fill(0);
    let out = d.docker(&["volume", "create", "fresh"]);
    assert_no_space(&out, "docker volume create");
    let out = d.docker(&["run", "--rm", "-v", "/anon", "busybox", "true"]);
    assert_ne!(
        code(&out),
        0,
        "a run with a new anonymous volume on a full disk"
    );
    d.ok(&["version"]);
    assert_eq!(
        d.ok(&["volume", "ls", "-q"]),
        "kept",
        "a half volume is listed"
    );
    assert_eq!(entries(), before, "a half volume is on disk");
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", "kept"]),
        r#"{"keep":"yes"}"#
    );
    std::fs::remove_file(&filler).expect("removing the filler");
    store_check(&mut d);
    d.ok(&["volume", "create", "fresh"]);
    let data = d.ok(&["run", "--rm", "-v", "kept:/k", "busybox", "cat", "/k/f"]);
    assert_eq!(data, "kept-data");
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", "kept"]),
        r#"{"keep":"yes"}"#
    );
    store_check(&mut d);
}

/// The uncompressed size of the decompression bombs' one file, in GiB.
const BOMB_GIB: u64 = 1;

/// A one-file layer of [`BOMB_GIB`] GiB of zeros, made in one pass with no big file written (the
/// file is sparse, the tar is piped): gzip-compressed and zstd-compressed copies in `dir`, and the
/// layer's diff ID.
fn bomb_layers(dir: &Path) -> (PathBuf, PathBuf, String) {
    use std::io::Read;
    use std::process::Stdio;
    let content = dir.join("bomb-content");
    std::fs::create_dir_all(&content).expect("bomb dir");
    std::fs::File::create(content.join("zeros"))
        .and_then(|f| f.set_len(BOMB_GIB << 30))
        .expect("sparse file");
    let (gz, zst) = (dir.join("bomb.tar.gz"), dir.join("bomb.tar.zst"));
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&content)
        .args(["-cf", "-", "zeros"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let sink = |cmd: &mut Command, out: Stdio| {
        cmd.stdin(Stdio::piped())
            .stdout(out)
            .spawn()
            .expect("compressor")
    };
    let mut sinks = [
        sink(&mut Command::new("sha256sum"), Stdio::piped()),
        sink(
            &mut Command::new("gzip"),
            std::fs::File::create(&gz).expect("gz").into(),
        ),
        sink(
            Command::new("zstd").args(["-q", "-c"]),
            std::fs::File::create(&zst).expect("zst").into(),
        ),
    ];
    let mut from = tar.stdout.take().expect("tar stdout");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).expect("reading tar");
        if n == 0 {
            break;
        }
        for s in &mut sinks {
            s.stdin
                .as_mut()
                .expect("stdin")
                .write_all(&buf[..n])
                .expect("feeding a compressor");
        }
    }
    assert!(tar.wait().expect("tar").success());
    let [sum, g, z] = sinks.map(|mut s| {
        drop(s.stdin.take());
        s.wait_with_output().expect("compressor")
    });
    assert!(sum.status.success() && g.status.success() && z.status.success());
    let hex = stdout(&sum);
    let hex = hex.split_whitespace().next().expect("sha256sum output");
    (gz, zst, format!("sha256:{hex}"))
}

/// The number of entries of `dir` (0 when it does not exist).
fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

/// IMG-09: decompression bombs (one layer of [`BOMB_GIB`] GiB of zeros, gzip and zstd, about a
/// MiB each, with the right diff ID) pulled onto the 64 MiB data root fail with no space; nothing
/// is tagged, the image store's temp dir is empty, no snapshot is left and the free space comes
/// back (bar the compressed blobs), the daemon keeps answering, and a small image pulls after.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn decompression_bombs_pulled_onto_a_small_disk() {
    if !opted_in() {
        return;
    }
    use crate::registry::{media, one_layer_layout, DistRegistry};
    let reg = DistRegistry::start();
    let mut disk = LoopDisk::new();
    let mut d = small_daemon(&mut disk);
    let work = disk.dir.path();
    let (gz, zst, diff_id) = bomb_layers(work);
    let blobs =
        std::fs::metadata(&gz).expect("gz").len() + std::fs::metadata(&zst).expect("zst").len();
    assert!(blobs < 16 << 20, "the bombs are {blobs} bytes compressed");
    let snapshots = |d: &Daemon| {
        std::fs::read_dir(d.data_root())
            .expect("data root")
            .flatten()
            .map(|e| entries(&e.path().join("snapshots")))
            .sum::<usize>()
    };
    let snapshots_before = snapshots(&d);
    let free_before = disk.free();
    for (name, layer, kind) in [
        ("gz", &gz, media::GZIP_LAYER),
        ("zst", &zst, media::ZSTD_LAYER),
    ] {
        let src = one_layer_layout(
            &work.join(format!("layout-{name}")),
            layer,
            kind,
            &diff_id,
            name,
        );
        reg.skopeo_copy_in(&src, &format!("bomb-{name}:1"));
        let image = format!("{}/bomb-{name}:1", reg.addr);
        let out = d.docker(&["pull", &image]);
        assert_no_space(&out, &format!("pulling the {name} bomb"));
        d.ok(&["version"]);
        assert_eq!(
            d.ok(&["images", "-q", &image]),
            "",
            "{name}: a partial image"
        );
        assert_eq!(
            entries(&d.data_root().join("image/tmp")),
            0,
            "{name}: temp files left"
        );
        assert_eq!(
            snapshots(&d),
            snapshots_before,
            "{name}: a snapshot is left"
        );
        eventually(Duration::from_secs(10), "the space back", || {
            disk.free() + blobs + (2 << 20) >= free_before
        });
    }
    store_check(&mut d);
    // Another pull works: a one-file layer.
    let small = work.join("small");
    std::fs::create_dir_all(&small).expect("small dir");
    std::fs::write(small.join("hello"), b"hello\n").expect("file");
    let small_tar = work.join("small.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&small)
        .arg("-cf")
        .arg(&small_tar)
        .arg("hello"));
    let small_id = format!(
        "sha256:{}",
        run(Command::new("sha256sum").arg(&small_tar))
            .split_whitespace()
            .next()
            .expect("sha256sum output")
    );
    let src = one_layer_layout(
        &work.join("layout-small"),
        &small_tar,
        media::PLAIN_LAYER,
        &small_id,
        "small",
    );
    reg.skopeo_copy_in(&src, "small:1");
    let image = format!("{}/small:1", reg.addr);
    d.ok(&["pull", &image]);
    assert_eq!(
        d.inspect(&image, "{{json .RootFS.Layers}}"),
        format!("[\"{small_id}\"]")
    );
    store_check(&mut d);
}
