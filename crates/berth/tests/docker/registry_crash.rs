//! A daemon killed with SIGKILL in the middle of a pull (issue #10): after the restart the store
//! shows nothing of the half-pulled image, holds no unverified blob and passes `berth daemon
//! --check` (the partial download kept to resume from is not a leftover), and the next pull
//! resumes the layer where its data ended (a `Range` request) and succeeds.
//! The registry is Debian's `docker-registry` behind a throttling TCP proxy (so the kill lands
//! while a layer is downloading: the test waits for a partial ingest on disk, not for time); the
//! proxy records the `Range` headers it forwards and is made fast for the second pull.
//! And REG-06 (issue #14): images listed and inspected over and over during a throttled pull show
//! the image only once it is whole.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{eventually, opted_in, Daemon};
use crate::registry::DistRegistry;

/// Forwards to `upstream`, sending the answers at about 3 MB/s while `slow`; records the
/// `Range` header values of the requests.
struct Throttle {
    addr: String,
    stop: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
    ranges: Arc<Mutex<Vec<String>>>,
}

impl Throttle {
    fn start(upstream: &str) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let slow = Arc::new(AtomicBool::new(true));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let (up, st, sl, rg) = (
            upstream.to_string(),
            stop.clone(),
            slow.clone(),
            ranges.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&up) else {
                    continue;
                };
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let rg = rg.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        match c_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let text = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                                for line in text.lines() {
                                    if let Some(v) = line.strip_prefix("range:") {
                                        rg.lock()
                                            .unwrap_or_else(|p| p.into_inner())
                                            .push(v.trim().to_string());
                                    }
                                }
                                if s_write.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write, sl) = (server, client, sl.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        match s_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if c_write.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                if sl.load(Ordering::SeqCst) {
                                    std::thread::sleep(Duration::from_millis(5));
                                }
                            }
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Throttle {
            addr,
            stop,
            slow,
            ranges,
        }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// The largest partial ingest under the daemon's content store.
fn largest_ingest(root: &Path) -> u64 {
    let dir = root.join("image/content/ingest");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
                .map(|m| m.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_daemon_killed_mid_pull_restarts_consistent_and_pulls_again() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let src = Daemon::start();
    src.ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "head -c 24000000 /dev/urandom > /big",
    ]);
    let image = format!("{}/big:1", reg.addr);
    src.ok(&["commit", "big", &image]);
    src.ok(&["push", &image]);
    let id = src.inspect(&image, "{{.Id}}");
    let top_layer = src.inspect(&image, "{{json .RootFS.Layers}}");
    drop(src);
    let proxy = Throttle::start(&reg.addr);
    let slow = format!("{}/big:1", proxy.addr);
    let mut d = Daemon::start();
    let mut pull = d
        .docker_cmd(&["pull", &slow])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker pull");
    let root = d.data_root();
    eventually(Duration::from_secs(60), "a partial layer download", || {
        largest_ingest(&root) > 1_000_000
    });
    d.kill9();
    let _ = pull.wait();
    let partial = largest_ingest(&root);
    // The stopped daemon's store is consistent: the partial download is kept, not a leftover.
    crate::fault::store_check(&mut d);
    assert_eq!(d.ok(&["images", "-q", &slow]), "");
    let (code, _) = d.curl("GET", &format!("/images/{slow}/json"), None);
    assert_eq!(code, 404);
    // Whatever blobs are stored hash to their names (nothing unverified became visible).
    let blobs = root.join("image/content/blobs/sha256");
    for e in std::fs::read_dir(&blobs).expect("blobs").flatten() {
        let out = std::process::Command::new("sha256sum")
            .arg(e.path())
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&out.stdout);
        let name = e.file_name().to_string_lossy().to_string();
        assert!(sum.starts_with(&name), "{name} holds other bytes: {sum}");
    }
    // The next pull resumes the layer from what it had (a Range request past zero), succeeds and
    // the image runs.
    assert!(
        largest_ingest(&root) >= partial,
        "the partial download was dropped"
    );
    proxy.slow.store(false, Ordering::SeqCst);
    d.ok(&["pull", &slow]);
    let ranges = proxy
        .ranges
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        ranges
            .iter()
            .any(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")),
        "no resuming Range request: {ranges:?}"
    );
    assert_eq!(d.inspect(&slow, "{{.Id}}"), id);
    assert_eq!(d.inspect(&slow, "{{json .RootFS.Layers}}"), top_layer);
    assert_eq!(
        d.ok(&["run", "--rm", &slow, "sh", "-c", "wc -c < /big"]),
        "24000000"
    );
    assert_eq!(largest_ingest(&root), 0, "the ingest outlived its commit");
}

