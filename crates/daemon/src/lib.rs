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
//! - [`fault`]: crash points for fault-injection tests (`BERTH_CRASH_AT`, test builds only);
//!   `check`: `berth daemon --check`, the stores' consistency check on a stopped daemon;
//! - `listen`: the front doors — UNIX sockets (never reachable with the umask's mode) and TCP
//!   with TLS (`--tlsverify` mutual TLS, `--tls`) or, asked for explicitly, plain TCP;
//! - [`server`]: HTTP — routing, version negotiation, one module per API area, and the one
//!   error-kind → status mapping (`server::error`).
//!
//! The [`Engine`] is composed explicitly of one struct per subsystem (images, containers, events,
//! system); volumes and networks join as further fields. Engine services speak domain types (`berth_image` types,
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
pub mod server;
mod sqlite;
pub mod system;

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

/// How long a stop waits for requests in flight before dropping them.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The engine: one struct per subsystem, composed here and nowhere else.
pub struct Engine {
    pub images: ImageService,
    pub containers: ContainerService,
    pub networks: NetworkService,
    pub events: Events,
    pub system: SystemService,
}

impl Engine {
    /// Opens every subsystem under the configured roots.
    pub async fn open(config: &DaemonConfig) -> Result<Engine, DaemonError> {
        for dir in [&config.data_root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| DaemonError::io("creating directory", dir, e))?;
        }
        let events = Events::new();
        let system = SystemService::open(config)?;
        let driver = config.storage_driver;
        let image_root = config.image_root();
        let snap_root = config.data_root.join(driver.name());
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
            Ok(ImageStore::open(&image_root, snapshots)?)
        })
        .await
        .map_err(DaemonError::join)??;
        let images = ImageService::new(store, events.clone(), driver);
        let shim_exe = match &config.shim_binary {
            Some(p) => p.clone(),
            None => default_shim_exe()?,
        };
        let (dr, er) = (config.data_root.clone(), config.exec_root.clone());
        let networks = tokio::task::spawn_blocking(move || NetworkService::open(&dr, &er))
            .await
            .map_err(DaemonError::join)??;
        let containers = ContainerService::open(
            &ContainerOptions {
                data_root: config.data_root.clone(),
                exec_root: config.exec_root.clone(),
                shim_exe,
                networks: Some(networks.clone()),
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
            events,
            system,
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
}

impl Daemon {
    /// Opens the engine, writes the pid file and starts serving every configured socket.
    pub async fn start(config: DaemonConfig) -> Result<Daemon, DaemonError> {
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
                ..servers
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&pid_file);
                exec_root.release(false);
                Err(e)
            }
        }
    }

    async fn start_servers(
        config: &DaemonConfig,
        pid_file: PathBuf,
    ) -> Result<Daemon, DaemonError> {
        let engine = Arc::new(Engine::open(config).await?);
        let (shutdown, rx) = watch::channel(false);
        let mut daemon = Daemon {
            engine: engine.clone(),
            shutdown,
            servers: Vec::new(),
            sockets: Vec::new(),
            pid_file,
            exec_root: exec_root::ExecRoot::unmanaged(&config.exec_root),
        };
        let gid = listen::socket_group(config.group.as_deref())?;
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
            if let config::Listen::Unix(path) = host {
                daemon.sockets.push(path.clone());
            }
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
        self.exec_root.release(self.engine.containers.any_active());
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

/// Runs the daemon until SIGTERM or SIGINT, then stops it gracefully.
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| DaemonError::Internal(format!("installing the SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| DaemonError::Internal(format!("installing the SIGINT handler: {e}")))?;
    let daemon = Daemon::start(config).await?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    daemon.stop().await;
    Ok(())
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
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if args.check {
        return check::main(&config);
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
    match runtime.block_on(run(config)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth daemon: {e}");
            1
        }
    }
}

/// The shim to exec when the config names none: the small `berth-shim` binary installed beside the
/// daemon's executable (a shim's resident memory is a per-container cost), else the daemon's own
/// multi-call binary, which serves `berth shim` too.
fn default_shim_exe() -> Result<PathBuf, DaemonError> {
    let exe = std::env::current_exe()
        .map_err(|e| DaemonError::io("finding the daemon's executable", "/proc/self/exe", e))?;
    let small = exe.with_file_name("berth-shim");
    Ok(if small.is_file() { small } else { exe })
}
