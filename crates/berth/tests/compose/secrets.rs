//! Secrets and configs mounted into containers: file sources as read-only binds at
//! `/run/secrets/<name>` and the config's target, environment and inline sources written under
//! the project's data first, and all of it gone with `down`.

use crate::harness::{opted_in, Daemon};
use crate::Project;

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn secrets_and_configs_are_mounted_read_only() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = r#"services:
  app:
    image: busybox
    command: ["sleep", "1000"]
    secrets:
      - db_pass
      - source: token
        target: api_token
    configs:
      - source: app_conf
        target: /etc/app.conf
      - greeting
secrets:
  db_pass:
    file: ./pass.txt
  token:
    environment: TOKEN_VALUE
configs:
  app_conf:
    file: ./app.conf
  greeting:
    content: hello from content
"#;
    let p = Project::new(&d, "secrets", yaml);
    std::fs::write(p.path().join("pass.txt"), "s3cret\n").expect("pass.txt");
    std::fs::write(p.path().join("app.conf"), "level=debug\n").expect("app.conf");
    std::fs::write(p.path().join(".env"), "TOKEN_VALUE=tok-123\n").expect(".env");
    p.ok(&["up", "-d"]);

    let read = |path: &str| p.ok(&["exec", "-T", "app", "cat", path]);
    assert_eq!(read("/run/secrets/db_pass"), "s3cret\n");
    assert_eq!(read("/run/secrets/api_token"), "tok-123");
    assert_eq!(read("/etc/app.conf"), "level=debug\n");
    assert_eq!(read("/greeting"), "hello from content");
    for path in [
        "/run/secrets/db_pass",
        "/run/secrets/api_token",
        "/etc/app.conf",
    ] {
        let out = p.run(&["exec", "-T", "app", "sh", "-c", &format!("echo x > {path}")]);
        assert!(!out.status.success(), "{path} is writable in the container");
    }
    // The environment's value is not in the printed model.
    let config = p.ok(&["config"]);
    assert!(
        !config.contains("tok-123") && config.contains("TOKEN_VALUE"),
        "{config}"
    );

    let data = p.path().join("data/berth-compose").join(&p.name);
    assert!(data.join("secrets/token").exists());
    p.ok(&["down"]);
    assert!(!data.exists(), "down left {}", data.display());
}
