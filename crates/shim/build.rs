//! Links the `berth-shim` executable statically and not position-independent, to keep its
//! resident memory small: no dynamic loader, no shared libc or libseccomp mapped beside it, and no
//! load-time relocations (a PIE's relocated read-only data is private dirty memory in every shim;
//! here it stays clean file pages, which [`memory`](src/memory.rs) can drop after setup). On
//! linux-gnu, rustc names the system libraries as shared (`-lc`, `-lgcc_s`, `-lseccomp`, ...);
//! each name resolves first to a one-line linker script in OUT_DIR that points at the static
//! archive (the same scheme as `crates/init/build.rs`). Only the bin target gets these arguments;
//! the library and its tests link as usual. `libseccomp.a` comes with Debian's libseccomp-dev.

use std::path::PathBuf;

/// The libraries std's, libc's and libseccomp's `#[link]` attributes name on linux-gnu, and
/// their archives.
const STATIC_ARCHIVES: &[(&str, &str)] = &[
    ("seccomp", "libseccomp.a"),
    ("gcc_s", "libgcc_eh.a"),
    ("util", "libutil.a"),
    ("rt", "librt.a"),
    ("pthread", "libpthread.a"),
    ("m", "libm.a"),
    ("dl", "libdl.a"),
    ("c", "libc.a"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("linux-gnu") {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("cargo did not set OUT_DIR for the berth-shim build script");
    };
    let dir = out.join("static-libs");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("creating {}: {e}", dir.display());
    }
    for (name, archive) in STATIC_ARCHIVES {
        let script = dir.join(format!("lib{name}.so"));
        if let Err(e) = std::fs::write(&script, format!("INPUT(-l:{archive})\n")) {
            panic!("writing {}: {e}", script.display());
        }
    }
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
