//! Container-level root tests: the process's privileges — Docker's default seccomp profile,
//! capability drops, the capability sets seen in /proc/self/status, no_new_privs, the user and
//! groups, rlimits and umask — observed from inside a busybox container with the probe.

use crate::harness::{stderr, stdout, Bundle};
use crate::root_test;
use berth_runtime::security::{caps, seccomp};
use serde_json::{json, Value};

/// Docker's default capabilities, as the spec names them.
fn docker_caps() -> Vec<String> {
    caps::docker_default()
        .into_iter()
        .map(caps::kernel_name)
        .collect()
}

/// A busybox bundle running `sh -c script` on a writable rootfs, in its own network and UTS
/// namespaces at least, so privileged probes can never touch the host's.
fn shell(name: &str, script: &str) -> Bundle {
    let mut bundle = Bundle::busybox(name, &["sh", "-c", script]);
    bundle.config["root"]["readonly"] = Value::Bool(false);
    let namespaces = bundle.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces in the generated config");
    for ns in ["mount", "network", "uts", "ipc", "pid"] {
        if !namespaces.iter().any(|n| n["type"] == ns) {
            namespaces.push(json!({ "type": ns }));
        }
    }
    bundle
}

/// Sets all five capability sets to `list`.
fn set_caps(bundle: &mut Bundle, list: &[String]) {
    let list: Value = list.iter().map(|c| Value::from(c.as_str())).collect();
    bundle.config["process"]["capabilities"] = json!({
        "bounding": list, "effective": list, "permitted": list, "inheritable": list, "ambient": list,
    });
}

/// Puts Docker's default seccomp profile for Docker's default capabilities into the config.
fn set_docker_seccomp(bundle: &mut Bundle) {
    let profile = seccomp::docker_default(&caps::docker_default());
    bundle.config["linux"]["seccomp"] = serde_json::to_value(profile).expect("serialize profile");
}

fn no_seccomp(bundle: &mut Bundle) {
    if let Some(linux) = bundle.config["linux"].as_object_mut() {
        linux.remove("seccomp");
    }
}

