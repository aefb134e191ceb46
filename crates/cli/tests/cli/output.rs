//! Output compared with the real docker CLI: both talk to the same canned daemon answers, and
//! their stdout, stderr (with "docker" read as "berth") and exit codes must be identical.

use super::berth_exe;
use crate::fake::{empty_reply, json_reply, Fake, Reply};
use std::process::Command;

const CONTAINERS: &str = r#"[
 {"Id":"4f66ad9a0b2e3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5","Names":["/web"],"Image":"busybox","ImageID":"sha256:aa",
  "Command":"sleep 100000000000000000","Created":1600000000,"State":"running","Status":"Up 5 minutes",
  "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":443,"Type":"tcp"}],
  "Labels":{"b":"2","a":"1"},"SizeRw":12,"SizeRootFs":4261000,"HostConfig":{"NetworkMode":"bridge"},
  "NetworkSettings":{"Networks":{"bridge":{}}},"Mounts":[]},
 {"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Names":["/db"],"Image":"sha256:0123456789abcdef0123","ImageID":"sha256:bb",
  "Command":"true","Created":1500000000,"State":"exited","Status":"Exited (3) 2 hours ago","Ports":[],"Labels":{},
  "HostConfig":{"NetworkMode":"none"},"NetworkSettings":{"Networks":{}},"Mounts":[]}
]"#;

const IMAGES: &str = r#"[
 {"Id":"sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809","ParentId":"","RepoTags":["busybox:latest","busybox:1.36"],
  "RepoDigests":["busybox@sha256:feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed"],"Created":1600000000,"Size":4261000,
  "SharedSize":-1,"Labels":null,"Containers":-1},
 {"Id":"sha256:9f8e7d6c5b4a392817069f8e7d6c5b4a392817069f8e7d6c5b4a3928170699","ParentId":"","RepoTags":[],"RepoDigests":[],
  "Created":1500000000,"Size":1234567890,"SharedSize":-1,"Labels":null,"Containers":-1}
]"#;

const HISTORY: &str = r#"[
 {"Id":"sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809","Created":1600000000,"CreatedBy":"/bin/sh -c #(nop)  CMD [\"sh\"]","Tags":["busybox:latest"],"Size":0,"Comment":""},
 {"Id":"<missing>","Created":1599999990,"CreatedBy":"/bin/sh -c #(nop) ADD file:1234567890abcdef1234567890abcdef in / ","Tags":null,"Size":4261000,"Comment":"imported"}
]"#;

const INSPECT: &str = r#"{"Id":"4f66ad9a0b2e","Name":"/web","Config":{"Tty":false,"Env":["A=B","C=D"],"Labels":{"x":"y"}},
 "State":{"Status":"running","Running":true,"ExitCode":0},
 "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}}}"#;

const EVENTS: &str = "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"4f66ad9a0b2e\",\"Attributes\":{\"name\":\"web\",\"image\":\"busybox\"}},\"scope\":\"local\",\"time\":1600000000,\"timeNano\":1600000000123456789,\"status\":\"start\",\"id\":\"4f66ad9a0b2e\",\"from\":\"busybox\"}\n{\"Type\":\"image\",\"Action\":\"tag\",\"Actor\":{\"ID\":\"sha256:1a2b\",\"Attributes\":{\"name\":\"bb:1\"}},\"scope\":\"local\",\"time\":1600000001,\"timeNano\":1600000001000000000}\n";

const DF: &str = r#"{"LayersSize":4261000,"Images":[{"Id":"sha256:1a","Size":4261000,"SharedSize":0,"Containers":1,"RepoTags":["busybox:latest"],"Created":1600000000}],
 "Containers":[{"Id":"4f66","State":"running","SizeRw":12,"Names":["/web"]},{"Id":"0123","State":"exited","SizeRw":100,"Names":["/db"]}],
 "Volumes":[],"BuildCache":[{"ID":"abc123def4567890abc","Type":"regular","Description":"mount / from exec","InUse":true,"Shared":false,
  "Size":2048,"CreatedAt":"2020-09-13T12:26:40Z","LastUsedAt":"2020-09-13T12:26:40Z","UsageCount":2},
  {"ID":"fed987","Type":"source.local","InUse":false,"Shared":true,"Size":100,"CreatedAt":"2020-09-13T12:26:40Z","UsageCount":1}]}"#;

