//! The executor: runs the stages a target needs, side by side where they do not depend on each
//! other, one step at a time per stage through a [`BuildHost`], with the layer cache.
//!
//! - `mod.rs` (here): options, errors, build args, the step numbers and the final tagging;
//! - `stages`: the plan (which stages) and the board where a stage waits for another;
//! - `steps`: one step — its cache key, and what it does to the image and its config;
//! - `copy`: `COPY`/`ADD` sources (context, another stage or image, heredocs) as one tar;
//! - `mounts`: `RUN --mount` (cache, tmpfs, bind from the context) for the host;
//! - `host`: the [`BuildHost`] trait and the image config.
//!
//! Cache: a step's key is the SHA-256 of its parent image ID, the instruction after expansion,
//! the build args it can see, and for `COPY`/`ADD` the content hash of its sources (and the
//! source image's ID for `--from`), and `SOURCE_DATE_EPOCH` when given. A hit reuses the image
//! and prints `Using cache`; the first miss is followed by misses only because every later
//! parent differs. On a miss, `--cache-from` images are asked next: one whose history continues
//! the parent's with this very step (its `created_by`, which holds the instruction, the build args
//! and the sources' content hash) gives the step's layer, as the classic builder does — except
//! for a `RUN` that binds the context, whose history does not say what the bind held.
//!
//! Reproducible builds: with [`BuildOptions::source_date_epoch`] the host commits each step at
//! the epoch (config and history times, layer mtimes clamped); the layers' entries are sorted by
//! the host's differ and nothing the executor writes carries a time or an ID, so the same
//! context built on another day, or on another engine's data root, gives the same image ID.

mod copy;
pub mod host;
mod mounts;
mod stages;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

pub use host::{
    BuildHost, HealthConfig, HostError, Image, ImageConfig, MountSource, NetworkMode, RunMount,
    RunSpec,
};

use crate::context::{Context, ContextError};
use crate::parser::{self, Instruction, ParseError, Step};

/// Build args every build accepts without an `ARG` (proxy settings), kept out of the history.
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SOURCE_DATE_EPOCH",
];

/// What a build was asked for (the legacy `POST /build` options).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    /// Remove the containers of failed steps too.
    pub force_rm: bool,
    /// Keep the containers of successful steps (Docker's `rm=false`).
    pub keep_containers: bool,
    /// The network of `RUN` steps without `--network` (Docker's `networkmode`).
    pub network: NetworkMode,
    /// The platform asked for (`--platform`); this builder builds for the host's only.
    pub platform: Option<String>,
    /// Where to spool the tars of `COPY` steps (the system's temp dir when `None`).
    pub scratch: Option<std::path::PathBuf>,
    /// `SOURCE_DATE_EPOCH` (seconds), for a reproducible image: the host commits every step at
    /// that time, with no file newer than it; `RUN` steps see it in their environment, and it
    /// is part of every step's cache key (a step committed at another time is another image).
    pub source_date_epoch: Option<i64>,
    /// `--cache-from`: images whose history the build may reuse steps of (see
    /// [`BuildHost::cache_from`]), after its own cache.
    pub cache_from: Vec<String>,
    /// How many stages may do steps at the same time (0: the number of CPUs); a stage waiting
    /// for another does not count.
    pub parallel_stages: usize,
    /// The ids of the secrets the client gave (`berth build --secret`): `RUN
    /// --mount=type=secret` mounts them; the host holds their bytes.
    pub secrets: BTreeSet<String>,
}

/// The outcome of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub image: String,
    pub tags: Vec<String>,
    /// Steps answered from the cache, and all steps run.
    pub cache_hits: usize,
    pub steps: usize,
}

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("failed to reach build target {0} in Dockerfile")]
    NoTarget(String),
    /// A step that cannot be done, with its line.
    #[error("dockerfile line {line}: {message}")]
    Step { line: usize, message: String },
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i64 },
    #[error("{0}")]
    Context(#[from] ContextError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("the build was cancelled")]
    Cancelled,
}

