//! `berth`: the multi-call binary. Each top-level subcommand is one face of Berth; today there is
//! `berth runtime ...`, the runc-compatible OCI runtime ([`runtime_cmd`]), and `berth daemon`, the
//! Docker Engine API daemon (`berth_daemon`). Every other command line is the Docker-compatible CLI
//! (`berth_cli`): `berth ps`, `berth -H unix:///x run ...`. `berth shim` is the per-container monitor
//! (`berth_shim`), also built as the smaller `berth-shim` binary that the daemon prefers.
//!
//! Invoked through a link named `berth-runtime`, the binary is the runtime itself
//! (`berth-runtime create ...`), for engines that want one runc-like executable path.

mod runtime_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Berth: a Docker-compatible container engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The built-in OCI runtime, compatible with runc's command line.
    Runtime(runtime_cmd::RuntimeArgs),
    /// Run the Berth daemon (the Docker Engine API on a UNIX socket).
    Daemon(berth_daemon::DaemonArgs),
    /// Berth's registry server (`berth registry serve --addr 127.0.0.1:5000 --root DIR`).
    Registry(berth_registry::server::RegistryArgs),
}

/// The link name that makes this binary behave as `berth runtime`.
const RUNTIME_ALIAS: &str = "berth-runtime";

/// The faces of Berth that are not the Docker-compatible CLI; any other first argument goes to the CLI.
const ENGINE_COMMANDS: [&str; 3] = ["runtime", "daemon", "registry"];

fn main() {
    // The shim reads its ready pipe as fd 3: dispatch before anything else opens a file.
    if std::env::args_os().nth(1).is_some_and(|a| a == "shim") {
        std::process::exit(berth_shim::main(std::env::args_os().skip(2)));
    }
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_os_string());
    if invoked_as.as_deref() == Some(RUNTIME_ALIAS.as_ref()) {
        args.insert(1, "runtime".into());
    }
    let first = args.get(1).and_then(|a| a.to_str());
    if !first.is_some_and(|f| ENGINE_COMMANDS.contains(&f)) {
        std::process::exit(berth_cli::main(args.split_off(1.min(args.len()))));
    }
    let cli = Cli::parse_from(args);
    let code = match cli.command {
        Command::Runtime(args) => runtime_cmd::main(args),
        Command::Daemon(args) => berth_daemon::main(args),
        Command::Registry(args) => berth_registry::server::main(args),
    };
    std::process::exit(code);
}
