// Static linking of a crate's executables on linux-gnu, shared by the build scripts of the
// binaries that must be static (`berth-init` runs inside any rootfs; `berth-shim` keeps its
// resident memory small). Included with `include!` by each build.rs, since build scripts of
// different crates cannot share a module otherwise.
//
// The toolchain's target (x86_64-unknown-linux-gnu, no `crt-static` for the workspace) links std
// against the shared system libraries by name (`-lc`, `-lgcc_s`, ...). Here each of those names
// resolves first to a one-line linker script in OUT_DIR that points at the static archive, and
// the executables are linked `-static -no-pie`. Only bin targets get these arguments; libraries
// and their tests link as usual.

/// The libraries std's and libc's `#[link]` attributes name on linux-gnu, and their archives.
const STD_ARCHIVES: &[(&str, &str)] = &[
    ("gcc_s", "libgcc_eh.a"),
    ("util", "libutil.a"),
    ("rt", "librt.a"),
    ("pthread", "libpthread.a"),
    ("m", "libm.a"),
    ("dl", "libdl.a"),
    ("c", "libc.a"),
];

/// Links this crate's executables statically; `extra` names further `(library, archive)` pairs
/// (e.g. `("seccomp", "libseccomp.a")`), resolved before the std ones.
fn link_bins_statically(crate_name: &str, extra: &[(&str, &str)]) {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("linux-gnu") {
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from) else {
        panic!("cargo did not set OUT_DIR for the {crate_name} build script");
    };
    let dir = out.join("static-libs");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("creating {}: {e}", dir.display());
    }
    for (name, archive) in extra.iter().chain(STD_ARCHIVES) {
        let script = dir.join(format!("lib{name}.so"));
        if let Err(e) = std::fs::write(&script, format!("INPUT(-l:{archive})\n")) {
            panic!("writing {}: {e}", script.display());
        }
    }
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
