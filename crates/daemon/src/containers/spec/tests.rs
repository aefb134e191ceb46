use super::*;
use crate::containers::model::RunState;
use berth_api::container::{ContainerConfig, HostConfig};

fn container(config: ContainerConfig, host: HostConfig) -> Container {
    let settings = crate::server::container_request::settings(&config, &host).unwrap();
    Container {
        id: "0123456789abcdef".repeat(4),
        name: "t".into(),
        created: 0,
        image_name: "busybox".into(),
        image_id: "sha256:x".into(),
        config,
        host_config: host,
        path: "sh".into(),
        args: vec!["-c".into(), "true".into()],
        state: RunState::default(),
        warnings: vec![],
        rootfs_mounts: vec![],
        settings,
    }
}

fn paths(root: &Path) -> SpecPaths {
    SpecPaths {
        rootfs: root.to_path_buf(),
        hosts: root.join("hosts"),
        hostname: root.join("hostname"),
        resolv_conf: root.join("resolv.conf"),
        cgroup: "/berth/x".into(),
        netns: None,
        joins: Default::default(),
        userns: None,
    }
}

#[test]
fn default_spec_is_dockers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/sh"), "").unwrap();
    std::fs::set_permissions(
        dir.path().join("bin/sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .unwrap();
    let c = container(
        ContainerConfig {
            working_dir: "/work/dir".into(),
            env: Some(vec!["A=B".into()]),
            ..Default::default()
        },
        HostConfig::default(),
    );
    let mut w = Vec::new();
    let spec = build(&c, &paths(dir.path()), &mut w).unwrap();
    assert!(dir.path().join("work/dir").is_dir());
    assert_eq!(spec["hostname"], "0123456789ab");
    assert_eq!(spec["process"]["args"], json!(["sh", "-c", "true"]));
    let env = spec["process"]["env"].as_array().unwrap();
    assert!(env.contains(&json!("HOSTNAME=0123456789ab")));
    assert!(env.contains(&json!("A=B")));
    assert!(env.contains(&json!("HOME=/root")));
    assert_eq!(
        spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    assert!(spec["linux"]["seccomp"].is_object());
    assert!(spec["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .contains(&json!("/proc/kcore")));
    let shm = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/dev/shm")
        .unwrap();
    assert!(shm["options"]
        .as_array()
        .unwrap()
        .contains(&json!("size=67108864")));
    let ns = spec["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.contains(&json!({"type": "network"})));
}

#[test]
fn host_network_privileged_and_users() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/sh"), "").unwrap();
    std::fs::set_permissions(
        dir.path().join("bin/sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "web:x:1000:1000::/srv:/bin/sh\n",
    )
    .unwrap();
    let c = container(
        ContainerConfig {
            user: "web".into(),
            ..Default::default()
        },
        HostConfig {
            network_mode: Some("host".into()),
            privileged: true,
            ..Default::default()
        },
    );
    let spec = build(&c, &paths(dir.path()), &mut Vec::new()).unwrap();
    assert_eq!(spec["process"]["user"]["uid"], 1000);
    assert!(spec["linux"]["seccomp"].is_null());
    assert!(spec["linux"]["maskedPaths"].is_null());
    assert!(spec["linux"]["readonlyPaths"].is_null());
    // Privileged: /sys and the cgroup tree read-write, every host device, a rule allowing all.
    let options = |dest: &str| {
        spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == dest)
            .map(|m| m["options"].clone())
            .unwrap()
    };
    assert!(!options("/sys").as_array().unwrap().contains(&json!("ro")));
    assert!(!options("/sys/fs/cgroup")
        .as_array()
        .unwrap()
        .contains(&json!("ro")));
    let devices = spec["linux"]["devices"].as_array().unwrap();
    assert!(
        devices.iter().any(|d| d["path"] == "/dev/null"),
        "{devices:?}"
    );
    assert_eq!(
        spec["linux"]["resources"]["devices"],
        json!([{"allow": true, "access": "rwm"}])
    );
    let ns = spec["linux"]["namespaces"].as_array().unwrap();
    assert!(!ns.contains(&json!({"type": "network"})));
    // A user network: its own namespace (prepared by the start), like the default bridge.
    let user = container(
        ContainerConfig::default(),
        HostConfig {
            network_mode: Some("mynet".into()),
            ..Default::default()
        },
    );
    let spec = build(&user, &paths(dir.path()), &mut Vec::new()).unwrap();
    let ns = spec["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "network"), "{ns:?}");
}

#[test]
fn commands_are_checked_like_execve() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/data"), "").unwrap();
    let mut c = container(ContainerConfig::default(), HostConfig::default());
    let env = vec!["PATH=/bin".to_string()];
    c.path = "nope".into();
    let e = check_command(&c, dir.path(), &env).unwrap_err().to_string();
    assert!(e.contains("executable file not found"), "{e}");
    c.path = "/bin".into();
    assert!(check_command(&c, dir.path(), &env)
        .unwrap_err()
        .to_string()
        .contains("permission denied"));
    c.path = "data".into();
    assert!(check_command(&c, dir.path(), &env)
        .unwrap_err()
        .to_string()
        .contains("permission denied"));
}

#[test]
fn a_remapped_spec_has_a_user_namespace_with_the_maps() {
    use berth_image::layer::{IdMap, IdRange};
    let dir = tempfile::tempdir().unwrap();
    for d in ["etc", "bin"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    std::fs::write(dir.path().join("bin/sh"), "").unwrap();
    std::fs::set_permissions(
        dir.path().join("bin/sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    let range = |host| IdRange {
        container: 0,
        host,
        size: 65536,
    };
    let mut p = paths(dir.path());
    p.userns = Some(IdMap {
        uids: vec![range(100000)],
        gids: vec![range(200000)],
    });
    let c = container(ContainerConfig::default(), HostConfig::default());
    let spec = build(&c, &p, &mut Vec::new()).unwrap();
    assert_eq!(spec["linux"]["namespaces"][0], json!({"type": "user"}));
    assert_eq!(
        spec["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
    );
    assert_eq!(spec["linux"]["gidMappings"][0]["hostID"], 200000);
    // The cgroup mount cannot be made read-only again inside the namespace (as dockerd).
    let cgroup = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "cgroup")
        .unwrap();
    assert!(!cgroup["options"].as_array().unwrap().contains(&json!("ro")));
    // --userns host: none of it.
    let host = HostConfig {
        userns_mode: Some("host".into()),
        ..Default::default()
    };
    let spec = build(
        &container(ContainerConfig::default(), host),
        &p,
        &mut Vec::new(),
    )
    .unwrap();
    let types: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(!types.contains(&"user"), "{types:?}");
    assert!(spec["linux"].get("uidMappings").is_none());
}

#[test]
fn every_cpus_thermal_throttle_directory_is_masked_in_cpu_order() {
    let sys = tempfile::tempdir().unwrap();
    for cpu in ["cpu10", "cpu2", "cpu0"] {
        std::fs::create_dir_all(sys.path().join(cpu).join("thermal_throttle")).unwrap();
    }
    // A CPU without one, and entries that are not CPUs.
    std::fs::create_dir_all(sys.path().join("cpu3")).unwrap();
    std::fs::create_dir_all(sys.path().join("cpufreq/thermal_throttle")).unwrap();
    std::fs::create_dir_all(sys.path().join("cpuidle")).unwrap();
    assert_eq!(
        thermal_throttle_dirs(sys.path()),
        [0, 2, 10].map(|n| format!("/sys/devices/system/cpu/cpu{n}/thermal_throttle"))
    );
    assert!(thermal_throttle_dirs(&sys.path().join("missing")).is_empty());
    let masked = default_masked_paths();
    let fixed: Vec<String> = MASKED_PATHS.iter().map(|s| s.to_string()).collect();
    assert!(masked.starts_with(&fixed));
}
