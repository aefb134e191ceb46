//! Bad input gets Docker's errors and status codes, and the daemon stays healthy.

use crate::harness::{code, opted_in, stderr, Daemon};

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bad_requests_get_dockers_errors() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker(&["ps", "--no-such-flag"]);
    assert_ne!(code(&out), 0);
    let (status, body) = d.curl("POST", "/v1.50/containers/create", Some("{bad json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (status, body) = d.curl("POST", "/v1.50/containers/create", Some(r#"{"Image": 5}"#));
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.curl(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.curl(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"nope-berth"}"#),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such image: nope-berth:latest"), "{body}");
    d.ok(&["create", "--name", "twin", "busybox", "true"]);
    let out = d.docker(&["create", "--name", "twin", "busybox", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out)
            .contains("Conflict. The container name \"/twin\" is already in use by container"),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.curl(
        "POST",
        "/v1.50/containers/create?name=twin",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(status, 409);
    let (status, body) = d.curl("GET", "/v1.50/containers/nothere/json", None);
    assert_eq!(status, 404);
    assert!(body.contains("No such container: nothere"), "{body}");
    let (status, _) = d.curl("POST", "/v1.50/containers/twin/wait?condition=bogus", None);
    assert_eq!(status, 400);
    // Still healthy.
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "fine"]), "fine");
    d.ok(&["version"]);
}
