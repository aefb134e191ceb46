//! `GET /containers/{id}/stats?stream=&one-shot=`: the container's resource usage as Docker's
//! `ContainerStatsResponse` JSON objects, one per line.
//!
//! - `stream=true` (the default): one object per second; each carries the previous sample as
//!   `precpu_stats`/`preread`. The stream ends when the client leaves, the daemon shuts down, the
//!   container is removed, or a container seen running in this stream stops. A container that is
//!   not running yields zero objects (name and id only) every second, as Docker's collector does,
//!   so `docker stats -a` lists it.
//! - `stream=false`: one object, after a second sample so that `precpu_stats` is filled;
//!   with `one-shot=true` (API 1.41 and later) at once, `precpu_stats` empty. A stopped
//!   container answers zeros.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use berth_api::stats::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats,
    StatsResponse, ThrottlingData, ZERO_TIME,
};
use berth_api::ApiVersion;

use super::error::ApiError;
use super::params::Params;
use super::stream::{channel_body, ChunkSender};
use super::AppState;
use crate::containers::model::Container;
use crate::containers::stats::{BlkioEntry, CpuSample, Sample};
use crate::containers::Observed;
use crate::error::DaemonError;
use std::future::Future;
use tokio::sync::watch;

/// Time between two samples of a stream (and the priming wait of `stream=false`).
const INTERVAL: Duration = Duration::from_secs(1);

/// `GET /containers/{id}/stats`.
pub async fn stats(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: Option<Extension<ApiVersion>>,
    params: Params,
) -> Result<Response, ApiError> {
    let stream = params.get("stream").is_none() || params.flag("stream");
    // `one-shot` came with API 1.41; older clients get the primed answer.
    let version = version.map_or(ApiVersion::CURRENT, |Extension(v)| v);
    let one_shot = params.flag("one-shot") && version.at_least(1, 41);
    if stream && one_shot {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let entry = s.engine.containers.lookup(&id)?;
    let memory = s.engine.system.host().mem_total;
    let containers = s.engine.containers.clone();
    if !stream {
        let first = containers.stats_sample(&entry, memory).await?;
        let answer = match first {
            Some(first) if !one_shot => {
                tokio::time::sleep(INTERVAL).await;
                match containers.stats_sample(&entry, memory).await? {
                    Some(second) => {
                        encode(&Ident::of(&entry.snapshot()), Some(&second), Some(&first))
                    }
                    None => encode(&Ident::of(&entry.snapshot()), None, None),
                }
            }
            only => encode(&Ident::of(&entry.snapshot()), only.as_ref(), None),
        };
        return Ok(([(CONTENT_TYPE, "application/json")], answer).into_response());
    }
    let (tx, body) = channel_body();
    let watches = Watches {
        shutdown: s.shutdown.clone(),
        observed: entry.observed.subscribe(),
    };
    tokio::spawn(pump(tx, watches, move || {
        let (containers, entry) = (containers.clone(), entry.clone());
        async move {
            let sample = containers.stats_sample(&entry, memory).await?;
            let c = entry.snapshot();
            Ok((Ident::of(&c), sample))
        }
    }));
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// How a stats object names its container: `/name` and the ID.
struct Ident {
    name: String,
    id: String,
}

impl Ident {
    fn of(c: &Container) -> Ident {
        Ident {
            name: format!("/{}", c.name),
            id: c.id.clone(),
        }
    }
}

/// What ends a stream besides its client leaving.
struct Watches {
    shutdown: watch::Receiver<bool>,
    observed: watch::Receiver<Observed>,
}

/// Feeds `tx` one line per [`INTERVAL`] from `sample` (the container's names and its sample)
/// until the client leaves (the body is dropped), the daemon shuts down, the container is
/// removed, or a container sampled running stops.
async fn pump<S, F>(tx: ChunkSender, mut w: Watches, mut sample: S)
where
    S: FnMut() -> F,
    F: Future<Output = Result<(Ident, Option<Sample>), DaemonError>>,
{
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<Sample> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tx.closed() => return,
            _ = w.shutdown.wait_for(|s| *s) => return,
            // End at once on a removal, or a stop after running, not at the next tick.
            changed = w.observed.changed() => {
                let o = w.observed.borrow_and_update().clone();
                if changed.is_err() || o.removed || (previous.is_some() && !o.status.is_active()) {
                    return;
                }
                continue;
            }
        }
        if w.observed.borrow().removed {
            return;
        }
        let (ident, current) = match sample().await {
            Ok(read) => read,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        };
        if current.is_none() && previous.is_some() {
            return;
        }
        let line = encode(&ident, current.as_ref(), previous.as_ref());
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
        previous = current;
    }
}

