//! HostConfig items reach the container: each is set through the docker CLI on busybox and its
//! effect read from inside (capabilities, rlimits, mounts, ids, /proc files, a read-only root) or
//! from the container's v1 cgroup files seen from the host.

use crate::harness::{opted_in, Daemon};

/// `docker run --rm ARGS... busybox sh -c SCRIPT`, its trimmed stdout (must succeed).
fn run(d: &Daemon, args: &[&str], script: &str) -> String {
    let mut all: Vec<&str> = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.ok(&all)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn security_and_process_options() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let caps = "grep CapEff /proc/self/status";
    assert_eq!(
        run(&d, &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"], caps),
        "CapEff:\t0000000000001000"
    );
    let privileged = run(&d, &["--privileged"], caps);
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let bnd = own
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd");
    assert_eq!(privileged, format!("CapEff:\t{}", bnd.trim()));
    assert_eq!(
        run(&d, &["--read-only"], "touch /x 2>/dev/null; echo $?"),
        "1"
    );
    assert_eq!(
        run(
            &d,
            &["--ulimit", "nofile=1024:2048"],
            "echo $(ulimit -n) $(ulimit -Hn)"
        ),
        "1024 2048"
    );
    assert_eq!(
        run(
            &d,
            &["--security-opt", "no-new-privileges"],
            "grep NoNewPrivs /proc/self/status"
        ),
        "NoNewPrivs:\t1"
    );
    let seccomp = "grep Seccomp: /proc/self/status";
    assert_eq!(run(&d, &[], seccomp), "Seccomp:\t2");
    assert_eq!(
        run(&d, &["--security-opt", "seccomp=unconfined"], seccomp),
        "Seccomp:\t0"
    );
    let profile = d.dir.path().join("seccomp.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("profile");
    let opt = format!("seccomp={}", profile.display());
    assert_eq!(
        run(
            &d,
            &["--security-opt", &opt],
            "mkdir /tmp/x 2>/dev/null; echo $?"
        ),
        "1"
    );
    assert_eq!(
        run(&d, &["--group-add", "1234", "--user", "65534"], "id -G"),
        "65534 1234"
    );
    assert_eq!(
        run(
            &d,
            &["--oom-score-adj", "345"],
            "cat /proc/self/oom_score_adj"
        ),
        "345"
    );
    assert!(run(
        &d,
        &["--device", "/dev/null:/dev/mynull"],
        "ls -l /dev/mynull; echo x > /dev/mynull && echo ok"
    )
    .ends_with("ok"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn mounts_and_filesystems() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).expect("host dir");
    std::fs::write(host.join("f"), "hostfile").expect("host file");
    let bind_ro = format!("{}:/h:ro", host.display());
    assert_eq!(
        run(
            &d,
            &["-v", &bind_ro],
            "cat /h/f; touch /h/g 2>/dev/null; echo \" $?\""
        ),
        "hostfile 1"
    );
    let bind_rw = format!("{}:/h", host.display());
    run(&d, &["-v", &bind_rw], "echo written > /h/new");
    assert_eq!(
        std::fs::read_to_string(host.join("new")).expect("written through the bind"),
        "written\n"
    );
    let mount = format!("type=bind,src={},dst=/m,readonly", host.display());
    assert_eq!(
        run(
            &d,
            &["--mount", &mount],
            "cat /m/f; touch /m/g 2>/dev/null; echo \" $?\""
        ),
        "hostfile 1"
    );
    let tmpfs = run(
        &d,
        &["--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576"],
        "grep ' /t ' /proc/mounts",
    );
    assert!(
        tmpfs.starts_with("tmpfs /t tmpfs") && tmpfs.contains("size=1024k"),
        "{tmpfs}"
    );
    let scratch = run(
        &d,
        &["--tmpfs", "/scratch:size=2m"],
        "grep ' /scratch ' /proc/mounts",
    );
    assert!(scratch.contains("size=2048k"), "{scratch}");
    let shm = run(&d, &["--shm-size", "3m"], "grep ' /dev/shm ' /proc/mounts");
    assert!(shm.contains("size=3072k"), "{shm}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn resources_reach_the_cgroups() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--pids-limit",
        "33",
        "--cpuset-cpus",
        "0",
        "--cpu-shares",
        "512",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "busybox",
        "sleep",
        "1000",
    ]);
    let read = |ctl: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{ctl}/berth/{id}/{file}"))
            .unwrap_or_else(|e| panic!("{ctl}/{file}: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(read("pids", "pids.max"), "33");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("memory", "memory.memsw.limit_in_bytes"), "134217728");
    d.ok(&["rm", "-f", &id]);
    let nano = d.ok(&["run", "-d", "--cpus", "0.25", "busybox", "sleep", "1000"]);
    let quota =
        std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/berth/{nano}/cpu.cfs_quota_us"))
            .expect("quota");
    assert_eq!(quota.trim(), "25000");
    d.ok(&["rm", "-f", &nano]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn sysctls_reach_the_container() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    assert_eq!(
        run(
            &d,
            &["--sysctl", "kernel.shmmax=1000000"],
            "cat /proc/sys/kernel/shmmax"
        ),
        "1000000"
    );
    assert_eq!(
        run(
            &d,
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward"
        ),
        "1"
    );
}

/// Fields Berth does not act on are refused by name at create and update (issue #15), and a
/// refused create leaves no container; the docker CLI's empty defaults pass.
#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn ignored_fields_are_refused_by_name() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "--cgroup-parent", "/mine", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{:?}", out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HostConfig.CgroupParent is not supported by Berth"),
        "{err}"
    );
    let out = d.docker(&[
        "create",
        "--device-cgroup-rule",
        "c 1:3 rwm",
        "busybox",
        "true",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HostConfig.DeviceCgroupRules"));
    assert_eq!(
        d.ok(&["ps", "-aq"]),
        "",
        "a refused create left a container"
    );

    d.ok(&["create", "--name", "upd", "busybox", "true"]);
    let (status, body) = d.curl(
        "POST",
        "/containers/upd/update",
        Some(r#"{"BlkioDeviceWriteBps":[{"Path":"/dev/null","Rate":1024}]}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("HostConfig.BlkioDeviceWriteBps is not supported"),
        "{body}"
    );
    let (status, body) = d.curl(
        "POST",
        "/containers/upd/update",
        Some(r#"{"CpuShares":512}"#),
    );
    assert_eq!(status, 200, "{body}");
}
