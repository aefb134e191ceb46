//! `docker commit` and `docker inspect` across object types, driven by the real docker CLI: a
//! committed image runs with the committed file and the `--change`d CMD, its history shows the new
//! layer, a missing container is Docker's 404; `docker inspect` finds containers and images by
//! name and answers Docker's "No such object" for anything else.

use crate::harness::{code, opted_in, stderr, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn commit_then_run_the_new_image() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo committed > /f",
    ]);
    let id = d.ok(&[
        "commit",
        "-c",
        r#"CMD ["cat","/f"]"#,
        "-c",
        "ENV COMMITTED=yes",
        "-m",
        "add f",
        "-a",
        "tester",
        "src",
        "mine:v1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 1;
    let events = d.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &now.to_string(),
        "--filter",
        "event=commit",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.imageID}}",
    ]);
    assert_eq!(events, format!("src {id}"));
    assert_eq!(d.ok(&["run", "--rm", "mine:v1"]), "committed");
    assert_eq!(
        d.inspect("mine:v1", "{{json .Config.Cmd}} {{.Author}} {{.Comment}}"),
        r#"["cat","/f"] tester add f"#
    );
    let env = d.inspect("mine:v1", "{{json .Config.Env}}");
    assert!(
        env.contains("COMMITTED=yes") && env.contains("PATH="),
        "{env}"
    );

    let base = d.ok(&["history", "-q", "busybox"]).lines().count();
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "mine:v1",
    ]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), base + 1, "{history}");
    assert!(lines[0].ends_with("|add f"), "{history}");
    assert!(lines[0].contains("echo committed"), "{history}");

    // A running container is frozen for the copy, and runs on afterwards.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "echo live > /g; sleep 300",
    ]);
    crate::harness::eventually(
        std::time::Duration::from_secs(10),
        "the file to be written",
        || code(&d.docker(&["exec", "busy", "cat", "/g"])) == 0,
    );
    d.ok(&["commit", "busy", "mine:v2"]);
    assert_eq!(d.inspect("busy", "{{.State.Status}}"), "running");
    assert_eq!(d.ok(&["run", "--rm", "mine:v2", "cat", "/g"]), "live");
    d.ok(&["commit", "--pause=false", "busy", "mine:v3"]);

    let out = d.docker(&["commit", "nope", "x:1"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("No such container: nope"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.curl("POST", "/commit?container=nope", None);
    assert_eq!(status, 404, "{body}");
    let out = d.docker(&["commit", "-c", "RUN make", "src", "x:2"]);
    assert_ne!(code(&out), 0, "RUN is not a valid --change");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn inspect_tries_every_object_type() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["create", "--name", "box", "busybox", "true"]);
    assert_eq!(d.ok(&["inspect", "--format", "{{.Name}}", "box"]), "/box");
    let tags = d.ok(&["inspect", "--format", "{{json .RepoTags}}", "busybox"]);
    assert!(tags.contains("busybox:latest"), "{tags}");

    let out = d.docker(&["inspect", "nope"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No such object: nope"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["inspect", "some/thing:1"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("No such object"), "{}", stderr(&out));

    let (status, body) = d.curl("GET", "/volumes/nope", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("get nope: no such volume"), "{body}");
    let (status, body) = d.curl("GET", "/volumes", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""Volumes":[]"#), "{body}");
    let out = d.docker(&["volume", "inspect", "nope"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("no such volume"), "{}", stderr(&out));
}
