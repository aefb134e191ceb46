//! The healthcheck monitor: one task per running container with a check. It waits the
//! [`Check::next_delay`], runs a probe through the engine's own exec machinery (`exec_create` and
//! `exec_start`, so the probe gets the container's environment, user and working directory, shows
//! in `ExecIDs`, and publishes `exec_create`/`exec_start`/`exec_die` as Docker's probes do),
//! collects up to [`super::MAX_OUTPUT`] bytes of its output, and records the result in the
//! container's record (one store transaction per probe, so that a daemon restart resumes from the
//! last known status), publishing `health_status: <status>` when the status changes.
//!
//! A probe that outlives its timeout is killed (SIGKILL to the exec's process) and recorded with
//! exit code -1 and Docker's "Health check exceeded timeout" message; a probe that cannot start
//! is recorded with -1 and the error. Paused containers are not probed. The task ends when the
//! container stops, exits or is removed; the next start (or a live restore) spawns a new one.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{go_duration, Check, Health, LimitedOutput, ProbeResult, Status};
use crate::containers::exec::ExecConfig;
use crate::containers::model::Container;
use crate::containers::state::Status as RunStatus;
use crate::containers::{now_nanos, ContainerService, Entry, Observed};
use crate::error::DaemonError;

/// How long a killed probe may take to be reaped before the monitor moves on.
const REAP_DEADLINE: Duration = Duration::from_secs(10);

/// Whether the run the monitor watches (the `exits`th) is over.
fn run_over(o: &Observed, generation: u64) -> bool {
    o.removed
        || o.exits != generation
        || !matches!(o.status, RunStatus::Running | RunStatus::Paused)
}

/// Sets the state of a container that just started: `starting` when its own config has a check
/// (a check inherited from the image is set by the monitor once it has read the image). Called
/// inside the start's commit, so that inspect shows the state as soon as the start answers.
pub fn reset_on_start(c: &mut Container) {
    if super::has_own_test(c) {
        c.state.health = Check::of(c.settings.healthcheck.as_ref())
            .map(|_| Health::starting(c.state.health.as_ref()));
    }
}

impl ContainerService {
    /// Spawns the monitor of `entry`'s running container. `fresh`: it has just started (the state
    /// becomes `starting`); otherwise it was re-adopted and keeps its last status.
    pub(crate) fn spawn_health_monitor(&self, entry: Arc<Entry>, fresh: bool) {
        let svc = self.clone();
        let generation = entry.observed.borrow().exits;
        tokio::spawn(async move {
            let Some(check) = svc.resolve_check(&entry).await else {
                return;
            };
            let reset = svc.commit(&entry, false, |c| {
                if !c.state.status.is_active() {
                    return;
                }
                let prev = c.state.health.take();
                c.state.health = Some(match prev {
                    Some(h) if !fresh => h,
                    Some(h) if h.status == Status::Starting && h.failing_streak == 0 => h,
                    other => Health::starting(other.as_ref()),
                });
            });
            if let Err(e) = reset {
                tracing::warn!(container = %entry.id(), error = %e, "recording the health state");
            }
            svc.health_loop(&entry, &check, generation).await;
        });
    }

    /// The container's check: its own `Healthcheck` merged with its image's.
    async fn resolve_check(&self, entry: &Entry) -> Option<Check> {
        let c = entry.snapshot();
        let own = c.settings.healthcheck.as_ref();
        // A test of its own that runs nothing (`NONE`) leaves the image's test out too.
        if super::has_own_test(&c) && Check::of(own).is_none() {
            return None;
        }
        let image = match self.inner.images.inspect(&c.image_id).await {
            Ok(img) => super::of_image(img.container_config().healthcheck.as_ref()),
            Err(e) => {
                tracing::debug!(container = %c.id, error = %e, "image of a container is gone; its own healthcheck only");
                None
            }
        };
        Check::of(super::merge(own, image.as_ref()).as_ref())
    }

