//! The harness: [`Daemon`] starts the `berth` binary as a daemon on temp roots, imports a busybox
//! image built from the host's static busybox, runs the docker CLI against it, and on drop removes
//! every container, stops the daemon by PID (SIGTERM, then SIGKILL), kills leftover shims by PID,
//! unmounts whatever is left under its root and deletes it.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long the daemon may take to serve.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long a SIGTERM'ed daemon may take to exit.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
pub fn opted_in() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

/// Polls `cond` until it holds or `deadline` passes.
pub fn eventually(deadline: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A daemon under test.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
    /// More `berth daemon` flags, given at every (re)start.
    args: Vec<String>,
}

impl Daemon {
    /// Starts a daemon and imports `busybox:latest`.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// [`Self::start`] with more `berth daemon` flags (`--plugin-timeout 2`).
    pub fn start_with(args: &[&str]) -> Daemon {
        Self::start_prepared(args, |_| {})
    }

    /// [`Self::start_with`], `prepare` having run on the fresh temp dir first (its mode, files
    /// the daemon must find).
    pub fn start_prepared(args: &[&str], prepare: impl FnOnce(&Path)) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e")
            .tempdir()
            .expect("temp dir");
        prepare(dir.path());
        let sock = dir.path().join("berth.sock");
        let mut d = Daemon {
            dir,
            sock,
            child: None,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        d.spawn();
        d.import_busybox();
        d
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    /// Starts the daemon process and waits until it answers.
    pub fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("daemon")
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(&self.args);
        // The shim: BERTH_SHIM_BINARY, else the `berth-shim` built next to `berth` (when it was
        // built), else the daemon's default (`berth shim`).
        let sibling = Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berth-shim");
        match std::env::var_os("BERTH_SHIM_BINARY") {
            Some(shim) => {
                cmd.arg("--shim-binary").arg(shim);
            }
            None if sibling.exists() => {
                cmd.arg("--shim-binary").arg(sibling);
            }
            None => {}
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawning berth daemon"));
        let end = Instant::now() + START_DEADLINE;
        loop {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("daemon exited early ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < end,
                "daemon did not serve in time: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon (shims and containers survive).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the daemon and waits (SIGKILL after the deadline).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + STOP_DEADLINE;
        while Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        cmd
    }

    /// Runs the docker CLI.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("running docker")
    }

    /// Runs the docker CLI with `input` on its stdin.
    pub fn docker_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running docker");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        child.wait_with_output().expect("docker output")
    }

    /// Runs docker and asserts success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({:?}): {}\n--- daemon log ---\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker inspect -f FORMAT NAME`.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name])
    }

    /// curl on the socket: (status, body).
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.arg("-s")
            .arg("--unix-socket")
            .arg(&self.sock)
            .arg("-X")
            .arg(method)
            .arg("-w")
            .arg("\n%{http_code}");
        if let Some(b) = body {
            cmd.arg("-H")
                .arg("Content-Type: application/json")
                .arg("-d")
                .arg(b);
        }
        let out = cmd
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn import_busybox(&self) {
        let root = self.dir.path().join("bb-rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
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
        self.ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().expect("utf-8 path"),
            "busybox:latest",
        ]);
    }

    /// Mount points under the temp root.
    pub fn mounts_under_root(&self) -> Vec<String> {
        let root = self.dir.path().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&root))
            .collect()
    }

    /// Mount points under the temp root that some container left: all but the exec root's own
    /// tmpfs (the daemon keeps it while it runs).
    pub fn leaked_mounts(&self) -> Vec<String> {
        let exec = self.exec_root().display().to_string();
        self.mounts_under_root()
            .into_iter()
            .filter(|m| *m != exec)
            .collect()
    }

    /// PIDs of shims still serving containers of this daemon.
    pub fn shim_pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(self.exec_root().join("s")) else {
            return out;
        };
        for d in dirs.flatten() {
            let pidfile = d.path().join("shim.pid");
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                if kill(Pid::from_raw(pid), None).is_ok() {
                    out.push(pid);
                }
            }
        }
        out
    }
}

/// Whether the cgroup of container `id` still exists in any v1 hierarchy.
pub fn cgroup_exists(id: &str) -> bool {
    ["memory", "pids", "cpu", "devices", "freezer"]
        .iter()
        .any(|c| Path::new(&format!("/sys/fs/cgroup/{c}/berth/{id}")).exists())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && self.sock.exists() {
            // Killed by a test: bring it back to remove its containers cleanly.
            self.spawn_quietly();
        }
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.stop();
        for pid in self.shim_pids() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let mut mounts = self.mounts_under_root();
        mounts.reverse();
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        remove_empty_cgroup_parent();
        remove_network_leftovers(&self.exec_root());
    }
}

/// The tag a daemon on `exec_root` names its default bridge (`bt<tag>`) and nftables table
/// (`berth_<tag>`) with, as `networks::Naming` makes it.
pub fn network_tag(exec_root: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in exec_root.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:06x}", h & 0xff_ffff)
}

/// Deletes what a daemon on `exec_root` may leave on the host's network when it did not stop
/// cleanly (killed by a test, a full disk): its default bridge, its user networks' bridges and
/// its nftables tables, named from the exec root as the daemon names them (`networks::Naming`).
pub fn remove_network_leftovers(exec_root: &Path) {
    let tag = network_tag(exec_root);
    let quiet = |cmd: &mut Command| {
        let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    let links = Command::new("ip").args(["-o", "link", "show"]).output();
    let text = links.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let user_prefix = format!("b{tag}-");
    for line in text.unwrap_or_default().lines() {
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if name == format!("bt{tag}") || name.starts_with(&user_prefix) {
            quiet(Command::new("ip").args(["link", "del", name]));
        }
    }
    for family in ["ip", "ip6"] {
        quiet(Command::new("nft").args(["delete", "table", family, &format!("berth_{tag}")]));
    }
}

/// Removes the daemon's `/berth` parent cgroup in each hierarchy once it is empty. A daemon still
/// running in a parallel test keeps containers in it, and then rmdir fails (ignored): the last
/// test to finish removes it.
fn remove_empty_cgroup_parent() {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let _ = std::fs::remove_dir(h.path().join("berth"));
    }
}

impl Daemon {
    fn spawn_quietly(&mut self) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.spawn()));
        if r.is_err() {
            self.child = None;
        }
    }
}

/// The exit code of an output.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Now, as the fractional unix seconds `docker events --since/--until` take.
pub fn unix_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}
