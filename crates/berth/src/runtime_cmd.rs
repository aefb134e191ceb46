//! `berth runtime ...`: the runc-compatible command line of the built-in OCI runtime. It parses
//! flags into the runtime crate's options, prints what runc prints, and maps errors to runc's exit
//! status (1, with the message on stderr and, with `--log`, in the log file).

use anyhow::{bail, Context, Result};
use berth_oci::runtime::{LinuxResources, Process, Spec};
use berth_runtime::container::{self, CreateOptions, ExecOptions, State};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RuntimeArgs {
    /// Directory for the containers' state.
    #[arg(long, global = true, default_value = "/run/berth/runtime")]
    root: PathBuf,
    /// Append errors to this file (engines read it when a command fails).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; cgroups are managed directly (no systemd here).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: RuntimeCommand,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
}

#[derive(Args)]
struct CreateArgs {
    id: String,
    /// The bundle directory (config.json and rootfs).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// A unix socket that receives the pty master (process.terminal).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Write the init's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many descriptors from 3 on into the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
}

#[derive(Subcommand)]
enum RuntimeCommand {
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Accepted for runc compatibility.
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Create and start a container; in the foreground, wait and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Accepted for runc compatibility.
        #[arg(long)]
        keep: bool,
    },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal (default TERM) to the container's init, or with --all to all its processes.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container (kill it first with --force).
    Delete {
        id: String,
        #[arg(short, long)]
        force: bool,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        id: String,
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        /// Accepted for runc compatibility (ps options).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze all processes of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the resource limits of a created, running or paused container.
    Update(UpdateArgs),
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        #[arg(short, long)]
        quiet: bool,
    },
}

/// runc's `update`: a resources file (`-` reads stdin), or flags for the common limits.
#[derive(Args)]
struct UpdateArgs {
    id: String,
    /// A JSON file with the OCI `linux.resources` to apply, `-` for stdin (no flags with it).
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Block IO weight (10 to 1000).
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: none).
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long, alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (`0-3`, `0,1`).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use (`0-3`, `0,1`).
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Memory limit (bytes, or `64m`-style; -1: none).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit (bytes, or `64m`-style; -1: none).
    #[arg(long, allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit (bytes, or `64m`-style; -1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Most processes the container may have (0 or -1: no limit).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
}

#[derive(Args)]
struct ExecArgs {
    id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// A JSON file with the OCI process to run.
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(short, long)]
    tty: bool,
    /// KEY=VALUE, added to the container's environment.
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    #[arg(long)]
    cwd: Option<PathBuf>,
    #[arg(long)]
    no_new_privs: bool,
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
}

/// Runs one `berth runtime` command; returns the process exit status.
pub fn main(args: RuntimeArgs) -> i32 {
    match seal(&args).and_then(|()| dispatch(&args)) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("berth runtime: {msg}");
            if let Some(path) = &args.log {
                log_error(path, args.log_format, &msg);
            }
            1
        }
    }
}

/// The verbs that clone into a container run from a sealed copy of this executable (see
/// `berth_runtime::sealed_exe`): re-exec through one unless already running from it.
fn seal(args: &RuntimeArgs) -> Result<()> {
    if matches!(
        args.command,
        RuntimeCommand::Create(_) | RuntimeCommand::Run { .. } | RuntimeCommand::Exec(_)
    ) {
        berth_runtime::sealed_exe::reexec_sealed()?;
    }
    Ok(())
}

fn log_error(path: &Path, format: LogFormat, msg: &str) {
    let time = container::state::now_rfc3339();
    let line = match format {
        LogFormat::Json => {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time=\"{time}\" level=error msg={msg:?}"),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

fn create_options(root: &Path, a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        relay_terminal: false,
    }
}

fn dispatch(args: &RuntimeArgs) -> Result<i32> {
    let root = args.root.as_path();
    match &args.command {
        RuntimeCommand::Spec { bundle, .. } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} exists already; remove it first", path.display());
            }
            let text = serde_json::to_string_pretty(&berth_runtime::spec::default_spec())?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("write {}", path.display()))?;
        }
        RuntimeCommand::Create(a) => {
            container::create(&create_options(root, a))?;
        }
        RuntimeCommand::Start { id } => {
            container::start(root, id)?;
        }
        RuntimeCommand::Run { create, detach, .. } => {
            return Ok(container::run(&create_options(root, create), *detach)?);
        }
        RuntimeCommand::State { id } => {
            let state = State::load(root, id)?;
            let status = state.status(root);
            println!("{}", serde_json::to_string_pretty(&state.oci(status))?);
        }
        RuntimeCommand::Kill { id, signal, all } => {
            container::kill(root, id, container::parse_signal(signal)?, *all)?;
        }
        RuntimeCommand::Delete { id, force } => container::delete(root, id, *force)?,
        RuntimeCommand::Exec(a) => return exec(root, a),
        RuntimeCommand::Ps { id, format, .. } => {
            let pids = container::ps(root, id)?;
            if *format == Format::Json {
                let raw: Vec<i32> = pids.iter().map(|p| p.as_raw()).collect();
                println!("{}", serde_json::to_string(&raw)?);
            } else {
                println!("{:>8}  CMD", "PID");
                for pid in pids {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                    println!("{pid:>8}  {}", cmd.trim_end());
                }
            }
        }
        RuntimeCommand::Pause { id } => container::pause(root, id, true)?,
        RuntimeCommand::Resume { id } => container::pause(root, id, false)?,
        RuntimeCommand::Update(a) => container::update(root, &a.id, &update_resources(a)?)?,
        RuntimeCommand::List { format, quiet } => list(root, *format, *quiet)?,
    }
    Ok(0)
}

