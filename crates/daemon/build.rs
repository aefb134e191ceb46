//! Only the root-test gate: `cfg(root_tests)` (see `crates/build-support/root_tests.rs`).

include!("../build-support/root_tests.rs");

fn main() {
    println!("cargo::rerun-if-changed=../build-support/root_tests.rs");
    emit_root_tests_cfg();
}
