//! `network` commands compared with the real docker CLI: both run against fresh canned fakes;
//! the requests (method, path, JSON body) and stdout, stderr (with "docker" read as "berth") and
//! exit codes must be identical.

use super::berth_exe;
use crate::fake::{empty_reply, json_reply, Fake, Reply, Req};
use std::path::{Path, PathBuf};

const NETWORKS: &str = r#"[
 {"Name":"n10","Id":"9f8e7d6c5b4a392817069f8e7d6c5b4a392817069f8e7d6c5b4a392817069f8e","Created":"2026-11-25T20:38:06.12345Z",
  "Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},
  "Config":[{"Subnet":"10.231.0.0/24","Gateway":"10.231.0.1"}]},"Internal":true,"Attachable":false,"Ingress":false,
  "ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{"a":"1"}},
 {"Name":"bridge","Id":"fcf245d9e3114363cb49d977c864e05020290f3208efb03b663f35263ebf726c","Created":"2026-11-25T20:00:00Z",
  "Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,
  "Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,
  "ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{}},
 {"Name":"n2","Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Created":"2026-11-25T20:30:00Z",
  "Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},
  "Config":[]},"Internal":false,"Attachable":false,"Ingress":false,
  "ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{}}
]"#;

fn canned() -> Fake {
    Fake::start(|r: &Req| {
        let p = r.path.as_str();
        let get = r.method == "GET";
        if p == "/_ping" {
            Reply {
                bytes: b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                close: false,
            }
        } else if p.contains("/nope") {
            json_reply("404 Not Found", r#"{"message":"network nope not found"}"#)
        } else if p.contains("/networks/bridge") && r.method == "DELETE" {
            json_reply(
                "403 Forbidden",
                r#"{"message":"bridge is a pre-defined network and cannot be removed"}"#,
            )
        } else if p.ends_with("/networks/create") {
            json_reply("201 Created", r#"{"Id":"abc123","Warning":""}"#)
        } else if p.contains("/networks/prune") {
            json_reply("200 OK", r#"{"NetworksDeleted":["n10","n2"]}"#)
        } else if get && p.contains("/networks/n2") {
            let one = serde_json::from_str::<serde_json::Value>(NETWORKS).unwrap()[2].to_string();
            json_reply("200 OK", &one)
        } else if get && p.contains("/networks") {
            json_reply("200 OK", NETWORKS)
        } else if r.method == "DELETE" {
            empty_reply("204 No Content")
        } else {
            json_reply("200 OK", "")
        }
    })
}

/// Runs `program` against a fresh fake: (requests, stdout, stderr, exit code).
fn run(program: &Path, args: &[&str]) -> (Vec<String>, String, String, Option<i32>) {
    super::run_against(&canned(), program, args)
}

#[test]
fn network_commands_match_the_docker_cli() {
    if !super::need(
        super::docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    let docker = PathBuf::from("docker");
    for args in [
        &["network", "create", "n1"][..],
        &[
            "network",
            "create",
            "--subnet",
            "10.1.0.0/24",
            "--gateway",
            "10.1.0.1",
            "--ip-range",
            "10.1.0.128/25",
            "--internal",
            "--label",
            "a=b",
            "-o",
            "com.docker.network.bridge.name=br9",
            "-d",
            "bridge",
            "n1",
        ],
        &["network", "ls"],
        &["network", "ls", "--no-trunc", "--filter", "label=a=1"],
        &["network", "ls", "-q"],
        &[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Internal}} {{.Labels}} {{.CreatedAt}} {{.IPv6}}",
        ],
        &["network", "ls", "--format", "json"],
        &["network", "inspect", "n2"],
        &["network", "inspect", "-f", "{{.Name}} {{.Driver}}", "n2"],
        &["network", "inspect", "nope"],
        &["network", "rm", "n2", "nope"],
        &["network", "rm", "-f", "nope"],
        &["network", "rm", "bridge"],
        &[
            "network", "connect", "--alias", "web", "--alias", "w2", "--ip", "10.1.0.5", "n2", "c1",
        ],
        &["network", "connect", "n2", "c1"],
        &["network", "disconnect", "-f", "n2", "c1"],
        &["network", "disconnect", "n2", "c1"],
        &["network", "prune", "-f", "--filter", "label=a"],
        &["network", "create"],
        &["network", "ls", "extra"],
    ] {
        let d = run(&docker, args);
        let b = run(&berth_exe(), args);
        assert_eq!(b.0, d.0, "requests of {args:?}");
        assert_eq!(b.1, d.1, "stdout of {args:?}");
        assert_eq!(
            b.3, d.3,
            "exit code of {args:?} (stderr: {} / {})",
            b.2, d.2
        );
        if d.3 == Some(0) || !d.2.contains("Usage") {
            assert_eq!(b.2, d.2, "stderr of {args:?}");
        }
    }
}
