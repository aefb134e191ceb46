//! Shared by the runtime and docker test binaries: what "the runtime's executable is protected from
//! the container" means when checked from the host (the catalog's CVE-01).

use std::io::Write;

/// The seals of a runtime copy: seal, shrink, grow, write.
const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Asserts that the executable behind `exe` (a `/proc/<pid>/exe` link) is a protected view of the
/// runtime: on a read-only mount (EROFS), or a sealed memfd (writes refused by its seals). A
/// running host binary answers ETXTBSY instead, which only holds while it runs.
pub fn assert_write_protected(exe: &str) {
    match std::fs::OpenOptions::new().write(true).open(exe) {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(libc::EROFS),
            "{exe} -> {:?}: {e}",
            std::fs::read_link(exe)
        ),
        Ok(mut f) => {
            let seals = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GET_SEALS)
                .unwrap_or_else(|e| panic!("{exe} is writable and not a sealed memfd: {e}"));
            assert_eq!(seals & SEALS, SEALS, "seals of {exe}: {seals:#x}");
            assert!(
                f.write_all(b"\x7fELF overwritten").is_err(),
                "{exe} took a write"
            );
        }
    }
}
