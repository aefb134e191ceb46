//! The Berth daemon: the engine and the Docker Engine API server in front of it.
//!
//! Module map:
//! - [`config`]: flags ([`DaemonArgs`]) + daemon.json → [`DaemonConfig`];
//! - [`containers`]: the container engine — lifecycle state machine, SQLite store, Docker config →
//!   OCI spec, one file per verb, the shim adapter, per-container monitors and live restore;
//! - [`error`]: [`DaemonError`] and its [`error::ErrorKind`];
//! - [`events`]: the event bus (broadcast + bounded ring for `since`);
//! - `exec_root`: the exec root kept on a tmpfs; `sqlite`: how the stores open their databases;
//! - [`images`]: the image service over `berth_image::ImageStore` (blocking pool);
//! - [`system`]: host facts for `/version` and `/info`;
//! - [`volumes`]: the volume service — the local driver, plugin drivers, the SQLite store, the
//!   containers' references and mounts, copy-up;
//! - [`fault`]: crash points for fault-injection tests (`BERTH_CRASH_AT`, test builds only);
//!   `check`: `berth daemon --check`, the stores' consistency check on a stopped daemon;
//! - `listen`: the front doors — UNIX sockets (never reachable with the umask's mode), sockets
//!   from systemd (`fd://`), Docker's socket (`--docker-socket`) and TCP with TLS (`--tlsverify`
//!   mutual TLS, `--tls`) or, asked for explicitly, plain TCP; `sdnotify`: readiness for
//!   systemd's `Type=notify`;
//! - [`server`]: HTTP — routing, version negotiation, one module per API area, and the one
//!   error-kind → status mapping (`server::error`).
//!
//! The [`Engine`] is composed explicitly of one struct per subsystem (images, containers, events,
//! system, networks, volumes). Engine services speak domain types (`berth_image` types,
//! [`images::ImageFilter`], [`events::Event`]); only `server` knows HTTP and `berth_api`.
//!
//! # API notes
//! - Announces API 1.50 (`Api-Version` on every response), accepts `/v1.24`..`/v1.50` prefixes and
//!   unversioned paths (= 1.50); outside that range: 400 with Docker's "too old"/"too new" text.
//! - Errors: `{"message": "..."}`; 400 invalid argument, 404 not found (`No such image: x:latest`,
//!   `page not found`), 409 conflict, 501 known-but-unbuilt routes, 503 swarm routes, 500 internal.
//! - `/images/load` answers JSON lines (`{"stream":"Loaded image: busybox:latest\n"}`) after the
//!   archive is stored, so failures keep their status codes; `/images/create?fromSrc=-` answers
//!   `{"status":"sha256:..."}`; save streams `application/x-tar` after resolving every name.
//! - `/events` streams newline-separated JSON until `until`, the client leaves, or shutdown.
//!
//! # Entry points
//! The `berth daemon` subcommand embeds [`DaemonArgs`] and calls [`main`]; tests use
//! [`Daemon::start`] and [`Daemon::stop`] inside their own runtime.

mod build;
mod check;
pub mod config;
pub mod containers;
pub mod error;
pub mod events;
mod exec_root;
pub mod fault;
mod filter;
pub mod images;
mod listen;
pub mod networks;
pub mod plugins;
mod root_lock;
mod sdnotify;
pub mod server;
mod sqlite;
pub mod system;
pub mod userns;
pub mod volumes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_image::snapshot::{OverlaySnapshotter, PlainSnapshotter, Snapshotter};
use berth_image::ImageStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{DaemonArgs, DaemonConfig, StorageDriver};
use containers::{ContainerOptions, ContainerService};
pub use error::DaemonError;
use events::Events;
use images::ImageService;
use networks::NetworkService;
use system::SystemService;
use volumes::VolumeService;

/// How long a stop waits for requests in flight before dropping them.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The engine: one struct per subsystem, composed here and nowhere else.
pub struct Engine {
    pub images: ImageService,
    pub containers: ContainerService,
    pub networks: NetworkService,
    pub volumes: VolumeService,
    pub events: Events,
    pub system: SystemService,
    /// The settings `SIGHUP` reloads (labels, debug, registry mirrors, insecure registries).
    pub settings: config::Live,
}

