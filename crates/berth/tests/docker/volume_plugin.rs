//! Volume plugins end to end (#9): the real docker CLI against a berth daemon, and the test
//! suite's volume plugin (`tests/common/volume_plugin.rs`) serving Docker's plugin protocol on
//! a uniquely named socket in `/run/docker/plugins/` from this process. Create, mount (with the
//! container's ID), unmount, inspect (the plugin's Status) and remove go through the plugin; a
//! plugin that hangs or answers garbage fails the call with a clear error in bounded time and
//! leaves no volume behind; an unknown driver is Docker's error. `volume ls` merges the plugin's
//! own volumes (a plugin that fails to list is a warning), inspect and `-v NAME:` find one the
//! daemon did not make; across a daemon restart (and a kill -9, with the container ending while
//! the daemon is down) a running container's plugin volume is mounted once and unmounted once.
//!
//! The daemons run with `--plugin-timeout 3`, so a hanging plugin costs seconds, not dockerd's
//! 30. Each plugin's socket is removed when the test ends, passed or failed (its `Drop`).

#[path = "../common/volume_plugin.rs"]
mod plugin;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plugin::{Behaviour, VolumePlugin};

use crate::harness::{code, eventually, opted_in, stderr, Daemon};

/// `(Mount, Unmount)` calls the plugin got for volume `name` and container `id`.
fn mount_calls(p: &VolumePlugin, name: &str, id: &str) -> (usize, usize) {
    let count = |method: &str| {
        p.calls_of(method)
            .iter()
            .filter(|c| c.body["Name"] == name && c.body["ID"] == id)
            .count()
    };
    (count("VolumeDriver.Mount"), count("VolumeDriver.Unmount"))
}

/// The deadline the daemons under test give a plugin call, in seconds.
const TIMEOUT: &str = "3";

/// How long a refused call may take: the deadline, and the daemon's and the CLI's own time.
const BOUND: Duration = Duration::from_secs(12);

/// A name no other test, run or machine uses.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berth-e2e-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A test plugin listening at `/run/docker/plugins/NAME.sock`, and its name.
fn plugin(what: &str) -> (VolumePlugin, String) {
    let name = unique(what);
    let socket = PathBuf::from("/run/docker/plugins").join(format!("{name}.sock"));
    (VolumePlugin::on_socket(&socket), name)
}

fn daemon() -> Daemon {
    Daemon::start_with(&["--plugin-timeout", TIMEOUT])
}

