//! `berth compose` is a client: it drives Debian's dockerd (20.10, API 1.41) too. [`Dockerd`]
//! starts one fully isolated — its own data and exec roots, pidfile, socket, trust key, cgroup
//! parent and address pool; no default bridge, iptables, masquerading or forwarding changes — with
//! a busybox image imported, and its drop stops it by PID and takes back every container,
//! process, network bridge, mount and cgroup it made, even when the test fails. The examples
//! run through `berth compose -H` against it: up (with builds), ps, logs, exec, a change, scale,
//! down -v. Without dockerd installed the test says so and returns.

use crate::examples::{copy_example, http_get, set_env};
use crate::harness::{self, opted_in};
use crate::{free_port, DEADLINE};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long dockerd may take to answer, and to exit after SIGTERM.
const DOCKERD_DEADLINE: Duration = Duration::from_secs(60);

/// A dockerd of the test's own.
struct Dockerd {
    dir: tempfile::TempDir,
    sock: PathBuf,
    child: Option<Child>,
    /// `--cgroup-parent`: the containers' cgroups, in every hierarchy.
    cgroup_parent: String,
    /// The full IDs of the bridge networks seen, whose `br-<id12>` links must go.
    networks: Vec<String>,
}

/// Where dockerd is installed, if it is.
fn dockerd_binary() -> Option<PathBuf> {
    ["/usr/bin/dockerd", "/usr/sbin/dockerd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Dockerd {
    /// Starts dockerd and imports `busybox:latest`; None (the reason printed) when dockerd is
    /// not installed.
    fn start() -> Option<Dockerd> {
        let Some(bin) = dockerd_binary() else {
            eprintln!("skipping: dockerd is not installed (Debian's docker.io package)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd")
            .tempdir()
            .expect("temp dir");
        let sock = dir.path().join("docker.sock");
        let id = std::process::id();
        let mut d = Dockerd {
            sock,
            child: None,
            cgroup_parent: format!("berth-compose-dockerd-{id}"),
            networks: Vec::new(),
            dir,
        };
        let root = d.dir.path();
        // Its trust key in its own directory, not /etc/docker (a key of the config file only).
        let config = serde_json::json!({ "deprecated-key-path": root.join("key.json") });
        std::fs::write(root.join("daemon.json"), config.to_string()).expect("daemon.json");
        let log = std::fs::File::create(root.join("dockerd.log")).expect("dockerd log");
        // A /16 of its own out of 10.200-249/8, so its bridges meet no other engine's.
        let pool = format!("base=10.{}.0.0/16,size=24", 200 + id % 50);
        let child = Command::new(bin)
            .arg("--config-file")
            .arg(root.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", d.sock.display()))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("run"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
                "--default-address-pool",
                &pool,
                "--cgroup-parent",
                &format!("/{}", d.cgroup_parent),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawning dockerd");
        d.child = Some(child);
        let end = Instant::now() + DOCKERD_DEADLINE;
        while !d.docker(&["info"]).status.success() {
            if let Some(Ok(Some(st))) = d.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited early ({st}): {}", d.log());
            }
            assert!(Instant::now() < end, "dockerd did not answer: {}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        d.import_busybox();
        Some(d)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The docker CLI against this dockerd.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("running docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}\n--- dockerd log ---\n{}",
            harness::stderr(&out),
            self.log()
        );
        harness::stdout(&out).trim().to_string()
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name])
    }

    /// `busybox:latest` from the host's static busybox, as the berth harness makes it.
    fn import_busybox(&self) {
        let root = self.dir.path().join("bb-rootfs");
        for d in ["bin", "etc", "tmp", "root"] {
            std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in harness::stdout(&list).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
        let tar = self.dir.path().join("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let tar = tar.to_str().expect("utf-8 path");
        self.ok(&["import", "-c", "CMD [\"sh\"]", tar, "busybox:latest"]);
    }

    /// `berth -H <dockerd> compose -p NAME ARGS` in `dir`.
    fn compose(&self, dir: &Path, name: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(self.host())
            .arg("compose")
            .arg("-p")
            .arg(name)
            .args(args)
            .current_dir(dir)
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST")
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdin(Stdio::null())
            .output()
            .expect("running berth compose")
    }

    fn compose_ok(&self, dir: &Path, name: &str, args: &[&str]) -> String {
        let out = self.compose(dir, name, args);
        assert!(
            out.status.success(),
            "berth compose {args:?} against dockerd failed ({:?}):\n{}{}\n--- dockerd log ---\n{}",
            out.status.code(),
            harness::stdout(&out),
            harness::stderr(&out),
            self.log()
        );
        harness::stdout(&out)
    }

    /// IDs of the project's containers of `service`, by name.
    fn ids(&self, project: &str, service: &str) -> Vec<(String, String)> {
        let out = self.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect();
        v.sort();
        v
    }

    /// Remembers the bridge networks that exist now, for the drop to check their links.
    fn note_networks(&mut self) {
        if let Ok(out) = Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args([
                "network",
                "ls",
                "-q",
                "--no-trunc",
                "--filter",
                "driver=bridge",
            ])
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .output()
        {
            for id in harness::stdout(&out).split_whitespace() {
                if !self.networks.iter().any(|n| n == id) {
                    self.networks.push(id.to_string());
                }
            }
        }
    }

    /// The containers' cgroup parent in every hierarchy that has it.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return Vec::new();
        };
        hierarchies
            .flatten()
            .map(|h| h.path().join(&self.cgroup_parent))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Processes in the containers' cgroups.
    fn cgroup_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for base in self.cgroup_dirs() {
            for dir in dirs_depth_first(&base) {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                pids.extend(
                    procs
                        .split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Processes whose command line names this dockerd's directory: its containerd, the
    /// containerd shims and docker-proxy.
    fn helper_pids(&self) -> Vec<i32> {
        let me = self.dir.path().display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&me))
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Stops dockerd by PID: SIGTERM, SIGKILL after the deadline.
    fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + DOCKERD_DEADLINE;
        while Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// `dir` and every directory below it, deepest first (empty when it does not exist).
fn dirs_depth_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(dirs_depth_first(&e.path()));
            }
        }
    }
    if dir.is_dir() {
        out.push(dir.to_path_buf());
    }
    out
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in harness::stdout(&ids).split_whitespace() {
                let _ = self.docker(&["rm", "-f", "-v", id]);
            }
            self.note_networks();
            let _ = self.docker(&["network", "prune", "-f"]);
        }
        self.stop();
        // What a dockerd that died or hung leaves: container processes, its containerd and
        // shims, docker-proxy; then bridges, mounts and cgroups.
        for pid in self.cgroup_pids().into_iter().chain(self.helper_pids()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for id in &self.networks {
            let link = format!("br-{}", id.get(..12).unwrap_or(id));
            if Path::new("/sys/class/net").join(&link).exists() {
                let _ = Command::new("ip").args(["link", "del", &link]).status();
            }
        }
        let root = self.dir.path().display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.reverse();
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for base in self.cgroup_dirs() {
            for dir in dirs_depth_first(&base) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berth_compose_drives_dockerd() {
    if !opted_in() {
        return;
    }
    let Some(mut d) = Dockerd::start() else {
        return;
    };
    let tag = std::process::id();

    // counter: builds through dockerd's /build, a healthcheck-gated start, two networks (API
    // 1.41 takes one at create: the other is connected after), the secret, a named volume.
    let counter = tempfile::Builder::new()
        .prefix("berth-compose-dockerd")
        .tempdir()
        .expect("project dir");
    let dir = counter.path();
    copy_example("counter", dir);
    let port = free_port();
    set_env(dir, "WEB_PORT", &port.to_string());
    let name = format!("dkcounter{tag}");
    d.compose_ok(dir, &name, &["up", "-d"]);
    d.note_networks();
    let ps = d.compose_ok(dir, &name, &["ps"]);
    assert!(
        ps.contains("(healthy)") && ps.contains(&format!("{name}-web-1")),
        "{ps}"
    );
    let visit = || {
        let mut body = None;
        harness::eventually(DEADLINE, "web to answer through dockerd's port", || {
            body = http_get(port, "/cgi-bin/visit");
            body.is_some()
        });
        body.unwrap_or_default()
    };
    assert!(visit().trim().ends_with("visits: 1"));
    let web = format!("{name}-web-1");
    let nets = d.inspect(
        &web,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert_eq!(nets.trim(), format!("{name}_backend {name}_frontend"));
    let out = d.compose_ok(dir, &name, &["exec", "-T", "db", "cat", "/data/visits"]);
    assert_eq!(out.trim(), "1");
    let out = d.compose_ok(dir, &name, &["exec", "-T", "web", "nslookup", "db"]);
    assert!(out.contains("Name:"), "{out}");
    let out = d.compose(dir, &name, &["exec", "-T", "monitor", "nslookup", "db"]);
    assert!(
        !out.status.success(),
        "the monitor resolves db: {}",
        harness::stdout(&out)
    );
    harness::eventually(DEADLINE, "the monitor's log", || {
        d.compose(dir, &name, &["logs", "--no-color", "monitor"])
            .stdout
            .windows(10)
            .any(|w| w == b"web is up\n")
    });

    // A changed .env value recreates web alone; down -v takes everything.
    let db = d.ids(&name, "db");
    let old_web = d.ids(&name, "web");
    set_env(dir, "GREETING", "Howdy");
    d.compose_ok(dir, &name, &["up", "-d"]);
    assert_ne!(d.ids(&name, "web"), old_web);
    assert_eq!(d.ids(&name, "db"), db);
    assert!(visit().starts_with("Howdy from"));
    d.compose_ok(dir, &name, &["down", "-v"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    assert!(!d.ok(&["network", "ls"]).contains(&name));
    assert!(!d.ok(&["volume", "ls", "-q"]).contains(&name));

    // workers: --scale, every replica behind the name, scale down, down -v.
    let workers = tempfile::Builder::new()
        .prefix("berth-compose-dockerd")
        .tempdir()
        .expect("project dir");
    let dir = workers.path();
    copy_example("workers", dir);
    let name = format!("dkworkers{tag}");
    d.compose_ok(dir, &name, &["up", "-d", "--scale", "worker=3"]);
    d.note_networks();
    assert_eq!(d.ids(&name, "worker").len(), 3);
    let hosts: Vec<String> = d
        .ids(&name, "worker")
        .iter()
        .map(|(n, _)| d.inspect(n, "{{.Config.Hostname}}"))
        .collect();
    harness::eventually(DEADLINE, "jobs done by every replica", || {
        let log = harness::stdout(&d.compose(dir, &name, &["logs", "dispatcher"]));
        hosts
            .iter()
            .all(|h| log.contains(&format!("done by {h} (3 workers)")))
    });
    d.compose_ok(dir, &name, &["scale", "worker=1"]);
    let left = d.ids(&name, "worker");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, format!("{name}-worker-1"));
    d.compose_ok(dir, &name, &["down", "-v"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    assert!(!d.ok(&["network", "ls"]).contains(&name));

    // The drop leaves nothing: no bridge, mount, cgroup or process of this dockerd.
    let root = d.dir.path().display().to_string();
    let bridges: Vec<String> = d
        .networks
        .iter()
        .map(|id| format!("br-{}", id.get(..12).unwrap_or(id)))
        .collect();
    let cgroups = d.cgroup_dirs();
    assert!(!bridges.is_empty() && !cgroups.is_empty());
    drop(d);
    for b in &bridges {
        assert!(!Path::new("/sys/class/net").join(b).exists(), "{b} is left");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mounts.contains(&root), "mounts under {root} are left");
    for c in &cgroups {
        assert!(!c.exists(), "{} is left", c.display());
    }
    assert!(!Path::new(&root).exists(), "{root} is left");
}