/// The resources of `update`: the file's, or those the flags set (runc reads one or the other).
fn update_resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|text| match text.trim() {
                "-1" => Ok(-1),
                t => berth_api::units::ram_in_bytes(t)
                    .with_context(|| format!("--{flag} {text:?}: give bytes or a size like 64m")),
            })
            .transpose()
    };
    let mut r = serde_json::Map::new();
    let mut section = |name: &str, fields: Vec<(&str, Value)>| {
        let set: serde_json::Map<_, _> = fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if !set.is_empty() {
            r.insert(name.to_string(), Value::Object(set));
        }
    };
    section(
        "memory",
        vec![
            ("limit", json!(size("memory", &a.memory)?)),
            (
                "reservation",
                json!(size("memory-reservation", &a.memory_reservation)?),
            ),
            ("swap", json!(size("memory-swap", &a.memory_swap)?)),
        ],
    );
    section(
        "cpu",
        vec![
            ("shares", json!(a.cpu_share)),
            ("quota", json!(a.cpu_quota)),
            ("period", json!(a.cpu_period)),
            ("realtimeRuntime", json!(a.cpu_rt_runtime)),
            ("realtimePeriod", json!(a.cpu_rt_period)),
            ("cpus", json!(a.cpuset_cpus)),
            ("mems", json!(a.cpuset_mems)),
        ],
    );
    section("pids", vec![("limit", json!(a.pids_limit))]);
    section("blockIO", vec![("weight", json!(a.blkio_weight))]);
    let Some(path) = &a.resources else {
        return serde_json::from_value(Value::Object(r)).context("resource flags");
    };
    if !r.is_empty() {
        bail!("--resources and the resource flags cannot be combined: put every limit in the file");
    }
    let text = if path.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("read the resources from stdin")?;
        text
    } else {
        std::fs::read(path).with_context(|| format!("read {}", path.display()))?
    };
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "invalid resources in {}: expected the OCI linux.resources object",
            path.display()
        )
    })
}

fn list(root: &Path, format: Format, quiet: bool) -> Result<()> {
    let all = container::list(root)?;
    if quiet {
        for (s, _) in &all {
            println!("{}", s.id);
        }
    } else if format == Format::Json {
        let docs: Vec<_> = all.iter().map(|(s, st)| s.oci(*st)).collect();
        println!("{}", serde_json::to_string(&docs)?);
    } else {
        println!(
            "{:<24} {:<8} {:<8} {:<40} {:<31} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for (s, st) in &all {
            let pid = if *st == container::Status::Stopped {
                0
            } else {
                s.pid
            };
            println!(
                "{:<24} {:<8} {:<8} {:<40} {:<31} {}",
                s.id,
                pid,
                st.as_str(),
                s.bundle.display(),
                s.created,
                s.owner
            );
        }
    }
    Ok(())
}

fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    let process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            serde_json::from_slice::<Process>(&text)
                .with_context(|| format!("invalid process file {}", path.display()))?
        }
        None => {
            if a.command.is_empty() {
                bail!("exec needs a command or --process");
            }
            let state = State::load(root, &a.id)?;
            process_from_flags(&state.config, a)?
        }
    };
    Ok(container::exec(&ExecOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
    })?)
}

/// The container's own process as template, with the flags' command, tty, env, user and cwd.
fn process_from_flags(spec: &Spec, a: &ExecArgs) -> Result<Process> {
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(user) = &a.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let mut u = p.user().clone();
        u.set_uid(
            uid.parse()
                .with_context(|| format!("--user {user:?}: uid must be a number"))?,
        );
        u.set_gid(
            gid.parse()
                .with_context(|| format!("--user {user:?}: gid must be a number"))?,
        );
        p.set_user(u);
    }
    if !a.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(u);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    fn update_of(args: &[&str]) -> Result<Value> {
        let cli = Cli::try_parse_from(["berth", "update"].iter().chain(args).chain(&["c1"]))?;
        let RuntimeCommand::Update(a) = &cli.runtime.command else {
            bail!("not an update");
        };
        Ok(serde_json::to_value(update_resources(a)?)?)
    }

    #[test]
    fn update_flags_read_as_runc_reads_them() {
        let r = update_of(&[
            "--memory",
            "64m",
            "--memory-swap",
            "-1",
            "--cpu-shares",
            "512",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "100",
        ])
        .unwrap();
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], -1);
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["cpu"]["quota"], -1);
        assert_eq!(r["pids"]["limit"], 100);
        assert!(r.get("blockIO").is_none_or(Value::is_null), "{r}");
        let err = update_of(&["--memory", "lots"]).unwrap_err();
        assert!(format!("{err:#}").contains("--memory \"lots\""), "{err:#}");
    }
}
