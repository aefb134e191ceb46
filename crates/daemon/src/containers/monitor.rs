//! One task per running container: waits on the shim's `wait`, then records the exit (status,
//! OOMKilled, FinishedAt), publishes `oom` and `die`, unmounts the rootfs and the volumes, and
//! applies AutoRemove (anonymous volumes included) or the restart policy (`no`, `always`,
//! `on-failure[:N]`, `unless-stopped`) with Docker's backoff (100 ms doubling, reset after 10 s of
//! running) and RestartCount.
//!
//! The monitor never takes a container's verb lock to record an exit (a `stop` holding it waits for
//! that very record); it takes it only to restart, after re-checking that nobody stopped or removed
//! the container during the backoff.

use std::sync::Arc;
use std::time::Duration;

use berth_shim::client::ShimHandle;
use berth_shim::protocol::ExitStatus;

use super::model::Container;
use super::state::Status;
use super::{shim, start, ContainerService, Entry};

/// First restart delay.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest restart delay.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run this long resets the backoff.
const STABLE_RUN_NANOS: i64 = 10_000_000_000;

/// Exit code recorded when the shim vanished without an exit status.
pub const LOST_EXIT_CODE: i64 = 255;

/// Starts monitoring `entry`'s container through `handle`.
pub fn spawn(svc: ContainerService, entry: Arc<Entry>, handle: ShimHandle) {
    tokio::spawn(async move {
        let status = match shim::wait(&handle).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(container = %entry.id(), error = %e, "waiting on the shim failed; recovering");
                match shim::recover(&handle.state_dir).await {
                    berth_shim::client::Recovered::Exited(s) => Some(s),
                    berth_shim::client::Recovered::Running(h) => {
                        // The connection broke but the shim lives: wait again.
                        spawn(svc, entry, h);
                        return;
                    }
                    berth_shim::client::Recovered::Lost => None,
                }
            }
        };
        shim::shutdown(&handle).await;
        svc.on_exit(&entry, status).await;
    });
}

/// Whether the policy restarts a container that exited with `c`'s state.
pub fn should_restart(c: &Container) -> bool {
    let Some(p) = &c.host_config.restart_policy else {
        return false;
    };
    if c.state.manually_stopped || !c.state.has_been_started {
        return false;
    }
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            c.state.exit_code != 0
                && (p.maximum_retry_count == 0 || c.state.restart_count < p.maximum_retry_count)
        }
        _ => false,
    }
}

/// The delay before the `n`th consecutive restart.
pub fn backoff(n: u32) -> Duration {
    BACKOFF_START
        .saturating_mul(1u32 << n.min(10))
        .min(BACKOFF_MAX)
}

impl ContainerService {
    /// Records an exit (`None`: the shim was lost) and applies AutoRemove or the restart policy.
    pub(crate) async fn on_exit(&self, entry: &Arc<Entry>, status: Option<ExitStatus>) {
        entry.set_shim(None);
        let id = entry.id();
        let paths = self.paths().clone();
        let id2 = id.clone();
        let net = self.networks();
        let _ =
            tokio::task::spawn_blocking(move || start::unmount_rootfs(&paths, net.as_ref(), &id2))
                .await;
        self.unmount_volumes(&entry.snapshot()).await;
        let (code, oom, finished, error) = match &status {
            Some(s) => (
                i64::from(s.exit_code),
                s.oom_killed,
                berth_oci::time::parse_rfc3339_nanos(&s.finished_at)
                    .unwrap_or_else(super::now_nanos),
                String::new(),
            ),
            None => (
                LOST_EXIT_CODE,
                false,
                super::now_nanos(),
                "the container's shim was lost; its exit code is unknown".to_string(),
            ),
        };
        let restarting = {
            let mut probe = entry.snapshot();
            probe.state.exit_code = code;
            should_restart(&probe)
        };
        let recorded = self.commit_fact(entry, true, |c| {
            c.state.status = if restarting {
                Status::Restarting
            } else {
                Status::Exited
            };
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.pid = 0;
            c.state.finished_at = finished;
            c.state.error = error.clone();
        });
        let c = match recorded {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(container = %id, error = %e, "recording the exit");
                return;
            }
        };
        if oom {
            self.event(&c, "oom", &[]);
        }
        self.event(&c, "die", &[("exitCode", code.to_string())]);
        if restarting {
            self.restart_after_backoff(entry.clone());
        } else if c.host_config.auto_remove {
            let opts = super::remove::RemoveOptions { force: true };
            // AutoRemove takes the anonymous volumes with it, as `rm -v` does.
            if let Err(e) = self.remove_with_volumes(&id, opts, true).await {
                tracing::debug!(container = %id, error = %e, "auto-remove");
            }
        }
    }

    fn restart_after_backoff(&self, entry: Arc<Entry>) {
        let svc = self.clone();
        tokio::spawn(async move {
            let c = entry.snapshot();
            let ran = c.state.finished_at - c.state.started_at;
            let n = if ran > STABLE_RUN_NANOS {
                0
            } else {
                c.state.restart_count.clamp(0, 30) as u32
            };
            tokio::time::sleep(backoff(n)).await;
            let _op = entry.op.lock().await;
            let now = entry.snapshot();
            if now.state.status != Status::Restarting || entry.observed.borrow().removed {
                return;
            }
            if svc
                .commit(&entry, false, |c| c.state.restart_count += 1)
                .is_err()
            {
                return;
            }
            if let Err(e) = svc.start_locked(&entry).await {
                tracing::warn!(container = %now.id, error = %e, "restart failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::RestartPolicy;

    fn with_policy(name: &str, max: i64, code: i64, count: i64) -> Container {
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "id": "x", "name": "n", "created": 0, "image_name": "i", "image_id": "d",
            "config": {}, "host_config": {}, "path": "p", "args": [],
            "state": {"status": "exited", "pid": 0, "exit_code": code, "error": "", "oom_killed": false,
                      "started_at": 0, "finished_at": 0, "restart_count": count,
                      "manually_stopped": false, "has_been_started": true}
        }))
        .unwrap();
        c.host_config.restart_policy = Some(RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        });
        c
    }

    #[test]
    fn policies() {
        assert!(should_restart(&with_policy("always", 0, 0, 5)));
        assert!(!should_restart(&with_policy("no", 0, 1, 0)));
        assert!(should_restart(&with_policy("on-failure", 2, 1, 1)));
        assert!(!should_restart(&with_policy("on-failure", 2, 1, 2)));
        assert!(!should_restart(&with_policy("on-failure", 0, 0, 0)));
        let mut stopped = with_policy("unless-stopped", 0, 0, 0);
        stopped.state.manually_stopped = true;
        assert!(!should_restart(&stopped));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), BACKOFF_MAX);
    }
}
