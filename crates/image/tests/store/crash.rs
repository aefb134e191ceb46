//! Crash safety: a child process (this test binary, re-executed on the victim test) loads a big
//! archive fed through a pipe; the parent SIGKILLs it mid-load, reopens the store, and asserts that
//! the check is clean and no partial image or name is visible.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_oci::Digest;

use crate::common::*;

const VICTIM_ENV: &str = "BERTH_TEST_CRASH_VICTIM_DIR";
const LAYERS: usize = 8;
const LAYER_BYTES: usize = 3 << 20;

/// The child the crash tests kill: loads stdin into the store named by the environment. Not a test of
/// its own (ignored in a normal run); [`kill_during_load`] runs it with `--ignored`.
#[test]
#[ignore = "the crash tests' child process, run by them with --ignored"]
fn crash_victim() {
    let dir = std::env::var_os(VICTIM_ENV).expect("run by the crash tests, which name its store");
    let store = open_store(Path::new(&dir));
    store
        .load(std::io::stdin().lock(), None)
        .expect("the victim's load, when it is not killed first");
}

/// A docker archive with many fat layers and two tags.
fn big_archive() -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_names = Vec::new();
    for n in 0..LAYERS {
        let data: Vec<u8> = (0..LAYER_BYTES).map(|i| (i * 31 + n * 7) as u8).collect();
        let layer = tar_of(&[(&format!("layer{n}/data"), &data[..])]);
        diff_ids.push(format!("\"{}\"", Digest::sha256_of(&layer)));
        let name = format!("l{n}/layer.tar");
        layer_names.push(format!("\"{name}\""));
        files.push((name, layer));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_name = format!("{}.json", Digest::sha256_of(config.as_bytes()).hex());
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["crash:1","crash:2"],"Layers":[{}]}}]"#,
        layer_names.join(",")
    );
    files.push((config_name, config.into_bytes()));
    files.push(("manifest.json".into(), manifest.into_bytes()));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    tar_of(&refs)
}

fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.count())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// Feeds `archive` (all of it, or `prefix` bytes and then holds the pipe open) to a victim and kills
/// it once `ready` holds; then checks the store.
fn kill_during_load(archive: &[u8], prefix: usize, ready: impl Fn(&Path) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash::crash_victim",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(VICTIM_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let mut guard = Reap(child);
    stdin.write_all(&archive[..prefix]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready(dir.path()) {
        assert!(
            Instant::now() < deadline,
            "the victim never reached the kill point"
        );
        assert!(
            guard.0.try_wait().unwrap().is_none(),
            "the victim exited before the kill point"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    guard.0.kill().unwrap();
    let status = guard.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the victim was not killed mid-load"
    );
    drop(stdin);

    let store = open_store(dir.path());
    assert_clean(&store);
    assert!(
        store.list().unwrap().is_empty(),
        "a partial image is visible"
    );
    assert!(store.get("crash:1").is_err() && store.get("crash:2").is_err());
    let fp = fingerprint(&store);
    assert!(fp.blobs.is_empty() && fp.snapshots.is_empty(), "{fp:?}");
}

#[test]
fn kill_9_while_spooling_leaves_nothing() {
    let archive = big_archive();
    kill_during_load(&archive, archive.len() / 2, |d| {
        dir_bytes(&d.join("images/tmp")) > (4 << 20)
    });
}

#[test]
fn kill_9_while_unpacking_leaves_no_half_image() {
    let archive = big_archive();
    // The whole archive is sent; the pipe stays open, and the kill lands once some layers are
    // stored and unpacked but before the last one is (the metadata transaction comes after).
    kill_during_load(&archive, archive.len(), |d| {
        count_entries(&d.join("images/content/blobs/sha256")) >= 3
    });
}
