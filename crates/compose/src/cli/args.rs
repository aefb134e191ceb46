//! The command line's shape (clap): the global project flags and every subcommand with
//! Compose v2's flag names.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "berth compose",
    about = "Define and run multi-container applications"
)]
pub struct Cli {
    #[arg(short = 'f', long = "file")]
    pub file: Vec<PathBuf>,
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    #[arg(long = "project-directory")]
    pub project_directory: Option<PathBuf>,
    #[arg(long = "profile")]
    pub profile: Vec<String>,
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Flags `exec` and `run` share.
#[derive(Debug, clap::Args)]
pub struct ExecFlags {
    /// Run in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Disable pseudo-TTY allocation (the default when stdin is not a terminal)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create and start containers
    Up {
        #[arg(short = 'd', long)]
        detach: bool,
        #[arg(long)]
        build: bool,
        #[arg(long)]
        no_build: bool,
        #[arg(long)]
        no_deps: bool,
        #[arg(long)]
        force_recreate: bool,
        #[arg(long)]
        no_recreate: bool,
        #[arg(long)]
        remove_orphans: bool,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        no_color: bool,
        /// Stop all containers if any container stops (not with -d)
        #[arg(long)]
        abort_on_container_exit: bool,
        /// Return the exit code of this service's container (implies --abort-on-container-exit)
        #[arg(long)]
        exit_code_from: Option<String>,
        #[arg(long)]
        scale: Vec<String>,
        /// Assume "yes" as answer to all prompts and run non-interactively
        #[arg(short = 'y', long)]
        yes: bool,
        services: Vec<String>,
    },
    /// Create containers
    Create {
        #[arg(long)]
        build: bool,
        #[arg(long)]
        no_build: bool,
        /// Assume "yes" as answer to all prompts and run non-interactively
        #[arg(short = 'y', long)]
        yes: bool,
        services: Vec<String>,
    },
    /// Stop and remove containers and networks
    Down {
        #[arg(short = 'v', long)]
        volumes: bool,
        #[arg(long)]
        remove_orphans: bool,
        /// Remove images used by services: "local" (built ones without an image: name) or "all"
        #[arg(long)]
        rmi: Option<String>,
    },
    /// Copy files between a service container and the local filesystem
    Cp {
        #[arg(long, default_value_t = 1)]
        index: u32,
        src: String,
        dest: String,
    },
    /// Scale services (SERVICE=REPLICAS ...)
    Scale {
        #[arg(long)]
        no_deps: bool,
        #[arg(required = true)]
        scale: Vec<String>,
    },
    /// Receive real time events from containers
    Events {
        #[arg(long)]
        json: bool,
        services: Vec<String>,
    },
    /// List containers
    Ps {
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(short = 'q', long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// View output from containers
    Logs {
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(long)]
        no_color: bool,
        services: Vec<String>,
    },
    /// Print the normalised model
    Config {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        services: bool,
    },
    /// Execute a command in a running container
    Exec {
        #[command(flatten)]
        flags: ExecFlags,
        #[arg(long)]
        privileged: bool,
        #[arg(long, default_value_t = 1)]
        index: u32,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Run a one-off command on a service
    Run {
        #[command(flatten)]
        flags: ExecFlags,
        /// Remove the container after it exits
        #[arg(long)]
        rm: bool,
        /// Do not start linked services
        #[arg(long)]
        no_deps: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        entrypoint: Option<String>,
        #[arg(long)]
        service_ports: bool,
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        #[arg(long)]
        build: bool,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Display the running processes
    Top {
        services: Vec<String>,
    },
    /// Print the public port for a port binding
    Port {
        #[arg(long, default_value = "tcp")]
        protocol: String,
        #[arg(long, default_value_t = 1)]
        index: u32,
        service: String,
        private_port: String,
    },
    /// List images used by the created containers
    Images {
        #[arg(short = 'q', long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// List running compose projects
    Ls {
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Block until the first service container stops
    Wait {
        services: Vec<String>,
    },
    /// Build or rebuild services
    Build {
        #[arg(long)]
        no_cache: bool,
        services: Vec<String>,
    },
    /// Pull service images
    Pull {
        services: Vec<String>,
    },
    /// Push service images
    Push {
        services: Vec<String>,
    },
    Start {
        services: Vec<String>,
    },
    Stop {
        services: Vec<String>,
    },
    Restart {
        services: Vec<String>,
    },
    Kill {
        services: Vec<String>,
    },
    Pause {
        services: Vec<String>,
    },
    Unpause {
        services: Vec<String>,
    },
    Rm {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(short = 's', long)]
        stop: bool,
        services: Vec<String>,
    },
}
