//! Healthchecks, as Docker runs them: what a container's check is ([`Check`], from its own
//! [`Healthcheck`] merged field by field with the image's), the health state kept in the
//! container's record ([`Health`]: status, failing streak, the last [`MAX_LOG`] probes) and how a
//! probe result moves it, and the `health` filter of `ps` (Docker's views of that state, inspect's
//! `State.Health` and the `docker ps` suffix, are `server::container_views`'). The per-container task that runs the probes lives in
//! [`monitor`].
//!
//! Lifecycle: a start resets the state to `starting` with a failing streak of 0 (the log is
//! kept); a probe exiting 0 makes the container `healthy` and resets the streak; any other result
//! (a probe that timed out or could not run counts as exit code -1) increments the streak, except
//! while the container is still `starting` within its start period, and `Retries` consecutive
//! failures make it `unhealthy`. A container without a check (none configured, `["NONE"]`, or an
//! unknown test type) has no health state at all.

pub mod monitor;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Container;
use super::settings::{HealthTest, Healthcheck};
use crate::error::DaemonError;

/// Longest probe output kept (further bytes are dropped and `...` appended).
pub const MAX_OUTPUT: usize = 4096;
/// Probes kept in the log.
pub const MAX_LOG: usize = 5;
/// Time between probes, and before the first one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a probe may run before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between probes during the start period.
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Consecutive failures that make a container unhealthy.
pub const DEFAULT_RETRIES: i64 = 3;
/// The shell of `CMD-SHELL` when the container sets none.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// How a probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// `["CMD", args...]`: the arguments are executed as they are.
    Exec(Vec<String>),
    /// `["CMD-SHELL", command]`: the command runs in the container's shell.
    Shell(Vec<String>),
}

/// A container's effective healthcheck, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub test: Test,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

/// A healthcheck in an image's config (`{"Test": [...], "Interval": nanos, ...}`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImageHealthcheck {
    #[serde(default)]
    test: Option<Vec<String>>,
    #[serde(default)]
    interval: Option<i64>,
    #[serde(default)]
    timeout: Option<i64>,
    #[serde(default)]
    start_period: Option<i64>,
    #[serde(default)]
    start_interval: Option<i64>,
    #[serde(default)]
    retries: Option<i64>,
}

/// Nanoseconds as a duration; zero (not set) for none or a negative count.
pub fn nanos(n: Option<i64>) -> Duration {
    Duration::from_nanos(n.unwrap_or(0).max(0) as u64)
}

/// The test of a healthcheck's `Test` words: `[]` inherits, `["NONE"]` disables, `["CMD", args...]`
/// executes, `["CMD-SHELL", command]` runs in the shell; anything else is unknown.
pub fn test_of(words: &[String]) -> HealthTest {
    match words.split_first() {
        None => HealthTest::Inherit,
        Some((kind, args)) => match kind.as_str() {
            "CMD" if !args.is_empty() => HealthTest::Exec(args.to_vec()),
            "CMD-SHELL" if !args.is_empty() => HealthTest::Shell(args.to_vec()),
            "NONE" => HealthTest::Disabled,
            other => HealthTest::Unknown(other.to_string()),
        },
    }
}

/// The healthcheck of an image's config; `None` when it has none or it cannot be read.
pub fn of_image(config: Option<&Value>) -> Option<Healthcheck> {
    let hc: ImageHealthcheck = serde_json::from_value(config?.clone()).ok()?;
    Some(Healthcheck {
        test: test_of(&hc.test.unwrap_or_default()),
        interval: nanos(hc.interval),
        timeout: nanos(hc.timeout),
        start_period: nanos(hc.start_period),
        start_interval: nanos(hc.start_interval),
        retries: hc.retries.unwrap_or(0),
    })
}

fn or_default(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}

impl Check {
    /// The check of a (merged) healthcheck, or `None` when there is nothing to run: no check,
    /// no test, a disabled one or an unknown test type.
    pub fn of(config: Option<&Healthcheck>) -> Option<Check> {
        let hc = config?;
        let test = match &hc.test {
            HealthTest::Exec(args) => Test::Exec(args.clone()),
            HealthTest::Shell(args) => Test::Shell(args.clone()),
            HealthTest::Inherit | HealthTest::Disabled => return None,
            HealthTest::Unknown(kind) => {
                tracing::warn!(
                    kind = kind.as_str(),
                    "unknown healthcheck type (expected CMD or CMD-SHELL)"
                );
                return None;
            }
        };
        Some(Check {
            test,
            interval: or_default(hc.interval, DEFAULT_INTERVAL),
            timeout: or_default(hc.timeout, DEFAULT_TIMEOUT),
            start_period: hc.start_period,
            start_interval: or_default(hc.start_interval, DEFAULT_START_INTERVAL),
            retries: if hc.retries > 0 {
                hc.retries
            } else {
                DEFAULT_RETRIES
            },
        })
    }

