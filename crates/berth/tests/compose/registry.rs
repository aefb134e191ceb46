//! `push` and `pull` of a project's image through Debian's `docker-registry` with basic auth:
//! the credentials come from the user's docker config and reach the daemon as X-Registry-Auth.

use crate::harness::{self, opted_in, Daemon};
use crate::{free_port, Project, DEADLINE};
use std::process::{Child, Command, Stdio};

/// A `docker-registry` on 127.0.0.1 with htpasswd auth, killed on drop.
struct Registry {
    _dir: tempfile::TempDir,
    addr: String,
    child: Child,
}

impl Registry {
    fn start(user: &str, password: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-compose-registry")
            .tempdir()
            .expect("temp dir");
        let addr = format!("127.0.0.1:{}", free_port());
        let out = Command::new("python3")
            .args([
                "-c",
                "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                password,
            ])
            .output()
            .expect("python3 crypt");
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{user}:{}", harness::stdout(&out))).expect("htpasswd");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                dir.path().join("storage").display(),
                htpasswd.display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry (scripts/install-deps.sh installs it)");
        let r = Registry {
            _dir: dir,
            addr,
            child,
        };
        harness::eventually(DEADLINE, "docker-registry to serve", || {
            std::net::TcpStream::connect(&r.addr).is_ok()
        });
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn push_and_pull_with_the_users_registry_credentials() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let reg = Registry::start("composer", "pw-123");
    let image = format!("{}/compose/app:1", reg.addr);
    let yaml = format!("services:\n  app:\n    build: ./app\n    image: {image}\n");
    let p = Project::new(&d, "push", &yaml);
    std::fs::create_dir_all(p.path().join("app")).expect("context dir");
    std::fs::write(
        p.path().join("app/Dockerfile"),
        "FROM busybox\nRUN echo pushed > /p\n",
    )
    .expect("Dockerfile");
    p.ok(&["build"]);

    // No credentials: the registry refuses, and the error names the image.
    let empty = p.path().join("no-creds");
    std::fs::create_dir_all(&empty).expect("empty docker config");
    let out = p
        .cmd(&["push"])
        .env("DOCKER_CONFIG", &empty)
        .output()
        .expect("push");
    assert!(!out.status.success());
    assert!(
        harness::stderr(&out).contains(&image),
        "{}",
        harness::stderr(&out)
    );

    let creds = p.path().join("docker-config");
    std::fs::create_dir_all(&creds).expect("docker config");
    let auth = {
        use std::io::Write;
        let mut child = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("base64");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"composer:pw-123")
            .expect("write");
        harness::stdout(&child.wait_with_output().expect("base64 output"))
    };
    std::fs::write(
        creds.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            reg.addr
        ),
    )
    .expect("config.json");
    let run = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("DOCKER_CONFIG", &creds)
            .output()
            .expect("compose");
        assert!(
            out.status.success(),
            "compose {args:?}: {}\n{}",
            harness::stderr(&out),
            d.log()
        );
    };
    run(&["push"]);
    d.ok(&["rmi", &image]);
    run(&["pull"]);
    let out = p.ok(&["run", "--rm", "-T", "app", "cat", "/p"]);
    assert_eq!(out.trim(), "pushed");
}
