//! Isolation observed from inside a busybox container: PID 1, hostname (also in a uts namespace
//! joined by path), its own mount table,
//! loopback-only network, host processes invisible, no leaked descriptors, user namespace mapping.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

/// Runs `script` with `sh -c` in a fresh container and returns its stdout; asserts exit 0.
fn sh(name: &str, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut b = Bundle::busybox(name, &["sh", "-c", script]);
    edit(&mut b.config);
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{script}: {}", stderr(&out));
    stdout(&out)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_process_is_pid_1() {
    root_test!();
    assert_eq!(sh("pid1", "echo $$", |_| {}), "1\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn hostname_and_domainname_are_set() {
    root_test!();
    let out = sh("uts", "hostname; cat /proc/sys/kernel/domainname", |c| {
        c["hostname"] = "bt-host".into();
        c["domainname"] = "bt.example".into();
    });
    assert_eq!(out, "bt-host\nbt.example\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn sysctls_are_written_although_proc_sys_is_read_only() {
    root_test!();
    let out = sh(
        "sysctl",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax; echo 0 > /proc/sys/net/ipv4/ip_forward || echo refused",
        |c| {
            c["linux"]["sysctl"] = serde_json::json!({
                "net.ipv4.ip_forward": "1",
                "kernel.msgmax": "12345"
            });
        },
    );
    assert_eq!(out, "1\n12345\nrefused\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn hostname_is_set_in_a_uts_namespace_joined_by_path() {
    root_test!();
    let holder = Bundle::busybox("utsholder", &["sleep", "100"]);
    let out = holder.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = holder.state().expect("state")["pid"].as_i64().unwrap();
    let uts = format!("/proc/{pid}/ns/uts");
    let mut b = Bundle::busybox("utsjoin", &["hostname"]);
    b.config["hostname"] = "bt-joined".into();
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = uts.clone().into();
        }
    }
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bt-joined\n");
    // The holder's namespace is the one that was renamed.
    let out = holder
        .runtime(&["exec", &holder.id, "--", "hostname"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "bt-joined\n", "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn own_mount_table() {
    root_test!();
    let out = sh("mounts", "cat /proc/self/mountinfo", |_| {});
    let points: Vec<&str> = out.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert!(points.contains(&"/") && points.contains(&"/proc"), "{out}");
    for p in &points {
        assert!(
            *p == "/" || ["/proc", "/dev", "/sys"].iter().any(|d| p.starts_with(d)),
            "host mount {p} visible in the container:\n{out}"
        );
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn network_is_loopback_only_and_up() {
    root_test!();
    // A network namespace the runtime creates has lo up (as crun does), with 127.0.0.1.
    let out = sh("net", "ip -o link; ip -o addr show lo", |_| {});
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains(": lo:") && lines[0].contains("UP"),
        "{out}"
    );
    assert!(
        !lines.iter().skip(1).any(|l| l.contains("link/ether")),
        "only lo: {out}"
    );
    assert!(out.contains("inet 127.0.0.1/8"), "{out}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn host_processes_are_invisible() {
    root_test!();
    // sh is PID 1 and runs ls as its child (or execs it): nothing else exists.
    let out = sh("procs", "ls -d /proc/[0-9]*; true", |_| {});
    assert!(out.lines().count() <= 2, "{out}");
    assert!(out.lines().any(|l| l == "/proc/1"), "{out}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn no_descriptor_leaks_into_the_container() {
    root_test!();
    let b = Bundle::busybox("fds", &["ls", "/proc/self/fd"]);
    let mut cmd = b.runtime(&["run", "--bundle"]);
    cmd.arg(b.path()).arg(&b.id).stdin(Stdio::null());
    // SAFETY: between fork and exec, only async-signal-safe dup2 calls: fds 7 and 9 are inherited
    // by `berth runtime` (not close-on-exec), as a careless caller would leave them.
    unsafe {
        cmd.pre_exec(|| {
            libc::dup2(2, 7);
            libc::dup2(1, 9);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // 0, 1, 2 and the directory ls is reading.
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn user_namespace_maps_root_to_an_unprivileged_uid() {
    root_test!();
    let mut b = Bundle::busybox("userns", &["sleep", "100"]);
    b.open_up();
    let map = serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    b.write_config();
    let out = b.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("200000"),
        "{uid_line}"
    );
    let inside = b.runtime(&["exec", &b.id, "id", "-u"]).output().unwrap();
    assert!(inside.status.success(), "{}", stderr(&inside));
    assert_eq!(stdout(&inside), "0\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn runtime_binary_is_unreachable_through_proc() {
    root_test!();
    // While created, PID 1 is still the runtime (parked on the exec fifo): a process of the
    // container must not be able to open its executable.
    let b = Bundle::busybox("procexe", &["sleep", "100"]);
    b.create(&[]);
    let out = b
        .runtime(&["exec", &b.id, "--", "sh", "-c"])
        .arg("cat /proc/1/exe > /dev/null && echo opened-runtime-binary; readlink /proc/1/exe || echo denied")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("opened-runtime-binary"), "{text}");
    assert!(text.contains("denied"), "{text}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn namespaces_are_joined_by_path() {
    root_test!();
    let mut a = Bundle::busybox("nsowner", &["sleep", "100"]);
    a.config["hostname"] = "owner-host".into();
    a.write_config();
    let out = a.detached(&["run", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = a.state().unwrap()["pid"].as_i64().unwrap();
    let mut b = Bundle::busybox(
        "nsjoiner",
        &[
            "sh",
            "-c",
            "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; ip -o link | wc -l",
        ],
    );
    b.config["hostname"] = serde_json::Value::Null;
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        let typ = ns["type"].as_str().unwrap().to_string();
        if ["pid", "uts", "network"].contains(&typ.as_str()) {
            let name = if typ == "network" {
                "net".to_string()
            } else {
                typ
            };
            ns["path"] = format!("/proc/{pid}/ns/{name}").into();
        }
    }
    b.write_config();
    let out = b.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "owner-host\nsleep 100 \n1\n");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn no_pivot_runs_with_move_and_chroot() {
    root_test!();
    let b = Bundle::busybox("nopivot", &["sh", "-c", "echo $$; ls /"]);
    let out = b
        .runtime(&["run", "--no-pivot", "--bundle"])
        .arg(b.path())
        .arg(&b.id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1\n") && text.contains("bin"), "{text}");
}
