//! Unit tests of the flag and daemon.json merge.

use super::*;

fn file(json: &str) -> FileConfig {
    file::parse(json).unwrap_or_default()
}

fn merge(args: &DaemonArgs, f: FileConfig) -> Result<DaemonConfig, DaemonError> {
    DaemonConfig::merge(args, f, PathBuf::from("/certs"))
}

#[test]
fn defaults_flags_and_file_merge() {
    let c = DaemonConfig::merge(
        &DaemonArgs::default(),
        FileConfig::default(),
        default_cert_dir(),
    );
    assert_eq!(c.ok(), Some(DaemonConfig::default()));
    let args = DaemonArgs {
        data_root: Some("/d".into()),
        storage_driver: Some("vfs".into()),
        ..Default::default()
    };
    let c = merge(&args, file(r#"{"exec-root":"/e","hosts":["unix:///e/s"]}"#));
    let c = c.unwrap_or_default();
    assert_eq!(c.data_root, PathBuf::from("/d"));
    assert_eq!(c.exec_root, PathBuf::from("/e"));
    assert_eq!(c.hosts, vec!["unix:///e/s".to_string()]);
    assert_eq!(c.storage_driver, StorageDriver::Vfs);
}

#[test]
fn conflicts_and_bad_values_are_errors() {
    let args = DaemonArgs {
        data_root: Some("/d".into()),
        ..Default::default()
    };
    let e = merge(&args, file(r#"{"data-root":"/x"}"#)).err();
    assert!(e.is_some_and(|e| e.to_string().contains("data-root")));
    assert!(file::parse(r#"{"data_root":"/x"}"#).is_err());
    let args = DaemonArgs {
        tls_verify: Some(true),
        ..Default::default()
    };
    let e = merge(&args, file(r#"{"tlsverify":true}"#)).err();
    assert!(e.is_some_and(|e| e.to_string().contains("tlsverify")));
    assert!(StorageDriver::parse("zfs").is_err());
}

#[test]
fn plain_tcp_is_refused_without_the_explicit_opt_out() {
    let tcp = |tls: Option<bool>, verify: Option<bool>| DaemonArgs {
        hosts: vec!["tcp://0.0.0.0:2375".into()],
        tls,
        tls_verify: verify,
        ..Default::default()
    };
    let e = merge(&tcp(None, None), FileConfig::default()).err();
    assert!(e.is_some_and(|e| e.to_string().contains("--tls=false")));
    for (tls, verify) in [(Some(false), None), (None, Some(false))] {
        let c = merge(&tcp(tls, verify), FileConfig::default()).unwrap_or_default();
        assert_eq!(
            c.listeners().ok(),
            Some(vec![Listen::Tcp("0.0.0.0:2375".into(), TcpSecurity::Plain)])
        );
    }
    // The opt-out from daemon.json counts as well.
    let c = merge(&tcp(None, None).clone(), file(r#"{"tls":false}"#));
    assert!(c.is_ok());
}

#[test]
fn tls_flags_and_keys_pick_the_security() {
    let args = DaemonArgs {
        hosts: vec!["unix:///s".into(), "tcp://127.0.0.1".into()],
        tls_verify: Some(true),
        tls_cert: Some("/x/c.pem".into()),
        ..Default::default()
    };
    let c = merge(&args, FileConfig::default()).unwrap_or_default();
    let mutual = TcpSecurity::MutualTls {
        ca: "/certs/ca.pem".into(),
        cert: "/x/c.pem".into(),
        key: "/certs/key.pem".into(),
    };
    assert_eq!(
        c.listeners().ok(),
        Some(vec![
            Listen::Unix("/s".into()),
            Listen::Tcp("127.0.0.1:2376".into(), mutual)
        ])
    );
    let json = r#"{"hosts":["tcp://:2376"],"tls":true,"tlscert":"/c","tlskey":"/k"}"#;
    let c = merge(&DaemonArgs::default(), file(json)).unwrap_or_default();
    let server = TcpSecurity::ServerTls {
        cert: "/c".into(),
        key: "/k".into(),
    };
    assert_eq!(
        c.listeners().ok(),
        Some(vec![Listen::Tcp("127.0.0.1:2376".into(), server)])
    );
}

#[test]
fn hosts_parse_as_dockerd_parses_them() {
    let unix = |p: &str| Some(Host::Unix(PathBuf::from(p)));
    let tcp = |a: &str| Some(Host::Tcp(a.to_string()));
    assert_eq!(
        parse_host("unix:///a/b.sock", false).ok(),
        unix("/a/b.sock")
    );
    assert_eq!(parse_host("/a/b.sock", false).ok(), unix("/a/b.sock"));
    assert_eq!(
        parse_host("tcp://0.0.0.0:2375", false).ok(),
        tcp("0.0.0.0:2375")
    );
    assert_eq!(parse_host("tcp://", true).ok(), tcp("127.0.0.1:2376"));
    assert_eq!(parse_host("tcp://host", false).ok(), tcp("host:2375"));
    assert_eq!(parse_host("10.0.0.1:99", true).ok(), tcp("10.0.0.1:99"));
    assert_eq!(parse_host("tcp://[::1]:2376", true).ok(), tcp("[::1]:2376"));
    assert_eq!(parse_host("tcp://[::1]", true).ok(), tcp("[::1]:2376"));
    assert_eq!(parse_host("fd://", false).ok(), Some(Host::Fd(None)));
    assert_eq!(parse_host("fd://3", false).ok(), Some(Host::Fd(Some(3))));
    for bad in [
        "fd://1",
        "fd://x",
        "tcp://h:port",
        "tcp://::1:2",
        "tcp://h:1/x",
        "tcp://[::1",
        "ssh://h",
    ] {
        assert!(parse_host(bad, true).is_err(), "{bad}");
    }
}

#[test]
fn reloadable_keys_and_the_docker_socket_merge() {
    let json = r#"{"debug":true,"labels":["a=b"],"registry-mirrors":["https://m.example"],
        "insecure-registries":["reg:5000"],"docker-socket":true}"#;
    let c = merge(&DaemonArgs::default(), file(json)).unwrap_or_default();
    assert!(c.reloadable.debug);
    assert_eq!(c.reloadable.labels, vec!["a=b".to_string()]);
    assert_eq!(c.reloadable.registry_mirrors, vec!["https://m.example"]);
    assert_eq!(c.reloadable.insecure_registries, vec!["reg:5000"]);
    assert_eq!(c.docker_socket, Some(PathBuf::from(DEFAULT_DOCKER_SOCKET)));
    assert_eq!(
        c.listeners().ok().and_then(|l| l.last().cloned()),
        Some(Listen::DockerSocket(DEFAULT_DOCKER_SOCKET.into()))
    );
    // A flag and the same key in the file conflict, lists and booleans included.
    let args = DaemonArgs {
        labels: vec!["x=y".into()],
        debug: true,
        ..Default::default()
    };
    let e = merge(&args, file(json)).err().map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("debug") && e.contains("labels")),
        "{e:?}"
    );
    let bad = merge(&DaemonArgs::default(), file(r#"{"labels":["novalue"]}"#));
    assert!(bad.is_err());
    let relative = DaemonArgs {
        docker_socket: Some("d.sock".into()),
        ..Default::default()
    };
    assert!(merge(&relative, FileConfig::default()).is_err());
}

#[test]
fn security_keys_merge() {
    let json = r#"{"authorization-plugins":["authz-a","authz-b"],"no-new-privileges":true}"#;
    let c = merge(&DaemonArgs::default(), file(json)).unwrap_or_default();
    assert_eq!(
        c.reloadable.authorization_plugins,
        vec!["authz-a", "authz-b"]
    );
    assert!(c.no_new_privileges);
    let args = DaemonArgs {
        authorization_plugins: vec!["authz-c".into()],
        no_new_privileges: true,
        ..Default::default()
    };
    let c = merge(&args, FileConfig::default()).unwrap_or_default();
    assert_eq!(c.reloadable.authorization_plugins, vec!["authz-c"]);
    assert!(c.no_new_privileges);
    let e = merge(&args, file(json)).err().map(|e| e.to_string());
    assert!(
        e.as_deref().is_some_and(
            |e| e.contains("authorization-plugins") && e.contains("no-new-privileges")
        ),
        "{e:?}"
    );
    let bad = file(r#"{"authorization-plugins":["/run/x.sock"]}"#);
    assert!(merge(&DaemonArgs::default(), bad).is_err());
    // A changed no-new-privileges waits for the next start; the plugins are reloaded.
    let new = DaemonConfig {
        no_new_privileges: true,
        reloadable: Reloadable {
            authorization_plugins: vec!["authz-a".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        reload::restart_only_changes(&DaemonConfig::default(), &new),
        vec!["no-new-privileges"]
    );
}

#[test]
fn every_key_is_documented() {
    let doc = include_str!("../../../../docs/daemon-json.md");
    for key in file::KEYS {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/daemon-json.md does not document {key}"
        );
    }
}
