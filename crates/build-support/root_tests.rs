// The one root-test gate, shared by every crate's build script (`include!`d, not a crate).
//
// Tests that need root and the real kernel carry
// `#[cfg_attr(not(root_tests), ignore = "root test: run as root with BERTH_ROOT_TESTS=1")]`:
// a plain `cargo test` lists them as ignored instead of passing them unrun, and
// `BERTH_ROOT_TESTS=1` (as `scripts/test.sh` sets it when run as root) builds them in.

/// Sets `cfg(root_tests)` when `BERTH_ROOT_TESTS=1`, and rebuilds when that changes.
fn emit_root_tests_cfg() {
    println!("cargo::rustc-check-cfg=cfg(root_tests)");
    println!("cargo::rerun-if-env-changed=BERTH_ROOT_TESTS");
    if std::env::var("BERTH_ROOT_TESTS").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=root_tests");
    }
}