/// Writes the config, runs the container, asserts it exited 0 and returns its stdout lines.
fn run_ok(bundle: &Bundle) -> Vec<String> {
    bundle.write_config();
    let out = bundle.run();
    assert!(
        out.status.success(),
        "container failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

/// The value of `field` in the probe's `status` output.
fn status_field(lines: &[String], field: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in {lines:?}"))
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_filter_from_the_compiled_cache_is_enforced_like_a_fresh_one() {
    root_test!();
    // The first run compiles Docker's profile and caches the program under the state root; the
    // second (same root, same profile) loads the cached program and must refuse the same calls.
    // CAP_SYS_ADMIN granted: only the filter can refuse mount (see the test below).
    let mut caps = docker_caps();
    caps.push("CAP_SYS_ADMIN".to_string());
    let mut bundle = shell("seccomp-cache", "probe mount; probe keyctl; echo after");
    set_caps(&mut bundle, &caps);
    set_docker_seccomp(&mut bundle);
    let fresh = run_ok(&bundle);
    let cache = bundle.state_root().join("@seccomp");
    let entries = || std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        entries(),
        1,
        "one compiled program cached in {}",
        cache.display()
    );
    let cached = run_ok(&bundle);
    assert_eq!(fresh, ["errno=EPERM", "errno=EPERM", "after"]);
    assert_eq!(cached, fresh);
    assert_eq!(entries(), 1, "the second run reused the entry");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn default_seccomp_refuses_mount_unshare_keyctl_and_kexec_with_eperm() {
    root_test!();
    // CAP_SYS_ADMIN is granted so that only the filter (built for Docker's default capabilities)
    // can be what refuses mount and unshare; the control run without the filter proves it.
    let mut caps = docker_caps();
    caps.push("CAP_SYS_ADMIN".to_string());
    let script = "probe mount; probe unshare mnt; probe keyctl; probe kexec_load; \
                  ls / >/dev/null && echo ls-ok; sh -c 'echo nested-ok'";
    for nnp in [true, false] {
        let mut bundle = shell("seccomp", script);
        set_caps(&mut bundle, &caps);
        set_docker_seccomp(&mut bundle);
        bundle.config["process"]["noNewPrivileges"] = Value::Bool(nnp);
        let lines = run_ok(&bundle);
        assert_eq!(
            lines,
            [
                "errno=EPERM",
                "errno=EPERM",
                "errno=EPERM",
                "errno=EPERM",
                "ls-ok",
                "nested-ok"
            ],
            "noNewPrivileges {nnp}"
        );
    }

    let mut control = shell(
        "seccomp-control",
        "probe mount; probe unshare mnt; probe keyctl",
    );
    set_caps(&mut control, &caps);
    no_seccomp(&mut control);
    let lines = run_ok(&control);
    assert_eq!(lines[..2], ["ok", "ok"], "without the filter: {lines:?}");
    assert_ne!(
        lines[2], "errno=EPERM",
        "keyctl without the filter: {lines:?}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn default_seccomp_lets_an_unprivileged_user_run_ordinary_programs() {
    root_test!();
    let mut bundle = shell(
        "seccomp-user",
        "id -u; ls /bin/busybox; echo hi | cat; sh -c 'exit 3'; echo $?",
    );
    set_caps(&mut bundle, &docker_caps());
    set_docker_seccomp(&mut bundle);
    bundle.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    bundle.config["process"]["noNewPrivileges"] = Value::Bool(true);
    assert_eq!(run_ok(&bundle), ["1000", "/bin/busybox", "hi", "3"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn capability_drops_are_enforced() {
    root_test!();
    let script = "probe link_add; probe sethostname; probe chown /tmp 1 1; probe mknod /tmp/null";
    let mut bundle = shell("caps-drop", script);
    let without_chown: Vec<String> = docker_caps()
        .into_iter()
        .filter(|c| c != "CAP_CHOWN" && c != "CAP_MKNOD")
        .collect();
    set_caps(&mut bundle, &without_chown);
    no_seccomp(&mut bundle);
    assert_eq!(run_ok(&bundle), ["errno=EPERM"; 4]);

    // The same operations with the capabilities: the kernel no longer refuses them for lack of
    // privilege (a missing `dummy` link driver may still refuse the link, but not with EPERM).
    let mut control = shell("caps-control", script);
    let mut all = docker_caps();
    all.extend(["CAP_NET_ADMIN".to_string(), "CAP_SYS_ADMIN".to_string()]);
    set_caps(&mut control, &all);
    no_seccomp(&mut control);
    let lines = run_ok(&control);
    assert_ne!(lines[0], "errno=EPERM", "{lines:?}");
    assert_eq!(lines[1..], ["ok", "ok", "ok"], "{lines:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn status_shows_the_spec_capabilities() {
    root_test!();
    let mut bundle = shell("caps-status", "probe status");
    let list = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"].map(String::from);
    set_caps(&mut bundle, &list);
    no_seccomp(&mut bundle);
    let lines = run_ok(&bundle);
    // CAP_CHOWN is bit 0, CAP_KILL bit 5, CAP_NET_BIND_SERVICE bit 10.
    for field in ["CapEff:", "CapPrm:", "CapBnd:", "CapInh:", "CapAmb:"] {
        assert_eq!(
            status_field(&lines, field),
            "0000000000000421",
            "{field} {lines:?}"
        );
    }
    assert_eq!(status_field(&lines, "Seccomp:"), "0");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn no_new_privileges_shows_in_status() {
    root_test!();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut bundle = shell("nnp", "probe status");
        bundle.config["process"]["noNewPrivileges"] = Value::Bool(nnp);
        set_docker_seccomp(&mut bundle);
        let lines = run_ok(&bundle);
        assert_eq!(status_field(&lines, "NoNewPrivs:"), want, "{lines:?}");
        assert_eq!(status_field(&lines, "Seccomp:"), "2", "{lines:?}");
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn user_groups_and_umask_show_in_the_container() {
    root_test!();
    let mut bundle = shell("user", "id -u; id -g; id -G; umask; probe setuid 0");
    bundle.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027});
    set_caps(&mut bundle, &docker_caps());
    let lines = run_ok(&bundle);
    assert_eq!(lines[0], "1000", "{lines:?}");
    assert_eq!(lines[1], "1000", "{lines:?}");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    assert!(
        groups.contains(&"10") && groups.contains(&"20"),
        "{lines:?}"
    );
    assert!(!groups.contains(&"0"), "root's groups were kept: {lines:?}");
    assert_eq!(lines[3], "0027", "{lines:?}");
    // The spec's capabilities survive the switch to uid 1000: CAP_SETUID is ambient, so it is
    // effective after exec and the user may become root again.
    assert_eq!(lines[4], "ok", "{lines:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn rlimit_nofile_shows_in_ulimit() {
    root_test!();
    let mut bundle = shell("rlimit", "ulimit -Sn; ulimit -Hn");
    bundle.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 2345}]);
    assert_eq!(run_ok(&bundle), ["1234", "2345"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn rlimit_above_the_hosts_hard_limit_is_clamped_with_a_warning() {
    root_test!();
    let (_, host_hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    let want = host_hard + 10_000;
    let mut bundle = shell("rlimit-clamp", "ulimit -Sn; ulimit -Hn");
    bundle.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}]);
    bundle.write_config();
    let out = bundle.run();
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    if has_sys_resource() {
        assert_eq!(lines, [want.to_string(), want.to_string()]);
    } else {
        assert_eq!(lines, [host_hard.to_string(), host_hard.to_string()]);
        let err = stderr(&out);
        assert_eq!(err.matches("warning").count(), 1, "{err}");
        assert!(err.contains("RLIMIT_NOFILE"), "{err}");
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_seccomp_notify_action_is_refused_naming_the_field() {
    root_test!();
    let mut bundle = Bundle::busybox("seccomp-notify", &["true"]);
    bundle.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["uname"], "action": "SCMP_ACT_NOTIFY"},
        ],
    });
    bundle.write_config();
    let out = bundle.run();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("linux.seccomp.syscalls[1].action"), "{err}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_invalid_seccomp_action_is_refused_naming_the_field() {
    root_test!();
    let mut bundle = Bundle::busybox("seccomp-bad", &["true"]);
    bundle.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["c"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["d"], "action": "SCMP_ACT_BOGUS"},
        ],
    });
    bundle.write_config();
    let out = bundle.run();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("linux.seccomp.syscalls[3].action"), "{err}");
}

/// Whether this process may raise hard limits (CAP_SYS_RESOURCE, bit 24, in its effective set).
fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("CapEff in /proc/self/status");
    eff & (1 << 24) != 0
}
