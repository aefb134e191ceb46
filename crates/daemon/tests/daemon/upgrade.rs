//! Upgrade from a stored data root (root test): `tests/fixtures/store-v1/` holds the container and
//! network stores written by an older daemon (see `tests/fixtures/README.md`). The test puts them
//! into a fresh data root beside an imported busybox, gives each container a rootfs in that image
//! store and its own directory (the parts of a data root that only fit the machine that wrote it), and then lists,
//! inspects, starts and removes the old containers through the docker CLI.

use std::path::{Path, PathBuf};

use berth_daemon::StorageDriver;
use berth_image::snapshot::PlainSnapshotter;
use berth_image::store::ImageStore;

use crate::harness::TestDaemon;
use crate::root::opted_in;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1");
const NAMES: [&str; 4] = ["fx-created", "fx-exited", "fx-net", "fx-ran"];

/// The shim the in-process daemon execs: `BERTH_SHIM_BINARY`, else `berth-shim` in the target dir.
fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM_BINARY") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable");
    let shim = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("berth-shim"))
        .expect("target dir");
    assert!(
        shim.is_file(),
        "{} is missing: run `cargo build -p berth-shim` first",
        shim.display()
    );
    shim
}

/// Copies the fixture's stores into `data` and prepares each container's rootfs from `image`.
fn install_fixture(data: &Path, image: &str) {
    for db in ["containers.db", "networks.db"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(data.join(format!("{db}{suffix}")));
        }
        std::fs::copy(Path::new(FIXTURE).join(db), data.join(db)).expect("copying the fixture");
    }
    let snapshots = PlainSnapshotter::open(&data.join("vfs")).expect("vfs snapshotter");
    let store = ImageStore::open(&data.join("image"), Box::new(snapshots)).expect("image store");
    let conn = rusqlite::Connection::open(data.join("containers.db")).expect("fixture db");
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM containers")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .expect("container ids");
    assert_eq!(ids.len(), NAMES.len());
    for id in ids {
        // The container's own files as create made them; resolv.conf is the host's.
        let dir = data.join("containers").join(&id);
        std::fs::create_dir_all(&dir).expect("container dir");
        for f in ["hostname", "hosts"] {
            let from = Path::new(FIXTURE).join("containers").join(&id).join(f);
            std::fs::copy(&from, dir.join(f)).expect("copying a container file");
        }
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(dir.join("resolv.conf"), resolv).expect("resolv.conf");
        let mounts = store
            .prepare_container_rootfs(image, &id)
            .expect("container rootfs");
        let mounts = serde_json::to_string(&mounts).expect("mounts");
        conn.execute(
            "UPDATE containers SET body = json_set(body, '$.image_id', ?2, '$.rootfs_mounts', json(?3)) WHERE id = ?1",
            rusqlite::params![id, image, mounts],
        )
        .expect("writing the rootfs");
    }
}

/// Removes the fixture's containers (and network) before the daemon stops, even when the test fails.
struct RemoveAll<'a>(&'a TestDaemon);

