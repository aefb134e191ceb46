//! Berth installed as a host's engine (issue #16): `scripts/install.sh` into a temp prefix and a
//! temp sysconfdir, the sysvinit script started for real, a container run by the docker CLI
//! through the `--docker-socket` path with no `-H`, `SIGHUP` reloading changed settings, and an
//! uninstall that leaves the data root and nothing else; the units checked by
//! `systemd-analyze verify`, the completions loaded by bash, every man page rendered by
//! `man -l`. Root tests (`BERTH_ROOT_TESTS=1`).
//!
//! The host's `/etc/berth`, `/usr/local` and `/var/run/docker.sock` are never touched: the
//! docker-socket key names a socket in the temp root, and the docker CLI finds it through
//! `DOCKER_HOST` (its only way to a path other than `/var/run/docker.sock` without `-H`).

mod activation;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The root-test gate's run-time half. Every test that calls it carries
/// `#[cfg_attr(not(root_tests), ignore = ...)]` (crates/build-support/root_tests.rs), so it
/// runs only when built with `BERTH_ROOT_TESTS=1`, and then must run as root.
fn root_tests() -> bool {
    if !cfg!(root_tests) {
        panic!("a root test without #[cfg_attr(not(root_tests), ignore = ...)]");
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "BERTH_ROOT_TESTS=1 but not running as root"
    );
    true
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory of the built `berth`, with `berth-shim` and `berth-init` beside it.
fn built() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_berth"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    for b in ["berth-shim", "berth-init"] {
        assert!(
            dir.join(b).is_file(),
            "{b} is not built in {}: cargo build -p berth-shim -p berth-init",
            dir.display()
        );
    }
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temp root holding the prefix, sysconfdir, data and exec roots; on drop stops a daemon
/// still running (by the init script's pid file), unmounts what it left and removes it all.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("berth-inst")
            .tempdir()
            .expect("temp dir");
        Host { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn install(&self, extra: &[&str]) -> Output {
        let mut cmd = Command::new(repo().join("scripts/install.sh"));
        cmd.arg("--from")
            .arg(built())
            .arg("--prefix")
            .arg(self.p("usr"))
            .arg("--sysconfdir")
            .arg(self.p("etc"))
            .args(extra);
        run(&mut cmd)
    }
    fn init(&self, verb: &str) -> Output {
        let mut cmd = Command::new(self.p("etc/init.d/berth"));
        cmd.arg(verb);
        run(&mut cmd)
    }
    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", self.p("docker-config"))
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.p("docker.sock").display()),
            );
        run(&mut cmd)
    }
    fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.p("berth-init.pid")).ok()?;
        text.trim().parse().ok()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let root = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in under {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn busybox_tar(host: &Host) -> PathBuf {
    let root = host.p("bb-rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "echo", "cat", "ps"] {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let tar = host.p("busybox.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn install_start_run_reload_uninstall() {
    if !root_tests() {
        return;
    }
    let host = Host::new();
    // The test's own daemon.json, there before the install: the install keeps it.
    let config = host.p("etc/berth/daemon.json");
    std::fs::create_dir_all(host.p("etc/berth")).expect("etc");
    let write_config = |labels: &str, mirrors: &str| {
        let json = serde_json::json!({
            "data-root": host.p("data"),
            "exec-root": host.p("exec"),
            "hosts": [format!("unix://{}", host.p("api.sock").display())],
            "docker-socket": host.p("docker.sock"),
            "labels": [labels],
            "registry-mirrors": [mirrors],
        });
        std::fs::write(&config, json.to_string()).expect("daemon.json");
    };
    write_config("stage=one", "https://one.example");
    let ours = std::fs::read(&config).expect("config");
    std::fs::create_dir_all(host.p("etc/default")).expect("default dir");
    let defaults = format!(
        "BERTH_SOCKET={}\nBERTH_PIDFILE={}\nBERTH_LOGFILE={}\n",
        host.p("api.sock").display(),
        host.p("berth-init.pid").display(),
        host.p("berth.log").display()
    );
    std::fs::write(host.p("etc/default/berth"), &defaults).expect("defaults");

    host.install(&["--service", "all"]);
    assert_eq!(
        std::fs::read(&config).ok(),
        Some(ours),
        "daemon.json was replaced"
    );
    for f in [
        "bin/berth",
        "bin/berth-shim",
        "bin/berth-init",
        "share/man/man1/berth-run.1",
    ] {
        assert!(host.p("usr").join(f).is_file(), "{f} not installed");
    }

    host.init("start");
    let pid = host.daemon_pid().expect("the init script's pid file");
    let berth = host.p("usr/bin/berth");
    let api = format!("unix://{}", host.p("api.sock").display());
    run(Command::new(&berth)
        .args(["-H", &api, "import", "-c", "CMD [\"sh\"]"])
        .arg(busybox_tar(&host))
        .arg("busybox:latest"));
    // The docker CLI with no -H; berth-init is found beside the installed daemon.
    let out = host.docker(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]);
    let cmdline = String::from_utf8_lossy(&out.stdout).replace('\0', " ");
    assert!(
        cmdline.starts_with("/sbin/docker-init -- cat"),
        "{cmdline:?}"
    );

    // SIGHUP (the init script's reload) reloads labels and the mirror list.
    write_config("stage=two", "https://two.example");
    host.init("reload");
    wait_until(
        "the reloaded labels in docker info",
        Duration::from_secs(20),
        || {
            let out = host.docker(&["info", "--format", "{{json .Labels}}"]);
            String::from_utf8_lossy(&out.stdout).contains("stage=two")
        },
    );
    let log = std::fs::read_to_string(host.p("berth.log")).unwrap_or_default();
    assert!(
        log.contains("reloaded configuration") && log.contains("two.example"),
        "{log}"
    );
    assert_eq!(host.daemon_pid(), Some(pid), "a reload keeps the daemon");

    host.init("stop");
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err());
    assert!(
        !host.p("docker.sock").exists(),
        "the docker socket outlived the daemon"
    );

    run(Command::new(repo().join("scripts/install.sh"))
        .arg("--uninstall")
        .arg("--prefix")
        .arg(host.p("usr"))
        .arg("--sysconfdir")
        .arg(host.p("etc")));
    assert!(
        !host.p("usr").exists(),
        "left under the prefix: {:?}",
        files_under(&host.p("usr"))
    );
    assert_eq!(
        files_under(&host.p("etc")),
        ["berth/daemon.json", "default/berth"],
        "the uninstall left more, or less, than the test's own files"
    );
    assert!(
        host.p("data/image").is_dir(),
        "the data root is gone: {:?}",
        files_under(&host.p("data"))
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_fresh_install_writes_daemon_json_and_its_uninstall_removes_everything() {
    if !root_tests() {
        return;
    }
    let host = Host::new();
    host.install(&["--service", "all"]);
    let config = host.p("etc/berth/daemon.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("daemon.json")).expect("json");
    assert_eq!(json["data-root"], "/var/lib/berth");
    // The daemon knows every key of the file it was given (the flag then conflicts with the
    // file's data-root, which is all the check may say).
    let berth = host.p("usr/bin/berth");
    let check = Command::new(&berth)
        .args(["daemon", "--config-file"])
        .arg(&config)
        .args(["--check", "--data-root"])
        .arg(host.p("data"))
        .output()
        .expect("berth daemon --check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        !stderr.contains("match any configuration option"),
        "{stderr}"
    );

    // Completions load in bash; every man page renders.
    let bash = host.p("usr/share/bash-completion/completions/berth");
    run(Command::new("bash").arg("-n").arg(&bash));
    let out = run(Command::new("bash")
        .arg("-c")
        .arg("source \"$0\" && complete -p berth")
        .arg(&bash));
    assert!(String::from_utf8_lossy(&out.stdout).contains("-F _berth berth"));
    let pages = files_under(&host.p("usr/share/man/man1"));
    assert!(pages.len() > 40, "{pages:?}");
    for page in &pages {
        let out = run(Command::new("man")
            .arg("-l")
            .arg(host.p("usr/share/man/man1").join(page))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80"));
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("NAME"),
            "{page}"
        );
    }

    // The units, as installed, pass systemd-analyze verify where systemd is installed.
    let units = host.p("etc/systemd/system");
    match Command::new("systemd-analyze").arg("--version").output() {
        Err(_) => eprintln!(
            "systemd-analyze is not installed (Debian package systemd): units not verified"
        ),
        Ok(_) => {
            // Documentation=man:berth(1) is checked too: against the installed pages.
            let out = Command::new("systemd-analyze")
                .env("MANPATH", host.p("usr/share/man"))
                .arg("verify")
                .arg(units.join("berth.socket"))
                .arg(units.join("berth.service"))
                .output()
                .expect("systemd-analyze verify");
            let text = String::from_utf8_lossy(&out.stderr);
            let ours: Vec<&str> = text.lines().filter(|l| l.contains("berth")).collect();
            assert!(out.status.success() && ours.is_empty(), "{text}");
        }
    }

    run(Command::new(repo().join("scripts/install.sh"))
        .arg("--uninstall")
        .arg("--prefix")
        .arg(host.p("usr"))
        .arg("--sysconfdir")
        .arg(host.p("etc")));
    assert!(!host.p("usr").exists(), "{:?}", files_under(&host.p("usr")));
    assert!(!host.p("etc").exists(), "{:?}", files_under(&host.p("etc")));
}
