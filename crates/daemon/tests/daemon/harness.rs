//! Test harness: [`TestDaemon`] runs a daemon on its own thread and runtime, tears it down on drop
//! (even when the test fails), and runs `docker` and `curl` against its socket; [`busybox_rootfs`]
//! builds a rootfs tar from the host's static busybox.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use berth_daemon::{Daemon, DaemonConfig, StorageDriver};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A daemon serving a temp socket until dropped.
pub struct TestDaemon {
    pub dir: TempDir,
    pub sock: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestDaemon {
    pub fn start(driver: StorageDriver) -> TestDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-d")
            .tempdir()
            .expect("temp dir");
        Self::start_in(dir, driver, None)
    }

    /// Starts a daemon on the roots under `dir` (`data`, `exec`), kept from an earlier daemon or
    /// prepared by the test; `shim` is the shim binary for tests that run containers.
    pub fn start_in(dir: TempDir, driver: StorageDriver, shim: Option<PathBuf>) -> TestDaemon {
        let sock = dir.path().join("api.sock");
        let config = DaemonConfig {
            data_root: dir.path().join("data"),
            exec_root: dir.path().join("exec"),
            hosts: vec![format!("unix://{}", sock.display())],
            group: None,
            log_level: "info".to_string(),
            storage_driver: driver,
            shim_binary: shim,
            ..Default::default()
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                match Daemon::start(config).await {
                    Ok(d) => {
                        let _ = ready_tx.send(Ok(()));
                        let _ = stop_rx.await;
                        d.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let ready = ready_rx.recv().expect("daemon thread ended early");
        let mut d = TestDaemon {
            dir,
            sock,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        if let Err(e) = ready {
            d.thread.take().map(JoinHandle::join);
            panic!("daemon did not start: {e}");
        }
        d
    }

    /// Stops the daemon and hands back its directory for inspection.
    pub fn shutdown(mut self) -> TempDir {
        self.stop_now();
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// Runs docker with `args`, stdin from `input`.
    pub fn docker_in(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("docker output");
        writer.join().expect("stdin writer");
        out
    }

    /// Runs docker with `args`.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_in(args, b"")
    }

    /// Runs docker and returns its stdout, failing the test if it fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Raw HTTP with curl: (status, headers lower-cased, body).
    pub fn curl(&self, method: &str, path: &str, extra: &[&str]) -> (u16, String, String) {
        let mut c = Command::new("curl");
        c.args(["-s", "-i", "--unix-socket"])
            .arg(&self.sock)
            .args(["-X", method])
            .args(extra)
            .arg(format!("http://localhost{path}"));
        if method == "HEAD" {
            c.arg("-I");
        }
        let out = c.output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status from curl {method} {path}: {text:?}"));
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    /// Imports the busybox rootfs as `name` with `CMD ["sh"]`; returns the image ID.
    pub fn import_busybox(&self, name: &str) -> String {
        let mut args = vec!["import", "--change", "CMD [\"sh\"]", "-"];
        if !name.is_empty() {
            args.push(name);
        }
        let out = self.docker_in(&args, &busybox_rootfs());
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A rootfs tar: /bin/busybox plus applet symlinks and the usual directories.
pub fn busybox_rootfs() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let mut b = tar::Builder::new(Vec::new());
    for dir in ["bin/", "etc/", "tmp/", "proc/", "sys/", "dev/", "root/"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp/" { 0o1777 } else { 0o755 });
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, dir, &[][..]).expect("dir");
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", &busybox[..])
        .expect("busybox");
    for applet in ["sh", "ls", "echo", "cat", "true", "false", "sleep", "id"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("symlink");
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "etc/passwd", &passwd[..])
        .expect("passwd");
    b.into_inner().expect("tar")
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
