//! Links the `berth-init` executable statically, so that it runs inside any container rootfs
//! (busybox has no libc). The toolchain's target (x86_64-unknown-linux-gnu, no `crt-static` set
//! for the workspace) links std against the shared system libraries by name (`-lc`, `-lgcc_s`,
//! ...); here each of those names resolves first to a one-line linker script in OUT_DIR that
//! points at the static archive, and the executable is linked `-static -no-pie`. Only the bin
//! target gets these arguments; the library and its unit tests link as usual.

use std::path::PathBuf;

/// The libraries std's and libc's `#[link]` attributes name on linux-gnu, and their archives.
const STATIC_ARCHIVES: &[(&str, &str)] = &[
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
        panic!("cargo did not set OUT_DIR for the berth-init build script");
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
