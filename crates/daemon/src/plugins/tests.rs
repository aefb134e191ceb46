//! The plugin client against a real plugin: the test suite's volume plugin
//! (`crates/berth/tests/common/volume_plugin.rs`), served from threads of this process on
//! sockets and ports in temp dirs. Discovery, activation, every `VolumeDriver` call, and each
//! way a plugin can fail the daemon: missing, hanging, garbage, errors, closed connections,
//! oversized answers.

#[path = "../../../berth/tests/common/volume_plugin.rs"]
mod volume_plugin;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use volume_plugin::{Behaviour, VolumePlugin};

use super::*;
use crate::error::{DaemonError, ErrorKind};
use crate::volumes::plugin::{PluginDriver, Scope};

/// A registry looking only in `dir/run` (sockets) and `dir/etc` (spec files).
fn registry(dir: &Path, timeout: Duration) -> Registry {
    Registry::new(Settings {
        search: SearchPath {
            socket_dirs: vec![dir.join("run")],
            spec_dirs: vec![dir.join("etc")],
        },
        timeout,
        find_wait: Duration::from_millis(300),
    })
}

fn plugin_error(e: DaemonError) -> PluginError {
    match e {
        DaemonError::Plugin(p) => p,
        other => panic!("not a plugin error: {other:?}"),
    }
}

#[tokio::test]
async fn activation_and_every_call() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plugin = VolumePlugin::on_socket(&tmp.path().join("run/vp.sock"));
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let driver = PluginDriver::connect_with(&reg, "vp")
        .await
        .expect("connect");
    assert_eq!(driver.name(), "vp");
    let activate = plugin.calls_of("Plugin.Activate");
    assert_eq!(activate.len(), 1);
    assert_eq!(activate[0].accept.as_deref(), Some(client::MEDIA_TYPE));

    let opts = BTreeMap::from([("size".to_string(), "1g".to_string())]);
    driver.create("v1", &opts).await.expect("create");
    assert_eq!(
        plugin.calls_of("VolumeDriver.Create")[0].body,
        json!({"Name": "v1", "Opts": {"size": "1g"}})
    );
    assert!(plugin.has_volume("v1"));

    let at = driver.mount("v1", "c0ffee").await.expect("mount");
    assert_eq!(at, plugin.volume_dir("v1"));
    assert_eq!(plugin.mounts("v1"), vec!["c0ffee".to_string()]);
    assert_eq!(
        plugin.calls_of("VolumeDriver.Mount")[0].body,
        json!({"Name": "v1", "ID": "c0ffee"})
    );
    assert_eq!(
        driver.path("v1").await.expect("path"),
        Some(plugin.volume_dir("v1"))
    );

    let got = driver.get("v1").await.expect("get").expect("a volume");
    assert_eq!(got.name, "v1");
    assert_eq!(got.mountpoint, Some(plugin.volume_dir("v1")));
    let status = got.status.expect("status");
    assert_eq!(status["mounts"], 1);
    assert_eq!(status["opts"]["size"], "1g");
    assert_eq!(got.created_at.as_deref(), Some("2024-01-02T03:04:05Z"));

    driver
        .create("v2", &BTreeMap::new())
        .await
        .expect("create v2");
    let names: Vec<String> = driver
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["v1", "v2"]);

    // The plugin's own refusal, in Docker's words.
    let e = driver.remove("v1").await.expect_err("mounted");
    assert_eq!(e.to_string(), "VolumeDriver.Remove: volume v1 is mounted");
    assert_eq!(e.kind(), ErrorKind::Internal);

    driver.unmount("v1", "c0ffee").await.expect("unmount");
    assert!(plugin.mounts("v1").is_empty());
    driver.remove("v1").await.expect("remove");
    assert!(!plugin.has_volume("v1"));
    let e = driver.get("v1").await.expect_err("gone");
    assert_eq!(e.to_string(), "VolumeDriver.Get: no such volume v1");

    assert_eq!(driver.capabilities().await.expect("caps"), Scope::Local);
    plugin.set_scope(Some("GLOBAL"));
    assert_eq!(driver.capabilities().await.expect("caps"), Scope::Global);
    plugin.set_scope(Some("galactic"));
    assert_eq!(driver.capabilities().await.expect("caps"), Scope::Local);
    plugin.set_scope(None);
    assert_eq!(
        driver.capabilities().await.expect("404 is local"),
        Scope::Local
    );
    plugin.set(
        "VolumeDriver.Capabilities",
        Behaviour::Status(500, "oops".into()),
    );
    assert_eq!(
        driver.capabilities().await.expect("a refusal is local"),
        Scope::Local
    );
    plugin.set("VolumeDriver.Capabilities", Behaviour::Garbage);
    driver
        .capabilities()
        .await
        .expect_err("garbage is an error");

    // Activated once, however many connects.
    PluginDriver::connect_with(&reg, "vp")
        .await
        .expect("connect again");
    assert_eq!(plugin.calls_of("Plugin.Activate").len(), 1);
}

