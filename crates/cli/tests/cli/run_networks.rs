//! `run`/`create --network` given more than once and in its long syntax, compared with the real
//! docker CLI 28: the create body (NetworkMode, every endpoint with its settings) is the docker
//! CLI's, and what it refuses (a network named twice, built-in and user-defined networks mixed,
//! a per-network setting beside its container-wide flag, a bad field) makes no request in berth
//! either, with exit status 125.

use super::{both, create_body, docker_available, need};

#[test]
fn network_flags_send_what_the_docker_cli_sends() {
    if !need(docker_available(), "docker CLI") {
        return;
    }
    let sets: [&[&str]; 7] = [
        &["create", "--network", "a", "--network", "b", "busybox"],
        &[
            "create",
            "--network",
            "name=a,alias=x,ip=10.1.0.5",
            "--network",
            "b",
            "busybox",
        ],
        &[
            "create",
            "--network",
            "a",
            "--network-alias",
            "x",
            "--ip",
            "10.1.0.6",
            "--network",
            "b",
            "busybox",
        ],
        &[
            "create",
            "--network",
            "name=a,driver-opt=k=v,gw-priority=2,mac-address=02:42:0a:01:00:07",
            "busybox",
        ],
        &[
            "create",
            "--network",
            "a",
            "--link",
            "web:w",
            "--network",
            "name=b,alias=B",
            "busybox",
        ],
        &[
            "create",
            "--network",
            "name=a,link-local-ip=169.254.1.1",
            "busybox",
        ],
        &["run", "-d", "--network", "host", "busybox"],
    ];
    for args in sets {
        let (d, b) = both(args);
        let (dj, bj) = (create_body(&d), create_body(&b));
        assert!(dj.is_some(), "docker sent no create for {args:?}");
        assert_eq!(bj, dj, "create body for {args:?}");
    }
}

#[test]
fn refused_network_flags_make_no_request() {
    let sets: [&[&str]; 6] = [
        &["create", "--network", "a", "--network", "a", "busybox"],
        &["create", "--network", "bridge", "--network", "a", "busybox"],
        &[
            "create",
            "--network",
            "name=a,alias=x",
            "--network-alias",
            "y",
            "busybox",
        ],
        &["create", "--network", "name=a,color=red", "busybox"],
        &["create", "--network", "alias=x", "busybox"],
        &[
            "create",
            "--network",
            "bridge",
            "--network-alias",
            "x",
            "busybox",
        ],
    ];
    for args in sets {
        let f = super::permissive();
        let code = super::berth(&f.host(), args);
        assert_eq!(code, 125, "{args:?}");
        assert!(create_body(&f.requests()).is_none(), "{args:?}");
        if docker_available() {
            let (d, _) = both(args);
            assert!(create_body(&d).is_none(), "the docker CLI sent {args:?}");
        }
    }
}
