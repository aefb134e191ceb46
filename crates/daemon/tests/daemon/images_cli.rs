//! The images verbs through the real docker CLI: import, images (columns, -q, --format,
//! --no-trunc, filters), tag, history, inspect, rmi (untag vs delete, missing image), save | load,
//! image prune.

use berth_daemon::StorageDriver;

use crate::harness::{busybox_rootfs, text, TestDaemon};

fn short(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

#[test]
fn import_list_tag_inspect_history() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let id = d.import_busybox("busybox:latest");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let table = d.docker_ok(&["images"]);
    let header = table.lines().next().unwrap_or("");
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        table.contains("busybox") && table.contains(short(&id)),
        "{table}"
    );
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), short(&id));
    assert_eq!(d.docker_ok(&["images", "-q", "--no-trunc"]).trim(), id);

    d.docker_ok(&["tag", "busybox", "me/bb:1"]);
    let names = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["busybox:latest", "me/bb:1"]);
    let filtered = d.docker_ok(&[
        "images",
        "--filter",
        "reference=me/*",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(filtered.trim(), "me/bb:1");
    assert_eq!(
        d.docker_ok(&["images", "-q", "--filter", "dangling=true"])
            .trim(),
        ""
    );

    let fmt = "{{.Id}} {{json .RepoTags}} {{json .Config.Cmd}} {{len .RootFS.Layers}} {{.Os}}";
    let inspect = d.docker_ok(&["image", "inspect", "busybox", "--format", fmt]);
    assert_eq!(
        inspect.trim(),
        format!("{id} [\"busybox:latest\",\"me/bb:1\"] [\"sh\"] 1 linux")
    );
    // A name with a registry and a slash resolves too.
    let by_full = d.docker_ok(&[
        "image",
        "inspect",
        "docker.io/me/bb:1",
        "--format",
        "{{.Id}}",
    ]);
    assert_eq!(by_full.trim(), id);

    let history = d.docker_ok(&["history", "busybox"]);
    assert!(
        history.lines().next().unwrap_or("").contains("IMAGE"),
        "{history}"
    );
    assert!(history.contains(short(&id)), "{history}");
}

#[test]
fn rmi_untags_then_deletes_and_missing_is_404() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let id = d.import_busybox("busybox:latest");
    d.docker_ok(&["tag", "busybox", "other:2"]);

    let out = d.docker_ok(&["rmi", "other:2"]);
    assert_eq!(out.trim(), "Untagged: other:2");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), short(&id));

    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");

    let missing = d.docker(&["rmi", "nope"]);
    let (_, err) = text(&missing);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        err.contains("Error response from daemon: No such image: nope:latest"),
        "{err}"
    );
    let missing = d.docker(&["image", "inspect", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn save_rmi_load_round_trip() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let id = d.import_busybox("busybox:latest");
    let archive = d.dir.path().join("bb.tar");
    let archive_s = archive.display().to_string();
    d.docker_ok(&["save", "-o", &archive_s, "busybox"]);
    assert!(std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0) > 1 << 20);
    d.docker_ok(&["rmi", "busybox"]);
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");

    let out = d.docker_ok(&["load", "-i", &archive_s]);
    assert_eq!(out.trim(), "Loaded image: busybox:latest");
    let again = d.docker_ok(&[
        "image",
        "inspect",
        "busybox",
        "--format",
        "{{.Id}} {{json .Config.Cmd}}",
    ]);
    assert_eq!(again.trim(), format!("{id} [\"sh\"]"));

    // The piped form: `docker save busybox | docker load`.
    let saved = d.docker(&["save", "busybox"]);
    assert!(saved.status.success());
    d.docker_ok(&["rmi", "busybox"]);
    let loaded = d.docker_in(&["load"], &saved.stdout);
    let (out, err) = text(&loaded);
    assert!(loaded.status.success(), "{err}");
    assert_eq!(out.trim(), "Loaded image: busybox:latest");

    // Saving a missing image fails cleanly before any byte.
    let missing = d.docker(&["save", "-o", &archive_s, "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).1.contains("No such image: nope:latest"));
    // Loading garbage is a clean error too.
    let bad = d.docker_in(&["load"], b"this is not a tar archive at all");
    assert_eq!(bad.status.code(), Some(1), "{:?}", text(&bad));
}

#[test]
fn image_prune_removes_dangling_only() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let named = d.import_busybox("busybox:latest");
    // A different message makes a different config, so a second image (no name: dangling).
    let out = d.docker_in(&["import", "-m", "second", "-"], &busybox_rootfs());
    assert!(out.status.success(), "{:?}", text(&out));
    let dangling = text(&out).0.trim().to_string();
    assert_ne!(named, dangling);
    let listed = d.docker_ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(listed.trim(), dangling);

    let out = d.docker_ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q", "--no-trunc"]).trim(), named);
}
