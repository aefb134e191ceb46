//! A project volume's configuration against the file's (issue #12), with `berth compose`: a
//! volume whose driver options changed in the file is Compose v2's question ("exists but doesn't
//! match configuration in compose file. Recreate (data will be lost)?"); with no answer (stdin not
//! a terminal) the volume is kept, with `up -y` it is made again from the file and the service's
//! container with it. And a service's `volume_driver` is the engine's `VolumeDriver`: the
//! volumes the engine makes for it (the image's `VOLUME`s) come from that driver, here the test
//! suite's volume plugin.

#[path = "../common/volume_plugin.rs"]
mod plugin;

use std::path::{Path, PathBuf};

use crate::harness::{self, opted_in, Daemon};
use crate::Project;

/// `db` mounting project volume `data`, a bind (`type: none, o: bind`) of host directory `dir`.
fn bind_volume_project(dir: &Path) -> String {
    format!(
        r#"services:
  db:
    image: busybox
    command: ["sleep", "1000"]
    volumes:
      - data:/data
volumes:
  data:
    driver_opts:
      type: none
      o: bind
      device: {}
"#,
        dir.display()
    )
}

fn device_of(d: &Daemon, vol: &str) -> String {
    d.ok(&["volume", "inspect", "-f", "{{.Options.device}}", vol])
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_volume_that_no_longer_matches_the_file_is_asked_about_and_recreated_with_yes() {
    if !opted_in() {
        return;
    }
    let d = Daemon::start();
    let p = Project::new(&d, "drift", "services: {}\n");
    let (one, two) = (p.path().join("one"), p.path().join("two"));
    for (dir, text) in [(&one, "from-one"), (&two, "from-two")] {
        std::fs::create_dir_all(dir).expect("device dir");
        std::fs::write(dir.join("m"), text).expect("marker");
    }
    p.write(&bind_volume_project(&one));
    p.ok(&["up", "-d"]);
    let (vol, db) = (format!("{}_data", p.name), format!("{}-db-1", p.name));
    assert_eq!(d.ok(&["exec", &db, "cat", "/data/m"]), "from-one");
    let first = d.inspect(&db, "{{.Id}}");

    // Unchanged: no question.
    let out = p.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    assert!(!harness::stdout(&out).contains("doesn't match"));

    // Changed, asked with no answer: Compose's question, and the volume is kept.
    p.write(&bind_volume_project(&two));
    let out = p.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    let question = format!(
        "Volume {vol:?} exists but doesn't match configuration in compose file. Recreate (data will be lost)?"
    );
    assert!(
        harness::stdout(&out).contains(&question),
        "{}",
        harness::stdout(&out)
    );
    assert_eq!(device_of(&d, &vol), one.display().to_string());
    assert_eq!(d.inspect(&db, "{{.Id}}"), first);
    assert_eq!(d.ok(&["exec", &db, "cat", "/data/m"]), "from-one");

    // -y: the volume is made again from the file, and db with it.
    let out = p.run(&["up", "-d", "-y"]);
    assert!(out.status.success(), "{}", harness::stderr(&out));
    let err = harness::stderr(&out);
    assert!(err.contains(&format!("Volume {vol:?}  Removed")), "{err}");
    assert!(err.contains(&format!("Volume {vol:?}  Created")), "{err}");
    assert_eq!(device_of(&d, &vol), two.display().to_string());
    assert_ne!(d.inspect(&db, "{{.Id}}"), first);
    assert_eq!(d.ok(&["exec", &db, "cat", "/data/m"]), "from-two");
    let labels = d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &vol]);
    assert!(labels.contains(&p.name), "{labels}");
    p.ok(&["down", "-v"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_driver_makes_the_services_volumes_through_that_driver() {
    if !opted_in() {
        return;
    }
    let driver = format!("berth-compose-vd-{}", std::process::id());
    let socket = PathBuf::from("/run/docker/plugins").join(format!("{driver}.sock"));
    let plug = plugin::VolumePlugin::on_socket(&socket);
    let d = Daemon::start();
    // An image with a VOLUME: the engine makes a volume for it at create, with VolumeDriver.
    d.ok(&["create", "--name", "base", "busybox"]);
    d.ok(&["commit", "--change", "VOLUME /vol", "base", "withvol:1"]);
    let yaml = format!(
        "services:\n  app:\n    image: withvol:1\n    command: [sleep, '1000']\n    volume_driver: {driver}\n  plain:\n    image: withvol:1\n    command: [sleep, '1000']\n"
    );
    let p = Project::new(&d, "vdrv", &yaml);
    p.ok(&["up", "-d"]);
    let driver_at = |c: &str| {
        d.inspect(
            c,
            "{{range .Mounts}}{{if eq .Destination \"/vol\"}}{{.Driver}}{{end}}{{end}}",
        )
    };
    let app = format!("{}-app-1", p.name);
    assert_eq!(driver_at(&app), driver);
    assert_eq!(driver_at(&format!("{}-plain-1", p.name)), "local");
    assert_eq!(
        d.inspect(&app, "{{.HostConfig.VolumeDriver}}"),
        driver.as_str()
    );
    assert!(
        !plug.calls_of("VolumeDriver.Create").is_empty(),
        "{:?}",
        plug.calls()
    );
    d.ok(&["exec", &app, "touch", "/vol/through-the-plugin"]);
    p.ok(&["down", "-v"]);
}
