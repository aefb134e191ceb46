//! `volume` commands and the volume flags of `run`/`create` compared with the real docker CLI:
//! both run against fresh canned fakes; the requests (method, path, JSON body), stdout, stderr
//! (with "docker" read as "berth") and exit codes must be identical.

use super::berth_exe;
use crate::fake::{empty_reply, json_reply, Fake, Reply, Req};
use std::process::Command;

/// Two volumes in the daemon's order (v10 before v2: the CLI sorts naturally); one label each
/// (docker prints several in its map's random order).
const VOLUMES: &str = r#"{"Volumes":[
 {"CreatedAt":"2026-11-25T20:38:06Z","Driver":"local","Labels":{"a":"1"},
  "Mountpoint":"/var/lib/berth/volumes/v10/_data","Name":"v10","Options":{"o":"size=1m"},"Scope":"local"},
 {"CreatedAt":"2026-11-25T20:39:06Z","Driver":"local","Labels":null,
  "Mountpoint":"/var/lib/berth/volumes/v2/_data","Name":"v2","Options":null,"Scope":"local",
  "UsageData":{"Size":12345,"RefCount":2}}
],"Warnings":null}"#;

fn canned() -> Fake {
    Fake::start(|r: &Req| {
        let p = r.path.as_str();
        let get = r.method == "GET";
        let list: serde_json::Value = serde_json::from_str(VOLUMES).unwrap();
        if p == "/_ping" {
            Reply {
                bytes: b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                close: false,
            }
        } else if p.contains("/nope") {
            json_reply("404 Not Found", r#"{"message":"get nope: no such volume"}"#)
        } else if p.contains("/busy") && r.method == "DELETE" {
            json_reply(
                "409 Conflict",
                r#"{"message":"remove busy: volume is in use - [0123456789ab]"}"#,
            )
        } else if p.ends_with("/volumes/create") {
            let name = r.json()["Name"].as_str().unwrap_or("f00").to_string();
            let mut v = list["Volumes"][0].clone();
            v["Name"] = name.into();
            json_reply("201 Created", &v.to_string())
        } else if p.contains("/volumes/prune") {
            json_reply(
                "200 OK",
                r#"{"VolumesDeleted":["v1","v2"],"SpaceReclaimed":2048}"#,
            )
        } else if get && p.contains("/volumes/v2") {
            json_reply("200 OK", &list["Volumes"][1].to_string())
        } else if get && p.contains("/volumes/") {
            json_reply("200 OK", &list["Volumes"][0].to_string())
        } else if get && p.contains("/volumes") {
            json_reply("200 OK", VOLUMES)
        } else if get && p.contains("/system/df") {
            let v = &list["Volumes"];
            let mut unused = v[0].clone();
            unused["UsageData"] = serde_json::json!({"Size": -1, "RefCount": 0});
            let df = serde_json::json!({"LayersSize": 4_400_000,
                "Images": [{"Id": "sha256:0123456789abcdef0123", "RepoTags": ["busybox:latest", "bb:1"],
                    "Created": 1_000, "Size": 4_400_000, "SharedSize": 1_000_000, "Containers": 1},
                    {"Id": "sha256:fedcba9876543210fedc", "RepoTags": [], "Created": 1_000,
                    "Size": 1234, "SharedSize": -1, "Containers": 0}],
                "Containers": [{"Id": "fedcba9876543210fedcba", "Names": ["/web"], "Image": "busybox",
                    "ImageID": "sha256:0123456789abcdef0123", "Command": "sleep 1000", "Created": 1_000,
                    "SizeRw": 12, "SizeRootFs": 4_400_012, "State": "running", "Status": "Up 2 minutes",
                    "Mounts": [{"Type": "volume", "Name": "v2", "Driver": "local"}]}],
                "Volumes": [v[1].clone(), unused], "BuildCache": []});
            json_reply("200 OK", &df.to_string())
        } else if r.method == "DELETE" {
            empty_reply("204 No Content")
        } else {
            json_reply("404 Not Found", r#"{"message":"page not found"}"#)
        }
    })
}

#[test]
fn volume_commands_match_the_docker_cli() {
    if !super::need(
        super::docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    for args in [
        &["volume", "create"][..],
        &[
            "volume",
            "create",
            "-d",
            "foo",
            "--label",
            "a=b",
            "--label",
            "c",
            "-o",
            "type=tmpfs",
            "-o",
            "o=size=1m,uid=1000",
            "myv",
        ],
        &["volume", "create", "--name", "x"],
        &["volume", "create", "--name", "x", "y"],
        &["volume", "create", "--label", "=x"],
        &["volume", "create", "-o", "x", "v"],
        &["volume", "create", "a", "b"],
        &["volume", "ls"],
        &["volume", "list", "-q"],
        &["volume", "ls", "--filter", "dangling=true", "-f", "label=a"],
        &["volume", "ls", "-f", "bad"],
        &[
            "volume",
            "ls",
            "--format",
            "{{.Name}}|{{.Driver}}|{{.Labels}}|{{.Links}}|{{.Size}}|{{.Scope}}|{{.Mountpoint}}",
        ],
        &["volume", "ls", "--format", "json"],
        &["volume", "ls", "--format", "table {{.Name}}\t{{.Size}}"],
        &["volume", "ls", "-q", "--format", "{{.Driver}}"],
        &["volume", "ls", "extra"],
        &["volume", "inspect", "v10", "v2"],
        &["volume", "inspect", "nope"],
        &["volume", "inspect", "v10", "nope"],
        &["volume", "inspect", "-f", "{{.Name}} {{.Options}}", "v10"],
        &["volume", "inspect"],
        &["volume", "rm", "v10", "nope", "busy"],
        &["volume", "remove", "-f", "v10"],
        &["volume", "rm"],
        &["volume", "prune", "-f"],
        &["volume", "prune", "-a", "-f"],
        &["volume", "prune", "-a", "-f", "--filter", "all=1"],
        &["volume", "prune", "-f", "--filter", "label=a"],
        &["volume", "prune"],
        &["volume", "prune", "--all"],
        &["volume", "bogus"],
        &["system", "df", "-v"],
    ] {
        super::assert_like_docker(canned, args, str::to_string);
    }
}

#[test]
fn run_volume_flags_send_what_the_docker_cli_sends() {
    if !super::need(super::docker_available(), "docker CLI") {
        return;
    }
    let sets: Vec<Vec<&str>> = vec![
        vec![
            "create",
            "-v",
            "myvol:/data",
            "-v",
            "/anon",
            "-v",
            "./rel:/r:ro",
            "-v",
            "/h:/x:ro,z",
            "-v",
            "named:/n:nocopy",
            "-v",
            "c:/data",
            "-v",
            "a:b:c:d",
            "--volume-driver",
            "foo",
            "--volumes-from",
            "c1:ro",
            "--volumes-from",
            "c2",
            "busybox",
        ],
        vec![
            "run",
            "-d",
            "--mount",
            "type=volume,src=v,dst=/d,volume-nocopy",
            "--mount",
            "type=volume,src=w,dst=/e,readonly=false,volume-label=a=b,volume-driver=local,volume-opt=type=tmpfs,\"volume-opt=o=size=1m,uid=1000\"",
            "--mount",
            "type=volume,dst=/anon",
            "--mount",
            "src=x,target=/f,ro=1",
            "--mount",
            "type=volume,src=s,dst=/g,volume-subpath=sub",
            "--mount",
            "type=bind,src=.,dst=/h",
            "busybox",
        ],
    ];
    for args in sets {
        let (d, b) = super::both(&args);
        let create = |reqs: &[Req]| {
            let r = reqs
                .iter()
                .find(|r| r.path.contains("/containers/create"))
                .cloned()
                .expect("a create request");
            let mut j = r.json();
            // docker's Binds come out of a Go map: compare them as a set.
            if let Some(b) = j["HostConfig"]["Binds"].as_array_mut() {
                b.sort_by_key(|x| x.to_string());
            }
            (r.path, j)
        };
        let ((dp, dj), (bp, bj)) = (create(&d), create(&b));
        assert_eq!(bp, dp, "{args:?}");
        for k in ["Binds", "Mounts", "VolumeDriver", "VolumesFrom"] {
            assert_eq!(
                bj["HostConfig"][k], dj["HostConfig"][k],
                "HostConfig.{k} for {args:?}"
            );
        }
        assert_eq!(bj, dj, "whole body for {args:?}");
    }
    // Bad specs: docker's words, status 125, nothing sent.
    for (spec, flag) in [
        (":/x", "-v"),
        ("/a:/b:ro:x", "-v"),
        ("type=bind,src=/x,dst=/d,volume-nocopy", "--mount"),
        ("type=volume", "--mount"),
    ] {
        let f = super::permissive();
        let out = Command::new("docker")
            .env("DOCKER_HOST", f.host())
            .args(["create", flag, spec, "busybox"])
            .output()
            .unwrap();
        let dmsg = String::from_utf8_lossy(&out.stderr).replace("docker", "berth");
        let b = super::permissive();
        let code = super::berth(&b.host(), &["create", flag, spec, "busybox"]);
        assert_eq!(Some(code), out.status.code(), "{flag} {spec}: {dmsg}");
        assert!(
            !b.requests().iter().any(|r| r.path.contains("/create")),
            "{flag} {spec}"
        );
    }
}
