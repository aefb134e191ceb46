//! Raw HTTP over the socket (curl): versioned and unversioned paths, version refusals, JSON errors
//! for bad input and unknown or unbuilt routes, headers on every response, HEAD /_ping.

use berth_daemon::StorageDriver;

use crate::harness::TestDaemon;

fn message(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"))
        .to_string()
}

#[test]
fn ping_version_and_headers() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let (status, head, body) = d.curl("HEAD", "/_ping", &[]);
    assert_eq!(status, 200);
    assert!(body.is_empty());
    for h in [
        "api-version: 1.50",
        "ostype: linux",
        "docker-experimental: false",
        "builder-version: 1",
        "swarm: inactive",
        "server: berth/",
    ] {
        assert!(head.contains(h), "missing {h} in {head}");
    }
    let (status, _, body) = d.curl("GET", "/_ping", &[]);
    assert_eq!((status, body.as_str()), (200, "OK"));

    for path in [
        "/version",
        "/v1.50/version",
        "/v1.24/version",
        "/v1.41/version",
    ] {
        let (status, head, body) = d.curl("GET", path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(head.contains("application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["ApiVersion"], "1.50");
        assert_eq!(v["MinAPIVersion"], "1.24");
    }
}

#[test]
fn versions_outside_the_range_are_refused_like_docker() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let (status, head, body) = d.curl("GET", "/v1.12/version", &[]);
    assert_eq!(status, 400);
    assert!(head.contains("api-version: 1.50"), "{head}");
    assert_eq!(
        message(&body),
        "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    let (status, _, body) = d.curl("GET", "/v1.99/images/json", &[]);
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "client version 1.99 is too new. Maximum supported API version is 1.50"
    );
}

#[test]
fn errors_are_json_with_dockers_statuses() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let (status, head, body) = d.curl("GET", "/nope/at/all", &[]);
    assert_eq!((status, message(&body).as_str()), (404, "page not found"));
    assert!(head.contains("api-version: 1.50"), "{head}");
    assert!(head.contains("application/json"), "{head}");

    let (status, _, body) = d.curl("GET", "/v1.50/images/nope/json", &[]);
    assert_eq!(
        (status, message(&body).as_str()),
        (404, "No such image: nope:latest")
    );

    let (status, _, body) = d.curl("GET", "/v1.50/containers/x/checkpoints", &[]);
    assert_eq!(status, 501, "{body}");
    message(&body);

    let (status, _, body) = d.curl("GET", "/v1.50/containers/x/stats?stream=false", &[]);
    assert_eq!(
        (status, message(&body).as_str()),
        (404, "No such container: x")
    );

    let (status, _, body) = d.curl("GET", "/v1.50/swarm", &[]);
    assert_eq!(status, 503, "{body}");
    assert!(message(&body).contains("not a swarm manager"));

    let json = [
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "{\"Image\": ",
    ];
    let (status, _, body) = d.curl("POST", "/v1.50/containers/create", &json);
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).starts_with("invalid JSON body"), "{body}");

    let wrong_type = [
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "{\"Image\": 5}",
    ];
    let (status, _, body) = d.curl("POST", "/v1.50/containers/create", &wrong_type);
    assert_eq!(status, 400, "{body}");

    let (status, _, body) = d.curl("GET", "/images/json?filters=%7Bbad", &[]);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = d.curl(
        "GET",
        "/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        &[],
    );
    assert_eq!(
        (status, message(&body).as_str()),
        (400, "invalid filter 'bogus'")
    );

    // A wrong method on a known route is still JSON, never an empty 405.
    let (status, _, body) = d.curl("PUT", "/v1.50/version", &[]);
    assert_eq!(status, 404, "{body}");
    message(&body);

    // The daemon is unharmed.
    let (status, _, _) = d.curl("GET", "/_ping", &[]);
    assert_eq!(status, 200);
}

#[test]
fn images_json_answers_dockers_shape() {
    let d = TestDaemon::start(StorageDriver::Vfs);
    let id = d.import_busybox("busybox:latest");
    let (status, _, body) = d.curl("GET", "/v1.50/images/json", &[]);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let img = &v[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["RepoTags"][0], "busybox:latest");
    assert_eq!(img["SharedSize"], -1);
    assert!(
        img["Created"].as_i64().unwrap_or(0) > 1_700_000_000,
        "{body}"
    );
    assert!(img["Size"].as_i64().unwrap_or(0) > 1 << 20, "{body}");
}