/// `docker volume ls -q`.
fn volume_names(d: &Daemon) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_plugin_volume_is_created_mounted_unmounted_and_removed() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("life");
    let d = daemon();

    d.ok(&["volume", "create", "-d", &driver, "-o", "size=1g", "pv"]);
    let create = p.calls_of("VolumeDriver.Create");
    assert_eq!(create.len(), 1, "{:?}", p.calls());
    assert_eq!(create[0].body["Name"], "pv");
    assert_eq!(create[0].body["Opts"]["size"], "1g");
    assert!(volume_names(&d).contains(&"pv".to_string()));
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{.Driver}}", "pv"]),
        driver
    );
    // The plugin's own Status, as it gave it.
    let status = d.ok(&["volume", "inspect", "-f", "{{json .Status}}", "pv"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status json");
    assert_eq!(status["driver"], "test-plugin", "{status}");
    assert_eq!(status["opts"]["size"], "1g", "{status}");

    d.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "pv:/data",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/f",
    ]);
    let id = d.inspect("writer", "{{.Id}}");
    let mounts = p.calls_of("VolumeDriver.Mount");
    assert_eq!(mounts.len(), 1, "{:?}", p.calls());
    assert_eq!(mounts[0].body["Name"], "pv");
    assert_eq!(mounts[0].body["ID"], id.as_str());
    eventually(Duration::from_secs(10), "the volume's Unmount", || {
        p.calls_of("VolumeDriver.Unmount")
            .iter()
            .any(|c| c.body["ID"] == id.as_str() && c.body["Name"] == "pv")
    });
    assert!(p.mounts("pv").is_empty());
    assert_eq!(
        std::fs::read_to_string(p.volume_dir("pv").join("f"))
            .expect("the file in the plugin's dir"),
        "x\n"
    );

    // Another container reads it back through the plugin.
    let out = d.ok(&["run", "--rm", "-v", "pv:/data", "busybox", "cat", "/data/f"]);
    assert_eq!(out, "x");

    d.ok(&["rm", "writer"]);
    d.ok(&["volume", "rm", "pv"]);
    assert_eq!(p.calls_of("VolumeDriver.Remove").len(), 1);
    assert!(!p.has_volume("pv"));
    assert!(!volume_names(&d).contains(&"pv".to_string()));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn volume_driver_flags_create_through_the_plugin() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("flags");
    let d = daemon();
    d.ok(&[
        "run",
        "--rm",
        "--volume-driver",
        &driver,
        "-v",
        "auto:/data",
        "busybox",
        "touch",
        "/data/a",
    ]);
    assert!(p.has_volume("auto"), "{:?}", p.calls());
    assert!(p.volume_dir("auto").join("a").exists());
    d.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,src=viamount,dst=/data,volume-driver={driver},volume-opt=k=v"),
        "busybox",
        "touch",
        "/data/b",
    ]);
    assert!(p.volume_dir("viamount").join("b").exists());
    let create = p
        .calls_of("VolumeDriver.Create")
        .into_iter()
        .find(|c| c.body["Name"] == "viamount")
        .expect("Create of viamount");
    assert_eq!(create.body["Opts"]["k"], "v");
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{.Driver}}", "viamount"]),
        driver
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_hanging_plugin_fails_the_create_in_bounded_time_and_leaves_nothing() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("hang");
    let d = daemon();
    p.set("*", Behaviour::Hang);
    let start = Instant::now();
    let out = d.docker(&["volume", "create", "-d", &driver, "stuck"]);
    let took = start.elapsed();
    assert_ne!(code(&out), 0, "a hanging create succeeded");
    assert!(took < BOUND, "the create took {took:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "VolumeDriver.Create: plugin \"{driver}\" did not answer within 3s"
        )),
        "{err}"
    );
    assert!(!volume_names(&d).contains(&"stuck".to_string()));
    // The daemon serves on, and the plugin recovering is used again.
    p.set("*", Behaviour::Serve);
    d.ok(&["volume", "create", "-d", &driver, "fine"]);
    assert!(p.has_volume("fine"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn garbage_and_errors_from_a_plugin_are_clear_errors() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("junk");
    let d = daemon();
    p.set("VolumeDriver.Create", Behaviour::Garbage);
    let out = d.docker(&["volume", "create", "-d", &driver, "junk"]);
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "VolumeDriver.Create: plugin \"{driver}\": the answer is not the JSON expected"
        )),
        "{err}"
    );
    p.set(
        "VolumeDriver.Create",
        Behaviour::Err("no quota left".into()),
    );
    let out = d.docker(&["volume", "create", "-d", &driver, "junk"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("VolumeDriver.Create: no quota left"),
        "{}",
        stderr(&out)
    );
    assert!(!volume_names(&d).contains(&"junk".to_string()));

    // A mount that fails fails the run, and says why.
    p.set("VolumeDriver.Create", Behaviour::Serve);
    d.ok(&["volume", "create", "-d", &driver, "unmountable"]);
    p.set("VolumeDriver.Mount", Behaviour::Err("device busy".into()));
    let out = d.docker(&["run", "--rm", "-v", "unmountable:/data", "busybox", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("VolumeDriver.Mount: device busy"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn an_unknown_driver_is_dockers_error() {
    if !opted_in() {
        return;
    }
    let d = daemon();
    let name = unique("absent");
    let start = Instant::now();
    let out = d.docker(&["volume", "create", "-d", &name, "nowhere"]);
    assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error looking up volume plugin {name}: plugin \"{name}\" not found"
        )),
        "{err}"
    );
    assert!(!volume_names(&d).contains(&"nowhere".to_string()));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn the_plugins_own_volumes_are_listed_and_found() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("own");
    let d = daemon();
    // The daemon knows the plugin once it has used it.
    d.ok(&["volume", "create", "-d", &driver, "mine"]);
    p.add_volume("theirs");
    p.add_volume("picked");
    let names = volume_names(&d);
    for n in ["mine", "theirs", "picked"] {
        assert!(names.contains(&n.to_string()), "{n} not in {names:?}");
    }
    let by_driver = d.ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("driver={driver}"),
    ]);
    assert_eq!(by_driver, "mine\npicked\ntheirs");
    assert!(d
        .ok(&["volume", "ls", "-q", "--filter", "driver=local"])
        .is_empty());
    let (status, body) = d.curl("GET", "/volumes", None);
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("list json");
    assert!(
        listed["Warnings"].as_array().is_none_or(|w| w.is_empty()),
        "{body}"
    );
    let theirs = listed["Volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["Name"] == "theirs"))
        .expect("theirs listed");
    assert_eq!(theirs["Driver"], driver.as_str(), "{theirs}");
    assert!(theirs["Status"].is_null(), "{theirs}");

    // Inspect asks the plugin for a volume the daemon never made, and then knows it.
    let got = d.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Driver}} {{.Status.driver}}",
        "theirs",
    ]);
    assert_eq!(got, format!("{driver} test-plugin"));
    let out = d.docker(&["volume", "inspect", "nowhere-at-all"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("get nowhere-at-all: no such volume"),
        "{}",
        stderr(&out)
    );

    // `-v NAME:` without a driver uses the plugin that has NAME; nothing local is made.
    d.ok(&[
        "run",
        "--name",
        "user",
        "-v",
        "picked:/data",
        "busybox",
        "touch",
        "/data/x",
    ]);
    let id = d.inspect("user", "{{.Id}}");
    assert_eq!(mount_calls(&p, "picked", &id).0, 1, "{:?}", p.calls());
    assert!(p.volume_dir("picked").join("x").exists());
    assert!(!d.data_root().join("volumes/picked").exists());
    assert_eq!(
        d.inspect("user", "{{range .Mounts}}{{.Name}} {{.Driver}}{{end}}"),
        format!("picked {driver}")
    );
    d.ok(&["rm", "user"]);
    d.ok(&["volume", "rm", "picked", "theirs", "mine"]);
    assert!(!p.has_volume("picked") && !p.has_volume("theirs"));
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_plugin_that_fails_to_list_is_a_warning() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("nolist");
    let d = daemon();
    d.ok(&["volume", "create", "-d", &driver, "kept"]);
    d.ok(&["volume", "create", "loc"]);
    p.set(
        "VolumeDriver.List",
        Behaviour::Err("listing is broken".into()),
    );
    let (status, body) = d.curl("GET", "/volumes", None);
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("list json");
    assert_eq!(
        listed["Warnings"],
        serde_json::json!([format!(
            "list {driver}: VolumeDriver.List: listing is broken"
        )]),
        "{body}"
    );
    let mut names: Vec<&str> = listed["Volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["Name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["kept", "loc"]);
    // The CLI lists on.
    assert_eq!(volume_names(&d), ["kept", "loc"]);
    p.set("VolumeDriver.List", Behaviour::Garbage);
    let (status, body) = d.curl("GET", "/volumes", None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("the answer is not the JSON expected"),
        "{body}"
    );
    p.set("VolumeDriver.List", Behaviour::Serve);
    d.ok(&["volume", "rm", "kept", "loc"]);
}

