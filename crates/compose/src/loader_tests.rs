//! Loader tests on real files in temporary directories.

use super::*;
use std::fs;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::Builder::new()
            .prefix("My_Proj.")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}")))
    }
    fn path(&self) -> PathBuf {
        self.0.path().to_path_buf()
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    }
    fn opts(&self) -> Options {
        Options {
            cwd: self.path(),
            ..Options::default()
        }
    }
}

fn load_ok(o: &Options) -> Project {
    load(o).unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(o: &Options) -> String {
    match load(o) {
        Ok(_) => panic!("load should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn discovery_walks_up_and_takes_the_override() {
    let d = Dir::new();
    d.write("compose.yaml", "services:\n  web:\n    image: busybox\n");
    d.write(
        "compose.override.yaml",
        "services:\n  web:\n    environment: [A=1]\n",
    );
    fs::create_dir_all(d.path().join("a/b")).unwrap_or_else(|e| panic!("{e}"));
    let mut o = d.opts();
    o.cwd = d.path().join("a/b");
    let p = load_ok(&o);
    assert_eq!(p.config_files.len(), 2);
    assert_eq!(
        p.services[0].environment.get("A"),
        Some(&Some("1".to_string()))
    );
    // The project name is the directory's, normalised.
    let base = d
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert_eq!(p.name, normalize_project_name(&base));
    assert!(p.name.starts_with("my_proj"));
}

#[test]
fn candidate_order_and_not_found() {
    let d = Dir::new();
    d.write("docker-compose.yml", "services:\n  old:\n    image: a\n");
    d.write("compose.yml", "services:\n  new:\n    image: a\n");
    assert_eq!(load_ok(&d.opts()).services[0].name, "new");
    let empty = Dir::new();
    let e = load_err(&empty.opts());
    assert!(
        e.starts_with("no configuration file provided: not found"),
        "{e}"
    );
}

#[test]
fn several_files_merge_in_order() {
    let d = Dir::new();
    let a = d.write(
        "a.yml",
        "services:\n  web:\n    image: a\n    ports: ['8080:80']\n",
    );
    let b = d.write(
        "b.yml",
        "services:\n  web:\n    image: b\n    ports: ['9090:90']\n  db:\n    image: d\n",
    );
    let mut o = d.opts();
    o.files = vec![a, b];
    let p = load_ok(&o);
    let web = p.service("web").cloned().unwrap_or_default();
    assert_eq!(web.image.as_deref(), Some("b"));
    assert_eq!(web.ports.len(), 2);
    assert!(p.service("db").is_some());
}

#[test]
fn project_name_precedence_and_rules() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "name: fromfile\nservices:\n  web:\n    image: a\n",
    );
    let mut o = d.opts();
    assert_eq!(load_ok(&o).name, "fromfile");
    o.environ
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load_ok(&o).name, "fromenv");
    o.project_name = Some("flag".into());
    assert_eq!(load_ok(&o).name, "flag");
    o.project_name = Some("Bad Name".into());
    assert!(load_err(&o).contains("invalid project name \"Bad Name\" (from -p)"));
    assert_eq!(normalize_project_name("-My.App_1"), "myapp_1");
}

#[test]
fn dot_env_and_env_files_feed_interpolation() {
    let d = Dir::new();
    d.write(".env", "TAG=1.0\nCOMPOSE_PROJECT_NAME=dotenv\n");
    d.write("other.env", "TAG=2.0\n");
    d.write("compose.yaml", "services:\n  web:\n    image: \"busybox:${TAG}\"\n    environment:\n      - HOME_IS=$HOME_X\n      - COST=$$5\n");
    let mut o = d.opts();
    o.environ.insert("HOME_X".into(), "/root".into());
    let p = load_ok(&o);
    assert_eq!(p.name, "dotenv");
    assert_eq!(p.services[0].image.as_deref(), Some("busybox:1.0"));
    assert_eq!(
        p.services[0].environment.get("COST"),
        Some(&Some("$5".into()))
    );
    assert_eq!(
        p.services[0].environment.get("HOME_IS"),
        Some(&Some("/root".into()))
    );
    o.env_files = vec![PathBuf::from("other.env")];
    assert_eq!(
        load_ok(&o).services[0].image.as_deref(),
        Some("busybox:2.0")
    );
    // The process environment wins over .env.
    o.env_files.clear();
    o.environ.insert("TAG".into(), "env".into());
    assert_eq!(
        load_ok(&o).services[0].image.as_deref(),
        Some("busybox:env")
    );
}