const STATS: &str = r#"{"name":"/web","id":"4f66ad9a0b2e3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5",
 "read":"2020-09-13T12:26:40.5Z","preread":"2020-09-13T12:26:39.5Z","num_procs":0,"storage_stats":{},
 "pids_stats":{"current":3,"limit":100},
 "blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"read","value":4096},{"major":8,"minor":0,"op":"write","value":1500000}],
  "io_serviced_recursive":null,"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,
  "io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},
 "cpu_stats":{"cpu_usage":{"total_usage":300000000,"usage_in_kernelmode":0,"usage_in_usermode":0},"system_cpu_usage":2000000000,"online_cpus":2,
  "throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
 "precpu_stats":{"cpu_usage":{"total_usage":100000000,"usage_in_kernelmode":0,"usage_in_usermode":0},"system_cpu_usage":1000000000,"online_cpus":2,
  "throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
 "memory_stats":{"usage":10485760,"stats":{"inactive_file":4194304},"limit":67108864},
 "networks":{"eth0":{"rx_bytes":1296,"rx_packets":10,"rx_errors":0,"rx_dropped":0,"tx_bytes":746,"tx_packets":8,"tx_errors":0,"tx_dropped":0}}}"#;

// (one runtime: docker lists several in Go's random map order)
const INFO: &str = r#"{"ID":"20f7a4b9","Containers":3,"ContainersRunning":1,"ContainersPaused":1,"ContainersStopped":1,
 "Images":2,"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]],
 "Plugins":{"Volume":["local"],"Network":["bridge","host","null"],"Log":["json-file","local"]},
 "MemoryLimit":true,"Debug":false,"NCPU":2,"MemTotal":25275158528,"Name":"vm","Labels":["zone=a","tier=b"],
 "ExperimentalBuild":false,"ServerVersion":"0.1.0","Runtimes":{"berth":{"path":"berth"}},
 "DefaultRuntime":"berth","Swarm":{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive"},"LiveRestoreEnabled":true,
 "Isolation":"","InitBinary":"berth-init","ContainerdCommit":{"ID":"c1"},"RuncCommit":{"ID":"r1"},"InitCommit":{"ID":"i1"},
 "SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"],"KernelVersion":"6.18","OperatingSystem":"Debian GNU/Linux 12 (bookworm)",
 "OSType":"linux","Architecture":"x86_64","DockerRootDir":"/var/lib/berth","LoggingDriver":"json-file","CgroupDriver":"cgroupfs",
 "CgroupVersion":"1","Warnings":["WARNING: bridge-nf-call-iptables is disabled"]}"#;

