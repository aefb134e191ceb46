//! Table tests for reference parsing, modelled on Docker's normalisation behaviour.

use super::*;

const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// input → (full form, familiar form, registry, repository)
fn valid_cases() -> Vec<(String, String, String, &'static str, &'static str)> {
    let d = format!("sha256:{HEX}");
    let rows: Vec<(String, String, String, &str, &str)> = vec![
        (
            "busybox".into(),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
            "docker.io",
            "library/busybox",
        ),
        (
            "busybox:1.36".into(),
            "docker.io/library/busybox:1.36".into(),
            "busybox:1.36".into(),
            "docker.io",
            "library/busybox",
        ),
        (
            "library/busybox".into(),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
            "docker.io",
            "library/busybox",
        ),
        (
            "docker.io/busybox".into(),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
            "docker.io",
            "library/busybox",
        ),
        (
            "index.docker.io/library/busybox:x".into(),
            "docker.io/library/busybox:x".into(),
            "busybox:x".into(),
            "docker.io",
            "library/busybox",
        ),
        (
            "team/app".into(),
            "docker.io/team/app:latest".into(),
            "team/app:latest".into(),
            "docker.io",
            "team/app",
        ),
        (
            "docker.io/library/a/b".into(),
            "docker.io/library/a/b:latest".into(),
            "library/a/b:latest".into(),
            "docker.io",
            "library/a/b",
        ),
        (
            "localhost:5000/team/app:1.2".into(),
            "localhost:5000/team/app:1.2".into(),
            "localhost:5000/team/app:1.2".into(),
            "localhost:5000",
            "team/app",
        ),
        (
            "localhost/app".into(),
            "localhost/app:latest".into(),
            "localhost/app:latest".into(),
            "localhost",
            "app",
        ),
        (
            "localhost:5000".into(),
            "docker.io/library/localhost:5000".into(),
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
        ),
        (
            "ghcr.io/o-r/x.y__z-w:v1.0_rc-1".into(),
            "ghcr.io/o-r/x.y__z-w:v1.0_rc-1".into(),
            "ghcr.io/o-r/x.y__z-w:v1.0_rc-1".into(),
            "ghcr.io",
            "o-r/x.y__z-w",
        ),
        (
            "[::1]:5000/app:t".into(),
            "[::1]:5000/app:t".into(),
            "[::1]:5000/app:t".into(),
            "[::1]:5000",
            "app",
        ),
        (
            "Registry.Example.com/app".into(),
            "Registry.Example.com/app:latest".into(),
            "Registry.Example.com/app:latest".into(),
            "Registry.Example.com",
            "app",
        ),
        (
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
        ),
        (
            format!("busybox:1@{d}"),
            format!("docker.io/library/busybox:1@{d}"),
            format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
        ),
        (
            format!("a:{}", "t".repeat(128)),
            format!("docker.io/library/a:{}", "t".repeat(128)),
            format!("a:{}", "t".repeat(128)),
            "docker.io",
            "library/a",
        ),
    ];
    rows
}

#[test]
fn valid_references_normalise() {
    for (input, full, familiar, registry, repository) in valid_cases() {
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(r.full(), full, "{input:?}");
        assert_eq!(r.to_string(), full, "{input:?}");
        assert_eq!(r.familiar(), familiar, "{input:?}");
        assert_eq!(r.registry(), registry, "{input:?}");
        assert_eq!(r.repository(), repository, "{input:?}");
        // The full form parses back to the same reference.
        assert_eq!(Reference::parse(&full).unwrap(), r, "{full:?}");
    }
}

#[test]
fn invalid_references_give_dockers_reason() {
    let long_name = format!("{}/{}", "a".repeat(127), "b".repeat(128)); // 256 with docker.io/ prefix
    let cases: Vec<(String, &str)> = vec![
        (
            "".into(),
            "invalid reference format: repository name must have at least one component",
        ),
        (
            "Busybox".into(),
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        (
            "docker.io/Team/app".into(),
            "invalid reference format: repository name (Team/app) must be lowercase",
        ),
        (HEX.into(), "cannot specify 64-byte hexadecimal strings"),
        (long_name, "must not be more than 255 characters"),
        (
            format!("a:{}", "t".repeat(129)),
            "invalid reference format: tag",
        ),
        ("a:-x".into(), "invalid reference format: tag \"-x\""),
        ("a:".into(), "invalid reference format: tag \"\""),
        ("a:t@x".into(), "invalid reference format: invalid digest"),
        ("a@sha256:abc".into(), "sha256 needs 64 hex digits"),
        ("a@md5:abc".into(), "unsupported digest algorithm"),
        (
            format!("a@sha256:{}", HEX.to_uppercase()),
            "lower-case hexadecimal",
        ),
        ("a/".into(), "invalid reference format: repository"),
        ("a//b".into(), "invalid reference format: repository"),
        ("a..b".into(), "invalid reference format: repository"),
        ("-a".into(), "invalid reference format: repository"),
        ("a_".into(), "invalid reference format: repository"),
        ("a___b".into(), "invalid reference format: repository"),
        ("a b".into(), "invalid reference format: repository"),
        (
            "host:port/app".into(),
            "invalid reference format: registry \"host:port\"",
        ),
        ("-bad.io/app".into(), "invalid reference format: registry"),
        ("[zz]:5/app".into(), "invalid reference format: registry"),
        (
            ":tag".into(),
            "repository name must have at least one component",
        ),
    ];
    for (input, message) in cases {
        let err = Reference::parse(&input)
            .map(|r| r.full())
            .expect_err(&input)
            .to_string();
        assert!(
            err.contains(message),
            "{input:?}: {err:?} lacks {message:?}"
        );
    }
}

#[test]
fn names_at_the_limit_are_accepted() {
    // docker.io/ (10) + library/ (8) + 237 = 255
    let name = "a".repeat(237);
    assert!(Reference::parse(&name).is_ok());
    assert!(Reference::parse(&format!("{name}b")).is_err());
}

#[test]
fn exact_parse_keeps_bare_names_and_helpers_work() {
    let r = Reference::parse_exact("busybox").unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.full(), "docker.io/library/busybox");
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.name(), "docker.io/library/busybox");
    let tagged = r.with_default_tag();
    assert_eq!(tagged.tag(), Some("latest"));
    assert_eq!(r.with_tag("v2").unwrap().familiar(), "busybox:v2");
    assert!(r.with_tag("bad tag").is_err());
    let d = Digest::from_sha256_hex(HEX).unwrap();
    let pinned = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
    assert_eq!(pinned.tag(), None);
    assert_eq!(pinned.digest(), Some(&d));
    assert_eq!(tagged.with_digest(d.clone()).digest(), Some(&d));
    assert_eq!(tagged.name_only(), r);
    let json = serde_json::to_string(&tagged).unwrap();
    assert_eq!(json, "\"docker.io/library/busybox:latest\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), tagged);
    assert_eq!("busybox".parse::<Reference>().unwrap(), tagged);
}