#[tokio::test]
async fn spec_files_name_tcp_and_unix_plugins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(etc.join("nested")).expect("etc");
    let tcp = VolumePlugin::on_tcp();
    std::fs::write(etc.join("overtcp.spec"), format!("{}\n", tcp.url())).expect("spec");
    let unix = VolumePlugin::on_socket(&tmp.path().join("elsewhere/p.sock"));
    std::fs::write(
        etc.join("nested/nested.json"),
        json!({"Name": "nested", "Addr": unix.url(), "TLSConfig": null}).to_string(),
    )
    .expect("json");
    let reg = registry(tmp.path(), Duration::from_secs(10));

    let d = PluginDriver::connect_with(&reg, "overtcp")
        .await
        .expect("tcp");
    d.create("t", &BTreeMap::new())
        .await
        .expect("create over tcp");
    assert!(tcp.has_volume("t"));
    let d = PluginDriver::connect_with(&reg, "nested")
        .await
        .expect("json");
    d.create("u", &BTreeMap::new())
        .await
        .expect("create over unix");
    assert!(unix.has_volume("u"));
}

#[tokio::test]
async fn missing_plugins_are_not_found_in_bounded_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let start = Instant::now();
    let e = PluginDriver::connect_with(&reg, "nobody")
        .await
        .expect_err("missing");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        e.to_string(),
        "error looking up volume plugin nobody: plugin \"nobody\" not found"
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let e = PluginDriver::connect_with(&reg, "../../etc/passwd")
        .await
        .expect_err("a path");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn a_plugin_that_appears_while_waited_for_is_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut reg = registry(tmp.path(), Duration::from_secs(10));
    reg.settings.get_mut().expect("settings").find_wait = Duration::from_secs(10);
    let socket = tmp.path().join("run/late/late.sock");
    let (tx, rx) = std::sync::mpsc::channel();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let plugin = VolumePlugin::on_socket(&socket);
        // Keep it serving until the test is done with it.
        let _ = rx.recv();
        drop(plugin);
    });
    let d = PluginDriver::connect_with(&reg, "late")
        .await
        .expect("late");
    d.create("x", &BTreeMap::new()).await.expect("create");
    let _ = tx.send(());
    starter.join().expect("starter");
}

#[tokio::test]
async fn plugins_without_volume_driver_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plugin = VolumePlugin::on_socket(&tmp.path().join("run/authz.sock"));
    plugin.set_implements(&["authz"]);
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let e = PluginDriver::connect_with(&reg, "authz")
        .await
        .expect_err("not a volume driver");
    assert_eq!(
        e.to_string(),
        "error looking up volume plugin authz: Plugin does not implement the requested driver: \
         plugin=\"authz\", requested implementation=\"VolumeDriver\""
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(reg.get("authz", "authz").await.is_ok());
}

