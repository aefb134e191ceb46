//! The berth CLI's `volume` commands (and the volume flags of `run`) against a berth daemon:
//! create, ls with filters, inspect, data written by one container and read by the next, rm
//! refused while a container uses the volume, `system df -v`, prune of anonymous volumes only
//! unless `--all`, the prompt, and bad input answered with docker's words and exit codes.

use crate::harness::{code, opted_in, stderr, stdout, Daemon};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `berth -H <sock> ARGS`, with `input` on stdin (closed at once when empty).
fn berth_input(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", d.sock.display()))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .current_dir(d.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running berth");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().expect("berth output")
}

fn berth(d: &Daemon, args: &[&str]) -> Output {
    berth_input(d, args, b"")
}

/// Runs berth and asserts success; returns stdout.
fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = berth(d, args);
    assert_eq!(
        code(&out),
        0,
        "berth {args:?}: {}\n--- daemon log ---\n{}",
        stderr(&out),
        d.log()
    );
    stdout(&out)
}

fn names(d: &Daemon, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    args.extend_from_slice(extra);
    let mut v: Vec<String> = ok(d, &args).lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_commands_create_list_inspect_use_and_remove() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    assert_eq!(
        ok(&d, &["volume", "create", "--label", "team=x", "v1"]),
        "v1\n"
    );
    let generated = ok(&d, &["volume", "create"]);
    let generated = generated.trim();
    assert!(
        generated.len() == 64 && generated.chars().all(|c| c.is_ascii_hexdigit()),
        "{generated:?}"
    );
    let table = ok(&d, &["volume", "ls"]);
    assert!(table.starts_with("DRIVER    VOLUME NAME\n"), "{table}");
    assert!(table.contains("local     v1\n"), "{table}");
    let mut all = vec![generated.to_string(), "v1".to_string()];
    all.sort();
    assert_eq!(names(&d, &[]), all);
    assert_eq!(names(&d, &["--filter", "label=team=x"]), ["v1"]);
    assert_eq!(names(&d, &["-f", "name=v1"]), ["v1"]);
    assert_eq!(
        ok(
            &d,
            &[
                "volume",
                "inspect",
                "-f",
                "{{.Name}} {{.Driver}} {{.Labels.team}} {{.Scope}}",
                "v1"
            ]
        ),
        "v1 local x local\n"
    );
    let json = ok(&d, &["volume", "inspect", "v1"]);
    assert!(json.starts_with("[\n    {\n"), "{json}");
    assert!(json.contains("\"Mountpoint\": \""), "{json}");

    // Data written through one container is read by the next; `ro` is honoured.
    ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "v1:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    assert_eq!(
        ok(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                "v1:/data:ro",
                "busybox",
                "cat",
                "/data/f"
            ]
        ),
        "kept\n"
    );
    let out = berth(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "v1:/data:ro",
            "busybox",
            "touch",
            "/data/g",
        ],
    );
    assert_ne!(code(&out), 0, "a read-only volume took a write");
    // --mount makes a missing volume with its labels on first use.
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=mv,dst=/m,volume-label=made=by-mount",
            "busybox",
            "true",
        ],
    );
    assert_eq!(
        ok(&d, &["volume", "inspect", "-f", "{{.Labels.made}}", "mv"]),
        "by-mount\n"
    );

    // In use: refused with the daemon's reason, exit 1; df -v counts the link.
    ok(
        &d,
        &[
            "run", "-d", "--name", "holder", "-v", "v1:/data", "busybox", "sleep", "600",
        ],
    );
    let out = berth(&d, &["volume", "rm", "v1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).starts_with("Error response from daemon: ") && stderr(&out).contains("in use"),
        "{}",
        stderr(&out)
    );
    let df = ok(&d, &["system", "df", "-v"]);
    let section = df
        .split("Local Volumes space usage:\n\n")
        .nth(1)
        .unwrap_or_default();
    let header: Vec<&str> = section
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["VOLUME", "NAME", "LINKS", "SIZE"], "{df}");
    let row = section
        .lines()
        .find(|l| l.starts_with("v1 "))
        .unwrap_or_default();
    assert_eq!(row.split_whitespace().nth(1), Some("1"), "{df}");
    ok(&d, &["rm", "-f", "holder"]);
    assert_eq!(
        ok(&d, &["volume", "rm", "v1", generated]),
        format!("v1\n{generated}\n")
    );
    assert_eq!(names(&d, &[]), ["mv"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn prune_takes_anonymous_volumes_unless_all() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    ok(&d, &["volume", "create", "keep"]);
    // An anonymous volume outlives a plain `rm` (only `rm -v` and `--rm` take it).
    ok(
        &d,
        &[
            "run",
            "--name",
            "anon",
            "-v",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "echo x > /scratch/f",
        ],
    );
    let anon = ok(
        &d,
        &["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"],
    );
    let anon = anon.trim().to_string();
    assert_eq!(anon.len(), 64, "{anon:?}");
    ok(&d, &["rm", "anon"]);
    let mut want = vec![anon.clone(), "keep".to_string()];
    want.sort();
    assert_eq!(names(&d, &[]), want);
    assert_eq!(names(&d, &["-f", "dangling=true"]), want);

    // Declining the prompt removes nothing and succeeds.
    let out = berth_input(&d, &["volume", "prune"], b"n\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(names(&d, &[]), want);

    let out = berth_input(&d, &["volume", "prune"], b"y\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "Deleted Volumes:\n{anon}\n\nTotal reclaimed space: "
        )),
        "{text}"
    );
    assert_eq!(names(&d, &[]), ["keep"]);
    let text = ok(&d, &["volume", "prune", "-a", "-f"]);
    assert!(text.starts_with("Deleted Volumes:\nkeep\n"), "{text}");
    assert!(names(&d, &[]).is_empty());
    let out = berth(&d, &["volume", "prune", "-a", "-f", "--filter", "all=1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("conflicting options"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bad_volume_input_gets_dockers_answers() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    for (args, status, needle) in [
        (&["volume", "inspect", "nope"][..], 1, "no such volume"),
        (&["volume", "rm", "nope"], 1, "no such volume"),
        (
            &["volume", "create", "a/b"],
            1,
            "Error response from daemon: ",
        ),
        (
            &["volume", "create", "-d", "nosuchdriver", "x"],
            1,
            "Error response from daemon: ",
        ),
        (
            &["volume", "create", "--label", "=x", "y"],
            125,
            "invalid label '=x': empty name",
        ),
        (
            &["volume", "create", "a", "b"],
            1,
            "requires at most 1 argument",
        ),
        (
            &["run", "--rm", "-v", ":/x", "busybox", "true"],
            125,
            "invalid spec: :/x: empty section between colons",
        ),
        (
            &["run", "--rm", "--mount", "type=volume", "busybox", "true"],
            125,
            "target is required",
        ),
    ] {
        let out = berth(&d, args);
        assert_eq!(code(&out), status, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // Nothing was left behind by the refusals.
    assert!(names(&d, &[]).is_empty());
    assert_eq!(ok(&d, &["ps", "-aq"]), "");
}
