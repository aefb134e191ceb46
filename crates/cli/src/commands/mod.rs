//! Command dispatch: global flags, docker's command aliases (`image ls`, `container rm`...), and
//! the shared context and helpers (filters, prompts, printing) every command family uses.

pub mod build;
pub mod completion;
pub mod compose;
pub mod container;
pub mod cp;
pub mod disk_usage;
pub mod exec;
pub mod image_io;
pub mod images;
pub mod info;
pub mod inspect;
pub mod login;
pub mod manpages;
pub mod network;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod registry_auth;
pub mod run;
pub mod run_body;
pub mod run_flags;
pub mod run_mounts;
pub mod run_networks;
pub mod run_opts;
pub mod search;
pub mod stats;
pub mod stream;
pub mod system;
pub mod tty;
pub mod volume;

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::flags::{Parsed, Spec};
use std::io::Write;

/// What every command gets: the client bound to the chosen daemon.
pub struct Ctx {
    pub client: std::sync::Arc<Client>,
}

const GLOBAL_HELP: &str = "
Usage:  berth [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  version     Show the Berth version information
  info        Display system-wide information

Container Commands:
  attach commit cp create diff export kill logs pause port prune rename restart rm start stats
  stop top unpause update wait

Image Commands:
  history import inspect load prune pull push rm save tag

Network Commands:
  network connect create disconnect inspect ls prune rm

Volume Commands:
  volume create inspect ls prune rm

Builder Commands:
  builder build prune

System Commands:
  df events prune

Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (-H > BERTH_HOST > DOCKER_HOST)
  -l, --log-level string   Set the logging level (\"debug\"|\"info\"|\"warn\"|\"error\"|\"fatal\")
  -v, --version            Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
";

/// Parses global flags, resolves the command (and aliases) and runs it.
pub async fn dispatch(args: Vec<String>) -> Result<()> {
    let mut host_flag: Option<String> = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let take = |i: &mut usize| -> Result<String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            *i += 1;
            args.get(*i).cloned().ok_or_else(|| CliError::Flag {
                message: format!("flag needs an argument: {name}\nSee 'berth --help'."),
            })
        };
        match name {
            "-H" | "--host" => host_flag = Some(take(&mut i)?),
            "-l" | "--log-level" => {
                take(&mut i)?;
            }
            "-D" | "--debug" => {}
            // The berth CLI speaks only unix://: TLS flags would promise what it cannot do.
            "--tls" | "--tlsverify" | "--tlscacert" | "--tlscert" | "--tlskey" => {
                return Err(CliError::Flag {
                    message: format!(
                        "{name} is not supported: berth's CLI speaks only unix://; use the docker CLI with --tlsverify for a TCP daemon (docs/daemon-tls.md)"
                    ),
                })
            }
            "-v" | "--version" => {
                println!("Berth version {}, build berth", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            "-h" | "--help" => {
                print!("{GLOBAL_HELP}");
                return Ok(());
            }
            _ => {
                return Err(CliError::Flag {
                    message: format!("unknown flag: {name}\nSee 'berth --help'."),
                })
            }
        }
        i += 1;
    }
    let rest = &args[i..];
    let Some(cmd) = rest.first() else {
        print!("{GLOBAL_HELP}");
        return Ok(());
    };
    let env = |k: &str| std::env::var(k).ok();
    let host = crate::resolve_host(
        host_flag.as_deref(),
        env("BERTH_HOST").as_deref(),
        env("DOCKER_HOST").as_deref(),
    );
    let pinned = env("BERTH_API_VERSION")
        .or_else(|| env("DOCKER_API_VERSION"))
        .filter(|v| !v.is_empty());
    let ctx = Ctx {
        client: std::sync::Arc::new(Client::new(&host, pinned)?),
    };
    let (name, argv) = resolve_alias(cmd, &rest[1..]);
    run_command(&ctx, name, argv).await
}

/// Maps docker's management-command forms onto the flat command names.
fn resolve_alias<'a>(cmd: &'a str, rest: &'a [String]) -> (&'a str, &'a [String]) {
    let sub = rest.first().map(String::as_str);
    let tail = if rest.is_empty() { rest } else { &rest[1..] };
    match (cmd, sub) {
        ("container", Some("ls" | "list" | "ps")) => ("ps", tail),
        ("container", Some("prune")) => ("container prune", tail),
        ("container", Some("inspect")) => ("container inspect", tail),
        ("container", Some(s)) if !s.starts_with('-') => (s, tail),
        ("image", Some("ls" | "list")) => ("images", tail),
        ("image", Some("rm" | "remove")) => ("rmi", tail),
        ("image", Some("prune")) => ("image prune", tail),
        ("image", Some("inspect")) => ("image inspect", tail),
        ("image", Some(s)) if !s.starts_with('-') => (s, tail),
        ("network", Some(s)) if network::alias(s).is_some() => {
            (network::alias(s).unwrap_or(cmd), tail)
        }
        ("volume", Some(s)) if volume::alias(s).is_some() => {
            (volume::alias(s).unwrap_or(cmd), tail)
        }
        ("system", Some("df")) => ("system df", tail),
        ("system", Some("prune")) => ("system prune", tail),
        ("system", Some(s)) if !s.starts_with('-') => (s, tail),
        ("builder", Some("prune")) => ("builder prune", tail),
        ("builder", Some("build")) => ("build", tail),
        ("rm" | "remove", _) if cmd == "remove" => ("rm", rest),
        _ => (cmd, rest),
    }
}

/// The dispatch table: [`COMMANDS`] (every command with its spec, which completions and man
/// pages are generated from) and `dispatch_table`, which runs one of them.
macro_rules! commands {
    ($($cmd:literal => $spec:path, $func:path;)*) => {
        /// Every command as typed after `berth` (after aliases), with its spec.
        pub const COMMANDS: &[(&str, &Spec)] = &[$(($cmd, &$spec)),*];

        async fn dispatch_table(ctx: &Ctx, name: &str, argv: &[String]) -> Result<()> {
            match name {
                $($cmd => {
                    let spec: &Spec = &$spec;
                    let p = spec.parse(argv)?;
                    if p.help {
                        print!("{}", spec.help_text());
                        return Ok(());
                    }
                    $func(ctx, spec, p).await
                })*
                other => Err(CliError::Message(format!(
                    "berth: unknown command: berth {other}\n\nRun 'berth --help' for more information"
                ))),
            }
        }
    };
}

async fn run_command(ctx: &Ctx, name: &str, argv: &[String]) -> Result<()> {
    if name == "compose" {
        return compose::compose(ctx, argv).await;
    }
    if name == "volume" {
        return volume::group(argv);
    }
    dispatch_table(ctx, name, argv).await
}

commands!(
        "version" => system::VERSION, system::version;
        "info" => info::INFO, info::info;
        "events" => system::EVENTS, system::events;
        "system df" => system::DF, system::df;
        "system prune" => prune::PRUNE, prune::prune;
        "builder prune" => prune::BUILDER_PRUNE, prune::builder_prune;
        "images" => images::IMAGES, images::images;
        "rmi" => images::RMI, images::rmi;
        "tag" => images::TAG, images::tag;
        "history" => images::HISTORY, images::history;
        "image prune" => images::PRUNE, images::prune;
        "image inspect" => inspect::IMAGE_INSPECT, inspect::image_inspect;
        "container inspect" => inspect::CONTAINER_INSPECT, inspect::container_inspect;
        "inspect" => inspect::INSPECT, inspect::inspect;
        "build" => build::BUILD, build::build;
        "load" => image_io::LOAD, image_io::load;
        "pull" => pull::PULL, pull::pull;
        "push" => pull::PUSH, pull::push;
        "login" => login::LOGIN, login::login;
        "logout" => login::LOGOUT, login::logout;
        "search" => search::SEARCH, search::search;
        "save" => image_io::SAVE, image_io::save;
        "import" => image_io::IMPORT, image_io::import;
        "export" => image_io::EXPORT, image_io::export;
        "commit" => image_io::COMMIT, image_io::commit;
        "cp" => cp::CP, cp::cp;
        "ps" => ps::PS, ps::ps;
        "run" => run::RUN, run::run;
        "create" => run::CREATE, run::create;
        "start" => run::START, run::start;
        "attach" => run::ATTACH, run::attach;
        "exec" => exec::EXEC, exec::exec;
        "logs" => stream::LOGS, stream::logs;
        "stop" => container::STOP, container::stop;
        "restart" => container::RESTART, container::restart;
        "kill" => container::KILL, container::kill;
        "rm" => container::RM, container::rm;
        "wait" => container::WAIT, container::wait;
        "rename" => container::RENAME, container::rename;
        "pause" => container::PAUSE, container::pause;
        "unpause" => container::UNPAUSE, container::unpause;
        "top" => container::TOP, container::top;
        "stats" => stats::STATS, stats::stats;
        "port" => container::PORT, container::port;
        "diff" => container::DIFF, container::diff;
        "update" => container::UPDATE, container::update;
        "container prune" => container::PRUNE, container::prune;
        "network create" => network::CREATE, network::create;
        "network ls" => network::LS, network::ls;
        "network inspect" => network::INSPECT, network::inspect;
        "network rm" => network::RM, network::rm;
        "network connect" => network::CONNECT, network::connect;
        "network disconnect" => network::DISCONNECT, network::disconnect;
        "network prune" => network::PRUNE, network::prune;
        "volume create" => volume::CREATE, volume::create;
        "volume ls" => volume::LS, volume::ls;
        "volume inspect" => volume::INSPECT, volume::inspect;
        "volume rm" => volume::RM, volume::rm;
        "volume prune" => volume::PRUNE, volume::prune;
        "completion" => completion::COMPLETION, completion::completion;
        "man-pages" => manpages::MAN_PAGES, manpages::man_pages;
);

/// `-f key=value` flags as the API's `filters` JSON (`{"key":{"value":true}}`); `None` if empty.
pub fn filters_json(spec: &Spec, filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut parsed = berth_api::Filters::default();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err(spec.invalid_value(
                "filter",
                f,
                "bad format of filter (expected name=value)",
            ));
        };
        parsed.add(&k.trim().to_lowercase(), v);
    }
    serde_json::to_string(&parsed)
        .map(Some)
        .map_err(|e| CliError::Message(format!("encoding the filters: {e}")))
}

