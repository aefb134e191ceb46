//! `run`/`create --link` compared with the real docker CLI: the create body (HostConfig.Links,
//! and on a user-defined network the endpoint's Links) is the docker CLI's, and a malformed link
//! is refused before any request, with the docker CLI's words.

use super::{both, create_body, docker_available, need};

#[test]
fn link_flags_send_what_the_docker_cli_sends() {
    if !need(docker_available(), "docker CLI") {
        return;
    }
    let sets: [&[&str]; 4] = [
        &["run", "-d", "--link", "web", "busybox"],
        &[
            "create",
            "--link",
            "web:w",
            "--link",
            "/db:/me/d",
            "busybox",
            "true",
        ],
        &["create", "--network", "net1", "--link", "web:w", "busybox"],
        &["create", "--network", "bridge", "--link", "web", "busybox"],
    ];
    for args in sets {
        let (d, b) = both(args);
        let (dj, bj) = (create_body(&d), create_body(&b));
        assert!(dj.is_some(), "docker sent no create for {args:?}");
        assert_eq!(bj, dj, "create body for {args:?}");
    }
}

#[test]
fn malformed_links_are_refused_before_any_request() {
    for bad in ["a:b:c", ""] {
        let f = super::permissive();
        let code = super::berth(&f.host(), &["create", "--link", bad, "busybox"]);
        assert_eq!(code, 125, "--link {bad:?}");
        assert!(create_body(&f.requests()).is_none(), "--link {bad:?}");
    }
    if !need(docker_available(), "docker CLI") {
        return;
    }
    let (d, _) = both(&["create", "--link", "a:b:c", "busybox"]);
    assert!(create_body(&d).is_none(), "the docker CLI refuses it too");
}
