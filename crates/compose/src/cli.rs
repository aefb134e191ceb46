//! `berth compose` command line (clap): global project flags, then one subcommand; loads the
//! project and hands it to the engine verbs. Returns the process exit status.

use crate::engine::client::{resolve_host, Client};
use crate::engine::{ops, up};
use crate::loader::{load, Options};
use crate::plan::Recreate;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "berth compose",
    about = "Define and run multi-container applications"
)]
struct Cli {
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    #[arg(long = "project-directory")]
    project_directory: Option<PathBuf>,
    #[arg(long = "profile")]
    profile: Vec<String>,
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and start containers
    Up {
        #[arg(short = 'd', long)]
        detach: bool,
        #[arg(long)]
        force_recreate: bool,
        #[arg(long)]
        no_recreate: bool,
        #[arg(long)]
        remove_orphans: bool,
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        scale: Vec<String>,
        services: Vec<String>,
    },
    /// Create containers
    Create {
        services: Vec<String>,
    },
    /// Stop and remove containers and networks
    Down {
        #[arg(short = 'v', long)]
        volumes: bool,
        #[arg(long)]
        remove_orphans: bool,
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

/// Runs `berth compose <args>` against the engine at `host` (`-H`, else BERTH_HOST/DOCKER_HOST).
pub async fn main(host: Option<String>, args: Vec<String>) -> i32 {
    let mut argv = vec!["berth compose".to_string()];
    argv.extend(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    match run(host, cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

async fn run(host: Option<String>, cli: Cli) -> Result<i32, Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).ok();
    let opts = Options {
        files: cli.file,
        project_name: cli.project_name,
        project_directory: cli.project_directory,
        profiles: cli.profile,
        env_files: cli.env_file,
        cwd: std::env::current_dir()?,
        environ: std::env::vars().collect(),
    };
    let project = load(&opts)?;
    let host = resolve_host(
        host.as_deref(),
        env("BERTH_HOST").as_deref(),
        env("DOCKER_HOST").as_deref(),
    );
    let c = Client::new(&host)?;
    let name = project.name.clone();
    match cli.cmd {
        Cmd::Config { quiet, services } => {
            if services {
                for s in &project.services {
                    println!("{}", s.name);
                }
            } else if !quiet {
                print!("{}", crate::emit::to_yaml(&project.tree));
            }
        }
        Cmd::Up {
            detach,
            force_recreate,
            no_recreate,
            remove_orphans,
            wait,
            scale,
            services,
        } => {
            let mut o = up::UpOptions {
                remove_orphans,
                wait,
                services: services.clone(),
                ..Default::default()
            };
            o.recreate = if force_recreate {
                Recreate::Always
            } else if no_recreate {
                Recreate::Never
            } else {
                Recreate::Diverged
            };
            for s in scale {
                let (svc, n) = s
                    .split_once('=')
                    .ok_or_else(|| format!("invalid --scale {s:?}: expected SERVICE=NUM"))?;
                let n: u32 = n
                    .parse()
                    .map_err(|_| format!("invalid --scale {s:?}: expected SERVICE=NUM"))?;
                if project.service(svc).is_none() {
                    return Err(format!("no such service: {svc}").into());
                }
                o.scale.insert(svc.to_string(), n);
            }
            up::up(&c, &project, &o, true).await?;
            if !detach {
                ops::logs(&c, &name, &services, true, colour(false)).await?;
            }
        }
        Cmd::Create { services } => {
            let o = up::UpOptions {
                services,
                ..Default::default()
            };
            up::up(&c, &project, &o, false).await?;
        }
        Cmd::Down {
            volumes,
            remove_orphans,
        } => up::down(&c, &project, volumes, remove_orphans).await?,
        Cmd::Ps {
            all,
            quiet,
            services,
        } => ops::ps(&c, &name, &services, all, quiet).await?,
        Cmd::Logs {
            follow,
            no_color,
            services,
        } => ops::logs(&c, &name, &services, follow, colour(no_color)).await?,
        Cmd::Start { services } => ops::each(&c, &name, &services, "start").await?,
        Cmd::Stop { services } => ops::each(&c, &name, &services, "stop").await?,
        Cmd::Restart { services } => ops::each(&c, &name, &services, "restart").await?,
        Cmd::Kill { services } => ops::each(&c, &name, &services, "kill").await?,
        Cmd::Pause { services } => ops::each(&c, &name, &services, "pause").await?,
        Cmd::Unpause { services } => ops::each(&c, &name, &services, "unpause").await?,
        Cmd::Rm { stop, services, .. } => {
            if stop {
                ops::each(&c, &name, &services, "stop").await?;
            }
            ops::each(&c, &name, &services, "rm").await?;
        }
    }
    Ok(0)
}

/// Service prefixes are coloured on a terminal unless `--no-color` (as Compose v2).
fn colour(no_color: bool) -> bool {
    use std::io::IsTerminal;
    !no_color && std::io::stdout().is_terminal()
}
