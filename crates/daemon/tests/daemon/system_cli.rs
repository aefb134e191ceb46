//! `docker version`, `docker info`, `docker system df` and `docker events` against Berth.

use berth_daemon::StorageDriver;

use crate::harness::TestDaemon;

#[test]
fn version_shows_api_150_and_minimum() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let out = d.docker_ok(&["version"]);
    assert!(out.contains("Server: Berth Engine"), "{out}");
    let squeezed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squeezed.contains("Engine: Version: 0.1.0 API version: 1.50 (minimum version 1.24)"),
        "{out}"
    );
    let api = d.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(api.trim(), "1.50");
}

#[test]
fn info_reports_driver_and_root() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let out = d.docker_ok(&["info"]);
    assert!(out.contains("Storage Driver: vfs"), "{out}");
    assert!(out.contains("Server Version: 0.1.0"), "{out}");
    let root = d.docker_ok(&["info", "--format", "{{.DockerRootDir}}"]);
    assert_eq!(root.trim(), d.dir.path().join("data").display().to_string());
    let images = d.docker_ok(&["info", "--format", "{{.Images}}"]);
    assert_eq!(images.trim(), "0");
}

#[test]
fn system_df_counts_images() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    d.import_busybox("busybox:latest");
    let out = d.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(out.lines().any(|l| l == "Images 1"), "{out}");
}

/// An image a container is made from is in use (`ACTIVE`), as in Docker, whose df answer counts
/// each image's containers; and every container is listed with its sizes.
#[test]
fn system_df_counts_the_images_in_use_and_sizes_containers() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    d.import_busybox("busybox:latest");
    d.docker_ok(&["create", "--name", "user", "busybox", "true"]);
    let out = d.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(out.lines().any(|l| l == "Images 1 1"), "{out}");
    assert!(out.lines().any(|l| l == "Containers 1 0"), "{out}");
    let (code, _, body) = d.curl("GET", "/system/df", &[]);
    assert_eq!(code, 200, "{body}");
    let df: serde_json::Value = serde_json::from_str(&body).expect("df answer is JSON");
    assert_eq!(df["Images"][0]["Containers"], 1, "{body}");
    let c = &df["Containers"][0];
    assert_eq!(c["Names"][0], "/user", "{body}");
    assert!(c["SizeRootFs"].as_i64() > Some(0), "{body}");
}

#[test]
fn events_replay_image_actions_with_filters() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    d.import_busybox("busybox:latest");
    d.docker_ok(&["tag", "busybox", "me/bb:1"]);
    d.docker_ok(&["rmi", "me/bb:1"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 1;
    let until = now.to_string();
    let out = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Type}} {{.Action}} {{index .Actor.Attributes \"name\"}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "image import busybox:latest",
            "image tag me/bb:1",
            "image untag me/bb:1"
        ],
        "{out}"
    );
    let out = d.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=tag",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(out.trim(), "tag");
}

#[test]
fn events_stream_live_until_the_client_leaves() {
    use std::io::BufRead;
    let d = TestDaemon::start(StorageDriver::Vfs);
    d.import_busybox("busybox:latest");
    let mut child = d
        .docker_cmd(&["events", "--since", "0", "--format", "{{.Action}}"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker events");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let wait = std::time::Duration::from_secs(20);
    // The replayed import proves the subscription is live (replay and subscribe are atomic).
    assert_eq!(rx.recv_timeout(wait).ok().as_deref(), Some("import"));
    d.docker_ok(&["tag", "busybox", "live:1"]);
    assert_eq!(rx.recv_timeout(wait).ok().as_deref(), Some("tag"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    // The daemon still answers after the client went away.
    let names = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(names.lines().any(|l| l == "live:1"), "{names}");
}

#[test]
fn stop_removes_socket_and_pid_file() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let d = TestDaemon::start(StorageDriver::Vfs);
    let meta = std::fs::metadata(&d.sock).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let pid_file = d.dir.path().join("exec/berth.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(pid.trim(), std::process::id().to_string());
    let sock = d.sock.clone();
    let dir = d.shutdown();
    assert!(!sock.exists(), "socket left behind");
    assert!(
        !dir.path().join("exec/berth.pid").exists(),
        "pid file left behind"
    );
}

#[test]
fn unbuilt_commands_fail_cleanly_with_501_messages() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    d.import_busybox("busybox:latest");
    // Volumes exist now (#9); the cluster-volume update Docker has beside them does not.
    assert_eq!(d.docker_ok(&["volume", "create", "v1"]).trim(), "v1");
    let (status, _, body) = d.curl("PUT", "/v1.50/volumes/v1?version=1", &[]);
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("is not implemented by berth yet"), "{body}");
}
