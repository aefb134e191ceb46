//! `diff` (and `container diff`) and `builder prune` compared with the real docker CLI: both run
//! against fresh canned fakes; the requests (method, path, JSON body), stdout, stderr (with
//! "docker" read as "berth") and exit codes must be identical.

use super::berth_exe;
use crate::fake::{json_reply, Fake, Reply, Req};

fn canned() -> Fake {
    Fake::start(|r: &Req| {
        let p = r.path.as_str();
        if p == "/_ping" {
            Reply {
                bytes: b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
                close: false,
            }
        } else if p.contains("/containers/nope/") {
            json_reply("404 Not Found", r#"{"message":"No such container: nope"}"#)
        } else if p.contains("/containers/empty/changes") {
            json_reply("200 OK", "null")
        } else if p.contains("/changes") {
            json_reply(
                "200 OK",
                r#"[{"Path":"/etc","Kind":0},{"Path":"/etc/x y","Kind":1},{"Path":"/bin/sh","Kind":2}]"#,
            )
        } else if p.contains("/build/prune") && p.contains("all=") {
            json_reply(
                "200 OK",
                r#"{"CachesDeleted":["abc123","def456"],"SpaceReclaimed":2097152}"#,
            )
        } else if p.contains("/build/prune") {
            json_reply("200 OK", r#"{"CachesDeleted":null,"SpaceReclaimed":0}"#)
        } else {
            json_reply("404 Not Found", r#"{"message":"page not found"}"#)
        }
    })
}

#[test]
fn diff_and_builder_prune_match_the_docker_cli() {
    if !super::need(
        super::docker_available() && berth_exe().exists(),
        "docker CLI or the berth example binary",
    ) {
        return;
    }
    for args in [
        &["diff", "box"][..],
        &["container", "diff", "box"],
        &["diff", "empty"],
        &["diff", "nope"],
        &["diff"],
        &["diff", "a", "b"],
        &["builder", "prune", "-f"],
        &["builder", "prune", "-a", "-f"],
        &[
            "builder",
            "prune",
            "--all",
            "--force",
            "--keep-storage",
            "1g",
            "--filter",
            "until=24h",
        ],
        &["builder", "prune", "-f", "--keep-storage", "lots"],
        &["builder", "prune"],
        &["builder", "prune", "-a"],
        &["builder", "prune", "extra"],
    ] {
        super::assert_like_docker(canned, args, without_buildx_banner);
    }
}

/// The docker CLI's stderr without its banner about the legacy builder (it has no buildx here;
/// berth's classic builder is its own, not deprecated).
fn without_buildx_banner(stderr: &str) -> String {
    match stderr.strip_prefix("DEPRECATED: The legacy builder is deprecated") {
        Some(rest) => rest
            .split_once("\n\n")
            .map(|(_, after)| after)
            .unwrap_or("")
            .to_string(),
        None => stderr.to_string(),
    }
}
