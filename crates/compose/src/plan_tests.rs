//! Planner tests: order, hashes, names and labels, create bodies, scale convergence.

use super::*;
use crate::loader::{load, Options};

fn project(text: &str) -> Project {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.path().join("compose.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
    let o = Options {
        cwd: d.path().to_path_buf(),
        project_name: Some("proj".into()),
        ..Options::default()
    };
    load(&o).unwrap_or_else(|e| panic!("{e}"))
}

fn ex(id: &str, number: u32, hash: &str, running: bool) -> Existing {
    Existing {
        id: id.into(),
        number,
        hash: hash.into(),
        running,
    }
}

#[test]
fn dependencies_come_first() {
    let p = project("services:\n  web: {image: x, depends_on: [api]}\n  api: {image: x, depends_on: {db: {condition: service_healthy}}}\n  db: {image: x}\n  cache: {image: x}\n");
    let o = order(&p);
    let pos = |n: &str| o.iter().position(|x| x == n).unwrap_or(usize::MAX);
    assert!(pos("db") < pos("api") && pos("api") < pos("web"));
    assert_eq!(o.len(), 4);
}

#[test]
fn hash_follows_the_config_but_not_the_scale() {
    let a = project("services:\n  web: {image: x, environment: [A=1]}\n");
    let b = project("services:\n  web: {image: x, environment: [A=2]}\n");
    let c = project("services:\n  web: {image: x, environment: {A: '1'}, scale: 3}\n");
    let h = |p: &Project| p.service("web").map(config_hash).unwrap_or_default();
    assert_ne!(h(&a), h(&b));
    assert_eq!(h(&a), h(&c));
    assert_eq!(h(&a).len(), 64);
}

#[test]
fn names_labels_and_body() {
    let p = project("services:\n  web:\n    image: busybox\n    command: [sleep, '1000']\n    ports: ['8080:80']\n    environment: [A=1, B]\n    depends_on: [db]\n    restart: on-failure:3\n    healthcheck: {test: 'true', interval: 2s}\n  db: {image: busybox}\n");
    let web = p.service("web").cloned().unwrap_or_default();
    assert_eq!(container_name("proj", &web, 2), "proj-web-2");
    let body = create_body(&p, &web, 2, false, &Inherit::default());
    let l = body.config.labels.clone().unwrap_or_default();
    assert_eq!(l.get(PROJECT).map(String::as_str), Some("proj"));
    assert_eq!(l.get(SERVICE).map(String::as_str), Some("web"));
    assert_eq!(l.get(NUMBER).map(String::as_str), Some("2"));
    assert_eq!(l.get(ONEOFF).map(String::as_str), Some("False"));
    assert_eq!(
        l.get(DEPENDS_ON).map(String::as_str),
        Some("db:service_started:false")
    );
    assert_eq!(l.get(HASH), Some(&config_hash(&web)));
    assert_eq!(body.config.env, Some(vec!["A=1".to_string()]));
    assert_eq!(
        body.config.cmd,
        Some(vec!["sleep".to_string(), "1000".into()])
    );
    let hc = body.host_config.clone().unwrap_or_default();
    assert_eq!(hc.network_mode.as_deref(), Some("proj_default"));
    assert_eq!(
        hc.restart_policy.map(|r| (r.name, r.maximum_retry_count)),
        Some(("on-failure".into(), 3))
    );
    let b = hc.port_bindings.unwrap_or_default();
    assert_eq!(
        b.get("80/tcp")
            .cloned()
            .flatten()
            .map(|v| v[0].host_port.clone()),
        Some("8080".into())
    );
    let eps = body
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default();
    assert_eq!(
        eps.get("proj_default").and_then(|e| e.aliases.clone()),
        Some(vec!["web".to_string(), "proj-web-2".into()])
    );
    assert_eq!(
        body.config.healthcheck.map(|h| h["Interval"].clone()),
        Some(serde_json::json!(2_000_000_000i64))
    );
}

#[test]
fn scale_up_keeps_and_creates() {
    let a = converge(&[ex("a", 1, "h", true)], 3, "h", Recreate::Diverged);
    assert_eq!(
        a,
        vec![
            Action::Keep { id: "a".into() },
            Action::Create(2),
            Action::Create(3)
        ]
    );
}

#[test]
fn scale_down_removes_the_highest_numbers_first() {
    let e = [
        ex("c", 3, "h", true),
        ex("a", 1, "h", true),
        ex("b", 2, "h", true),
    ];
    assert_eq!(
        converge(&e, 1, "h", Recreate::Diverged),
        vec![
            Action::Keep { id: "a".into() },
            Action::Remove { id: "c".into() },
            Action::Remove { id: "b".into() }
        ]
    );
    assert_eq!(converge(&e, 0, "h", Recreate::Diverged).len(), 3);
}

#[test]
fn changed_hash_recreates_and_policies_apply() {
    let e = [ex("a", 1, "old", true), ex("b", 2, "new", false)];
    assert_eq!(
        converge(&e, 2, "new", Recreate::Diverged),
        vec![
            Action::Recreate {
                id: "a".into(),
                number: 1
            },
            Action::Start { id: "b".into() }
        ]
    );
    assert_eq!(
        converge(&e, 2, "new", Recreate::Never)[0],
        Action::Keep { id: "a".into() }
    );
    assert_eq!(
        converge(&e, 2, "new", Recreate::Always)[1],
        Action::Recreate {
            id: "b".into(),
            number: 2
        }
    );
}

#[test]
fn gaps_in_numbers_are_filled() {
    let e = [ex("a", 1, "h", true), ex("c", 3, "h", true)];
    assert_eq!(
        converge(&e, 3, "h", Recreate::Diverged)[2],
        Action::Create(2)
    );
}

#[test]
fn volumes_go_into_the_body_as_binds_mounts_and_volumes_from() {
    let p = project("services:\n  app:\n    image: busybox\n    volumes: ['data:/data', '/anon']\n    volumes_from: [db]\n  db: {image: busybox}\nvolumes:\n  data: {}\n");
    let app = p.service("app").cloned().unwrap_or_default();
    let h = create_body(&p, &app, 1, false, &Inherit::default())
        .host_config
        .unwrap_or_default();
    assert_eq!(h.binds, Some(vec!["proj_data:/data:rw".to_string()]));
    let mounts = h.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 1);
    assert_eq!(
        (mounts[0].kind.as_str(), mounts[0].target.as_str()),
        ("volume", "/anon")
    );
    assert_eq!(h.volumes_from, Some(vec!["proj-db-1".to_string()]));
    // db is started first.
    let o = order(&p);
    assert!(o.iter().position(|s| s == "db") < o.iter().position(|s| s == "app"));
}

