//! One stage and one step: expansion with the stage's variables, the cache key, and what each
//! instruction does to the image (a new layer) or to its config (an image with no new layer).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use super::host::{
    BuildHost, HealthConfig, ImageConfig, MountSource, NetworkMode, RunMount, RunSpec,
};
use super::stages::Board;
use super::{short, step_err, BuildError, BuildOptions, PREDEFINED_ARGS};
use crate::context::Context;
use crate::dockerignore::clean;
use crate::parser::lex::{self, LexError};
use crate::parser::{self, Command, Dockerfile, Instruction, Stage, Step};

/// Expands a raw word with a lookup.
pub fn expand_with(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LexError> {
    lex::expand(word, escape, env)
}

/// What every stage of a build reads (shared by the stages' threads).
pub(super) struct Shared<'a> {
    pub context: &'a Context,
    pub opts: &'a BuildOptions,
    pub escape: char,
    /// The number of steps in the plan.
    pub total: usize,
    /// Global `ARG` values.
    pub meta: BTreeMap<String, String>,
    /// Each stage's `AS` name.
    pub stage_names: Vec<Option<String>>,
    /// The stages the build runs.
    pub planned: BTreeSet<usize>,
    /// The images of finished stages.
    pub board: Board,
    /// The stages doing steps at the same time.
    pub slots: super::stages::Slots,
    /// Where the tars of `COPY` steps are spooled (unnamed files, gone when closed).
    pub scratch: std::path::PathBuf,
}

/// One stage's run: its host, and what it has done so far.
pub(super) struct Run<'a> {
    pub host: &'a mut dyn BuildHost,
    pub context: &'a Context,
    pub opts: &'a BuildOptions,
    pub escape: char,
    pub shared: &'a Shared<'a>,
    /// The stage being built.
    pub stage: usize,
    /// The number of the next step header.
    pub next_step: usize,
    /// Step headers printed, and steps answered from the cache.
    pub steps: usize,
    pub hits: usize,
    /// Build args some `ARG` declared.
    pub used_args: BTreeSet<String>,
    pub scratch: &'a std::path::Path,
}

/// One stage's state between steps.
pub(super) struct State {
    pub image: Option<String>,
    pub config: ImageConfig,
    /// `ARG`s in scope with a value.
    pub args: BTreeMap<String, String>,
    pub cmd_set: bool,
}

impl State {
    pub fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.config
            .env_var(name)
            .or_else(|| self.args.get(name).cloned())
    }
}

