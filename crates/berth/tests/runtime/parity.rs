//! Configs other runtimes write run here as they run there.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use std::process::Command;

/// `runc spec` lists ambient capabilities without the inheritable set; runc and crun raise only
/// what the kernel allows and run the process.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_config_runc_spec_writes_runs() {
    root_test!();
    let Ok(runc) = which("runc") else {
        eprintln!("skipped: runc is not installed (scripts/install-deps.sh installs it)");
        return;
    };
    let mut b = Bundle::busybox("runcspec", &["true"]);
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    let out = Command::new(runc)
        .args(["spec", "--bundle"])
        .arg(b.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "runc spec: {}", stderr(&out));
    let text = std::fs::read_to_string(b.path().join("config.json")).unwrap();
    b.config = serde_json::from_str(&text).unwrap();
    assert!(
        b.config["process"]["capabilities"]["ambient"].is_array()
            && b.config["process"]["capabilities"]["inheritable"].is_null(),
        "runc spec's config changed: {}",
        b.config["process"]["capabilities"]
    );
    b.config["process"]["args"] = serde_json::json!(["sh", "-c", "grep CapAmb /proc/self/status"]);
    b.config["process"]["terminal"] = false.into();
    b.config["linux"]["cgroupsPath"] = format!("/berth-test/{}", b.id).into();
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    // Nothing ambient: none of them is inheritable.
    assert_eq!(
        stdout(&out).split_whitespace().last(),
        Some("0000000000000000")
    );
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
