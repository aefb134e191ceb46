//! `berth compose` command line: parses [`args`], loads the project (not for `ls`, which reads
//! the engine's labels alone) and hands it to the engine verbs. Returns the process exit status.

pub mod args;

use crate::engine::client::{resolve_host, Client};
use crate::engine::exec::{ExecOptions, RunOptions};
use crate::engine::{cp, down, exec, images, info, ops, resources, up};
use crate::loader::{load, Options};
use crate::model::Project;
use crate::plan::Recreate;
use args::{Cli, Cmd, ExecFlags};
use clap::Parser;
use std::io::IsTerminal;

type BoxError = Box<dyn std::error::Error>;

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

/// Where a project's own files go (secrets and configs from the environment or inline content):
/// `$XDG_DATA_HOME/berth-compose/<project>`, else `~/.local/share/berth-compose/<project>`.
fn data_dir(project: &str) -> String {
    let base = match std::env::var("XDG_DATA_HOME") {
        Ok(d) if d.starts_with('/') => d,
        _ => match std::env::var("HOME") {
            Ok(h) if !h.is_empty() => format!("{h}/.local/share"),
            _ => return String::new(),
        },
    };
    format!("{base}/berth-compose/{project}")
}

/// Service prefixes are coloured on a terminal unless `--no-color` (as Compose v2).
fn colour(no_color: bool) -> bool {
    !no_color && std::io::stdout().is_terminal()
}

fn exec_options(f: &ExecFlags) -> ExecOptions {
    ExecOptions {
        detach: f.detach,
        tty: !f.no_tty && !f.detach && std::io::stdin().is_terminal(),
        env: f.env.clone(),
        user: f.user.clone(),
        workdir: f.workdir.clone(),
        ..ExecOptions::default()
    }
}

fn parse_scale(project: &Project, o: &mut up::UpOptions, scale: &[String]) -> Result<(), BoxError> {
    for s in scale {
        let bad = || format!("invalid --scale {s:?}: expected SERVICE=NUM");
        let (svc, n) = s.split_once('=').ok_or_else(bad)?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        if project.service(svc).is_none() {
            return Err(format!("no such service: {svc}").into());
        }
        o.scale.insert(svc.to_string(), n);
    }
    Ok(())
}

/// The services a command names, checked against the project (all when none are named).
fn chosen<'p>(
    project: &'p Project,
    names: &[String],
) -> Result<Vec<&'p crate::model::Service>, BoxError> {
    if names.is_empty() {
        return Ok(project.services.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            project
                .service(n)
                .ok_or_else(|| format!("no such service: {n}").into())
        })
        .collect()
}