impl Engine {
    /// Opens every subsystem under the configured roots.
    pub async fn open(config: &DaemonConfig) -> Result<Engine, DaemonError> {
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| DaemonError::io("creating directory", dir, e))?;
        }
        // Plugins are the host's, found by name: the daemon's registry takes this deadline.
        plugins::Registry::global()
            .configure(plugins::Settings::with_timeout(config.plugin_timeout));
        let events = Events::new();
        let system = SystemService::open(config)?;
        let driver = config.storage_driver;
        let image_root = config.image_root();
        let snap_root = config.data_root.join(driver.name());
        let id_map = config.remap.as_ref().map(|r| r.map.clone());
        let store = tokio::task::spawn_blocking(move || -> Result<ImageStore, DaemonError> {
            let snapshots: Box<dyn Snapshotter> = match driver {
                StorageDriver::Overlay => Box::new(
                    OverlaySnapshotter::open(&snap_root)
                        .map_err(|e| DaemonError::Image(e.into()))?,
                ),
                StorageDriver::Vfs => Box::new(
                    PlainSnapshotter::open(&snap_root).map_err(|e| DaemonError::Image(e.into()))?,
                ),
            };
            Ok(ImageStore::open(&image_root, snapshots)?.with_id_map(id_map))
        })
        .await
        .map_err(DaemonError::join)??;
        let images = ImageService::new(store, events.clone(), driver);
        let shim_exe = match &config.shim_binary {
            Some(p) => p.clone(),
            None => default_shim_exe()?,
        };
        let (dr, ev) = (config.data_root.clone(), events.clone());
        let owner = config.remap.as_ref().map(|r| r.root);
        let volumes =
            tokio::task::spawn_blocking(move || VolumeService::open_owned(&dr, ev, owner))
                .await
                .map_err(DaemonError::join)??;
        let (dr, er) = (config.data_root.clone(), config.exec_root.clone());
        let networks = tokio::task::spawn_blocking(move || NetworkService::open(&dr, &er))
            .await
            .map_err(DaemonError::join)??;
        let settings = config::Live::new(config.reloadable.clone());
        let containers = ContainerService::open(
            &ContainerOptions {
                data_root: config.data_root.clone(),
                exec_root: config.exec_root.clone(),
                shim_exe,
                networks: networks.clone(),
                volumes: volumes.clone(),
                upgrade: server::container_request::upgrade_record,
                settings: settings.clone(),
                no_new_privileges: config.no_new_privileges,
                remap: config.remap.clone(),
            },
            images.clone(),
            events.clone(),
        )?;
        containers.restore().await;
        let running = containers.running_netns();
        let n2 = networks.clone();
        let _ = tokio::task::spawn_blocking(move || n2.reconcile(&running)).await;
        Ok(Engine {
            images,
            containers,
            networks,
            volumes,
            events,
            system,
            settings,
        })
    }
}

/// A running daemon: its servers, sockets and pid file.
pub struct Daemon {
    engine: Arc<Engine>,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    sockets: Vec<PathBuf>,
    pid_file: PathBuf,
    exec_root: exec_root::ExecRoot,
    /// This daemon's hold on its data root (see `root_lock`).
    _root_lock: Option<root_lock::RootLock>,
}

impl Daemon {
    /// Opens the engine, writes the pid file and starts serving every configured socket.
    pub async fn start(mut config: DaemonConfig) -> Result<Daemon, DaemonError> {
        // `--userns-remap`: the user and its ranges (maybe creating `dockremap`) and the
        // remapped data root, before anything opens a store there.
        config = tokio::task::spawn_blocking(move || userns::settle(config))
            .await
            .map_err(DaemonError::join)??;
        let root_lock = root_lock::RootLock::take(&config.data_root)?;
        std::fs::create_dir_all(&config.exec_root)
            .map_err(|e| DaemonError::io("creating directory", &config.exec_root, e))?;
        let exec_root = exec_root::ExecRoot::prepare(&config.exec_root);
        let pid_file = config.pid_file();
        if let Err(e) = write_pid_file(&pid_file) {
            exec_root.release(false);
            return Err(e);
        }
        match Self::start_servers(&config, pid_file.clone()).await {
            Ok(servers) => Ok(Daemon {
                exec_root,
                _root_lock: Some(root_lock),
                ..servers
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&pid_file);
                exec_root.release(false);
                Err(e)
            }
        }
    }

    /// Checks the authorization plugins, opens the engine and serves. A failure after the engine
    /// opened (a socket that cannot be bound) takes its networks down again, as a stop does, so
    /// a daemon that did not start leaves no bridge or nftables table behind.
    async fn start_servers(
        config: &DaemonConfig,
        pid_file: PathBuf,
    ) -> Result<Daemon, DaemonError> {
        server::authz::check(&config.reloadable.authorization_plugins).await?;
        let engine = Arc::new(Engine::open(config).await?);
        let served = Self::serve(config, engine.clone(), pid_file).await;
        if served.is_err() {
            let networks = engine.networks.clone();
            let _ = tokio::task::spawn_blocking(move || networks.shutdown()).await;
        }
        served
    }

