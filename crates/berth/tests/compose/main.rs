//! End-to-end tests of `berth compose` against a real `berth daemon` (opt in with
//! `BERTH_ROOT_TESTS=1`; they fail, not skip, without root). Each test runs its own daemon on its
//! own temp roots (the docker suite's harness, which imports a busybox image) and a project with a
//! unique name in its own directory; [`Project`]'s drop runs `compose down` before the daemon's
//! drop removes whatever is left and stops the daemon by PID.

#[path = "../docker/harness.rs"]
#[allow(dead_code)]
mod harness;

mod commands;
mod compat;
mod dockerd;
mod examples;
mod lifecycle;
mod registry;
mod secrets;
mod volume_config;
mod volumes;

use harness::Daemon;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a project may take to reach a state the test waits for.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A compose project in its own directory, taken down on drop.
pub struct Project<'d> {
    pub daemon: &'d Daemon,
    pub dir: tempfile::TempDir,
    pub name: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl<'d> Project<'d> {
    /// Writes `compose.yaml` into a fresh directory; the project name is unique per test.
    pub fn new(daemon: &'d Daemon, tag: &str, yaml: &str) -> Project<'d> {
        let dir = tempfile::Builder::new()
            .prefix("berth-compose")
            .tempdir()
            .expect("project dir");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("compose.yaml");
        let name = format!(
            "{tag}{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Project { daemon, dir, name }
    }

    /// Replaces `compose.yaml`.
    pub fn write(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), yaml).expect("compose.yaml");
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `berth -H <sock> compose -p <name> ARGS` in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("-H")
            .arg(format!("unix://{}", self.daemon.sock.display()))
            .arg("compose")
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST")
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running berth compose")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth compose {args:?} failed ({:?}):\n{}{}\n--- daemon log ---\n{}",
            out.status.code(),
            harness::stdout(&out),
            harness::stderr(&out),
            self.daemon.log()
        );
        harness::stdout(&out)
    }

    /// The ids of the project's containers of `service` (all states), by container name.
    pub fn ids(&self, service: &str) -> Vec<(String, String)> {
        let filter_p = format!("label=com.docker.compose.project={}", self.name);
        let filter_s = format!("label=com.docker.compose.service={service}");
        let out = self.daemon.ok(&[
            "ps",
            "-a",
            "--filter",
            &filter_p,
            "--filter",
            &filter_s,
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

    /// Every container of the project, any state.
    pub fn all_containers(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        self.daemon
            .ok(&["ps", "-aq", "--filter", &filter])
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// `logs` of a service until `needle` shows, or panics at the deadline.
    pub fn wait_log(&self, service: &str, needle: &str) {
        harness::eventually(DEADLINE, &format!("{needle:?} in {service}'s log"), || {
            harness::stdout(&self.run(&["logs", service])).contains(needle)
        });
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("local addr").port()
}

/// The two-service project: a busybox httpd `web` (port published on `port`) and a `client` on
/// the project network fetching from it by service name. `marker` goes into web's environment.
pub fn two_services(port: u16, marker: &str) -> String {
    format!(
        r#"services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -v -p 80 -h /www"]
    ports:
      - "{port}:80"
    environment:
      MARKER: {marker}
  client:
    image: busybox
    depends_on: [web]
    environment:
      TARGET: http://web/
    command: ["sh", "-c", "while true; do wget -q -O - $$TARGET && echo fetched; sleep 0.5; done"]
"#
    )
}
