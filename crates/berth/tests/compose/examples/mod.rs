//! The repository's example projects (`examples/compose/`) brought up, checked, changed,
//! re-upped and taken down with `berth compose` and with docker-compose 1.29 against a berth
//! daemon: [`counter`] (web + db built from Dockerfiles, a healthcheck-gated dependency, a named
//! volume, two networks with isolation, a secret, bad input) and [`workers`] (a scaled worker
//! found by its name through the embedded DNS). Each test copies the example into its own
//! directory and gives it a free host port there, so the repository is only read.

mod counter;
mod workers;

use crate::harness::{self, Daemon};
use crate::Project;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `examples/compose/<name>` in the repository.
pub fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/compose")
        .join(name)
}

/// A project made from the example `name`: its files copied into the project's directory.
pub fn example<'d>(d: &'d Daemon, name: &str, tag: &str) -> Project<'d> {
    let p = Project::new(d, tag, "");
    copy_example(name, &p.path());
    p
}

/// Copies the example `name` (modes kept: its scripts are executable) into `to`.
pub fn copy_example(name: &str, to: &Path) {
    let from = example_dir(name).join(".");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        st.success(),
        "copying {} to {}",
        from.display(),
        to.display()
    );
}

/// Sets `key=value` in the project's `.env` (replacing the line, or adding one).
pub fn set_env(dir: &Path, key: &str, value: &str) {
    let path = dir.join(".env");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{key}=")))
        .map(String::from)
        .collect();
    lines.push(format!("{key}={value}"));
    std::fs::write(&path, lines.join("\n") + "\n").expect(".env");
}

/// `GET path` on 127.0.0.1:`port`: the body of a 200 answer, None otherwise.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status.contains(" 200 ").then(|| body.to_string())
}

/// The network names (sorted) of the engine's networks whose name starts with the project's.
pub fn project_networks(d: &Daemon, project: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .filter(|n| n.starts_with(project))
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// The engine's volumes whose name starts with the project's.
pub fn project_volumes(d: &Daemon, project: &str) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .filter(|n| n.starts_with(project))
        .map(String::from)
        .collect()
}

/// The address of container `name` on network `net`.
pub fn address(d: &Daemon, name: &str, net: &str) -> String {
    d.inspect(
        name,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    )
}

/// The answer addresses of `nslookup NAME` run in `container` (empty when it fails).
pub fn lookup(d: &Daemon, container: &str, name: &str) -> Vec<String> {
    let out = d.docker(&["exec", container, "nslookup", name]);
    let mut found = false;
    let mut v = Vec::new();
    for l in harness::stdout(&out).lines() {
        if l.starts_with("Name:") {
            found = true;
        } else if let (true, Some(a)) = (found, l.strip_prefix("Address:")) {
            v.push(a.trim().to_string());
        }
    }
    v.sort();
    v
}

/// docker-compose 1.29 (Debian's) in the project's directory against the project's daemon.
pub fn docker_compose(p: &Project, args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-p")
        .arg(&p.name)
        .args(args)
        .current_dir(p.path())
        .env("DOCKER_HOST", format!("unix://{}", p.daemon.sock.display()))
        .env("DOCKER_CONFIG", p.path().join(".docker"))
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .stdin(Stdio::null());
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run docker-compose ({e}): run scripts/install-deps.sh"),
    }
}

/// docker-compose 1.29, asserting success; returns stdout and stderr together.
pub fn dc_ok(p: &Project, args: &[&str]) -> String {
    let out = docker_compose(p, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?} failed ({:?}):\n{}{}\n--- daemon log ---\n{}",
        out.status.code(),
        harness::stdout(&out),
        harness::stderr(&out),
        p.daemon.log()
    );
    harness::stdout(&out) + &harness::stderr(&out)
}
