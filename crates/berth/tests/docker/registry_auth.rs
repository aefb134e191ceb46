//! Registry credentials as dockerd treats them (issue #10, #14): a pull with credentials the
//! registry refuses answers 500 in the registry's words (dockerd's unknown error: the docker CLI
//! prints it and exits 1, where a 401 would make it ask for a login), a push reports them in its
//! stream after "The push refers to repository", and `docker login` with a bad password fails
//! with Docker's words — against `docker-registry` with htpasswd and Berth's server with tokens.

use std::process::Command;

use crate::harness::{opted_in, stderr, stdout, Daemon};
use crate::registry::DistRegistry;
use crate::registry_own::BerthRegistry;

/// `text` in URL-safe base64 (with padding), as the docker CLI encodes `X-Registry-Auth`.
fn base64url(text: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64,sys; print(base64.urlsafe_b64encode(sys.argv[1].encode()).decode())",
            text,
        ])
        .output()
        .expect("python3 base64");
    stdout(&out).trim().to_string()
}

/// `POST path` on the daemon's socket with an `X-Registry-Auth` of `user:password`: (status,
/// body).
fn post_with_auth(d: &Daemon, path: &str, user: &str, password: &str) -> (u16, String) {
    let auth = serde_json::json!({"username": user, "password": password}).to_string();
    let header = base64url(&auth);
    let out = Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&d.sock)
        .args(["-X", "POST", "-w", "\n%{http_code}", "-H"])
        .arg(format!("X-Registry-Auth: {header}"))
        .arg(format!("http://localhost{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Points the docker CLI's config at `registry` with `user:password` (as a login would store).
fn store_credentials(d: &Daemon, registry: &str, user: &str, password: &str) {
    let dir = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&dir).expect("docker config dir");
    // user:password has no byte that URL-safe and standard base64 write differently here.
    let auth = base64url(&format!("{user}:{password}"));
    let config = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config.json");
}

/// What dockerd answers for `registry` (seeded with `auth/busybox:1` for berth:s3cret) when the
/// credentials are wrong; `login_words` is Docker's message for a refused `docker login`.
fn refused_like_dockerd(d: &Daemon, registry: &str, mode: &str, login_words: &str) {
    let image = format!("{registry}/auth/busybox:1");
    // The raw API: 500 with the registry's words, nothing streamed.
    let path = format!("/images/create?fromImage={registry}/auth/busybox&tag=1");
    let (status, body) = post_with_auth(d, &path, "berth", "nope");
    assert_eq!(status, 500, "{mode}: {body}");
    let message = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.starts_with("unauthorized: "), "{mode}: {body}");
    // The docker CLI prints it and fails, without asking for a login.
    store_credentials(d, registry, "berth", "nope");
    let pulled = d.docker(&["pull", &image]);
    assert_eq!(pulled.status.code(), Some(1), "{mode}: {}", stdout(&pulled));
    assert!(
        stderr(&pulled).contains("Error response from daemon: unauthorized: "),
        "{mode}: {}",
        stderr(&pulled)
    );
    assert!(
        !stderr(&pulled).contains("login prior"),
        "{mode}: {}",
        stderr(&pulled)
    );
    assert!(
        !d.docker(&["image", "inspect", &image]).status.success(),
        "{mode}: pulled with refused credentials"
    );
    // A push: the stream starts, the refusal comes in it.
    let target = format!("{registry}/auth/pushed:1");
    d.ok(&["tag", "busybox:latest", &target]);
    let pushed = d.docker(&["push", &target]);
    assert_eq!(pushed.status.code(), Some(1), "{mode}: {}", stdout(&pushed));
    assert!(
        stdout(&pushed).contains(&format!(
            "The push refers to repository [{registry}/auth/pushed]"
        )),
        "{mode}: {}",
        stdout(&pushed)
    );
    assert!(
        stderr(&pushed).contains("unauthorized: ")
            && !stderr(&pushed).contains("Error response from daemon"),
        "{mode}: {}",
        stderr(&pushed)
    );
    let api_path = format!("/images/{registry}/auth/pushed/push?tag=1");
    let (status, body) = post_with_auth(d, &api_path, "berth", "nope");
    assert_eq!(status, 200, "{mode}: {body}");
    assert!(
        body.contains(r#""errorDetail":{"message":"unauthorized: "#),
        "{mode}: {body}"
    );
    d.ok(&["rmi", &target]);
    // docker login with a bad password: Docker's words, exit 1, nothing stored.
    std::fs::remove_file(d.dir.path().join("docker-config/config.json")).expect("config");
    let login = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", registry],
        b"nope\n",
    );
    assert_eq!(login.status.code(), Some(1), "{mode}: {}", stdout(&login));
    assert!(
        stderr(&login).contains(&format!("Error response from daemon: {login_words}")),
        "{mode}: {}",
        stderr(&login)
    );
    // The right password still works after all this.
    let login = d.docker_input(
        &["login", "-u", "berth", "--password-stdin", registry],
        b"s3cret\n",
    );
    assert!(login.status.success(), "{mode}: {}", stderr(&login));
    d.ok(&["pull", &image]);
    d.ok(&["rmi", &image]);
    d.ok(&["logout", registry]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn bad_registry_credentials_are_answered_as_dockerd_answers_them() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let tar = d.dir.path().join("seed.tar");
    d.ok(&["save", "-o", tar.to_str().expect("utf-8"), "busybox:latest"]);
    let src = format!("docker-archive:{}", tar.display());
    // docker-registry with htpasswd (basic auth).
    let dist = DistRegistry::start_with(Some(("berth", "s3cret")));
    dist.skopeo_copy_in_as(&src, "auth/busybox:1", Some("berth:s3cret"));
    refused_like_dockerd(
        &d,
        &dist.addr,
        "htpasswd",
        &format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            dist.addr
        ),
    );
    // Berth's server with its own tokens for the htpasswd users.
    let own = BerthRegistry::start_with_user(("berth", "s3cret"), &["--token-auth"]);
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "berth:s3cret",
            &src,
            &format!("docker://{}/auth/busybox:1", own.addr),
        ])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", stderr(&out));
    refused_like_dockerd(
        &d,
        &own.addr,
        "token",
        &format!(
            "Get \"http://{}/v2/\": unauthorized: invalid username or password",
            own.addr
        ),
    );
}
