//! Compiled filters kept under the state root, so that libseccomp compiles a profile once and not
//! in every container: Docker's default profile takes libseccomp ~10 ms of CPU to turn into BPF,
//! and reading the cached program back takes a few microseconds.
//!
//! An entry is `<root>/@seccomp/<key>.bpf` (`@` is not allowed in container ids, so the directory
//! never meets a container's): the program's bytes followed by the hex SHA-256 of those bytes,
//! checked on every read. The key is the SHA-256 of everything the generated code depends on:
//! the profile itself (its JSON), libseccomp's version, and the running kernel (its release and
//! `actions_avail`, which decide libseccomp's fallbacks for actions the kernel lacks). Entries
//! are written to a temp file and renamed, mode 0600 in a 0700 directory owned by the runtime's
//! user, so a reader sees a whole entry or none. A missing, corrupt or unwritable cache only
//! costs the compile; the directory is emptied when it holds [`MAX_ENTRIES`].

use super::{program, Program, SecurityError};
use berth_oci::runtime::LinuxSeccomp;
use berth_oci::Digest;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The cache directory's name under the state root.
pub const DIR: &str = "@seccomp";
/// More distinct profiles than this empties the cache before the next entry is added.
const MAX_ENTRIES: usize = 256;
/// Length of the hex SHA-256 that ends an entry.
const TRAILER: usize = 64;

/// The program for `seccomp`: from the cache in `root` when it holds it, else compiled (and
/// added to the cache, best effort).
pub fn cached(root: &Path, seccomp: &LinuxSeccomp) -> Result<Program, SecurityError> {
    let dir = root.join(DIR);
    let path = dir.join(format!("{}.bpf", key(seccomp)));
    if let Some(bpf) = read(&path) {
        if let Ok(p) = Program::from_bpf(bpf, seccomp) {
            return Ok(p);
        }
    }
    let compiled = program(seccomp)?;
    if let Err(e) = store(&dir, &path, compiled.bpf()) {
        super::super::debug(format_args!(
            "seccomp: not caching the compiled filter in {}: {e}",
            path.display()
        ));
    }
    Ok(compiled)
}

/// The entry's name: a digest of the profile and of what the generated code depends on.
fn key(seccomp: &LinuxSeccomp) -> String {
    let mut material = b"berth seccomp cache 1\n".to_vec();
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        material.extend(format!("libseccomp {}.{}.{}\n", v.major, v.minor, v.micro).bytes());
    }
    let uname = nix::sys::utsname::uname();
    if let Ok(u) = &uname {
        material.extend(u.release().as_encoded_bytes());
        material.push(b'\n');
    }
    if let Ok(actions) = std::fs::read("/proc/sys/kernel/seccomp/actions_avail") {
        material.extend(actions);
    }
    // A profile that does not encode cannot be cached apart from others: key it uniquely.
    match serde_json::to_vec(seccomp) {
        Ok(json) => material.extend(json),
        Err(_) => material.extend(format!("unencodable {}", std::process::id()).bytes()),
    }
    Digest::sha256_of(&material).hex().to_string()
}

/// The program bytes of an entry whose trailer matches.
fn read(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(path).ok()?;
    let split = bytes.len().checked_sub(TRAILER)?;
    let trailer = bytes.split_off(split);
    (Digest::sha256_of(&bytes).hex().as_bytes() == trailer.as_slice()).then_some(bytes)
}

fn store(dir: &Path, path: &Path, bpf: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if std::fs::read_dir(dir)?.count() >= MAX_ENTRIES {
        for e in std::fs::read_dir(dir)?.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bpf)?;
            f.write_all(Digest::sha256_of(bpf).hex().as_bytes())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    const A: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getcwd"],"action":"SCMP_ACT_ERRNO"}]}"#;
    const B: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}"#;

    fn entries(root: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(root.join(DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_compiled_profile_is_stored_once_and_read_back_equal() {
        let root = tempfile::tempdir().unwrap();
        let first = cached(root.path(), &profile(A)).unwrap();
        assert_eq!(first, program(&profile(A)).unwrap());
        let stored = entries(root.path());
        assert_eq!(stored.len(), 1, "{stored:?}");
        let again = cached(root.path(), &profile(A)).unwrap();
        assert_eq!(again, first);
        cached(root.path(), &profile(B)).unwrap();
        assert_eq!(entries(root.path()).len(), 2);
    }

    #[test]
    fn a_corrupt_entry_is_compiled_again_and_replaced() {
        let root = tempfile::tempdir().unwrap();
        let good = cached(root.path(), &profile(A)).unwrap();
        let entry = entries(root.path()).remove(0);
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&entry, &bytes).unwrap();
        assert_eq!(read(&entry), None);
        assert_eq!(cached(root.path(), &profile(A)).unwrap(), good);
        assert!(read(&entry).is_some(), "the entry was rewritten");
        std::fs::write(&entry, b"short").unwrap();
        assert_eq!(cached(root.path(), &profile(A)).unwrap(), good);
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_program() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(DIR), b"a file, not a directory").unwrap();
        assert_eq!(
            cached(root.path(), &profile(A)).unwrap(),
            program(&profile(A)).unwrap()
        );
    }
}