async fn run(host: Option<String>, cli: Cli) -> Result<i32, BoxError> {
    let env = |k: &str| std::env::var(k).ok();
    let host = resolve_host(
        host.as_deref(),
        env("BERTH_HOST").as_deref(),
        env("DOCKER_HOST").as_deref(),
    );
    let c = Client::new(&host)?;
    if let Cmd::Ls { all, quiet } = cli.cmd {
        info::ls(&c, all, quiet).await?;
        return Ok(0);
    }
    let opts = Options {
        files: cli.file,
        project_name: cli.project_name,
        project_directory: cli.project_directory,
        profiles: cli.profile,
        env_files: cli.env_file,
        cwd: std::env::current_dir()?,
        environ: std::env::vars().collect(),
    };
    let mut project = load(&opts)?;
    project.data_dir = data_dir(&project.name);
    let name = project.name.clone();
    match cli.cmd {
        Cmd::Ls { .. } => {}
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
            build,
            no_build,
            no_deps,
            force_recreate,
            no_recreate,
            remove_orphans,
            wait,
            no_color,
            abort_on_container_exit,
            exit_code_from,
            scale,
            yes,
            services,
        } => {
            let mut o = up::UpOptions {
                assume_yes: yes,
                remove_orphans,
                wait,
                build,
                no_build,
                no_deps,
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
            parse_scale(&project, &mut o, &scale)?;
            if let Some(s) = &exit_code_from {
                chosen(&project, std::slice::from_ref(s))?;
            }
            let abort = abort_on_container_exit || exit_code_from.is_some();
            if detach && abort {
                return Err(
                    "--abort-on-container-exit and --exit-code-from cannot be combined with -d"
                        .into(),
                );
            }
            up::up(&c, &project, &o, true).await?;
            if !detach {
                let o = ops::Attached {
                    services,
                    colour: colour(no_color),
                    abort,
                    exit_code_from,
                };
                return Ok(ops::attached(&c, &name, &o).await?);
            }
        }
        Cmd::Create {
            build,
            no_build,
            yes,
            services,
        } => {
            let o = up::UpOptions {
                assume_yes: yes,
                services,
                build,
                no_build,
                ..Default::default()
            };
            up::up(&c, &project, &o, false).await?;
        }
        Cmd::Down {
            volumes,
            remove_orphans,
            rmi,
        } => {
            let o = down::DownOptions {
                volumes,
                remove_orphans,
                rmi,
            };
            down::down(&c, &project, &o).await?
        }
        Cmd::Scale { no_deps, scale } => {
            let mut o = up::UpOptions {
                recreate: Recreate::Never,
                ..Default::default()
            };
            parse_scale(&project, &mut o, &scale)?;
            o.services = o.scale.keys().cloned().collect();
            if no_deps {
                o.services.retain(|s| o.scale.contains_key(s));
                o.no_deps = true;
            }
            up::up(&c, &project, &o, true).await?;
        }
        Cmd::Cp { index, src, dest } => cp::cp(&c, &name, &src, &dest, index).await?,
        Cmd::Events { json, services } => info::events(&c, &name, &services, json).await?,
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
        Cmd::Exec {
            flags,
            privileged,
            index,
            service,
            command,
        } => {
            chosen(&project, std::slice::from_ref(&service))?;
            let o = ExecOptions {
                privileged,
                index,
                ..exec_options(&flags)
            };
            return Ok(exec::exec(&c, &name, &service, &command, &o).await?);
        }
        Cmd::Run {
            flags,
            rm,
            no_deps,
            name: cname,
            entrypoint,
            service_ports,
            label,
            build,
            service,
            command,
        } => {
            let svc = chosen(&project, std::slice::from_ref(&service))?[0];
            if !no_deps && !svc.depends_on.is_empty() {
                let o = up::UpOptions {
                    services: svc.depends_on.keys().cloned().collect(),
                    recreate: Recreate::Never,
                    ..Default::default()
                };
                up::up(&c, &project, &o, true).await?;
            }
            resources::ensure_resources(&c, &project, &Default::default(), false).await?;
            images::ensure(&c, &project, &[svc], build, false).await?;
            let o = RunOptions {
                exec: exec_options(&flags),
                rm,
                name: cname,
                entrypoint: entrypoint.map(|e| vec![e]),
                service_ports,
                labels: label,
            };
            return Ok(exec::run(&c, &project, &service, &command, &o).await?);
        }
        Cmd::Top { services } => info::top(&c, &name, &services).await?,
        Cmd::Port {
            protocol,
            index,
            service,
            private_port,
        } => info::port(&c, &name, &service, &private_port, &protocol, index).await?,
        Cmd::Images { quiet, services } => info::images(&c, &name, &services, quiet).await?,
        Cmd::Wait { services } => return Ok(info::wait(&c, &name, &services).await?),
        Cmd::Build { no_cache, services } => {
            for svc in chosen(&project, &services)? {
                images::build(&c, &project, svc, no_cache).await?;
            }
        }
        Cmd::Pull { services } => {
            for svc in chosen(&project, &services)? {
                if let Some(image) = &svc.image {
                    images::pull(&c, &svc.name, image).await?;
                }
            }
        }
        Cmd::Push { services } => {
            for svc in chosen(&project, &services)? {
                if let (Some(image), Some(_)) = (&svc.image, &svc.build) {
                    images::push(&c, &svc.name, image).await?;
                }
            }
        }
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
