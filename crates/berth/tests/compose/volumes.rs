//! Named and anonymous volumes of a compose project, with `berth compose` and with
//! docker-compose 1.29 against a berth daemon: the named volume made with Compose's labels, its
//! data kept across a recreate and across `down`/`up`, anonymous volumes handed to a recreated
//! container, and both kinds removed by `down -v`; external volumes must exist.

use crate::compat::dc_ok;
use crate::harness::{self, opted_in, Daemon};
use crate::{Project, DEADLINE};

/// A `db` with a named volume at /data and an anonymous one at /scratch; `marker` goes into its
/// environment (changing it recreates the container).
fn db_project(marker: &str) -> String {
    format!(
        r#"services:
  db:
    image: busybox
    command: ["sleep", "1000"]
    environment:
      MARKER: {marker}
    volumes:
      - data:/data
      - /scratch
volumes:
  data:
    labels:
      team: storage
"#
    )
}

fn volumes(d: &Daemon) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

/// The name of the volume mounted at `dest` in `container`.
fn volume_at(d: &Daemon, container: &str, dest: &str) -> String {
    d.inspect(
        container,
        &format!("{{{{range .Mounts}}}}{{{{if eq .Destination \"{dest}\"}}}}{{{{.Name}}}}{{{{end}}}}{{{{end}}}}"),
    )
}

fn cat(d: &Daemon, container: &str, path: &str) -> String {
    d.ok(&["exec", container, "cat", path])
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn named_volume_kept_across_down_and_up_removed_by_down_v() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let p = Project::new(&d, "vol", &db_project("one"));
    let out = p.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    let vol = format!("{}_data", p.name);
    assert!(
        harness::stderr(&out).contains(&format!("Volume {vol:?}  Created")),
        "{}",
        harness::stderr(&out)
    );
    // Compose's labels beside the file's own.
    let labels = d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &vol]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels JSON");
    assert_eq!(labels["com.docker.compose.project"], p.name.as_str());
    assert_eq!(labels["com.docker.compose.volume"], "data");
    assert_eq!(labels["team"], "storage");
    assert!(labels["com.docker.compose.version"].is_string(), "{labels}");

    let db = format!("{}-db-1", p.name);
    d.ok(&[
        "exec",
        &db,
        "sh",
        "-c",
        "echo named > /data/m && echo anon > /scratch/a",
    ]);
    let anon = volume_at(&d, &db, "/scratch");
    assert_eq!(anon.len(), 64, "{anon:?}");

    // A config change recreates db: both volumes come with it.
    p.write(&db_project("two"));
    p.ok(&["up", "-d"]);
    let ids = p.ids("db");
    assert_eq!(ids.len(), 1);
    assert_eq!(d.inspect(&db, "{{.State.Status}}"), "running");
    assert_eq!(cat(&d, &db, "/data/m"), "named");
    assert_eq!(cat(&d, &db, "/scratch/a"), "anon");
    assert_eq!(volume_at(&d, &db, "/scratch"), anon);

    // down keeps the named volume; the next up finds the data.
    p.ok(&["down"]);
    assert!(p.all_containers().is_empty());
    assert!(volumes(&d).contains(&vol));
    p.ok(&["up", "-d"]);
    harness::eventually(DEADLINE, "db to run again", || {
        d.inspect(&db, "{{.State.Status}}") == "running"
    });
    assert_eq!(cat(&d, &db, "/data/m"), "named");
    let anon2 = volume_at(&d, &db, "/scratch");

    // down -v: the named volume and the container's anonymous one go.
    let out = p.run(&["down", "-v"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    assert!(
        harness::stderr(&out).contains(&format!("Volume {vol:?}  Removed")),
        "{}",
        harness::stderr(&out)
    );
    let left = volumes(&d);
    assert!(!left.contains(&vol), "{left:?}");
    assert!(!left.contains(&anon2), "{left:?}");
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn external_volumes_must_exist() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let yaml = "services:\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    volumes: [shared:/shared]\nvolumes:\n  shared:\n    external: true\n    name: EXT\n";
    let p = Project::new(&d, "ext", &yaml.replace("EXT", "ext-vol-missing"));
    let out = p.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = harness::stderr(&out);
    assert!(
        err.contains("external volume \"ext-vol-missing\" not found"),
        "{err}"
    );
    assert!(p.all_containers().is_empty());
    assert!(volumes(&d).is_empty(), "{:?}", volumes(&d));

    d.ok(&["volume", "create", "ext-vol"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "ext-vol:/v",
        "busybox",
        "sh",
        "-c",
        "echo outside > /v/f",
    ]);
    p.write(&yaml.replace("EXT", "ext-vol"));
    p.ok(&["up", "-d"]);
    assert_eq!(
        cat(&d, &format!("{}-app-1", p.name), "/shared/f"),
        "outside"
    );
    // down -v leaves an external volume alone.
    p.ok(&["down", "-v"]);
    assert_eq!(volumes(&d), ["ext-vol"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn docker_compose_1_29_keeps_and_removes_the_named_volume() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let p = Project::new(&d, "dcvol", &db_project("one"));
    dc_ok(&p, &["up", "-d"]);
    let vol = format!("{}_data", p.name);
    assert!(volumes(&d).contains(&vol), "{:?}", volumes(&d));
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"com.docker.compose.project\"}}",
            &vol
        ]),
        p.name
    );
    let db = format!("{}_db_1", p.name);
    d.ok(&["exec", &db, "sh", "-c", "echo by-1.29 > /data/m"]);
    dc_ok(&p, &["down"]);
    assert!(p.all_containers().is_empty());
    assert!(volumes(&d).contains(&vol));
    dc_ok(&p, &["up", "-d"]);
    assert_eq!(cat(&d, &db, "/data/m"), "by-1.29");

    // berth compose reuses the volume 1.29 made (same labels: no warning) and sees the data.
    dc_ok(&p, &["down"]);
    let out = p.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    assert!(
        !harness::stderr(&out).contains("WARN"),
        "{}",
        harness::stderr(&out)
    );
    assert_eq!(cat(&d, &format!("{}-db-1", p.name), "/data/m"), "by-1.29");
    p.ok(&["down"]);

    dc_ok(&p, &["up", "-d"]);
    dc_ok(&p, &["down", "-v"]);
    assert!(p.all_containers().is_empty());
    assert!(!volumes(&d).contains(&vol), "{:?}", volumes(&d));
}
