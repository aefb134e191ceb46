//! Which stages a build runs, and how they run side by side.
//!
//! - The plan: the stages the target needs (itself, the stages it builds `FROM` and copies
//!   `--from`, transitively); the others are skipped. Each planned stage's step numbers are fixed
//!   up front, in Dockerfile order, so a `Step N/M` line says the same whatever order the stages
//!   end up running in.
//! - The board: the images of finished stages. A stage that needs another one (its `FROM`, a
//!   `COPY --from`) waits there for it, and only there: stages that do not depend on each other
//!   run at the same time, and a stage runs its own steps up to the first one that needs another.
//!   A stage that fails marks itself failed and aborts the build: the others stop before their
//!   next step, and a stage waiting for the failed one stops at once.
//!
//! - The slots: at most [`BuildOptions::parallel_stages`](super::BuildOptions) stages (the
//!   number of CPUs by default) do steps at the same time; the others wait for a slot before
//!   their first step. A stage waiting on the board gives its slot up meanwhile, so a stage that
//!   waits for another never keeps it from running.
//!
//! Stages run concurrently only when the host can [`fork`](super::BuildHost::fork) a host for
//! each stage beside the target's; otherwise one after another, in Dockerfile order. Output stays
//! line by line: every `progress` call is one whole line, so lines of different stages may
//! alternate but never mix.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};

use super::{BuildError, BuildHost};
use crate::parser::{lex, Dockerfile, Instruction};

/// The stages `target` needs, in Dockerfile order. A `FROM` is expanded with the global `ARG`s
/// (`meta`) to find the stage it names; `COPY --from` values are taken as written.
pub(super) fn needed_stages(
    df: &Dockerfile,
    target: usize,
    meta: &BTreeMap<String, String>,
) -> BTreeSet<usize> {
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        for j in dependencies(df, i, meta) {
            todo.push(j);
        }
    }
    need
}

/// The earlier stages stage `i` names (its base, its `COPY --from`s).
fn dependencies(df: &Dockerfile, i: usize, meta: &BTreeMap<String, String>) -> Vec<usize> {
    let stage = &df.stages[i];
    let base = lex::expand(&stage.base, df.escape, &|n| meta.get(n).cloned())
        .unwrap_or_else(|_| stage.base.clone());
    let mut refs = vec![base];
    for s in &stage.steps {
        if let Instruction::Copy(c) = &s.instruction {
            refs.extend(c.from.clone());
        }
    }
    refs.iter()
        .filter_map(|r| df.stage_index(r).filter(|j| *j < i))
        .collect()
}

/// What one stage's run ended with.
pub(super) struct StageOutcome {
    pub index: usize,
    pub result: Result<String, BuildError>,
    /// When it failed, its place among the failures (the first failure is the build's error).
    pub failed_at: usize,
    pub hits: usize,
    pub steps: usize,
    pub used_args: BTreeSet<String>,
}

#[derive(Default)]
struct BoardState {
    /// Finished stages: their image, or `None` when they failed.
    done: BTreeMap<usize, Option<String>>,
    aborted: bool,
    failures: usize,
}