    async fn serve(
        config: &DaemonConfig,
        engine: Arc<Engine>,
        pid_file: PathBuf,
    ) -> Result<Daemon, DaemonError> {
        let (shutdown, rx) = watch::channel(false);
        let mut daemon = Daemon {
            engine: engine.clone(),
            shutdown,
            servers: Vec::new(),
            sockets: Vec::new(),
            pid_file,
            exec_root: exec_root::ExecRoot::unmanaged(&config.exec_root),
            _root_lock: None,
        };
        let gid = listen::socket_group(config.group.as_deref())?;
        let mut bound_all = Vec::new();
        for host in &config.listeners()? {
            let bound = match listen::bind(host, gid).await {
                Ok(b) => b,
                Err(e) => {
                    for path in &daemon.sockets {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(e);
                }
            };
            // Sockets from systemd stay: the socket unit owns them.
            if let config::Listen::Unix(path) | config::Listen::DockerSocket(path) = host {
                daemon.sockets.push(path.clone());
            }
            bound_all.extend(bound);
        }
        for bound in bound_all {
            let state = server::AppState {
                engine: engine.clone(),
                shutdown: rx.clone(),
            };
            let mut stop = rx.clone();
            let signal = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tracing::info!(host = %bound.describe(), "API listening");
            daemon.servers.push(tokio::spawn(listen::serve(
                bound,
                server::app(state),
                signal,
            )));
        }
        Ok(daemon)
    }

    /// The engine (for tests and future front doors).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops serving: streams end, requests in flight get [`STOP_GRACE`] to finish; then the
    /// sockets and the pid file are removed.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for mut server in self.servers {
            match tokio::time::timeout(STOP_GRACE, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "API server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "API server task failed"),
                Err(_) => {
                    tracing::warn!(
                        "requests still in flight after the grace period; dropping them"
                    );
                    server.abort();
                }
            }
        }
        for path in &self.sockets {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_file(&self.pid_file);
        let networks = self.engine.networks.clone();
        let _ = tokio::task::spawn_blocking(move || networks.shutdown()).await;
        let unsaved = !self.engine.containers.write_unsaved();
        self.exec_root
            .release(self.engine.containers.any_active() || unsaved);
        tracing::info!("daemon stopped");
    }
}

/// Refuses to start when the pid file names a live process; else writes ours.
fn write_pid_file(path: &Path) -> Result<(), DaemonError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            let alive = pid > 0
                && pid != std::process::id() as i32
                && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if alive {
                return Err(DaemonError::Unavailable(format!(
                    "pid file {} names running process {pid}: is another berth daemon using this exec root? stop it or remove the file",
                    path.display()
                )));
            }
        }
    }
    std::fs::write(path, format!("{}\n", std::process::id()))
        .map_err(|e| DaemonError::io("writing pid file", path, e))
}

/// Runs the daemon until SIGTERM or SIGINT, then stops it gracefully. `SIGHUP` reloads the
/// configuration from `args` (and the daemon.json they name) as [`reload`] says; `log_filter`
/// applies a new log filter. systemd hears `READY=1` once every listener is up.
pub async fn run(
    config: DaemonConfig,
    args: &DaemonArgs,
    log_filter: &(dyn Fn(&str) + Sync),
) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let handler = |kind: SignalKind, name: &str| {
        signal(kind)
            .map_err(|e| DaemonError::Internal(format!("installing the {name} handler: {e}")))
    };
    let mut term = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut int = handler(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = handler(SignalKind::hangup(), "SIGHUP")?;
    let started = config.clone();
    let daemon = Daemon::start(config).await?;
    sdnotify::ready("serving the API");
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                sdnotify::reloading();
                reload(&daemon, &started, args, log_filter);
                sdnotify::ready("serving the API");
            }
        }
    }
    sdnotify::stopping();
    daemon.stop().await;
    Ok(())
}

