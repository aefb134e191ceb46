//! Berth's registry server behind an external token server (issue #10, #14): `berth registry
//! serve --token-auth --token-rootcertbundle CA --token-realm URL` accepts the JWTs a token server
//! of the test signs (RS256 with an `x5c` chain to a test CA, or ES256 with the `kid` of a
//! certificate of the bundle), granting what each token's `access` says: skopeo and the docker
//! CLI (through a Berth daemon) push and pull through it, a user without push is refused, a
//! token signed by a key outside the bundle is refused, and a cross-repository mount without pull
//! on its source is a plain upload.

use std::process::Command;

use crate::harness::{opted_in, stderr, stdout, Daemon};
use crate::registry_own::BerthRegistry;
use crate::registry_token_server::{b64, token_pki, TokenServer, ISSUER, SERVICE};
fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo").args(args).output().expect("skopeo")
}

/// `curl` of Berth's registry with a bearer token: the status.
fn status_with(token: &str, method: &str, url: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .expect("curl");
    stdout(&out).trim().parse().unwrap_or(0)
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn berths_registry_takes_the_tokens_of_an_external_token_server() {
    if !opted_in() {
        return;
    }
    let (pki, x5c, kid, rogue) = token_pki();
    let tokens = TokenServer::start(vec![
        (
            "alice",
            "pw-a",
            vec![
                ("team/app", "pull,push"),
                ("team/base", "pull,push"),
                ("alice/new", "pull,push"),
            ],
            x5c.clone(),
        ),
        (
            "bob",
            "pw-b",
            vec![("team/app", "pull"), ("bob/app", "pull,push")],
            kid,
        ),
        (
            "mallory",
            "pw-m",
            vec![("team/app", "pull,push"), ("team/base", "pull,push")],
            rogue,
        ),
    ]);
    let bundle = pki.path().join("bundle.pem");
    let reg = BerthRegistry::start_with_flags(&[
        "--token-auth",
        "--token-realm",
        &tokens.realm,
        "--token-service",
        SERVICE,
        "--token-issuer",
        ISSUER,
        "--token-rootcertbundle",
        bundle.to_str().expect("utf-8"),
    ]);
    let d = Daemon::start();
    let tar = d.dir.path().join("seed.tar");
    d.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    let src = format!("docker-archive:{}", tar.display());
    let copy_as = |creds: &str, repo_tag: &str| {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &src,
            &format!("docker://{}/{repo_tag}", reg.addr),
        ])
    };
    // skopeo: alice (RS256, x5c to the CA) pushes; bob (ES256, kid) may only pull team/app.
    let out = copy_as("alice:pw-a", "team/app:1");
    assert!(out.status.success(), "alice: {}", stderr(&out));
    let out = copy_as("alice:pw-a", "team/base:1");
    assert!(out.status.success(), "alice: {}", stderr(&out));
    let out = copy_as("bob:pw-b", "team/app:2");
    assert!(!out.status.success(), "bob pushed without push");
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "bob:pw-b",
        "--format",
        "{{.Digest}}",
        &format!("docker://{}/team/app:1", reg.addr),
    ]);
    assert!(out.status.success(), "bob inspect: {}", stderr(&out));
    let digest = stdout(&out).trim().to_string();
    // A token signed by a key outside the bundle is no token, whatever it grants.
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "mallory:pw-m",
        &format!("docker://{}/team/app:1", reg.addr),
    ]);
    assert!(!out.status.success(), "mallory's rogue token was taken");
    let forged = tokens.token("mallory", "pw-m", &["repository:team/app:pull"]);
    let manifest = format!("http://{}/v2/team/app/manifests/1", reg.addr);
    assert_eq!(status_with(&forged, "GET", &manifest), 401);
    let good = tokens.token("bob", "pw-b", &["repository:team/app:pull"]);
    assert_eq!(status_with(&good, "GET", &manifest), 200);
    // A token with `alg` none and the same claims is refused.
    let claims = good.split('.').nth(1).expect("claims").to_string();
    let none = format!("{}.{claims}.", b64(br#"{"typ":"JWT","alg":"none"}"#, true));
    assert_eq!(status_with(&none, "GET", &manifest), 401);
    // A mount needs pull on its source: bob (no pull on team/base) gets a plain upload, alice
    // (pull on team/base) the mount.
    let layer = {
        let out = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "alice:pw-a",
            "--format",
            "{{index .Layers 0}}",
            &format!("docker://{}/team/base:1", reg.addr),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    let bob = tokens.token(
        "bob",
        "pw-b",
        &["repository:bob/app:pull,push", "repository:team/base:pull"],
    );
    let mount = format!(
        "http://{}/v2/bob/app/blobs/uploads/?mount={layer}&from=team/base",
        reg.addr
    );
    assert_eq!(status_with(&bob, "POST", &mount), 202);
    let blob = format!("http://{}/v2/bob/app/blobs/{layer}", reg.addr);
    assert_eq!(status_with(&bob, "GET", &blob), 404, "mounted without pull");
    let alice = tokens.token(
        "alice",
        "pw-a",
        &[
            "repository:alice/new:pull,push",
            "repository:team/base:pull",
        ],
    );
    let mount = format!(
        "http://{}/v2/alice/new/blobs/uploads/?mount={layer}&from=team/base",
        reg.addr
    );
    assert_eq!(status_with(&alice, "POST", &mount), 201);
    // The docker CLI through a Berth daemon: bob logs in, pulls and runs team/app, pushes
    // bob/app; a wrong password is Docker's words.
    let bad = d.docker_input(
        &["login", "-u", "bob", "--password-stdin", &reg.addr],
        b"nope\n",
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(
        stderr(&bad).contains(&format!(
            "Error response from daemon: Get \"http://{}/v2/\": unauthorized: incorrect username or password",
            reg.addr
        )),
        "{}",
        stderr(&bad)
    );
    let login = d.docker_input(
        &["login", "-u", "bob", "--password-stdin", &reg.addr],
        b"pw-b\n",
    );
    assert!(login.status.success(), "{}", stderr(&login));
    let image = format!("{}/team/app:1", reg.addr);
    let pulled = d.ok(&["pull", &image]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert_eq!(
        d.ok(&["run", "--rm", &image, "echo", "via-tokens"]),
        "via-tokens"
    );
    // A repository bob may not read: dockerd's "pull access denied" (404).
    let denied = d.docker(&["pull", &format!("{}/team/base:1", reg.addr)]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
    assert!(
        stderr(&denied).contains(&format!(
            "Error response from daemon: pull access denied for {}/team/base, repository does not exist or may require 'docker login'",
            reg.addr
        )),
        "{}",
        stderr(&denied)
    );
    let mine = format!("{}/bob/app:1", reg.addr);
    d.ok(&["tag", &image, &mine]);
    let pushed = d.ok(&["push", &mine]);
    assert!(pushed.contains("1: digest: sha256:"), "{pushed}");
    let theirs = format!("{}/team/app:3", reg.addr);
    d.ok(&["tag", &image, &theirs]);
    let refused = d.docker(&["push", &theirs]);
    assert_ne!(refused.status.code(), Some(0), "bob pushed to team/app");
}