#[test]
#[cfg_attr(
    not(root_tests),
    ignore = "root test: run as root with BERTH_ROOT_TESTS=1"
)]
fn a_running_containers_plugin_volume_survives_daemon_restarts() {
    if !opted_in() {
        return;
    }
    let (p, driver) = plugin("restart");
    let mut d = daemon();
    d.ok(&["volume", "create", "-d", &driver, "pv"]);
    d.ok(&["volume", "create", "-d", &driver, "gone"]);
    d.ok(&[
        "run", "-d", "--name", "long", "-v", "pv:/data", "busybox", "sleep", "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ends",
        "-v",
        "gone:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let long = d.inspect("long", "{{.Id}}");
    let ends = d.inspect("ends", "{{.Id}}");
    let ends_pid: i32 = d.inspect("ends", "{{.State.Pid}}").parse().expect("pid");
    assert_eq!(mount_calls(&p, "pv", &long), (1, 0));

    // A clean restart: the references and the mount come back without a call.
    d.stop();
    d.spawn();
    assert!(volume_names(&d).contains(&"pv".to_string()));
    let out = d.docker(&["volume", "rm", "pv"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mount_calls(&p, "pv", &long), (1, 0));

    // kill -9, and one container ends while the daemon is down.
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ends_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the container");
    eventually(Duration::from_secs(10), "the container's end", || {
        !std::path::Path::new(&format!("/proc/{ends_pid}")).exists()
    });
    d.spawn();
    eventually(
        Duration::from_secs(10),
        "the ended container's Unmount",
        || mount_calls(&p, "gone", &ends).1 == 1,
    );
    assert_eq!(mount_calls(&p, "gone", &ends), (1, 1));
    assert_eq!(d.inspect("long", "{{.State.Running}}"), "true");
    assert_eq!(mount_calls(&p, "pv", &long), (1, 0));
    assert_eq!(
        d.ok(&["exec", "long", "sh", "-c", "echo ok > /data/f; cat /data/f"]),
        "ok"
    );

    d.ok(&["stop", "-t", "0", "long"]);
    eventually(Duration::from_secs(10), "the Unmount after stop", || {
        mount_calls(&p, "pv", &long).1 == 1
    });
    d.ok(&["rm", "long", "ends"]);
    d.ok(&["volume", "rm", "pv", "gone"]);
    assert_eq!(mount_calls(&p, "pv", &long), (1, 1));
    assert_eq!(mount_calls(&p, "gone", &ends), (1, 1));
    assert!(p.mounts("pv").is_empty() && !p.has_volume("pv"));
}