#[tokio::test]
async fn a_hanging_plugin_meets_the_deadline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plugin = VolumePlugin::on_socket(&tmp.path().join("run/slow.sock"));
    let reg = registry(tmp.path(), Duration::from_millis(500));
    let d = PluginDriver::connect_with(&reg, "slow")
        .await
        .expect("connect");
    plugin.set("*", Behaviour::Hang);
    let start = Instant::now();
    let e = plugin_error(d.create("v", &BTreeMap::new()).await.expect_err("hangs"));
    let took = start.elapsed();
    assert!(matches!(e, PluginError::Timeout { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "VolumeDriver.Create: plugin \"slow\" did not answer within 500ms"
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A plugin that hangs at activation too.
    plugin.set("Plugin.Activate", Behaviour::Hang);
    let reg = registry(tmp.path(), Duration::from_millis(500));
    let e = PluginDriver::connect_with(&reg, "slow")
        .await
        .expect_err("activation hangs");
    assert_eq!(
        e.to_string(),
        "error looking up volume plugin slow: Plugin.Activate: plugin \"slow\" did not answer within 500ms"
    );
}

#[tokio::test]
async fn garbage_errors_and_hangups_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plugin = VolumePlugin::on_socket(&tmp.path().join("run/bad.sock"));
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let d = PluginDriver::connect_with(&reg, "bad")
        .await
        .expect("connect");
    let none = BTreeMap::new();

    plugin.set("VolumeDriver.Create", Behaviour::Garbage);
    let e = d.create("v", &none).await.expect_err("garbage").to_string();
    assert!(
        e.starts_with("VolumeDriver.Create: plugin \"bad\": the answer is not the JSON expected"),
        "{e}"
    );

    plugin.set(
        "VolumeDriver.Create",
        Behaviour::Err("quota exceeded".into()),
    );
    let e = d.create("v", &none).await.expect_err("err");
    assert_eq!(e.to_string(), "VolumeDriver.Create: quota exceeded");

    plugin.set(
        "VolumeDriver.Create",
        Behaviour::Status(500, r#"{"Err":"backend down"}"#.into()),
    );
    let e = plugin_error(d.create("v", &none).await.expect_err("500"));
    assert!(matches!(e, PluginError::Refused { status: 500, .. }));
    assert_eq!(e.to_string(), "VolumeDriver.Create: backend down");

    plugin.set("VolumeDriver.Create", Behaviour::Status(503, "busy".into()));
    let e = d.create("v", &none).await.expect_err("503").to_string();
    assert_eq!(
        e,
        "VolumeDriver.Create: the plugin answered 503 Service Unavailable: \"busy\""
    );

    plugin.set("VolumeDriver.Create", Behaviour::Close);
    let e = d.create("v", &none).await.expect_err("closed").to_string();
    assert_eq!(
        e,
        "VolumeDriver.Create: plugin \"bad\": the plugin closed the connection without answering"
    );

    plugin.set("VolumeDriver.List", Behaviour::Huge(client::MAX_ANSWER + 1));
    let e = d.list().await.expect_err("huge").to_string();
    assert!(e.contains("the answer is larger than"), "{e}");

    plugin.set("VolumeDriver.Mount", Behaviour::Status(200, "{}".into()));
    let e = d
        .mount("v", "id")
        .await
        .expect_err("no mountpoint")
        .to_string();
    assert!(e.contains("no absolute Mountpoint"), "{e}");

    // Through all of it the plugin was never asked anything twice.
    assert_eq!(plugin.calls_of("VolumeDriver.Create").len(), 5);
}

#[tokio::test]
async fn a_plugin_whose_socket_went_away_is_looked_for_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let socket = tmp.path().join("run/flaky.sock");
    let reg = registry(tmp.path(), Duration::from_secs(10));
    let first = VolumePlugin::on_socket(&socket);
    PluginDriver::connect_with(&reg, "flaky")
        .await
        .expect("first");
    drop(first);
    let e = PluginDriver::connect_with(&reg, "flaky")
        .await
        .expect_err("gone");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let second = VolumePlugin::on_socket(&socket);
    let d = PluginDriver::connect_with(&reg, "flaky")
        .await
        .expect("again");
    d.create("v", &BTreeMap::new()).await.expect("create");
    assert_eq!(second.calls_of("Plugin.Activate").len(), 1);
}