    async fn health_loop(&self, entry: &Arc<Entry>, check: &Check, generation: u64) {
        let mut rx = entry.observed.subscribe();
        let over = |o: &Observed| run_over(o, generation);
        loop {
            let c = entry.snapshot();
            let status = c
                .state
                .health
                .as_ref()
                .map_or(Status::Starting, |h| h.status);
            let elapsed = Duration::from_nanos((now_nanos() - c.state.started_at).max(0) as u64);
            let delay = check.next_delay(elapsed, status);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = rx.wait_for(over) => return,
            }
            if over(&entry.observed.borrow()) {
                return;
            }
            if entry.snapshot().state.status == RunStatus::Paused {
                continue;
            }
            let result = tokio::select! {
                r = self.probe(entry, check) => r,
                _ = rx.wait_for(over) => return,
            };
            if over(&entry.observed.borrow()) {
                return;
            }
            self.record_probe(entry, check, result);
        }
    }

    /// Stores a probe's result and publishes a status change.
    fn record_probe(&self, entry: &Entry, check: &Check, result: ProbeResult) {
        let mut changed = None;
        let recorded = self.commit(entry, false, |c| {
            let cutoff = c.state.started_at + check.start_period.as_nanos() as i64;
            let in_start_period = result.start < cutoff;
            if let Some(h) = c.state.health.as_mut() {
                changed = h.record(result, check.retries, in_start_period);
            }
        });
        match recorded {
            Ok(c) => {
                if let Some(s) = changed {
                    self.event(&c, &format!("health_status: {}", s.as_str()), &[]);
                }
            }
            Err(e) => {
                tracing::warn!(container = %entry.id(), error = %e, "recording a health probe");
            }
        }
    }

    /// Runs one probe.
    async fn probe(&self, entry: &Entry, check: &Check) -> ProbeResult {
        let start = now_nanos();
        let failed = |e: DaemonError| ProbeResult {
            start,
            end: now_nanos(),
            exit_code: -1,
            output: e.to_string(),
        };
        let c = entry.snapshot();
        let cfg = ExecConfig {
            cmd: check.command(c.config.shell.as_deref()),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let exec_id = match self.exec_create(&c.id, cfg).await {
            Ok(id) => id,
            Err(e) => return failed(e),
        };
        let stream = match self.exec_start(&exec_id, None).await {
            Ok(s) => s.stream,
            Err(e) => return failed(e),
        };
        let mut output = LimitedOutput::default();
        let finished = tokio::time::timeout(check.timeout, async {
            read_frames(stream, &mut output).await;
            let _ = self.exec_exited(&exec_id).await;
        })
        .await;
        if finished.is_err() {
            self.kill_probe(&exec_id).await;
            let out = output.text();
            let limit = go_duration(check.timeout);
            return ProbeResult {
                start,
                end: now_nanos(),
                exit_code: -1,
                output: if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                },
            };
        }
        match self.exec_inspect(&exec_id).map(|i| i.exit_code) {
            Ok(Some(code)) => ProbeResult {
                start,
                end: now_nanos(),
                exit_code: code,
                output: output.text(),
            },
            Ok(None) => failed(DaemonError::Internal(format!(
                "healthcheck for container {} has no exit code",
                c.id
            ))),
            Err(e) => failed(e),
        }
    }

    /// Kills a probe that outlived its timeout and waits (bounded) until it is reaped.
    async fn kill_probe(&self, exec_id: &str) {
        let pid = self.exec_inspect(exec_id).map(|i| i.pid).unwrap_or(0);
        if let Ok(pid) = i32::try_from(pid) {
            if pid > 0 {
                let pid = nix::unistd::Pid::from_raw(pid);
                if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                    tracing::debug!(exec = exec_id, error = %e, "killing a timed-out health probe");
                }
            }
        }
        let _ = tokio::time::timeout(REAP_DEADLINE, self.exec_exited(exec_id)).await;
    }
}

/// Reads a non-tty exec stream (8-byte stdcopy headers, then the payload) to its end, keeping
/// stdout and stderr together as Docker's probes do.
async fn read_frames(mut stream: tokio::net::UnixStream, out: &mut LimitedOutput) {
    let mut header = [0u8; 8];
    let mut chunk = vec![0u8; 8192];
    loop {
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        while left > 0 {
            let want = left.min(chunk.len());
            match stream.read(&mut chunk[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    out.push(&chunk[..n]);
                    left -= n;
                }
            }
        }
    }
}