#[test]
fn missing_required_variable_names_file_line_and_key() {
    let d = Dir::new();
    let f = d.write("compose.yaml", "services:\n  web:\n    image: busybox\n    environment:\n      PASSWORD: ${DB_PASS:?set DB_PASS}\n");
    let e = load_err(&d.opts());
    assert_eq!(
        e,
        format!("{}:5:17: services.web.environment.PASSWORD: required variable DB_PASS is missing a value: set DB_PASS", f.display())
    );
}

#[test]
fn unknown_keys_and_bad_values_name_their_place() {
    let d = Dir::new();
    let f = d.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    imagee: x\n",
    );
    assert_eq!(
        load_err(&d.opts()),
        format!("{}:4:5: services.web.imagee: unknown key \"imagee\" (not in the Compose Specification; extensions start with x-)", f.display())
    );
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    ports: ['80:80:80:80']\n",
    );
    assert!(load_err(&d.opts()).contains(":4:13: services.web.ports[0]: invalid port"));
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    healthcheck:\n      interval: soon\n",
    );
    assert!(load_err(&d.opts())
        .contains(":5:17: services.web.healthcheck.interval: invalid duration \"soon\""));
    d.write("compose.yaml", "servicez: {}\n");
    assert!(load_err(&d.opts()).contains(":1:1: servicez: unknown key"));
    d.write(
        "compose.yaml",
        "services:\n  web:\n    build: .\n    privileged: maybe\n",
    );
    assert!(load_err(&d.opts()).contains(":4:17: services.web.privileged: must be a boolean"));
    d.write("compose.yaml", "services:\n  web: {}\n");
    assert!(load_err(&d.opts())
        .contains(":2:3: services.web: has neither an image nor a build context"));
}

#[test]
fn yaml_errors_name_the_file() {
    let d = Dir::new();
    let f = d.write("compose.yaml", "services:\n  web:\n   image: a\n  - b\n");
    let e = load_err(&d.opts());
    assert!(e.starts_with(&format!("{}:", f.display())), "{e}");
}

#[test]
fn dependency_checks_and_cycles() {
    let d = Dir::new();
    d.write("compose.yaml", "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: {c: {condition: service_healthy}}}\n  c: {image: x, depends_on: [a]}\n");
    assert!(load_err(&d.opts()).contains("dependency cycle between services: a -> b -> c -> a"));
    d.write(
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [nope]}\n",
    );
    assert!(load_err(&d.opts()).contains("services.a.depends_on: service \"nope\" is not defined"));
    d.write("compose.yaml", "services:\n  a: {image: x, depends_on: {b: {condition: service_bored}}}\n  b: {image: x}\n");
    assert!(load_err(&d.opts()).contains("unknown condition \"service_bored\""));
    d.write(
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: {b: {required: false}}}\n",
    );
    assert!(load(&d.opts()).is_ok());
}

#[test]
fn profiles_enable_services() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web: {image: x}\n  debug: {image: x, profiles: [dev]}\n",
    );
    let mut o = d.opts();
    let p = load_ok(&o);
    assert_eq!(p.services.len(), 1);
    assert_eq!(p.disabled, ["debug"]);
    o.profiles = vec!["dev".into()];
    assert_eq!(load_ok(&o).services.len(), 2);
    o.profiles.clear();
    o.environ
        .insert("COMPOSE_PROFILES".into(), "dev,other".into());
    assert_eq!(load_ok(&o).services.len(), 2);
    d.write(
        "compose.yaml",
        "services:\n  web: {image: x, depends_on: [debug]}\n  debug: {image: x, profiles: [dev]}\n",
    );
    o.environ.clear();
    assert!(load_err(&o).contains("is not enabled by the active profiles"));
}