    /// The probe's command line; `shell` is the container's `Config.Shell`.
    pub fn command(&self, shell: Option<&[String]>) -> Vec<String> {
        match &self.test {
            Test::Exec(args) => args.clone(),
            Test::Shell(args) => {
                let mut cmd: Vec<String> = match shell {
                    Some(s) if !s.is_empty() => s.to_vec(),
                    _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
                };
                cmd.extend(args.iter().cloned());
                cmd
            }
        }
    }

    /// The wait before the next probe, `elapsed` after the container started: the start interval
    /// while starting within the start period, the rest of the start period when that is shorter
    /// than the interval, else the interval (Docker's rule).
    pub fn next_delay(&self, elapsed: Duration, status: Status) -> Duration {
        if elapsed >= self.start_period {
            return self.interval;
        }
        let remaining = self.start_period - elapsed;
        if remaining < self.interval {
            remaining
        } else if status == Status::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// Docker's merge of a container's healthcheck with its image's: no check of its own takes the
/// image's whole; otherwise an inherited test and each unset field take the image's value.
pub fn merge(own: Option<&Healthcheck>, image: Option<&Healthcheck>) -> Option<Healthcheck> {
    match (own, image) {
        (Some(own), Some(image)) => Some(own.over(image)),
        (own, image) => own.or(image).cloned(),
    }
}

/// Whether the container's own healthcheck names a test (so the image's cannot change whether
/// there is a check).
pub fn has_own_test(c: &Container) -> bool {
    c.settings
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.test != HealthTest::Inherit)
}

/// A health status (Docker's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Healthy,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's outcome. Times are nanoseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub start: i64,
    pub end: i64,
    /// 0 healthy; anything else (-1: timed out or could not run) a failure.
    pub exit_code: i64,
    pub output: String,
}

/// The health state kept in a container's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: Status,
    #[serde(default)]
    pub failing_streak: i64,
    /// The last [`MAX_LOG`] probes, oldest first.
    #[serde(default)]
    pub log: Vec<ProbeResult>,
}

impl Health {
    /// The state after a start: `starting`, no failures, the previous log kept.
    pub fn starting(previous: Option<&Health>) -> Health {
        Health {
            status: Status::Starting,
            failing_streak: 0,
            log: previous.map(|h| h.log.clone()).unwrap_or_default(),
        }
    }

    /// Records a probe. `in_start_period`: the probe began within the start period. Returns the
    /// new status when it changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        retries: i64,
        in_start_period: bool,
    ) -> Option<Status> {
        let before = self.status;
        let passed = result.exit_code == 0;
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            self.log.drain(..self.log.len() - MAX_LOG);
        }
        if passed {
            self.failing_streak = 0;
            self.status = Status::Healthy;
        } else if !(self.status == Status::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = Status::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }
}

/// The values of the `health` filter of `ps`.
pub const FILTER_VALUES: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// Checks the values of a `health` filter (Docker's message for a bad one).
pub fn check_filter(values: &[String]) -> Result<(), DaemonError> {
    match values.iter().find(|v| !FILTER_VALUES.contains(&v.as_str())) {
        Some(v) => Err(DaemonError::InvalidArgument(format!(
            "Unrecognised filter value for health: {v}"
        ))),
        None => Ok(()),
    }
}

/// Whether `c` matches a `health` filter (values ORed; empty matches all).
pub fn filter_matches(c: &Container, values: &[String]) -> bool {
    let mine = c
        .state
        .health
        .as_ref()
        .map_or("none", |h| h.status.as_str());
    values.is_empty() || values.iter().any(|v| v == mine)
}

/// Collects probe output up to [`MAX_OUTPUT`] bytes.
#[derive(Debug, Default)]
pub struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    pub fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    /// The text, `...` appended when bytes were dropped (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// A duration as Go prints one (`500ms`, `1.5s`, `1m30s`), for Docker's timeout message.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let frac = |value: u128, unit: u128, suffix: &str| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            format!("{whole}{suffix}")
        } else {
            let digits = unit.to_string().len() - 1;
            let text = format!("{rest:0digits$}");
            format!("{whole}.{}{suffix}", text.trim_end_matches('0'))
        }
    };
    match nanos {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => frac(n, 1_000, "µs"),
        n if n < 1_000_000_000 => frac(n, 1_000_000, "ms"),
        n => {
            let secs = n / 1_000_000_000;
            let sub = n % 1_000_000_000;
            let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
            let s = frac(s * 1_000_000_000 + sub, 1_000_000_000, "s");
            match (h, m) {
                (0, 0) => s,
                (0, m) => format!("{m}m{s}"),
                (h, m) => format!("{h}h{m}m{s}"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