/// The IDs `GET /images/json?all=1` lists.
fn list_ids(d: &Daemon) -> Vec<serde_json::Value> {
    let (code, list) = d.curl("GET", "/images/json?all=1", None);
    assert_eq!(code, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).expect("images JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["Id"].clone())
        .collect()
}

/// REG-06: while a throttled pull downloads a two-layer image, `GET /images/json?all=1` and
/// `GET /images/{name}/json`, asked over and over, show only what was there before; once the image
/// shows, it is whole (its ID and layers are the pushed ones, no download is left in progress), and
/// it runs.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn images_and_inspect_never_show_a_half_pulled_image() {
    if !opted_in() {
        return;
    }
    let reg = DistRegistry::start();
    let src = Daemon::start();
    src.ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "head -c 16000000 /dev/urandom > /big",
    ]);
    let image = format!("{}/atomic:1", reg.addr);
    src.ok(&["commit", "big", &image]);
    src.ok(&["push", &image]);
    let id = src.inspect(&image, "{{.Id}}");
    let layers = src.inspect(&image, "{{json .RootFS.Layers}}");
    drop(src);
    let proxy = Throttle::start(&reg.addr);
    let slow = format!("{}/atomic:1", proxy.addr);
    let d = Daemon::start();
    let root = d.data_root();
    let before_ids = list_ids(&d);
    let mut pull = d
        .docker_cmd(&["pull", &slow])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker pull");
    let (mut absent_while_downloading, mut polls) = (0, 0);
    let mut seen = false;
    let end = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        let downloading = largest_ingest(&root) > 0;
        // Listed, inspected, listed again: the image may turn up between any two of the calls.
        let listed_before = list_ids(&d);
        let (code, body) = d.curl("GET", &format!("/images/{slow}/json"), None);
        let listed_after = list_ids(&d);
        polls += 1;
        if code == 404 {
            assert_eq!(
                listed_before, before_ids,
                "a new image listed while {slow} is missing"
            );
            assert!(!seen, "{slow} showed, then went away");
            absent_while_downloading += usize::from(downloading);
        } else {
            assert_eq!(code, 200, "{body}");
            let got: serde_json::Value = serde_json::from_str(&body).expect("inspect JSON");
            assert_eq!(got["Id"], id.as_str(), "{body}");
            assert_eq!(got["RootFS"]["Layers"].to_string(), layers, "{body}");
            assert_eq!(
                largest_ingest(&root),
                0,
                "{slow} showed with a download still going"
            );
            assert_eq!(listed_after.len(), before_ids.len() + 1, "{listed_after:?}");
            assert!(listed_after.contains(&got["Id"]), "{listed_after:?}");
            seen = true;
        }
        if let Some(st) = pull.try_wait().expect("docker pull") {
            break st;
        }
        assert!(std::time::Instant::now() < end, "the pull did not finish");
    };
    assert!(status.success(), "docker pull failed: {}", d.log());
    assert!(
        absent_while_downloading >= 3,
        "the loop saw the download only {absent_while_downloading} times in {polls} polls"
    );
    assert_eq!(d.inspect(&slow, "{{.Id}}"), id);
    assert_eq!(
        d.ok(&["run", "--rm", &slow, "sh", "-c", "wc -c < /big"]),
        "16000000"
    );
}