#[test]
fn extends_in_the_same_and_another_file() {
    let d = Dir::new();
    d.write("base/common.yml", "services:\n  base:\n    image: busybox\n    environment: {A: '1'}\n    volumes: ['./data:/data']\n");
    d.write("compose.yaml", "services:\n  tmpl:\n    image: x\n    labels: [t=1]\n  web:\n    extends: tmpl\n    environment: [B=2]\n  worker:\n    extends:\n      file: base/common.yml\n      service: base\n    environment: {B: '3'}\n");
    let p = load_ok(&d.opts());
    let web = p.service("web").cloned().unwrap_or_default();
    assert_eq!(web.image.as_deref(), Some("x"));
    assert_eq!(web.labels.get("t").map(String::as_str), Some("1"));
    let worker = p.service("worker").cloned().unwrap_or_default();
    assert_eq!(worker.image.as_deref(), Some("busybox"));
    assert_eq!(worker.environment.len(), 2);
    // Relative paths of the base are resolved against the base's file.
    assert_eq!(
        worker.volumes[0].source.as_deref(),
        Some(d.path().join("base/data").to_string_lossy().as_ref())
    );
    d.write(
        "compose.yaml",
        "services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n",
    );
    assert!(load_err(&d.opts()).contains("circular extends"));
}

#[test]
fn include_adds_resources_and_refuses_conflicts() {
    let d = Dir::new();
    d.write("db/compose.yaml", "services:\n  db:\n    image: postgres\n    volumes: [data:/var/lib/db]\nvolumes:\n  data: {}\n");
    d.write(
        "compose.yaml",
        "include:\n  - db/compose.yaml\nservices:\n  web: {image: x, depends_on: [db]}\n",
    );
    let p = load_ok(&d.opts());
    assert!(p.service("db").is_some());
    assert_eq!(
        p.volumes.get("data").map(|v| v.name.as_str()),
        Some(format!("{}_data", p.name).as_str())
    );
    d.write(
        "compose.yaml",
        "include: [db/compose.yaml]\nservices:\n  db: {image: y}\n",
    );
    assert!(load_err(&d.opts()).contains("services.db: conflicts with"));
}

#[test]
fn anchors_merge_keys_and_extensions() {
    let d = Dir::new();
    d.write("compose.yaml", "x-common: &common\n  image: busybox\n  restart: always\n  environment: &env\n    A: '1'\nservices:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    restart: 'no'\n    x-note: hello\n");
    let p = load_ok(&d.opts());
    assert_eq!(
        p.service("a").and_then(|s| s.restart.clone()).as_deref(),
        Some("always")
    );
    assert_eq!(
        p.service("b").and_then(|s| s.restart.clone()).as_deref(),
        Some("no")
    );
    assert!(p.tree.get("x-common").is_some());
}

#[test]
fn long_and_short_syntax_agree() {
    let d = Dir::new();
    d.write("compose.yaml", "services:\n  short:\n    image: x\n    ports: ['127.0.0.1:8080:80/udp']\n    volumes: ['data:/d:ro']\n    depends_on: [long]\n    networks: [front]\n    secrets: [s]\n    environment: [A=1]\n    healthcheck: {test: 'true', interval: 90s}\n  long:\n    image: x\n    ports: [{target: 80, published: '8080', host_ip: 127.0.0.1, protocol: udp}]\n    volumes: [{type: volume, source: data, target: /d, read_only: true}]\n    networks: {front: {aliases: [l]}}\n    secrets: [{source: s, target: /run/secrets/s}]\n    environment: {A: 1}\n    healthcheck: {test: [CMD-SHELL, 'true'], interval: 1m30s}\nnetworks:\n  front: {}\nvolumes:\n  data: {}\nsecrets:\n  s: {file: ./s.txt}\n");
    let p = load_ok(&d.opts());
    let (s, l) = (
        p.service("short").cloned().unwrap_or_default(),
        p.service("long").cloned().unwrap_or_default(),
    );
    assert_eq!(s.ports, l.ports);
    assert_eq!(s.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(s.volumes[0].source, l.volumes[0].source);
    assert!(s.volumes[0].read_only && l.volumes[0].read_only);
    assert_eq!(s.environment, l.environment);
    assert_eq!(
        s.healthcheck.as_ref().map(|h| h.test.clone()),
        l.healthcheck.as_ref().map(|h| h.test.clone())
    );
    assert_eq!(s.healthcheck.and_then(|h| h.interval), Some("1m30s".into()));
    assert_eq!(
        s.depends_on.get("long").map(|d| d.condition.as_str()),
        Some("service_started")
    );
    assert_eq!(
        p.networks.get("front").map(|n| n.name.clone()),
        Some(format!("{}_front", p.name))
    );
    assert!(!p.networks.contains_key("default"));
}

#[test]
fn undeclared_named_volume_and_network_are_refused() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  a: {image: x, volumes: ['nope:/d']}\n",
    );
    assert!(load_err(&d.opts()).contains("named volume \"nope\" is not declared"));
    d.write(
        "compose.yaml",
        "services:\n  a: {image: x, networks: [nope]}\n",
    );
    assert!(load_err(&d.opts()).contains("network \"nope\" is not defined"));
}

