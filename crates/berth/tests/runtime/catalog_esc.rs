//! The security catalog's escape attempts (ESC, issue 14) from inside a container with Docker's
//! defaults (the daemon's own spec, see [`crate::catalog_iso::docker_bundle`]), run as root by
//! `berth runtime` with the probe. Every probe that the kernel could act on gets a harmless
//! argument (a bad reboot magic, invalid times, a module that does not exist), and where a
//! capability makes the call pass seccomp, a control with `--cap-add` shows the kernel's answer.
//!
//! ESC-08 is with ISO-15 in `catalog_iso.rs`; ESC-19, ESC-20 and ESC-22 are daemon cases in
//! `docker/catalog_defaults.rs`. Host processes invisible (part of ESC-09):
//! `isolation.rs::host_processes_are_invisible`.

use crate::catalog_iso::docker_sh;
use crate::root_test;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn cap_add(caps: &[&str]) -> impl FnOnce(&mut berth_daemon::containers::model::Container) {
    let caps = strings(caps);
    move |c| c.host_config.cap_add = Some(caps)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_01_mount_bind_and_proc_remount_get_eperm() {
    root_test!();
    let script = "mkdir -p /mnt; probe mount /mnt; probe bindmount / /mnt; probe remount_rw /proc";
    assert_eq!(docker_sh("esc01", script, |_| {}), ["errno=EPERM"; 3]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_02_user_namespaces_are_out_of_reach() {
    root_test!();
    let script = "probe unshare user; probe clone user; probe clone3; \
                  unshare -r true 2>/dev/null && echo unshared || echo refused";
    assert_eq!(
        docker_sh("esc02", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "errno=ENOSYS", "refused"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_03_setns_into_the_inits_namespace_gets_eperm() {
    root_test!();
    let script = "probe setns /proc/1/ns/net; probe setns /proc/1/ns/mnt";
    assert_eq!(docker_sh("esc03", script, |_| {}), ["errno=EPERM"; 2]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_04_reboot_gets_eperm() {
    root_test!();
    // A bad magic: the kernel checks CAP_SYS_BOOT before the magic, so EINVAL would mean both
    // seccomp and the capability check let it through.
    assert_eq!(docker_sh("esc04", "probe reboot", |_| {}), ["errno=EPERM"]);
    let boot = docker_sh("esc04-boot", "probe reboot", cap_add(&["SYS_BOOT"]));
    assert_eq!(boot, ["errno=EINVAL"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_05_kexec_gets_eperm() {
    root_test!();
    let script = "probe kexec_load; probe kexec_file_load";
    assert_eq!(docker_sh("esc05", script, |_| {}), ["errno=EPERM"; 2]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_06_module_calls_get_eperm_and_there_is_no_lib_modules() {
    root_test!();
    let script = "probe init_module; probe finit_module; probe delete_module; \
                  [ -e /lib/modules ] && echo has-modules || echo no-modules";
    assert_eq!(
        docker_sh("esc06", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "errno=EPERM", "no-modules"]
    );
    // With CAP_SYS_MODULE seccomp lets them through to the kernel, which refuses the empty
    // image and the missing module (or has no module support at all): never EPERM.
    let module = docker_sh(
        "esc06-mod",
        "probe init_module; probe delete_module",
        cap_add(&["SYS_MODULE"]),
    );
    assert!(
        module.iter().all(|l| l != "errno=EPERM" && l != "ok"),
        "{module:?}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_07_sysrq_trigger_cannot_be_opened_for_writing() {
    root_test!();
    if !std::path::Path::new("/proc/sysrq-trigger").exists() {
        eprintln!("ESC-07 skipped: this kernel has no /proc/sysrq-trigger (no CONFIG_MAGIC_SYSRQ)");
        return;
    }
    // Opened, never written: a failing engine cannot trigger anything.
    assert_eq!(
        docker_sh("esc07", "probe open /proc/sysrq-trigger w", |_| {}),
        ["errno=EROFS"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_09_host_pids_are_unreachable_by_ptrace_and_process_vm_readv() {
    root_test!();
    // This test's own pid exists on the host only: the container's pid namespace holds sh and
    // the probe.
    let host_pid = std::process::id();
    assert!(host_pid > 10, "the test runs as host pid {host_pid}");
    let script = format!(
        "probe ptrace_attach {host_pid}; probe process_vm_readv {host_pid}; ls -d /proc/[0-9]* | wc -l"
    );
    let lines = docker_sh("esc09", &script, |_| {});
    assert_eq!(lines[..2], ["errno=ESRCH", "errno=ESRCH"], "{lines:?}");
    let procs: usize = lines[2].trim().parse().expect("a count");
    assert!(
        procs <= 3,
        "more than the container's processes in /proc: {lines:?}"
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_10_the_clock_cannot_be_set_adjtimex_reads() {
    root_test!();
    // Invalid times (EINVAL once allowed): the host clock cannot move whatever happens.
    let script = "probe settimeofday; probe clock_settime; probe adjtimex set; probe adjtimex";
    assert_eq!(
        docker_sh("esc10", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "errno=EPERM", "ok"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_12_keyrings_are_out_of_reach_and_proc_keys_is_empty() {
    root_test!();
    let script = "probe keyctl_join; probe add_key; probe request_key; wc -c < /proc/keys";
    assert_eq!(
        docker_sh("esc12", script, |_| {}),
        ["errno=EPERM", "errno=EPERM", "errno=EPERM", "0"]
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_13_open_by_handle_at_gets_eperm_without_dac_read_search() {
    root_test!();
    // /etc/hostname is a bind of a host file: its handle names a host inode.
    let script = "probe name_to_handle_at /etc/hostname; probe open_by_handle_at /etc/hostname";
    assert_eq!(docker_sh("esc13", script, |_| {}), ["ok", "errno=EPERM"]);
    // CAP_DAC_READ_SEARCH is the "shocker" capability: with it the host inode opens. Never
    // add it to a container you do not trust.
    let shocker = docker_sh("esc13-cap", script, cap_add(&["DAC_READ_SEARCH"]));
    assert_eq!(shocker, ["ok", "ok"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_14_raw_sockets_follow_cap_net_raw() {
    root_test!();
    let script = "probe socket raw; probe socket packet";
    assert_eq!(docker_sh("esc14", script, |_| {}), ["ok", "ok"]);
    let dropped = docker_sh("esc14-drop", script, |c| {
        c.host_config.cap_drop = Some(strings(&["NET_RAW"]))
    });
    assert_eq!(dropped, ["errno=EPERM"; 2]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_15_core_pattern_is_read_only() {
    root_test!();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let lines = docker_sh(
        "esc15",
        "probe open /proc/sys/kernel/core_pattern w; echo '|/evil' > /proc/sys/kernel/core_pattern || echo refused",
        |_| {},
    );
    assert_eq!(lines, ["errno=EROFS", "refused"]);
    let after = std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    assert_eq!(before, after);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_17_cgroup_mounts_and_release_agent_writes_are_refused() {
    root_test!();
    let script = "mkdir -p /mnt; probe mount_cgroup /mnt; \
                  for d in /sys/fs/cgroup/*/; do probe write ${d}release_agent; done";
    let lines = docker_sh("esc17", script, |_| {});
    assert_eq!(lines[0], "errno=EPERM", "{lines:?}");
    assert!(
        lines.len() > 1,
        "no cgroup hierarchy in the container: {lines:?}"
    );
    assert!(lines[1..].iter().all(|l| l == "errno=EROFS"), "{lines:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn esc_21_bpf_perf_userfaultfd_and_io_uring_get_eperm() {
    root_test!();
    let script = "probe bpf; probe perf_event_open; probe userfaultfd; probe io_uring_setup";
    assert_eq!(docker_sh("esc21", script, |_| {}), ["errno=EPERM"; 4]);
}
