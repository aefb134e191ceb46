//! Links the `berth-shim` executable statically and not position-independent, to keep its
//! resident memory small: no dynamic loader, no shared libc or libseccomp mapped beside it, and no
//! load-time relocations (a PIE's relocated read-only data is private dirty memory in every shim;
//! here it stays clean file pages, which [`memory`](src/memory.rs) can drop after setup). The
//! scheme is shared with `berth-init` (`crates/init/static_link.rs`); `libseccomp.a` comes with
//! Debian's libseccomp-dev. It also sets the root-test gate, `cfg(root_tests)`.

include!("../init/static_link.rs");
include!("../build-support/root_tests.rs");

fn main() {
    println!("cargo:rerun-if-changed=../init/static_link.rs");
    println!("cargo::rerun-if-changed=../build-support/root_tests.rs");
    emit_root_tests_cfg();
    link_bins_statically("berth-shim", &[("seccomp", "libseccomp.a")]);
}