impl BuildError {
    /// The exit code of a failed `RUN` (Docker puts it into `errorDetail.code`).
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn step_err(step: &Step, message: impl Into<String>) -> BuildError {
    BuildError::Step {
        line: step.line,
        message: message.into(),
    }
}

/// Runs a build.
pub fn build(
    host: &mut dyn BuildHost,
    context: &Context,
    opts: &BuildOptions,
) -> Result<Built, BuildError> {
    let df = parser::parse(&opts.dockerfile)?;
    let target = match &opts.target {
        Some(t) => df
            .stage_index(t)
            .ok_or_else(|| BuildError::NoTarget(t.clone()))?,
        None => df.stages.len() - 1,
    };

    // Global ARGs (before the first FROM): defaults overridden by --build-arg.
    let mut used_args: BTreeSet<String> = BTreeSet::new();
    let mut meta: BTreeMap<String, String> = platform_args();
    for step in &df.meta_args {
        if let Instruction::Arg(args) = &step.instruction {
            for (name, default) in args {
                used_args.insert(name.clone());
                let value = match (opts.build_args.get(name), default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(
                        steps::expand_with(d, df.escape, &|n| meta.get(n).cloned())
                            .map_err(|e| step_err(step, e.to_string()))?,
                    ),
                    (None, None) => None,
                };
                if let Some(v) = value {
                    meta.insert(name.clone(), v);
                }
            }
        }
    }

    let need = stages::needed_stages(&df, target, &meta);
    let label_step = label_step(
        &opts.labels,
        df.stages[target]
            .steps
            .last()
            .map_or(df.stages[target].from.line, |s| s.line),
    );
    // Step numbers in Dockerfile order, whatever order the stages run in.
    let mut first_step = BTreeMap::new();
    let mut next = 1;
    for &i in &need {
        first_step.insert(i, next);
        next += 1 + df.stages[i].steps.len();
        if i == target && label_step.is_some() {
            next += 1;
        }
    }
    let shared = steps::Shared {
        context,
        opts,
        escape: df.escape,
        total: next - 1,
        meta,
        stage_names: df.stages.iter().map(|s| s.name.clone()).collect(),
        planned: need.clone(),
        board: stages::Board::default(),
        slots: stages::Slots::new(opts.parallel_stages),
        scratch: opts.scratch.clone().unwrap_or_else(std::env::temp_dir),
    };
    let order: Vec<usize> = need.iter().copied().collect();
    let outcomes = stages::run_all(host, &order, target, |h, i| {
        let _slot = shared.slots.hold();
        let ending = stages::Ending::new(&shared.board, i);
        let mut run = steps::Run::new(h, &shared, first_step[&i]);
        let extra = (i == target).then_some(label_step.as_ref()).flatten();
        let result = run.stage(&df, i, &df.stages[i], extra);
        let failed_at = ending.end(&result);
        stages::StageOutcome {
            index: i,
            result,
            failed_at,
            hits: run.hits,
            steps: run.steps,
            used_args: run.used_args,
        }
    });
    let (mut hits, mut steps) = (0, 0);
    for o in &outcomes {
        hits += o.hits;
        steps += o.steps;
        used_args.extend(o.used_args.iter().cloned());
    }
    let image = match outcomes.iter().find(|o| o.index == target) {
        Some(stages::StageOutcome { result: Ok(id), .. }) => id.clone(),
        _ => {
            return Err(stages::first_error(outcomes)
                .unwrap_or_else(|| BuildError::NoTarget(opts.target.clone().unwrap_or_default())))
        }
    };

    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        host.progress(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            names.join(" ")
        ));
    }
    host.built(&image);
    host.progress(&format!("Successfully built {}", short(&image)));
    let mut tags = Vec::new();
    for t in &opts.tags {
        let full = with_latest(t);
        host.tag(&image, &full)?;
        host.progress(&format!("Successfully tagged {full}"));
        tags.push(full);
    }
    Ok(Built {
        image,
        tags,
        cache_hits: hits,
        steps,
    })
}

/// The platform args BuildKit defines for every build (`BUILDPLATFORM`, `TARGETARCH`, ...):
/// usable in `FROM` lines, and in a stage that declares them with `ARG`.
pub fn platform_args() -> BTreeMap<String, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let platform = format!("linux/{arch}");
    let mut m = BTreeMap::new();
    for prefix in ["BUILD", "TARGET"] {
        m.insert(format!("{prefix}PLATFORM"), platform.clone());
        m.insert(format!("{prefix}OS"), "linux".to_string());
        m.insert(format!("{prefix}ARCH"), arch.to_string());
        m.insert(format!("{prefix}VARIANT"), String::new());
    }
    m
}

/// The `--label`s as one more `LABEL` step at the end of the target stage (as Docker does).
fn label_step(labels: &BTreeMap<String, String>, line: usize) -> Option<Step> {
    if labels.is_empty() {
        return None;
    }
    let pairs: Vec<(String, String)> = labels.iter().map(|(k, v)| (quote(k), quote(v))).collect();
    let original = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    Some(Step {
        line,
        original: format!("LABEL {original}"),
        instruction: Instruction::Label(pairs),
    })
}

/// Single-quotes a word so that expansion gives it back as it is.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// `name` with `:latest` when it has neither tag nor digest.
pub fn with_latest(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// The 12-hex short form of an image or container ID.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
