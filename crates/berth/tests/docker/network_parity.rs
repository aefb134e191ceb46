//! Network parity with Docker (issue #15), with the real docker CLI and docker-compose 1.29:
//! inspect echoes what create was given (Options, IPAM driver, options and config, aux
//! addresses) and nothing else, so docker-compose reuses its networks; names with spaces;
//! an endpoint's `--ip`, `--link-local-ip` and `--driver-opt` at connect are applied and shown.

use std::process::{Command, Output, Stdio};

use crate::harness::{code, opted_in, stderr, stdout, Daemon};

fn json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    let out = d.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn network_inspect_echoes_create_and_connect() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["network", "create", "plain net"]);
    let n = json(&d, &["network", "inspect", "-f", "{{json .}}", "plain net"]);
    assert_eq!(n["Name"], "plain net");
    assert_eq!(n["Options"], serde_json::json!({}), "{n}");
    // The CLI sends an empty IPAM options map, which Docker echoes; the allocated subnet and
    // gateway are shown.
    assert_eq!(n["IPAM"]["Options"], serde_json::json!({}), "{n}");
    let cfg = &n["IPAM"]["Config"][0];
    assert!(
        cfg["Subnet"].is_string() && cfg["Gateway"].is_string(),
        "{n}"
    );

    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.245.0.0/24",
        "--ip-range",
        "10.245.0.128/25",
        "--aux-address",
        "router=10.245.0.200",
        "--ipam-opt",
        "opt.a=1",
        "-o",
        "com.example.note=x",
        "given",
    ]);
    let n = json(&d, &["network", "inspect", "-f", "{{json .}}", "given"]);
    assert_eq!(n["Options"], serde_json::json!({"com.example.note": "x"}));
    assert_eq!(
        n["IPAM"],
        serde_json::json!({
            "Driver": "default",
            "Options": {"opt.a": "1"},
            "Config": [{"Subnet": "10.245.0.0/24", "IPRange": "10.245.0.128/25",
                        "AuxiliaryAddresses": {"router": "10.245.0.200"}}],
        })
    );

    // An aux address is never handed out.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "given",
        "--ip",
        "10.245.0.200",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));

    d.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "plain net",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "network",
        "connect",
        "--ip",
        "10.245.0.9",
        "--link-local-ip",
        "169.254.8.8",
        "--driver-opt",
        "com.example.opt=v",
        "given",
        "c1",
    ]);
    let ep = json(
        &d,
        &[
            "inspect",
            "-f",
            "{{json .NetworkSettings.Networks.given}}",
            "c1",
        ],
    );
    assert_eq!(ep["IPAddress"], "10.245.0.9", "{ep}");
    assert_eq!(
        ep["DriverOpts"],
        serde_json::json!({"com.example.opt": "v"})
    );
    assert_eq!(
        ep["IPAMConfig"],
        serde_json::json!({"IPv4Address": "10.245.0.9", "LinkLocalIPs": ["169.254.8.8"]})
    );
    let addrs = d.ok(&["exec", "c1", "ip", "-4", "addr"]);
    assert!(
        addrs.contains("169.254.8.8/16") && addrs.contains("10.245.0.9/24"),
        "{addrs}"
    );
    let plain = json(
        &d,
        &[
            "inspect",
            "-f",
            "{{json (index .NetworkSettings.Networks \"plain net\")}}",
            "c1",
        ],
    );
    assert!(
        plain["DriverOpts"].is_null() && plain["IPAMConfig"].is_null(),
        "{plain}"
    );
    d.ok(&["rm", "-f", "c1"]);

    // What Berth cannot do is refused by name, not ignored.
    let out = d.docker(&["network", "create", "--ipam-driver", "other", "x1"]);
    assert!(stderr(&out).contains("IPAM driver"), "{}", stderr(&out));
}

fn compose(d: &Daemon, dir: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("-p")
        .arg("parity")
        .args(args)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run docker-compose ({e}): run scripts/install-deps.sh"))
}

const PROJECT: &str = "version: '2.4'
services:
  app:
    image: busybox
    command: sleep 600
    networks: [default, fixed]
networks:
  fixed:
    driver_opts:
      com.example.note: x
    ipam:
      options:
        opt.a: '1'
      config:
        - subnet: 10.246.0.0/24
          gateway: 10.246.0.1
          aux_addresses:
            router: 10.246.0.200
";

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_compose_up_twice_reuses_its_networks() {
    if !opted_in() {
        return;
    }
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        panic!("docker-compose is not installed: run scripts/install-deps.sh");
    }
    let d = Daemon::start();
    let dir = d.dir.path().join("project");
    std::fs::create_dir_all(&dir).expect("project dir");
    std::fs::write(dir.join("docker-compose.yml"), PROJECT).expect("compose file");
    let ids = |d: &Daemon| {
        d.ok(&[
            "network",
            "ls",
            "-q",
            "--filter",
            "name=parity_",
            "--no-trunc",
        ])
    };
    for round in 0..2 {
        let out = compose(&d, &dir, &["up", "-d"]);
        assert_eq!(
            code(&out),
            0,
            "round {round}: {}{}\n--- daemon log ---\n{}",
            stdout(&out),
            stderr(&out),
            d.log()
        );
    }
    let before = ids(&d);
    assert_eq!(before.lines().count(), 2, "{before}");
    let out = compose(&d, &dir, &["up", "-d"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&d), before);
    let out = compose(&d, &dir, &["down"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
