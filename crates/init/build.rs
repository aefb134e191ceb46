//! Links the `berth-init` executable statically, so that it runs inside any container rootfs
//! (busybox has no libc); the scheme is in `static_link.rs`.

include!("static_link.rs");

fn main() {
    println!("cargo:rerun-if-changed=static_link.rs");
    link_bins_statically("berth-init", &[]);
}