fn canned() -> Fake {
    Fake::start(|r| {
        let p = r.path.as_str();
        if p == "/_ping" {
            return Reply {
                bytes: b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                close: false,
            };
        }
        if p.contains("/containers/json") {
            json_reply("200 OK", CONTAINERS)
        } else if p.contains("/images/json") {
            json_reply("200 OK", IMAGES)
        } else if p.contains("/history") {
            json_reply("200 OK", HISTORY)
        } else if p.contains("/containers/web/json") {
            json_reply("200 OK", INSPECT)
        } else if p.contains("/logs") {
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
                    .to_vec();
            let mut body = berth_cli::client::stdcopy::encode(1, b"out line\n");
            body.extend(berth_cli::client::stdcopy::encode(2, b"err line\n"));
            bytes.extend(format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes());
            bytes.extend(body);
            Reply {
                bytes,
                close: false,
            }
        } else if p.contains("/top") {
            json_reply(
                "200 OK",
                r#"{"Titles":["UID","PID","PPID","CMD"],"Processes":[["root","4242","4200","sleep 100"]]}"#,
            )
        } else if p.contains("/events") {
            json_reply("200 OK", EVENTS)
        } else if p.ends_with("/version") {
            json_reply(
                "200 OK",
                r#"{"Platform":{"Name":"Berth Engine"},"Components":[{"Name":"Engine","Version":"0.1.0","Details":{"ApiVersion":"1.50","Arch":"amd64","BuildTime":"2026-11-25T00:00:00Z","Experimental":"false","GitCommit":"abc1234","GoVersion":"rust","KernelVersion":"6.18","MinAPIVersion":"1.24","Os":"linux"}},{"Name":"berth-runtime","Version":"0.1.0","Details":{"GitCommit":"abc1234"}}],"Version":"0.1.0","ApiVersion":"1.50","MinAPIVersion":"1.24","GitCommit":"abc1234","GoVersion":"rust","Os":"linux","Arch":"amd64","KernelVersion":"6.18","BuildTime":"2026-11-25T00:00:00Z"}"#,
            )
        } else if p.ends_with("/info") {
            json_reply("200 OK", INFO)
        } else if p.contains("/system/df") {
            json_reply("200 OK", DF)
        } else if p.contains("/stats") {
            // One object per line, as a daemon streams them.
            json_reply("200 OK", &format!("{}\n", STATS.replace('\n', "")))
        } else if p.contains("/containers/prune") {
            json_reply(
                "200 OK",
                r#"{"ContainersDeleted":["0123456789abcdef"],"SpaceReclaimed":1024}"#,
            )
        } else if p.contains("/images/prune") {
            json_reply(
                "200 OK",
                r#"{"ImagesDeleted":[{"Untagged":"busybox:latest"},{"Deleted":"sha256:1a2b"}],"SpaceReclaimed":4261000}"#,
            )
        } else if p.contains("/networks/prune") {
            json_reply("200 OK", r#"{"NetworksDeleted":["n1"]}"#)
        } else if p.contains("/volumes/prune") {
            json_reply(
                "200 OK",
                r#"{"VolumesDeleted":["v1"],"SpaceReclaimed":2048}"#,
            )
        } else if p.contains("/build/prune") {
            json_reply("200 OK", r#"{"CachesDeleted":null,"SpaceReclaimed":0}"#)
        } else if p.contains("/images/busybox/tag") || p.contains("/start") {
            empty_reply("204 No Content")
        } else if r.method == "DELETE" && p.contains("/images/") {
            json_reply(
                "200 OK",
                r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:1a2b"}]"#,
            )
        } else if p.contains("/nope") {
            json_reply("404 Not Found", r#"{"message":"No such container: nope"}"#)
        } else {
            json_reply(
                "409 Conflict",
                r#"{"message":"conflict: unable to remove"}"#,
            )
        }
    })
}

fn run(program: &std::path::Path, host: &str, args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(program)
        .env("DOCKER_HOST", host)
        .env("BERTH_HOST", host)
        .env("TZ", "UTC")
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// `berth <command>` and `docker <command>` against the canned daemon: the Server sections (the
/// Client sections name each client's own version), stderr and exit codes are the same.
fn server_section_matches(command: &str) {
    if !super::need(
        super::docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    let f = canned();
    let server = |out: String| {
        out.split_once("\nServer:")
            .map(|(_, s)| s.to_string())
            .unwrap_or_default()
    };
    let (dout, derr, dcode) = run(std::path::Path::new("docker"), &f.host(), &[command]);
    let (bout, berr, bcode) = run(&berth_exe(), &f.host(), &[command]);
    assert_eq!(server(bout), server(dout), "stdout of {command}");
    assert_eq!(berr, derr, "stderr of {command}");
    assert_eq!(bcode, dcode, "exit code of {command}");
}

#[test]
fn version_server_section_matches_the_docker_cli() {
    server_section_matches("version");
}

#[test]
fn info_server_section_matches_the_docker_cli() {
    server_section_matches("info");
}

#[test]
fn output_matches_the_docker_cli() {
    if !super::need(
        super::docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    let f = canned();
    let docker = std::path::PathBuf::from("docker");
    for args in [
        &["ps"][..],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-a", "-s"],
        &["ps", "-a", "-q"],
        &["ps", "--format", "{{.Names}}\\t{{.Status}}\\t{{.Labels}}"],
        &["ps", "--format", "table {{.ID}}\\t{{.Ports}}\\t{{.State}}"],
        // (one repository per image: docker orders several repositories of one image randomly)
        &["images"],
        &["images", "--digests"],
        &["images", "-q", "--no-trunc"],
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"],
        &["history", "busybox"],
        &["history", "--no-trunc", "-q", "busybox"],
        &["inspect", "-f", "{{.Name}} {{json .Config.Env}} {{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}} {{.State.Running}}", "web"],
        &["container", "inspect", "web"],
        &["port", "web"],
        &["top", "web"],
        &["rmi", "busybox"],
        &["rm", "nope"],
        &["rm", "nope", "other"],
        &["events", "--since", "1600000000", "--until", "1600000002"],
        &["events", "--since", "1600000000", "--until", "1600000002", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"],
        &["system", "df"],
        &["system", "df", "-v"],
        &["stats", "--no-stream", "web"],
        &["stats", "--no-stream", "--no-trunc", "--format", "{{.Name}} {{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}", "web"],
        &["run", "--nope", "busybox"],
        &["rm"],
        &["tag", "a"],
        &["ps", "extra"],
        &["ps", "--format", "json"],
        &["ps", "-a", "--format", "{{json .}}"],
        &["images", "--format", "json"],
        &["history", "-H=false", "busybox"],
        &["history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "busybox"],
        &["inspect", "nope"],
        &["inspect", "--type", "image", "nope"],
        &["image", "inspect", "-f", "{{.Id}}", "nope"],
        &["images", "--format", "table {{.Repository}}\t{{.Size}}\t{{.CreatedAt}}"],
        &["ps", "--format", "{{.Command}} {{.CreatedAt}} {{.Size}} {{.Networks}} {{.Mounts}} {{.RunningFor}}"],
        &["logs", "web"],
        &["run", "-it", "busybox"],
        &["image", "prune"],
        &["image", "prune", "-a"],
        &["container", "prune"],
        &["system", "prune"],
        &["system", "prune", "-a", "--volumes"],
        &["image", "prune", "-f"],
        &["container", "prune", "-f"],
        &["system", "prune", "-f"],
        &["system", "prune", "-f", "-a", "--volumes"],
        &["exec", "-it", "web", "sh"],
        &["logs", "-t", "--tail", "1", "web"],
    ] {
        let (dout, derr, dcode) = run(&docker, &f.host(), args);
        let (bout, berr, bcode) = run(&berth_exe(), &f.host(), args);
        assert_eq!(bout, dout, "stdout of {args:?}");
        assert_eq!(berr, derr.replace("docker", "berth"), "stderr of {args:?}");
        assert_eq!(bcode, dcode, "exit code of {args:?}");
    }
}

/// `run -i` with piped stdin: the data reaches the daemon over the hijacked socket, the write side
/// is half-closed at EOF, and the demultiplexed answer comes back on stdout; the exit code is
/// the container's.
#[test]
fn piped_stdin_is_forwarded_and_half_closed() {
    if !super::need(berth_exe().exists(), "berth example binary") {
        return;
    }
    let f = Fake::start_run(
        "c1",
        7,
        |_| None,
        |stream| {
            use std::io::{Read, Write};
            let head = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
            stream.write_all(head).unwrap();
            let mut input = Vec::new();
            stream.read_to_end(&mut input).unwrap(); // ends at the client's half-close
            let upper = String::from_utf8_lossy(&input).to_uppercase();
            stream
                .write_all(&berth_cli::client::stdcopy::encode(1, upper.as_bytes()))
                .unwrap();
        },
    );
    let mut child = Command::new(berth_exe())
        .args(["-H", &f.host(), "run", "-i", "busybox", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\nworld\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\nWORLD\n");
    assert_eq!(out.status.code(), Some(7));
    let attach = f
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/attach"))
        .unwrap();
    assert!(attach.path.contains("stdin=1"), "{}", attach.path);
    let create = f
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/create"))
        .unwrap()
        .json();
    assert_eq!(
        (
            create["OpenStdin"].as_bool(),
            create["StdinOnce"].as_bool(),
            create["AttachStdin"].as_bool()
        ),
        (Some(true), Some(true), Some(true))
    );
}

/// `run -it` under a real pseudo-terminal (util-linux `script`): the create body carries the
/// terminal size, keystrokes travel raw, the TTY's output is copied undemultiplexed, a resize is
/// sent after start, and the terminal settings come back afterwards.
#[test]
fn interactive_tty_session_through_a_pty() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !super::need(
        berth_exe().exists() && has_script,
        "berth example binary or util-linux script",
    ) {
        return;
    }
    let f = Fake::start_run(
        "t1",
        0,
        |_| Some(empty_reply("200 OK")),
        |stream| {
            use std::io::{Read, Write};
            let head = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
            stream.write_all(head).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 256];
            while !String::from_utf8_lossy(&seen).contains("exit") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!("typed:{}\r\n", String::from_utf8_lossy(&seen).trim());
            stream.write_all(reply.as_bytes()).unwrap();
        },
    );
    let cmd = format!(
        "stty rows 40 cols 120; {} -H {} run -it --rm busybox sh; echo status=$?",
        berth_exe().display(),
        f.host()
    );
    let mut child = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Typed before raw mode is set, the line still arrives whole through the line discipline.
        stdin.write_all(b"exit\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("typed:exit"), "{text}");
    assert!(text.contains("status=0"), "{text}");
    let reqs = f.requests();
    let create = reqs
        .iter()
        .find(|r| r.path.contains("/create"))
        .unwrap()
        .json();
    assert_eq!(create["Tty"], true);
    assert_eq!(
        create["HostConfig"]["ConsoleSize"],
        serde_json::json!([40, 120])
    );
    assert!(
        reqs.iter()
            .any(|r| r.path.contains("/containers/t1/resize?h=40&w=120")),
        "{:?}",
        super::calls(&reqs)
    );
}

/// Signals sent to an attached, non-TTY `run` are forwarded to the container (`--sig-proxy`).
#[test]
fn signals_are_proxied_to_the_container() {
    if !super::need(berth_exe().exists(), "berth example binary") {
        return;
    }
    let killed = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let k2 = killed.clone();
    let k3 = killed.clone();
    let f = Fake::start_run(
        "s1",
        143,
        move |r| {
            r.path.contains("/kill").then(|| {
                *k2.0.lock().unwrap() = true;
                k2.1.notify_all();
                empty_reply("204 No Content")
            })
        },
        move |stream| {
            use std::io::Write;
            stream
                .write_all(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                .unwrap();
            // The stream stays open until the container is "killed" (bounded by a deadline).
            let (lock, cv) = &*k3;
            let guard = lock.lock().unwrap();
            let _ = cv
                .wait_timeout_while(guard, std::time::Duration::from_secs(20), |k| !*k)
                .unwrap();
        },
    );
    let child = Command::new(berth_exe())
        .args(["-H", &f.host(), "run", "busybox", "sleep", "100"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !f.requests().iter().any(|r| r.path.ends_with("/start")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the CLI never started the container"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The proxy's handlers are installed before the start request is sent.
    while !*killed.0.lock().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "no kill request was forwarded"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(f
        .requests()
        .iter()
        .any(|r| r.path == "/v1.50/containers/s1/kill?signal=SIGTERM"));
}