#[test]
fn config_output_is_the_normalised_model() {
    let d = Dir::new();
    d.write("compose.yaml", "name: demo\nservices:\n  web:\n    image: busybox\n    command: sh -c 'echo hi'\n    ports: ['8080:80']\n    environment: [A=1]\n");
    let p = load_ok(&d.opts());
    let out = crate::emit::to_yaml(&p.tree);
    let want = "name: demo\nservices:\n  web:\n    command:\n      - sh\n      - -c\n      - echo hi\n    environment:\n      A: \"1\"\n    image: busybox\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp\nnetworks:\n  default:\n    name: demo_default\n";
    assert_eq!(out, want);
}

#[test]
fn config_prints_env_file_merged_and_compose_v2_key_order() {
    let d = Dir::new();
    d.write("app.env", "FROM_FILE=1\nB=file\n");
    d.write("s.txt", "pw");
    d.write(
        "compose.yaml",
        "x-top: 1\nsecrets:\n  s: {file: ./s.txt}\nservices:\n  web:\n    image: busybox\n    env_file: app.env\n    environment: {B: mine}\n    secrets: [s]\n    depends_on: [db]\n    profiles: [p]\n  db:\n    image: busybox\n    healthcheck: {interval: 1s, test: 'true', retries: 3}\nname: demo\n",
    );
    let mut o = d.opts();
    o.profiles = vec!["p".into()];
    let p = load_ok(&o);
    let out = crate::emit::to_yaml(&p.tree);
    assert!(!out.contains("env_file"), "{out}");
    assert!(
        out.contains("FROM_FILE: \"1\"") && out.contains("B: mine"),
        "{out}"
    );
    let order: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        order,
        [
            "name: demo",
            "services:",
            "networks:",
            "secrets:",
            "x-top: 1"
        ]
    );
    let web: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "  web:")
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .filter(|l| !l.starts_with("     "))
        .map(str::trim)
        .collect();
    assert_eq!(
        web,
        [
            "profiles:",
            "depends_on:",
            "environment:",
            "image: busybox",
            "networks:",
            "secrets:"
        ]
    );
    let hc = out
        .find("    healthcheck:")
        .unwrap_or_else(|| panic!("{out}"));
    let hc = &out[hc..];
    assert!(hc.find("test:") < hc.find("interval:") && hc.find("interval:") < hc.find("retries:"));
    // A secret from the environment needs the variable; its value is never printed.
    d.write(
        "compose.yaml",
        "services:\n  web: {image: busybox, secrets: [t]}\nsecrets:\n  t: {environment: TOKEN}\n",
    );
    assert!(load_err(&d.opts()).contains("TOKEN is not set"));
    let mut o = d.opts();
    o.environ = vec![("TOKEN".into(), "sekrit".into())]
        .into_iter()
        .collect();
    let p = load_ok(&o);
    assert_eq!(p.secrets["t"].content.as_deref(), Some("sekrit"));
    assert!(!crate::emit::to_yaml(&p.tree).contains("sekrit"));
    d.write(
        "compose.yaml",
        "services:\n  web: {image: busybox, secrets: [nope]}\n",
    );
    assert!(load_err(&d.opts()).contains("\"nope\" is not declared in the top-level secrets:"));
}
