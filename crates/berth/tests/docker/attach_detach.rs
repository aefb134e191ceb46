//! Detach keys and attach endings: `docker run -it` / `docker attach` detached with ctrl-p ctrl-q
//! or `--detach-keys` through a real pty (`script`), the daemon's own detach-key watching on the
//! hijacked attach and exec streams (`detachKeys`), and a container removed while a client is
//! attached (the client ends with 137, the daemon stays healthy).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{code, eventually, opted_in, stderr, Daemon};

const DEADLINE: Duration = Duration::from_secs(20);

/// A docker CLI command running on a pty (through `script`), its output collected.
struct PtyClient {
    child: Child,
    input: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
}

impl PtyClient {
    fn spawn(d: &Daemon, args: &str) -> PtyClient {
        let line = format!("docker -H unix://{} {args}", d.sock.display());
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning script");
        let input = child.stdin.take().expect("stdin");
        let mut out = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        PtyClient {
            child,
            input,
            output,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).to_string()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).expect("writing to the pty");
        self.input.flush().expect("flush");
    }

    fn wait_for(&self, needle: &str) {
        let end = std::time::Instant::now() + DEADLINE;
        while std::time::Instant::now() < end {
            if self.text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {needle:?} in the client's output: {:?}", self.text());
    }

    fn exit_code(&mut self) -> i32 {
        let end = std::time::Instant::now() + DEADLINE;
        while std::time::Instant::now() < end {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the client did not exit: {:?}", self.text());
    }
}

impl Drop for PtyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running(d: &Daemon, name: &str) -> bool {
    d.inspect(name, "{{.State.Running}}") == "true"
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn cli_detach_keeps_the_container_running_and_typable() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let mut run = PtyClient::spawn(&d, "run -it --name dt-run busybox sh");
    run.send(b"echo mark-$((6*7))\r");
    run.wait_for("mark-42");
    run.send(b"\x10\x11");
    assert_eq!(run.exit_code(), 0, "{}", run.text());
    assert!(running(&d, "dt-run"));

    // Stdin still reaches the shell after a detach; custom keys end this attach.
    let mut att = PtyClient::spawn(&d, "attach --detach-keys ctrl-x,y dt-run");
    eventually(DEADLINE, "the attach session", || {
        att.send(b"echo again-$((6*8))\r");
        std::thread::sleep(Duration::from_millis(200));
        att.text().contains("again-48")
    });
    att.send(b"\x18y");
    att.exit_code();
    assert!(running(&d, "dt-run"));
    d.ok(&["rm", "-f", "dt-run"]);
}

/// Opens a hijacked session with a raw HTTP request; returns the stream after the 101 headers.
fn hijack(d: &Daemon, path: &str, body: &str) -> UnixStream {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("reading headers"), 1, "{head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s
}

/// Reads until the daemon closes the stream (panics after the deadline).
fn read_to_close(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the daemon should end the session");
    out
}

/// Reads until `needle` came by.
fn read_until(s: &mut UnixStream, needle: &str) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = s.read(&mut buf).expect("session output");
        assert!(n > 0, "the session ended before {needle:?}: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn daemon_watches_detach_keys_on_attach_and_exec() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["run", "-dit", "--name", "dt-api", "busybox", "sh"]);

    let (status, body) = d.curl(
        "POST",
        "/containers/dt-api/attach?stream=1&stdin=1&detachKeys=ctrl-1",
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Invalid detach keys"), "{body}");

    let mut s = hijack(
        &d,
        "/containers/dt-api/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x,y",
        "",
    );
    s.write_all(b"echo api-$((5*5))\r").expect("stdin");
    read_until(&mut s, "api-25");
    s.write_all(b"\x18y").expect("keys");
    read_to_close(&mut s);
    assert!(running(&d, "dt-api"));

    // The default keys on an exec's tty: the exec process keeps running.
    let (status, body) = d.curl(
        "POST",
        "/containers/dt-api/exec",
        Some(r#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true}"#),
    );
    assert_eq!(status, 201, "{body}");
    let exec_id = body.split('"').nth(3).expect("exec id").to_string();
    let mut s = hijack(&d, &format!("/exec/{exec_id}/start"), r#"{"Tty":true}"#);
    s.write_all(b"echo ex-$((4*4))\r").expect("stdin");
    read_until(&mut s, "ex-16");
    s.write_all(b"\x10\x11").expect("keys");
    read_to_close(&mut s);
    let (_, body) = d.curl("GET", &format!("/exec/{exec_id}/json"), None);
    assert!(body.contains(r#""Running":true"#), "{body}");
    d.ok(&["rm", "-f", "dt-api"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn removing_an_attached_container_ends_the_client_with_137() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let mut client = d
        .docker_cmd(&["run", "-i", "--name", "dt-gone", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker run");
    let _stdin = client.stdin.take();
    eventually(DEADLINE, "dt-gone running", || {
        d.docker(&["inspect", "-f", "{{.State.Running}}", "dt-gone"])
            .stdout
            .starts_with(b"true")
    });
    d.ok(&["rm", "-f", "dt-gone"]);
    let out = client.wait_with_output().expect("client output");
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    assert!(d.ok(&["ps", "-aq"]).is_empty());
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
}