/// Writes text to stdout (ignoring a closed pipe, as docker does).
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Prints each of an answer's `Warnings` on stderr, after `prefix` (`"WARNING: "` for `run`,
/// nothing elsewhere, as docker does).
pub fn print_warnings(warnings: &[String], prefix: &str) {
    for w in warnings {
        eprintln!("{prefix}{w}");
    }
}

/// Asks a yes/no question (`[y/N]`) and reads the answer from stdin, terminal or not, as
/// docker does (`echo y | berth image prune` confirms; EOF declines).
pub fn confirm(question: &str) -> bool {
    out(&format!("{question} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Runs `f` for each name, printing the name on success and each error on stderr; the command
/// then fails with exit 1 if any did (docker's multi-object commands: stop, rm, kill, pause...).
pub async fn for_each<F, Fut>(names: &[String], mut f: F) -> Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let mut failed = false;
    for n in names {
        match f(n.clone()).await {
            Ok(Some(line)) => out(&format!("{line}\n")),
            Ok(None) => {}
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    if failed {
        Err(CliError::Message(String::new()))
    } else {
        Ok(())
    }
}

/// Parses a flag value as an integer, with pflag's error wording.
pub fn int_flag(spec: &Spec, p: &Parsed, name: &str) -> Result<Option<i64>> {
    match p.string(name) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            spec.invalid_value(
                name,
                v,
                &format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"),
            )
        }),
    }
}