/// Applies what a command form means: the exec form as it is, the shell form through `shell`.
fn argv(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// The script of a `RUN <<EOF` whose heredoc is the whole command: run by the shell, or, when
/// it starts with `#!`, written to a temporary file and executed (its interpreter runs it).
fn heredoc_script(body: &str) -> String {
    if !body.starts_with("#!") {
        return body.to_string();
    }
    let mut end = String::from("BERTH_HEREDOC_END");
    while body.lines().any(|l| l == end) {
        end.push('_');
    }
    format!(
        "f=$(mktemp) && cat > \"$f\" <<'{end}'\n{body}{end}\nchmod +x \"$f\" && \"$f\"; rc=$?; rm -f \"$f\"; exit $rc"
    )
}

/// `80` → `80/tcp`, `8000-8001/udp` → both ports.
fn ports(spec: &str) -> Result<Vec<String>, String> {
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {range}");
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = range.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

impl<'a> Run<'a> {
    /// A run of one stage whose first step is number `first_step`.
    pub fn new(host: &'a mut dyn BuildHost, shared: &'a Shared<'a>, first_step: usize) -> Self {
        Run {
            host,
            context: shared.context,
            opts: shared.opts,
            escape: shared.escape,
            shared,
            stage: 0,
            next_step: first_step,
            steps: 0,
            hits: 0,
            used_args: BTreeSet::new(),
            scratch: &shared.scratch,
        }
    }
}

impl Run<'_> {
    pub fn progress(&mut self, line: &str) {
        self.host.progress(line);
    }

    fn header(&mut self, step: &Step) {
        let line = format!(
            "Step {}/{} : {}",
            self.next_step, self.shared.total, step.original
        );
        self.next_step += 1;
        self.steps += 1;
        self.progress(&line);
    }

    /// Whether the stage should stop before its next step: the client went away, or another
    /// stage failed.
    fn stopping(&mut self) -> bool {
        self.host.cancelled() || self.shared.board.aborted()
    }

    /// The image of planned stage `index`, waiting for it to finish.
    pub fn stage_result(&self, index: usize) -> Result<String, BuildError> {
        // The slot is someone else's while this stage waits.
        self.shared.slots.release();
        let done = self.shared.board.wait(index);
        self.shared.slots.acquire();
        done.ok_or(BuildError::Cancelled)
    }

    pub fn expand(&self, st: &State, step: &Step, word: &str) -> Result<String, BuildError> {
        lex::expand(word, self.escape, &|n| st.lookup(n)).map_err(|e| step_err(step, e.to_string()))
    }

    /// Builds stage `index`; returns its image.
    pub fn stage(
        &mut self,
        df: &Dockerfile,
        index: usize,
        stage: &Stage,
        extra: Option<&Step>,
    ) -> Result<String, BuildError> {
        self.stage = index;
        if self.stopping() {
            return Err(BuildError::Cancelled);
        }
        self.header(&stage.from);
        let meta = &self.shared.meta;
        let base = lex::expand(&stage.base, self.escape, &|n| meta.get(n).cloned())
            .map_err(|e| step_err(&stage.from, e.to_string()))?;
        let platform = match &stage.platform {
            Some(p) => Some(
                lex::expand(p, self.escape, &|n| meta.get(n).cloned())
                    .map_err(|e| step_err(&stage.from, e.to_string()))?,
            ),
            None => self.opts.platform.clone(),
        };
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            let host = super::platform_args()
                .remove("BUILDPLATFORM")
                .unwrap_or_default();
            let wanted = p.trim_end_matches("/v8").trim_end_matches("/v1");
            if wanted != host && wanted != host.trim_start_matches("linux/") {
                return Err(step_err(
                    &stage.from,
                    format!(
                        "platform {p} is not supported by this builder: it builds for {host} only"
                    ),
                ));
            }
        }
        let earlier = df
            .stage_index(&base)
            .filter(|j| *j < index && base.parse::<usize>().is_err());
        let (image, config) = if let Some(j) = earlier {
            if !self.shared.planned.contains(&j) {
                return Err(step_err(&stage.from, format!("stage {base} was not built")));
            }
            let id = self.stage_result(j)?;
            let img = self.host.image(&id, false)?.ok_or_else(|| {
                step_err(
                    &stage.from,
                    format!("the image {id} of stage {base} is gone"),
                )
            })?;
            (Some(img.id), img.config)
        } else if base.eq_ignore_ascii_case("scratch") {
            (None, ImageConfig::default())
        } else {
            let img = self.host.image(&base, self.opts.pull)?.ok_or_else(|| {
                step_err(
                    &stage.from,
                    format!("pull access denied for {base}, repository does not exist or may require 'docker login' (no such image here)"),
                )
            })?;
            (Some(img.id), img.config)
        };
        match &image {
            Some(id) => self.progress(&format!(" ---> {}", short(id))),
            None => self.progress(" ---> "),
        }
        let mut st = State {
            image,
            config,
            args: BTreeMap::new(),
            cmd_set: false,
        };
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.progress(&format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for t in &triggers {
                let parsed = parser::parse(&format!("FROM scratch\n{t}")).map_err(|e| {
                    step_err(&stage.from, format!("ONBUILD trigger {t:?}: {}", e.message))
                })?;
                for s in parsed.stages.iter().flat_map(|s| &s.steps) {
                    let s = Step {
                        line: stage.from.line,
                        ..s.clone()
                    };
                    self.apply(&mut st, &s)?;
                }
            }
        }
        for step in stage.steps.iter().chain(extra) {
            if self.stopping() {
                return Err(BuildError::Cancelled);
            }
            self.header(step);
            self.apply(&mut st, step)?;
        }
        match st.image {
            Some(id) => Ok(id),
            None => Err(step_err(
                &stage.from,
                "No image was generated. Is your Dockerfile empty?",
            )),
        }
    }

    /// Does one step.
    fn apply(&mut self, st: &mut State, step: &Step) -> Result<(), BuildError> {
        let x = |run: &Self, st: &State, w: &str| run.expand(st, step, w);
        let desc = step.original.clone();
        match &step.instruction {
            Instruction::From { .. } => return Err(step_err(step, "FROM inside a stage")),
            Instruction::Arg(args) => {
                for (name, default) in args {
                    self.used_args.insert(name.clone());
                    let value = match (self.opts.build_args.get(name), default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(x(self, st, d)?),
                        (None, None) => self.shared.meta.get(name).cloned(),
                    };
                    if let Some(v) = value {
                        st.args.insert(name.clone(), v);
                    }
                }
            }
            Instruction::Env(pairs) => {
                let mut done = Vec::new();
                for (k, v) in pairs {
                    done.push((x(self, st, k)?, x(self, st, v)?));
                }
                for (k, v) in done {
                    st.config.set_env(&k, &v);
                }
            }
            Instruction::Label(pairs) => {
                let mut done = Vec::new();
                for (k, v) in pairs {
                    done.push((x(self, st, k)?, x(self, st, v)?));
                }
                st.config
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(done);
            }
            Instruction::Expose(list) => {
                let mut all = Vec::new();
                for p in list {
                    all.extend(ports(&x(self, st, p)?).map_err(|e| step_err(step, e))?);
                }
                let map = st.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in all {
                    map.insert(p, serde_json::json!({}));
                }
            }
            Instruction::User(u) => st.config.user = Some(x(self, st, u)?),
            Instruction::Volume(list) => {
                let mut all = Vec::new();
                for v in list {
                    let v = x(self, st, v)?;
                    if v.trim().is_empty() {
                        return Err(step_err(
                            step,
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    all.push(v);
                }
                let map = st.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in all {
                    map.insert(v, serde_json::json!({}));
                }
            }
            Instruction::StopSignal(s) => st.config.stop_signal = Some(x(self, st, s)?),
            Instruction::Cmd(c) => {
                st.config.cmd = Some(argv(c, &st.shell()));
                st.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let v = argv(c, &st.shell());
                st.config.entrypoint = (!v.is_empty()).then_some(v);
                if !st.cmd_set {
                    st.config.cmd = None;
                }
            }
            Instruction::Shell(v) => st.config.shell = Some(v.clone()),
            Instruction::Healthcheck(h) => {
                st.config.healthcheck = Some(match h {
                    None => HealthConfig {
                        test: vec!["NONE".into()],
                        ..Default::default()
                    },
                    Some(h) => HealthConfig {
                        test: h.test.clone(),
                        interval: h.interval,
                        timeout: h.timeout,
                        start_period: h.start_period,
                        start_interval: h.start_interval,
                        retries: h.retries,
                    },
                })
            }
            Instruction::OnBuild(t) => st
                .config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(t.clone()),
            Instruction::Maintainer(_) => {}
            Instruction::Workdir(w) => {
                let w = x(self, st, w)?;
                let cur = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
                let abs = format!(
                    "/{}",
                    clean(&if w.starts_with('/') {
                        w
                    } else {
                        format!("{cur}/{w}")
                    })
                );
                st.config.working_dir = Some(abs.clone());
                return self.workdir(st, &abs);
            }
            Instruction::Run {
                command,
                mounts,
                network,
                security,
                heredocs,
            } => {
                let (mounts, mounts_key) = self.run_mounts(st, step, mounts)?;
                if security.as_deref() == Some("insecure") {
                    return Err(step_err(
                        step,
                        "RUN --security=insecure is not allowed by this builder",
                    ));
                }
                let network = match network.as_deref() {
                    Some("none") => NetworkMode::None,
                    Some("host") => NetworkMode::Host,
                    Some(_) => NetworkMode::Default,
                    None => self.opts.network,
                };
                let shell = st.shell();
                let argv = match (command, heredocs.as_slice()) {
                    (Command::Shell(s), [h]) if s.trim() == h.word => {
                        [shell.clone(), vec![heredoc_script(&h.body)]].concat()
                    }
                    (Command::Shell(s), hs) if !hs.is_empty() => {
                        let mut script = s.clone();
                        for h in hs {
                            script.push('\n');
                            script.push_str(&h.body);
                            script.push_str(&h.name);
                        }
                        [shell.clone(), vec![script]].concat()
                    }
                    (c, _) => argv(c, &shell),
                };
                return self.run_step(st, argv, network, mounts, &mounts_key);
            }
            Instruction::Copy(spec) => return self.copy(st, step, spec, false),
            Instruction::Add(spec) => return self.copy(st, step, spec, true),
        }
        self.configure(st, &[&desc], &format!("/bin/sh -c #(nop) {desc}"))
    }

    fn run_step(
        &mut self,
        st: &mut State,
        argv: Vec<String>,
        network: NetworkMode,
        mounts: Vec<RunMount>,
        mounts_key: &str,
    ) -> Result<(), BuildError> {
        let mut env = st.config.env.clone().unwrap_or_default();
        if let Some(epoch) = self.opts.source_date_epoch {
            if st.config.env_var("SOURCE_DATE_EPOCH").is_none()
                && !st.args.contains_key("SOURCE_DATE_EPOCH")
            {
                env.push(format!("SOURCE_DATE_EPOCH={epoch}"));
            }
        }
        let mut shown = Vec::new();
        for (k, v) in &st.args {
            if st.config.env_var(k).is_none() {
                env.push(format!("{k}={v}"));
            }
            if !PREDEFINED_ARGS.contains(&k.as_str()) {
                shown.push(format!("{k}={v}"));
            }
        }
        let joined = argv.join(" ");
        let created_by = if shown.is_empty() {
            joined.clone()
        } else {
            format!("|{} {} {joined}", shown.len(), shown.join(" "))
        };
        let spec = RunSpec {
            argv,
            env,
            user: st.config.user.clone().unwrap_or_default(),
            workdir: st.config.working_dir.clone().unwrap_or_else(|| "/".into()),
            network,
            mounts,
        };
        let net = format!("{network:?}");
        self.change(
            st,
            &["RUN", &created_by, &net, mounts_key],
            &created_by.clone(),
            Some(&spec),
            |run, c| {
                let code = run.host.start(c)?;
                if code != 0 {
                    return Err(BuildError::RunFailed {
                        command: joined.clone(),
                        code,
                    });
                }
                Ok(())
            },
        )
    }

    /// The cache key of a step on the stage's image and (already changed) config.
    fn key(&self, st: &State, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(st.image.as_deref().unwrap_or("scratch").as_bytes());
        for p in parts {
            h.update([0]);
            h.update(p.as_bytes());
        }
        h.update([0]);
        h.update(serde_json::to_vec(&st.config).unwrap_or_default());
        if let Some(epoch) = self.opts.source_date_epoch {
            h.update(format!("\0epoch {epoch}").as_bytes());
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// Answers a step from the cache (Berth's, then `--cache-from` unless `binds`: a source's
    /// history names a `RUN`'s command, not what its bind mounts held); the stage moves on to
    /// the cached image. `false` on a miss or with `--no-cache`.
    fn cached(
        &mut self,
        st: &mut State,
        key: &str,
        created_by: &str,
        binds: bool,
    ) -> Result<bool, BuildError> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let mut found = self.host.cache_get(key)?;
        if found.is_none() && !binds && !self.opts.cache_from.is_empty() {
            found = self.host.cache_from(
                &self.opts.cache_from,
                st.image.as_deref(),
                created_by,
                &st.config,
            )?;
            if let Some(img) = &found {
                self.host.cache_put(key, img)?;
            }
        }
        let Some(img) = found else {
            return Ok(false);
        };
        self.hits += 1;
        self.progress(" ---> Using cache");
        self.progress(&format!(" ---> {}", short(&img)));
        st.image = Some(img);
        Ok(true)
    }

    /// Records a step's new image in the cache and moves the stage on to it.
    fn made(&mut self, st: &mut State, key: &str, img: String) -> Result<(), BuildError> {
        self.host.cache_put(key, &img)?;
        self.progress(&format!(" ---> {}", short(&img)));
        st.image = Some(img);
        Ok(())
    }

    /// A step that changes only the config: from the cache, or an image with no new layer
    /// (no container).
    pub fn configure(
        &mut self,
        st: &mut State,
        parts: &[&str],
        created_by: &str,
    ) -> Result<(), BuildError> {
        let key = self.key(st, parts);
        if self.cached(st, &key, created_by, false)? {
            return Ok(());
        }
        let img = self
            .host
            .configure(st.image.as_deref(), &st.config, created_by)?;
        self.made(st, &key, img)
    }

    /// `WORKDIR abs` (the config already changed): the directory made through a container
    /// unless the image has it, when the step only changes the config.
    fn workdir(&mut self, st: &mut State, abs: &str) -> Result<(), BuildError> {
        let step = format!("WORKDIR {abs}");
        let created_by = format!("/bin/sh -c #(nop) {step}");
        let key = self.key(st, &[&step]);
        if self.cached(st, &key, &created_by, false)? {
            return Ok(());
        }
        let c = self.host.create(st.image.as_deref(), &st.config, None)?;
        match self.host.is_dir(&c, abs) {
            Ok(true) => {
                self.host.remove(&c)?;
                let img = self
                    .host
                    .configure(st.image.as_deref(), &st.config, &created_by)?;
                self.made(st, &key, img)
            }
            Ok(false) => self.in_container(st, &key, c, &created_by, false, |run, c| {
                let empty = [0u8; 1024];
                run.host
                    .copy_in(c, abs, Box::new(std::io::Cursor::new(empty)))?;
                Ok(())
            }),
            Err(e) => {
                let _ = self.host.remove(&c);
                Err(e.into())
            }
        }
    }

    /// A step that makes a new image: from the cache, or through a container.
    pub fn change(
        &mut self,
        st: &mut State,
        parts: &[&str],
        created_by: &str,
        run: Option<&RunSpec>,
        work: impl FnOnce(&mut Self, &str) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let key = self.key(st, parts);
        let binds = run.is_some_and(|r| {
            r.mounts
                .iter()
                .any(|m| matches!(m.source, MountSource::Context(_)))
        });
        if self.cached(st, &key, created_by, binds)? {
            return Ok(());
        }
        let c = self.host.create(st.image.as_deref(), &st.config, run)?;
        self.in_container(st, &key, c, created_by, run.is_some(), work)
    }

    /// Does a step's `work` in container `c` (a `RUN`'s when `runs`: only those are shown, as
    /// the classic builder shows its containers) and commits it.
    fn in_container(
        &mut self,
        st: &mut State,
        key: &str,
        c: String,
        created_by: &str,
        runs: bool,
        work: impl FnOnce(&mut Self, &str) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        if runs {
            self.progress(&format!(" ---> Running in {}", short(&c)));
        }
        let worked = work(self, &c);
        let committed = match worked {
            Ok(()) => self
                .host
                .commit(&c, &st.config, created_by)
                .map_err(BuildError::from),
            Err(e) => Err(e),
        };
        let img = match committed {
            Ok(img) => img,
            Err(e) => {
                if self.opts.force_rm || !matches!(e, BuildError::RunFailed { .. }) {
                    let _ = self.host.remove(&c);
                }
                return Err(e);
            }
        };
        if !self.opts.keep_containers || !runs {
            self.host.remove(&c)?;
            if runs {
                self.progress(&format!(
                    " ---> Removed intermediate container {}",
                    short(&c)
                ));
            }
        }
        self.made(st, key, img)
    }
}