#[test]
fn volume_driver_is_the_engines_volume_driver() {
    let p = project("services:\n  app: {image: busybox, volume_driver: plug, volumes: ['/anon']}\n  other: {image: busybox}\n");
    let body = |name: &str| {
        let svc = p.service(name).cloned().unwrap_or_default();
        create_body(&p, &svc, 1, false, &Inherit::default())
            .host_config
            .unwrap_or_default()
            .volume_driver
    };
    assert_eq!(body("app").as_deref(), Some("plug"));
    assert_eq!(body("other"), None);
}

#[test]
fn endpoints_beyond_the_primary_are_split_off_for_old_engines() {
    let p = project("services:\n  app: {image: x, networks: {back: {aliases: [b]}, front: {}}}\nnetworks:\n  front: {}\n  back: {}\n");
    let svc = p.service("app").unwrap_or_else(|| panic!("app"));
    let mut body = create_body(&p, svc, 1, false, &Inherit::default());
    let mode = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone());
    assert_eq!(mode.as_deref(), Some("proj_back"));
    let rest = split_endpoints(&mut body);
    let names: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["proj_front"]);
    assert_eq!(
        rest[0].1.aliases.as_deref(),
        Some(&["app".to_string(), "proj-app-1".to_string()][..])
    );
    let kept: Vec<String> = body
        .networking_config
        .and_then(|n| n.endpoints_config)
        .map(|e| e.into_keys().collect())
        .unwrap_or_default();
    assert_eq!(kept, ["proj_back"]);
}
