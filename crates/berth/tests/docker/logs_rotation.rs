//! json-file log options: `--log-opt max-size / max-file` reach the shim's rotation, `docker logs`
//! reads across the rotated files in order, and `--log-driver none` refuses reading with Docker's
//! message.

use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, stdout, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn rotation_keeps_max_file_and_logs_read_in_order() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "lr-rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line-$i; done",
    ]);
    eventually(Duration::from_secs(20), "lr-rot exited", || {
        d.inspect("lr-rot", "{{.State.Status}}") == "exited"
    });
    assert_eq!(
        d.inspect(
            "lr-rot",
            "{{index .HostConfig.LogConfig.Config \"max-size\"}}"
        ),
        "1k"
    );
    let id = d.inspect("lr-rot", "{{.Id}}");
    let dir = d.data_root().join("containers").join(&id);
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .expect("container dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .map(|e| {
            let len = e.metadata().expect("metadata").len();
            (e.file_name().to_string_lossy().to_string(), len)
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "current + 2 rotated: {files:?}");
    assert!(files.iter().all(|(_, len)| *len <= 1024 + 256), "{files:?}");

    // What is kept is the newest lines, contiguous and in order, ending with the last one.
    let text = d.ok(&["logs", "lr-rot"]);
    let nums: Vec<u32> = text
        .lines()
        .map(|l| l.trim_start_matches("line-").parse().expect(l))
        .collect();
    assert!(nums.len() > 20 && nums.len() < 300, "{}", nums.len());
    assert_eq!(nums.last(), Some(&300));
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
    let tail = d.ok(&["logs", "--tail", "2", "lr-rot"]);
    assert_eq!(tail, "line-299\nline-300");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn log_driver_none_refuses_reading() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "lr-none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "quiet",
    ]);
    let out = d.docker(&["logs", "lr-none"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&out)
    );
}
