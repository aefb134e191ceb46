//! Root tests (opt in with `BERTH_ROOT_TESTS=1`): the production overlay storage driver behind the
//! API. Opted in without root, they fail rather than skip.

use berth_daemon::StorageDriver;

use crate::harness::TestDaemon;

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
pub(crate) fn opted_in() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn overlay_driver_import_inspect_save_load() {
    if !opted_in() {
        return;
    }
    let d = TestDaemon::start(StorageDriver::Overlay);
    let id = d.import_busybox("busybox:latest");
    let driver = d.docker_ok(&[
        "image",
        "inspect",
        "busybox",
        "--format",
        "{{.GraphDriver.Name}}",
    ]);
    assert_eq!(driver.trim(), "overlay2");
    assert_eq!(
        d.docker_ok(&["info", "--format", "{{.Driver}}"]).trim(),
        "overlay2"
    );
    let saved = d.docker(&["save", "busybox"]);
    assert!(saved.status.success());
    d.docker_ok(&["rmi", "busybox"]);
    let loaded = d.docker_in(&["load"], &saved.stdout);
    assert!(loaded.status.success());
    let again = d.docker_ok(&["image", "inspect", "busybox", "--format", "{{.Id}}"]);
    assert_eq!(again.trim(), id);
    d.docker_ok(&["rmi", "busybox"]);
    // Nothing left mounted under the test's roots but the exec root's own tmpfs.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root = d.dir.path().display().to_string();
    let exec = d.dir.path().join("exec").display().to_string();
    let left: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root) && *m != exec)
        .collect();
    assert!(left.is_empty(), "mounts left under {root}: {left:?}");
}
