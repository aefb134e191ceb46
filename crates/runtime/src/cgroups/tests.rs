//! Unit tests of the cgroup writers on fake file trees (temp dirs holding the files a kernel
//! would), of validation messages, and of the device BPF program (run by a small interpreter).
//! Root tests against this host's real hierarchies live in `tests_root.rs`.

use super::devices::{self, ACC_MKNOD, ACC_READ, ACC_WRITE};
use super::*;
use std::fs;

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("parse resources")
}

/// Creates `root/rel` as a file holding `content`, with its parent directories.
fn put(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, content).expect("write");
}

fn get(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel))
        .expect("read")
        .trim()
        .to_string()
}

const V1_FILES: &[(&str, &[&str])] = &[
    (
        "memory",
        &[
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "cgroup.procs",
        ],
    ),
    (
        "cpu",
        &[
            "cpu.shares",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
            "cgroup.procs",
        ],
    ),
    ("cpuset", &["cpuset.cpus", "cpuset.mems", "cgroup.procs"]),
    ("pids", &["pids.max", "cgroup.procs"]),
    ("blkio", &["blkio.weight", "cgroup.procs"]),
    (
        "devices",
        &["devices.allow", "devices.deny", "cgroup.procs"],
    ),
];

/// A fake v1 tree with every file of `V1_FILES` under `root/<controller>/berth-test/x`.
fn fake_v1(root: &Path) -> Hierarchy {
    let mut mounts = BTreeMap::new();
    for (ctrl, files) in V1_FILES {
        for level in ["", "berth-test/", "berth-test/x/"] {
            for f in *files {
                put(root, &format!("{ctrl}/{level}{f}"), "");
            }
        }
        mounts.insert(ctrl.to_string(), root.join(ctrl));
    }
    put(root, "cpuset/cpuset.cpus", "0-1\n");
    put(root, "cpuset/cpuset.mems", "0\n");
    Hierarchy::V1(mounts)
}

const FULL: &str = r#"{
    "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "mems": "0"},
    "pids": {"limit": 8},
    "blockIO": {"weight": 500},
    "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}]
}"#;