/// The images of finished stages, shared by the stages' threads.
#[derive(Default)]
pub(super) struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that stage `index` built `image`.
    pub fn finish(&self, index: usize, image: &str) {
        self.lock().done.insert(index, Some(image.to_string()));
        self.changed.notify_all();
    }

    /// Records that stage `index` failed and aborts the build; returns the failure's place.
    pub fn fail(&self, index: usize) -> usize {
        let mut st = self.lock();
        st.done.insert(index, None);
        st.aborted = true;
        st.failures += 1;
        let n = st.failures;
        drop(st);
        self.changed.notify_all();
        n
    }

    /// Whether some stage failed.
    pub fn aborted(&self) -> bool {
        self.lock().aborted
    }

    /// The image of stage `index`, once it is built; `None` when it failed or the build was
    /// aborted before it ended. Every planned stage ends (built or failed), so this returns.
    pub fn wait(&self, index: usize) -> Option<String> {
        let mut st = self.lock();
        loop {
            if let Some(done) = st.done.get(&index) {
                return done.clone();
            }
            if st.aborted {
                return None;
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// How many stages may do steps at the same time, and how many do.
pub(super) struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    /// `n` slots; 0: one per CPU.
    pub fn new(n: usize) -> Self {
        let n = match n {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Slots {
            free: Mutex::new(n),
            changed: Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    pub fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.changed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    /// Gives a slot back.
    pub fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_one();
    }

    /// Takes a slot until the guard is dropped.
    pub fn hold(&self) -> SlotGuard<'_> {
        self.acquire();
        SlotGuard(self)
    }
}

/// A slot held by a stage; given back when dropped (a stage that panics too).
pub(super) struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Marks a stage failed on the board unless it was finished: a stage that panics still ends,
/// so the stages waiting for it stop instead of waiting forever.
pub(super) struct Ending<'a> {
    board: &'a Board,
    index: usize,
    ended: bool,
}

impl<'a> Ending<'a> {
    pub fn new(board: &'a Board, index: usize) -> Self {
        Ending {
            board,
            index,
            ended: false,
        }
    }

    /// Records the stage's result; returns the failure's place (0 when it built).
    pub fn end(mut self, result: &Result<String, BuildError>) -> usize {
        self.ended = true;
        match result {
            Ok(image) => {
                self.board.finish(self.index, image);
                0
            }
            Err(_) => self.board.fail(self.index),
        }
    }
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.board.fail(self.index);
        }
    }
}

/// Runs `stages` (in Dockerfile order; `target` last) through `run_one`: side by side on forked
/// hosts when `host` forks, else one after another, stopping at the first failure. Returns every
/// stage's outcome, the target's last.
pub(super) fn run_all<F>(
    host: &mut dyn BuildHost,
    stages: &[usize],
    target: usize,
    run_one: F,
) -> Vec<StageOutcome>
where
    F: Fn(&mut dyn BuildHost, usize) -> StageOutcome + Sync,
{
    let others: Vec<usize> = stages.iter().copied().filter(|i| *i != target).collect();
    let mut forks = Vec::new();
    for _ in &others {
        match host.fork() {
            Some(f) => forks.push(f),
            None => break,
        }
    }
    if forks.len() < others.len() {
        let mut out = Vec::new();
        for &i in stages {
            let o = run_one(host, i);
            let failed = o.result.is_err();
            out.push(o);
            if failed {
                break;
            }
        }
        return out;
    }
    let run_one = &run_one;
    std::thread::scope(|s| {
        let threads: Vec<_> = others
            .iter()
            .zip(forks)
            .map(|(&i, mut h)| (i, s.spawn(move || run_one(&mut *h, i))))
            .collect();
        let mine = run_one(host, target);
        let mut out: Vec<StageOutcome> = threads
            .into_iter()
            .map(|(i, t)| {
                t.join().unwrap_or_else(|_| StageOutcome {
                    index: i,
                    result: Err(BuildError::Host(super::HostError(format!(
                        "the thread building stage {i} panicked"
                    )))),
                    failed_at: usize::MAX,
                    hits: 0,
                    steps: 0,
                    used_args: BTreeSet::new(),
                })
            })
            .collect();
        out.push(mine);
        out
    })
}

/// The build's error among failed stages: the first real failure; a stage stopped because
/// another failed (or the client went away) only when nothing else failed.
pub(super) fn first_error(outcomes: Vec<StageOutcome>) -> Option<BuildError> {
    let mut errors: Vec<(bool, usize, BuildError)> = outcomes
        .into_iter()
        .filter_map(|o| {
            o.result
                .err()
                .map(|e| (matches!(e, BuildError::Cancelled), o.failed_at, e))
        })
        .collect();
    errors.sort_by_key(|(cancelled, at, _)| (*cancelled, *at));
    errors.into_iter().next().map(|(_, _, e)| e)
}