/// One JSON line: `current` with `previous` as its pre-sample, or zeros without `current`.
fn encode(c: &Ident, current: Option<&Sample>, previous: Option<&Sample>) -> Bytes {
    let mut r = match current {
        Some(s) => to_api(s, previous),
        None => StatsResponse::default(),
    };
    r.name = c.name.clone();
    r.id = c.id.clone();
    let mut line = serde_json::to_vec(&r).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The wire form of a sample.
pub fn to_api(s: &Sample, previous: Option<&Sample>) -> StatsResponse {
    // Docker sends `null`, not `[]`, for a list it has nothing in.
    let entries = |list: &[BlkioEntry]| {
        (!list.is_empty()).then(|| {
            list.iter()
                .map(|e| BlkioStatEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op.clone(),
                    value: e.value,
                })
                .collect()
        })
    };
    StatsResponse {
        read: berth_oci::time::rfc3339_nanos_trimmed(s.read_nanos),
        preread: previous.map_or_else(
            || ZERO_TIME.to_string(),
            |p| berth_oci::time::rfc3339_nanos_trimmed(p.read_nanos),
        ),
        pids_stats: PidsStats {
            current: s.pids.current,
            limit: s.pids.limit,
        },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: entries(&s.blkio.service_bytes),
            io_serviced_recursive: entries(&s.blkio.serviced),
            ..BlkioStats::default()
        },
        cpu_stats: cpu(&s.cpu),
        precpu_stats: previous.map(|p| cpu(&p.cpu)).unwrap_or_default(),
        memory_stats: MemoryStats {
            usage: s.memory.usage,
            max_usage: s.memory.max_usage,
            stats: s.memory.stats.clone(),
            failcnt: s.memory.failcnt,
            limit: s.memory.limit,
        },
        networks: s
            .networks
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    NetworkStats {
                        rx_bytes: n.rx_bytes,
                        rx_packets: n.rx_packets,
                        rx_errors: n.rx_errors,
                        rx_dropped: n.rx_dropped,
                        tx_bytes: n.tx_bytes,
                        tx_packets: n.tx_packets,
                        tx_errors: n.tx_errors,
                        tx_dropped: n.tx_dropped,
                    },
                )
            })
            .collect(),
        ..StatsResponse::default()
    }
}

fn cpu(c: &CpuSample) -> CpuStats {
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: c.total,
            percpu_usage: c.percpu.clone(),
            usage_in_kernelmode: c.kernel,
            usage_in_usermode: c.user,
        },
        system_cpu_usage: c.system,
        online_cpus: c.online_cpus,
        throttling_data: ThrottlingData {
            periods: c.periods,
            throttled_periods: c.throttled_periods,
            throttled_time: c.throttled_time,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::containers::state::Status;
    use http_body_util::BodyExt;

    fn observed(status: Status) -> Observed {
        Observed {
            status,
            exit_code: 0,
            exits: 0,
            removed: false,
        }
    }

    /// A stream fed by an always-running fake container, the sender of its state and the
    /// daemon's shutdown signal.
    fn fake_stream() -> (
        axum::body::Body,
        watch::Sender<Observed>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, body) = channel_body();
        let (state, observed_rx) = watch::channel(observed(Status::Running));
        let (stop, shutdown) = watch::channel(false);
        let w = Watches {
            shutdown,
            observed: observed_rx,
        };
        let task = tokio::spawn(pump(tx, w, || async {
            let ident = Ident {
                name: "/x".into(),
                id: "abc".into(),
            };
            Ok((ident, Some(Sample::default())))
        }));
        (body, state, stop, task)
    }

    async fn ends(task: tokio::task::JoinHandle<()>) {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the stream task ends")
            .expect("the stream task does not panic");
    }

    #[tokio::test]
    async fn a_client_leaving_ends_the_task() {
        let (mut body, _state, _stop, task) = fake_stream();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["name"], "/x");
        drop(body);
        ends(task).await;
    }

    #[tokio::test]
    async fn a_stop_or_a_shutdown_ends_the_stream() {
        let (mut body, state, _stop, task) = fake_stream();
        body.frame().await.unwrap().unwrap();
        state.send_modify(|o| o.status = Status::Exited);
        ends(task).await;
        assert!(body.frame().await.is_none(), "the body ends");
        let (_body, _state, stop, task) = fake_stream();
        stop.send_replace(true);
        ends(task).await;
    }

    #[test]
    fn precpu_is_the_previous_sample() {
        let mut a = Sample::default();
        a.cpu.total = 10;
        a.cpu.system = 100;
        a.read_nanos = 1_000_000_000;
        let mut b = a.clone();
        b.cpu.total = 20;
        b.read_nanos = 2_000_000_000;
        let r = to_api(&b, Some(&a));
        assert_eq!(r.precpu_stats.cpu_usage.total_usage, 10);
        assert_eq!(r.cpu_stats.cpu_usage.total_usage, 20);
        assert_eq!(r.preread, "1970-01-01T00:00:01Z");
        let first = to_api(&a, None);
        assert_eq!(first.preread, ZERO_TIME);
        assert_eq!(first.precpu_stats, CpuStats::default());
        assert_eq!(first.blkio_stats.io_service_bytes_recursive, None);
    }
}