impl Drop for RemoveAll<'_> {
    fn drop(&mut self) {
        let mut args = vec!["rm", "-f"];
        args.extend(NAMES);
        let _ = self.0.docker(&args);
        let _ = self.0.docker(&["network", "rm", "fixnet"]);
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn store_v1_containers_list_inspect_start_and_remove() {
    if !opted_in() {
        return;
    }
    let shim = shim_binary();
    let d = TestDaemon::start(StorageDriver::Vfs);
    let image = d.import_busybox("busybox:latest");
    let dir = d.shutdown();
    install_fixture(&dir.path().join("data"), &image);
    let d = TestDaemon::start_in(dir, StorageDriver::Vfs, Some(shim));
    let _cleanup = RemoveAll(&d);

    // The records were brought to the current format when the daemon opened the store.
    let db = rusqlite::Connection::open(d.dir.path().join("data/containers.db")).expect("store");
    let (old, binds): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM containers WHERE format < 2), \
             (SELECT json_array_length(body, '$.settings.mounts') FROM containers \
              WHERE name = 'fx-created')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("record formats");
    assert_eq!(
        (old, binds),
        (0, 4),
        "records left in format 1, or mounts not upgraded"
    );

    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Labels}}"]);
    let line = |name: &str| {
        ps.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {ps}"))
            .to_string()
    };
    assert!(line("fx-created").contains(" Created "), "{ps}");
    assert!(line("fx-created").contains("owner=fixture"), "{ps}");
    assert!(line("fx-exited").contains(" Exited (3) "), "{ps}");
    assert!(line("fx-ran").contains(" Exited (0) "), "{ps}");
    assert!(line("fx-net").contains(" Created "), "{ps}");

    let inspect = |name: &str, format: &str| {
        d.docker_ok(&["inspect", "--format", format, name])
            .trim()
            .to_string()
    };
    assert_eq!(
        inspect("fx-created", "{{json .HostConfig.Binds}}"),
        r#"["/tmp:/host-tmp:ro","/etc:/host-etc:rw,rslave"]"#
    );
    assert_eq!(
        inspect(
            "fx-created",
            "{{range .Mounts}}{{.Type}}:{{.Source}}:{{.Destination}}:{{.RW}}:{{.Propagation}} {{end}}"
        ),
        "bind:/tmp:/host-tmp:false:rprivate bind:/etc:/host-etc:true:rslave bind:/usr:/host-usr:false:rprivate tmpfs::/scratch:true:"
    );
    assert_eq!(
        inspect("fx-created", "{{json .HostConfig.Tmpfs}}"),
        r#"{"/scratch":"size=1m,mode=1770"}"#
    );
    assert_eq!(
        inspect("fx-created", "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD-SHELL","test -e /tmp"],"Interval":30000000000,"Timeout":3000000000,"StartPeriod":1000000000,"Retries":2}"#
    );
    assert_eq!(
        inspect(
            "fx-created",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:3"
    );
    assert_eq!(
        inspect("fx-created", "{{json .HostConfig.SecurityOpt}}"),
        r#"["no-new-privileges","seccomp=unconfined"]"#
    );
    assert_eq!(
        inspect(
            "fx-created",
            "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"
        ),
        r#"["CAP_NET_ADMIN"] ["CAP_MKNOD"] 67108864 100"#
    );
    assert_eq!(
        inspect(
            "fx-net",
            "{{json .NetworkSettings.Networks.fixnet.Aliases}}"
        ),
        r#"["fxalias"]"#
    );

    // Started by the new daemon: the binds, tmpfs and healthcheck of the old record apply.
    d.docker_ok(&["start", "fx-created"]);
    assert_eq!(inspect("fx-created", "{{.State.Running}}"), "true");
    d.docker_ok(&["exec", "fx-created", "ls", "/host-usr", "/scratch"]);
    let port = d.docker_ok(&["port", "fx-created", "80/tcp"]);
    assert!(port.contains(":18080"), "published port: {port}");
    let health = inspect("fx-created", "{{.State.Health.Status}}");
    assert!(
        health == "starting" || health == "healthy",
        "health: {health}"
    );
    let opts = d.docker_ok(&["exec", "fx-created", "cat", "/proc/self/status"]);
    assert!(
        opts.lines()
            .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"])),
        "{opts}"
    );
    // unless-stopped: exits 3 and is restarted by the policy the old record holds.
    d.docker_ok(&["start", "fx-exited"]);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seen = inspect("fx-exited", "{{.RestartCount}}");
        if seen.parse::<u32>().is_ok_and(|n| n >= 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "fx-exited never restarted: {seen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    d.docker_ok(&["start", "fx-ran"]);
    assert_eq!(d.docker_ok(&["wait", "fx-ran"]).trim(), "0");
    d.docker_ok(&["start", "fx-net"]);
    assert_eq!(inspect("fx-net", "{{.State.Running}}"), "true");

    let mut rm = vec!["rm", "-f"];
    rm.extend(NAMES);
    d.docker_ok(&rm);
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    d.docker_ok(&["network", "rm", "fixnet"]);
}