#[test]
fn v1_writes_each_limit_to_its_controller_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cg = Cgroup::with_root(fake_v1(tmp.path()), Some(Path::new("/berth-test/x")), "x")
        .expect("cgroup");
    cg.create(Some(&resources(FULL))).expect("create");
    let r = tmp.path();
    assert_eq!(
        get(r, "memory/berth-test/x/memory.limit_in_bytes"),
        "104857600"
    );
    assert_eq!(
        get(r, "memory/berth-test/x/memory.memsw.limit_in_bytes"),
        "209715200"
    );
    assert_eq!(
        get(r, "memory/berth-test/x/memory.soft_limit_in_bytes"),
        "52428800"
    );
    assert_eq!(get(r, "cpu/berth-test/x/cpu.shares"), "512");
    assert_eq!(get(r, "cpu/berth-test/x/cpu.cfs_quota_us"), "50000");
    assert_eq!(get(r, "cpu/berth-test/x/cpu.cfs_period_us"), "100000");
    assert_eq!(get(r, "pids/berth-test/x/pids.max"), "8");
    assert_eq!(get(r, "blkio/berth-test/x/blkio.weight"), "500");
    // cpuset: empty levels inherit from their parent; mems as asked.
    assert_eq!(get(r, "cpuset/berth-test/cpuset.cpus"), "0-1");
    assert_eq!(get(r, "cpuset/berth-test/x/cpuset.cpus"), "0-1");
    assert_eq!(get(r, "cpuset/berth-test/x/cpuset.mems"), "0");
    // One open file per rule kind, one write per rule (a plain file here keeps them all): the
    // defaults in order, pty slaves last.
    let allowed = get(r, "devices/berth-test/x/devices.allow");
    assert!(allowed.starts_with("c 10:200 rw"), "{allowed}");
    assert!(allowed.contains("c 1:3 rwm"), "{allowed}");
    assert!(allowed.ends_with("c 136:* rwm"), "{allowed}");
    assert!(get(r, "devices/berth-test/x/devices.deny").starts_with("a *:* rwm"));

    cg.add_process(nix::unistd::Pid::from_raw(4242))
        .expect("add");
    assert_eq!(get(r, "pids/berth-test/x/cgroup.procs"), "4242");
    assert_eq!(get(r, "memory/berth-test/x/cgroup.procs"), "4242");
    let err = cg
        .update(&resources(r#"{"network": {"classID": 1048577}}"#))
        .expect_err("net_cls is not mounted in the fake tree");
    assert!(
        err.to_string()
            .contains("net_cls controller is not mounted"),
        "{err}"
    );
    cg.update(&resources(r#"{"pids": {"limit": -1}}"#))
        .expect("update");
    assert_eq!(get(r, "pids/berth-test/x/pids.max"), "max");
}

#[test]
fn v1_swap_without_swap_accounting_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let h = fake_v1(tmp.path());
    fs::remove_file(
        tmp.path()
            .join("memory/berth-test/x/memory.memsw.limit_in_bytes"),
    )
    .expect("rm");
    let cg = Cgroup::with_root(h, Some(Path::new("berth-test/x")), "x").expect("cgroup");
    let err = cg
        .update(&resources(
            r#"{"memory": {"limit": 1048576, "swap": 2097152}}"#,
        ))
        .expect_err("swap must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("linux.resources.memory.swap") && msg.contains("swap accounting"),
        "{msg}"
    );
}

#[test]
fn v1_kernel_tcp_is_written_and_its_absence_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let h = fake_v1(tmp.path());
    let file = "memory/berth-test/x/memory.kmem.tcp.limit_in_bytes";
    let cg = Cgroup::with_root(h, Some(Path::new("berth-test/x")), "x").expect("cgroup");
    let limits = resources(r#"{"memory": {"kernelTCP": 50593792}}"#);
    let err = cg.update(&limits).expect_err("no kmem.tcp file yet");
    assert!(
        err.to_string().contains("linux.resources.memory.kernelTCP"),
        "{err}"
    );
    put(tmp.path(), file, "");
    cg.update(&limits).expect("update");
    assert_eq!(get(tmp.path(), file), "50593792");
}

#[test]
fn failed_create_removes_the_directories_it_made_and_names_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir(tmp.path().join("memory")).expect("mkdir");
    let mounts = BTreeMap::from([("memory".to_string(), tmp.path().join("memory"))]);
    let cg =
        Cgroup::with_root(Hierarchy::V1(mounts), Some(Path::new("/a/b")), "b").expect("cgroup");
    let err = cg
        .create(Some(&resources(r#"{"memory": {"limit": 1048576}}"#)))
        .expect_err("no limit file in a fake tree");
    assert!(err.to_string().contains("memory.limit_in_bytes"), "{err}");
    assert!(
        !tmp.path().join("memory/a").exists(),
        "created dirs left behind"
    );
    assert!(!cg.exists());
}

#[test]
fn invalid_values_name_the_field_and_create_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir(tmp.path().join("memory")).expect("mkdir");
    let mounts = BTreeMap::from([("memory".to_string(), tmp.path().join("memory"))]);
    let cg = Cgroup::with_root(Hierarchy::V1(mounts), None, "c1").expect("cgroup");
    for (json, want) in [
        (
            r#"{"memory": {"limit": -5}}"#,
            "linux.resources.memory.limit: -5 is invalid",
        ),
        (
            r#"{"cpu": {"shares": 1}}"#,
            "linux.resources.cpu.shares: 1 below minimum 2",
        ),
        (
            r#"{"cpu": {"period": 2000000}}"#,
            "linux.resources.cpu.period: 2000000 above maximum 1000000",
        ),
        (
            r#"{"cpu": {"quota": 10}}"#,
            "linux.resources.cpu.quota: 10 below minimum 1000",
        ),
        (
            r#"{"cpu": {"cpus": "3-1"}}"#,
            "linux.resources.cpu.cpus: \"3-1\" is invalid",
        ),
        (
            r#"{"pids": {"limit": -2}}"#,
            "linux.resources.pids.limit: -2 is invalid",
        ),
        (
            r#"{"blockIO": {"weight": 5}}"#,
            "linux.resources.blockIO.weight: 5 below minimum 10",
        ),
        (
            r#"{"memory": {"limit": 100, "swap": 50}}"#,
            "linux.resources.memory.swap: 50 below memory limit 100",
        ),
        (
            r#"{"devices": [{"allow": true, "access": "rwx"}]}"#,
            "linux.resources.devices[0].access",
        ),
        (r#"{"unified": {"../x": "1"}}"#, "linux.resources.unified"),
    ] {
        let err = cg.create(Some(&resources(json))).expect_err(json);
        assert!(err.to_string().starts_with(want), "{json}: {err}");
        assert!(
            !tmp.path().join("memory/berth").exists(),
            "{json}: dir left behind"
        );
    }
}

#[test]
fn cgroups_path_is_resolved_below_each_root() {
    let mounts = BTreeMap::from([
        ("cpu".to_string(), PathBuf::from("/cg/cpu,cpuacct")),
        ("cpuacct".to_string(), PathBuf::from("/cg/cpu,cpuacct")),
        ("memory".to_string(), PathBuf::from("/cg/memory")),
    ]);
    let cg = Cgroup::with_root(Hierarchy::V1(mounts), None, "abc").expect("cgroup");
    assert_eq!(
        cg.dirs(),
        vec![
            PathBuf::from("/cg/cpu,cpuacct/berth/abc"),
            PathBuf::from("/cg/memory/berth/abc")
        ]
    );
    // The daemon names its containers' cgroups with `default_path`: the same directories.
    let named = Cgroup::with_root(
        cg.hierarchy().clone(),
        Some(&super::default_path("abc")),
        "x",
    );
    assert_eq!(named.expect("cgroup").dirs(), cg.dirs());
    let v2 = |p: &str| Cgroup::with_root(Hierarchy::V2("/cg".into()), Some(Path::new(p)), "i");
    assert_eq!(
        v2("x/y").expect("relative").dirs(),
        vec![PathBuf::from("/cg/x/y")]
    );
    for bad in ["/a/../b", "/", "system.slice:berth:x"] {
        assert!(
            matches!(v2(bad), Err(CgroupError::InvalidPath { .. })),
            "{bad}"
        );
    }
}

/// A fake v2 cgroup directory with the files a leaf with cpu, io, memory and pids has.
fn fake_v2(dir: &Path) {
    for f in [
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "memory.high",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "io.weight",
        "cgroup.procs",
    ] {
        put(dir, f, "");
    }
    put(dir, "cpu.max", "max 100000\n");
}

#[test]
fn v2_writes_converted_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fake_v2(dir);
    let mut r = resources(FULL);
    r.set_unified(Some(
        [("memory.high".to_string(), "99999".to_string())].into(),
    ));
    v2::apply(dir, &r, false).expect("apply");
    assert_eq!(get(dir, "memory.max"), "104857600");
    assert_eq!(
        get(dir, "memory.swap.max"),
        "104857600",
        "swap.max = swap - limit"
    );
    assert_eq!(get(dir, "memory.low"), "52428800");
    assert_eq!(get(dir, "cpu.weight"), "20", "shares 512 → weight 20");
    assert_eq!(get(dir, "cpu.max"), "50000 100000");
    assert_eq!(get(dir, "pids.max"), "8");
    assert_eq!(get(dir, "io.weight"), "4950", "blkio 500 → io 4950");
    assert_eq!(get(dir, "cpuset.mems"), "0");
    assert_eq!(get(dir, "memory.high"), "99999");

    // A period alone keeps the current quota; -1 quota is "max".
    put(dir, "cpu.max", "20000 100000\n");
    v2::apply(dir, &resources(r#"{"cpu": {"period": 50000}}"#), false).expect("period");
    assert_eq!(get(dir, "cpu.max"), "20000 50000");
    v2::apply(
        dir,
        &resources(r#"{"cpu": {"quota": -1}, "memory": {"limit": -1}}"#),
        false,
    )
    .expect("unlimited");
    assert_eq!(get(dir, "cpu.max"), "max 50000");
    assert_eq!(get(dir, "memory.max"), "max");
}

#[test]
fn v2_conversions_match_the_endpoints() {
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(1024), 39);
    assert_eq!(v2::shares_to_weight(262_144), 10_000);
    assert_eq!(v2::blkio_to_io_weight(10), 1);
    assert_eq!(v2::blkio_to_io_weight(1000), 10_000);
}

#[test]
fn v2_missing_controller_file_says_which_controller() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = v2::apply(tmp.path(), &resources(r#"{"pids": {"limit": 8}}"#), false)
        .expect_err("no pids.max");
    let msg = err.to_string();
    assert!(
        msg.contains("pids.max") && msg.contains("pids controller is not enabled"),
        "{msg}"
    );
}

#[test]
fn v2_enables_only_available_controllers_that_are_off() {
    let tmp = tempfile::tempdir().expect("tempdir");
    put(
        tmp.path(),
        "cgroup.controllers",
        "cpu io memory pids rdma\n",
    );
    put(tmp.path(), "cgroup.subtree_control", "memory\n");
    let wanted = v2::controllers_for(None);
    v2::enable_controllers(tmp.path(), &wanted).expect("enable");
    assert_eq!(get(tmp.path(), "cgroup.subtree_control"), "+cpu +io +pids");
    let r = resources(r#"{"cpu": {"cpus": "0"}, "unified": {"rdma.max": "x"}}"#);
    assert_eq!(
        v2::controllers_for(Some(&r)),
        ["cpu", "io", "memory", "pids", "cpuset", "rdma"]
    );
}

#[test]
fn fake_v2_freeze_reads_cgroup_events_and_pids_are_recursive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    put(tmp.path(), "c/cgroup.freeze", "");
    put(tmp.path(), "c/cgroup.events", "populated 1\nfrozen 1\n");
    put(tmp.path(), "c/cgroup.procs", "10\n11\n");
    put(tmp.path(), "c/sub/cgroup.procs", "12\n");
    let cg = Cgroup::with_root(Hierarchy::V2(tmp.path().into()), Some(Path::new("c")), "c")
        .expect("cgroup");
    cg.freeze().expect("freeze");
    assert_eq!(get(tmp.path(), "c/cgroup.freeze"), "1");
    assert!(cg.is_frozen().expect("is_frozen"));
    let mut pids: Vec<i32> = cg
        .pids()
        .expect("pids")
        .iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort();
    assert_eq!(pids, vec![10, 11, 12]);
}

/// Runs a compiled device program on one access, as the kernel would: true = allowed.
fn run(prog: &[bpf::Insn], kind: u32, access: u32, major: u32, minor: u32) -> bool {
    // The test reads the instruction fields through their byte layout, as the kernel does.
    let bytes = |i: &bpf::Insn| -> [u8; 8] {
        // SAFETY: Insn is a #[repr(C)] 8-byte plain-data struct.
        unsafe { std::mem::transmute_copy(i) }
    };
    let ctx = [(access << 16) | kind, major, minor];
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let b = bytes(&prog[pc]);
        let (code, dst, src) = (b[0], (b[1] & 0xf) as usize, (b[1] >> 4) as usize);
        let off = i16::from_le_bytes([b[2], b[3]]);
        let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]) as i64 as u64;
        pc += 1;
        assert!(
            off == 0 || matches!(code, 0x61 | 0x15 | 0x55),
            "reserved off field used at {pc}"
        );
        assert!(
            src == 0 || matches!(code, 0x61 | 0xbf),
            "reserved src field used at {pc}"
        );
        match code {
            0x61 => reg[dst] = u64::from(ctx[off as usize / 4]),
            0x57 => reg[dst] &= imm,
            0x77 => reg[dst] >>= imm,
            0xb7 => reg[dst] = imm,
            0xbf => reg[dst] = reg[src],
            0x15 if reg[dst] == imm => pc += off as usize,
            0x55 if reg[dst] != imm => pc += off as usize,
            0x15 | 0x55 => {}
            0x95 => return reg[0] == 1,
            _ => panic!("unknown opcode {code:#x}"),
        }
    }
}

#[test]
fn device_program_allows_defaults_and_spec_rules_and_denies_the_rest() {
    const C: u32 = 2;
    const B: u32 = 1;
    let spec: Vec<berth_oci::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "access": "r"},
            {"allow": false, "type": "b", "major": 8, "minor": 1, "access": "r"}]"#,
    )
    .expect("rules");
    let prog = bpf::compile(&devices::effective(Some(&spec)).expect("rules"));
    assert!(run(&prog, C, ACC_READ | ACC_WRITE, 1, 3), "/dev/null rw");
    assert!(run(&prog, C, ACC_READ, 136, 7), "pty slave");
    assert!(
        run(&prog, B, ACC_MKNOD, 8, 0),
        "mknod is allowed for any device"
    );
    assert!(!run(&prog, C, ACC_READ, 1, 11), "/dev/kmsg is not allowed");
    assert!(run(&prog, C, ACC_WRITE, 10, 200), "tun, as the spec allows");
    assert!(!run(&prog, C, ACC_READ, 10, 201));
    assert!(run(&prog, B, ACC_READ, 8, 0), "block 8:* read");
    assert!(
        !run(&prog, B, ACC_READ | ACC_WRITE, 8, 0),
        "write is not in the rule"
    );
    assert!(!run(&prog, B, ACC_READ, 8, 1), "a later deny wins");
    assert_eq!(
        devices::effective(Some(&spec)).expect("rules")[2].v1_line(),
        "c 10:200 rw"
    );

    // Without an explicit deny-all, the program ends with the implicit deny.
    let allow_all: Vec<berth_oci::runtime::LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow": true, "access": "rwm"}]"#).expect("rules");
    let prog = bpf::compile(&devices::effective(Some(&allow_all)).expect("rules"));
    assert!(
        run(&prog, B, ACC_READ | ACC_WRITE, 8, 1),
        "privileged: everything"
    );
}