/// `SIGHUP`: reads the flags and daemon.json again and publishes what dockerd reloads
/// ([`config::Reloadable`]); any other changed key is named and waits for the next start. A
/// configuration that fails to read or check changes nothing.
fn reload(
    daemon: &Daemon,
    started: &DaemonConfig,
    args: &DaemonArgs,
    log_filter: &(dyn Fn(&str) + Sync),
) {
    let new = match DaemonConfig::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: configuration not reloaded; fix the file and send SIGHUP again");
            return;
        }
    };
    let later = config::reload::restart_only_changes(started, &new);
    if !later.is_empty() {
        tracing::warn!(
            keys = %later.join(", "),
            "SIGHUP: these settings are not reloaded; they take effect at the next start"
        );
    }
    let r = &new.reloadable;
    log_filter(&r.log_filter(&started.log_level));
    let changed = daemon.engine.settings.set(r.clone());
    tracing::info!(
        changed,
        debug = r.debug,
        labels = ?r.labels,
        registry_mirrors = ?r.registry_mirrors,
        insecure_registries = ?r.insecure_registries,
        authorization_plugins = ?r.authorization_plugins,
        runtimes = ?r.runtimes.external.keys().collect::<Vec<_>>(),
        default_runtime = %r.runtimes.default,
        "reloaded configuration"
    );
}

/// `berth daemon`: merges flags and config file, sets up logging, runs until a signal. Returns
/// the process exit code (0, or 1 after printing the error).
pub fn main(args: DaemonArgs) -> i32 {
    let config = match DaemonConfig::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            return 1;
        }
    };
    let filter_of = |f: &str| {
        tracing_subscriber::EnvFilter::try_new(f)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter_of(&config.reloadable.log_filter(&config.log_level)))
        .with_writer(std::io::stderr)
        .with_filter_reloading();
    let handle = builder.reload_handle();
    let _ = builder.try_init();
    let log_filter = move |f: &str| {
        if let Err(e) = handle.reload(filter_of(f)) {
            tracing::warn!(error = %e, "changing the log filter");
        }
    };
    if args.check {
        // A remapped daemon's stores are under its remapped data root.
        return match userns::settle(config) {
            Ok(config) => check::main(&config),
            Err(e) => {
                eprintln!("berth daemon: {e}");
                1
            }
        };
    }
    if let Err(e) = fault::arm() {
        eprintln!("berth daemon: {e}");
        return 1;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth daemon: starting the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(config, &args, &log_filter)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            1
        }
    }
}

/// The shim to exec when the config names none: the small `berth-shim` binary beside the
/// daemon's executable or on the `PATH` (a shim's resident memory is a per-container cost), else
/// the daemon's own multi-call binary, which serves `berth shim` too.
fn default_shim_exe() -> Result<PathBuf, DaemonError> {
    let exe = std::env::current_exe()
        .map_err(|e| DaemonError::io("finding the daemon's executable", "/proc/self/exe", e))?;
    Ok(companion_exe("berth-shim").unwrap_or(exe))
}

/// A companion executable of the daemon (`berth-shim`, `berth-init`): the file `name` beside the
/// daemon's own executable, else the first executable `name` on the `PATH`.
pub(crate) fn companion_exe(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(name))
        .filter(|p| p.is_file());
    beside.or_else(|| on_path(name, std::env::var_os("PATH").as_deref()))
}

/// The first executable regular file `name` in the directories of `path` (absolute ones only:
/// a relative `PATH` entry would depend on the daemon's working directory).
fn on_path(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod companion_tests {
    use super::on_path;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_lookup_takes_the_first_executable_file() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            assert!(std::fs::create_dir(d).is_ok());
        }
        // Not executable in a, executable in b; a directory of the name is skipped too.
        assert!(std::fs::write(a.join("berth-init"), "x").is_ok());
        assert!(std::fs::create_dir(a.join("berth-shim")).is_ok());
        assert!(std::fs::write(b.join("berth-init"), "x").is_ok());
        assert!(std::fs::write(b.join("berth-shim"), "x").is_ok());
        for f in ["berth-init", "berth-shim"] {
            let perm = std::fs::Permissions::from_mode(0o755);
            assert!(std::fs::set_permissions(b.join(f), perm).is_ok());
        }
        let path = std::env::join_paths(["relative", &*a.to_string_lossy(), &*b.to_string_lossy()]);
        let path = path.ok();
        assert_eq!(
            on_path("berth-init", path.as_deref()),
            Some(b.join("berth-init"))
        );
        assert_eq!(
            on_path("berth-shim", path.as_deref()),
            Some(b.join("berth-shim"))
        );
        assert_eq!(on_path("nothing", path.as_deref()), None);
        assert_eq!(on_path("berth-init", None), None);
    }
}
