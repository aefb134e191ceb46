//! What a running daemon reloads on `SIGHUP`, as dockerd does: `debug`, `labels`,
//! `registry-mirrors`, `insecure-registries`, `authorization-plugins`, `runtimes` and
//! `default-runtime` (and Berth's own `build-context-limit`). Every other key keeps the value
//! the daemon started with; a changed one is named in a warning ("takes effect at the next start").
//!
//! Readers hold a [`Live`] (cloned from [`crate::Engine::settings`]) and see the new value on
//! their next [`Live::get`]; a subsystem that must act on a change (the registry client
//! rebuilding its endpoint table, say) waits on [`Live::subscribe`]. A reload that fails (bad
//! JSON, an unknown key, a bad value) changes nothing and is logged with its reason.

use std::sync::Arc;

use tokio::sync::watch;

use super::DaemonConfig;

/// The reloadable settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloadable {
    /// `debug` / `-D`: debug logging (the log filter becomes `debug`).
    pub debug: bool,
    /// `labels` / `--label`: `key=value` labels of this engine, shown by `docker info`.
    pub labels: Vec<String>,
    /// `registry-mirrors`: pull-through mirrors of Docker Hub, tried in order.
    pub registry_mirrors: Vec<String>,
    /// `insecure-registries`: registries reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// `authorization-plugins` / `--authorization-plugin`: the plugins asked about every API
    /// request, in order (`crate::server::authz`).
    pub authorization_plugins: Vec<String>,
    /// `runtimes` / `--add-runtime` and `default-runtime`: the runtimes containers may name
    /// ([`super::runtimes`]).
    pub runtimes: super::runtimes::Runtimes,
    /// `build-context-limit` (Berth's own): the most a build context may hold, in bytes;
    /// `None`: `crate::build::MAX_CONTEXT_BYTES`.
    pub build_context_limit: Option<u64>,
}

impl Reloadable {
    /// The log filter these settings ask for over `log_level`.
    pub fn log_filter(&self, log_level: &str) -> String {
        if self.debug {
            "debug".to_string()
        } else {
            log_level.to_string()
        }
    }
}

/// The live reloadable settings, shared by every reader.
#[derive(Debug, Clone)]
pub struct Live {
    tx: Arc<watch::Sender<Arc<Reloadable>>>,
}

impl Live {
    pub fn new(settings: Reloadable) -> Live {
        let (tx, _) = watch::channel(Arc::new(settings));
        Live { tx: Arc::new(tx) }
    }

    /// The current settings.
    pub fn get(&self) -> Arc<Reloadable> {
        self.tx.borrow().clone()
    }

    /// A receiver that wakes on every change (the reload hook).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Reloadable>> {
        self.tx.subscribe()
    }

    /// Publishes new settings; returns whether they differ from the current ones.
    pub fn set(&self, settings: Reloadable) -> bool {
        self.tx.send_if_modified(|current| {
            if **current == settings {
                return false;
            }
            *current = Arc::new(settings);
            true
        })
    }
}

/// The keys of `new` that differ from `old` but are not reloaded.
pub fn restart_only_changes(old: &DaemonConfig, new: &DaemonConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |differs: bool, key: &'static str| {
        if differs {
            changed.push(key);
        }
    };
    check(old.data_root != new.data_root, "data-root");
    check(old.exec_root != new.exec_root, "exec-root");
    check(old.hosts != new.hosts, "hosts");
    check(old.group != new.group, "group");
    check(old.log_level != new.log_level, "log-level");
    check(old.storage_driver != new.storage_driver, "storage-driver");
    check(old.tls != new.tls, "tls");
    check(old.docker_socket != new.docker_socket, "docker-socket");
    check(
        old.no_new_privileges != new.no_new_privileges,
        "no-new-privileges",
    );
    check(old.userns_remap != new.userns_remap, "userns-remap");
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_a_change_and_subscribers_wake() {
        let live = Live::new(Reloadable::default());
        let rx = live.subscribe();
        assert!(!live.set(Reloadable::default()));
        assert!(!rx.has_changed().unwrap_or(true));
        let new = Reloadable {
            labels: vec!["a=b".into()],
            ..Default::default()
        };
        assert!(live.set(new.clone()));
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(*live.get(), new);
        assert_eq!(new.log_filter("warn"), "warn");
        let debug = Reloadable {
            debug: true,
            ..Default::default()
        };
        assert_eq!(debug.log_filter("warn"), "debug");
    }

    #[test]
    fn restart_only_keys_are_named() {
        let old = DaemonConfig::default();
        let mut new = old.clone();
        new.reloadable.labels = vec!["x=y".into()];
        assert!(restart_only_changes(&old, &new).is_empty());
        new.data_root = "/elsewhere".into();
        new.docker_socket = Some("/d.sock".into());
        assert_eq!(
            restart_only_changes(&old, &new),
            vec!["data-root", "docker-socket"]
        );
    }
}
