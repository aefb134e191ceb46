//! Streams between the terminal and a container: `logs`, and the attached session shared by
//! `run`, `start -a`, `attach` and `exec` (stdin forwarding with detach-key detection and
//! half-close, output copy raw or demultiplexed, raw terminal and resizes).

use super::tty::{self, DetachWatch, RawMode};
use super::Ctx;
use crate::client::body::{self, next_chunk};
use crate::client::hijack::{copy_output, stdin_chunks, Hijacked};
use crate::client::stdcopy::{Demuxer, Frame};
use crate::client::{encode_path, query};
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};
use crate::units;
use berth_api::container::ContainerInspect;
use hyper::Method;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// How to run an attached session.
pub struct Session {
    pub tty: bool,
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
    /// `/containers/{id}/resize` or `/exec/{id}/resize`, used with a TTY.
    pub resize_path: Option<String>,
    /// The running signal proxy ([`spawn_signal_proxy`]), stopped when the session ends.
    pub proxy: Option<tokio::task::JoinHandle<()>>,
}

/// Copies stdin to the hijacked socket and its output to stdout/stderr until the daemon closes
/// it. Returns true when the user typed the detach keys.
pub async fn run_session(ctx: &Ctx, hj: Hijacked, s: Session) -> Result<bool> {
    let _raw = if s.tty && s.stdin {
        RawMode::enable()
    } else {
        None
    };
    let resizer = match (&s.resize_path, s.tty) {
        (Some(p), true) => Some(tty::spawn_resizer(ctx.client.clone(), p.clone())),
        _ => None,
    };
    let (rd, mut wr) = hj.stream.into_split();
    let detached = Arc::new(AtomicBool::new(false));
    let input = if s.stdin {
        let flag = detached.clone();
        let keys = s.detach_keys.clone();
        Some(tokio::spawn(async move {
            let mut rx = stdin_chunks();
            let mut watch = DetachWatch::new(keys);
            while let Some(chunk) = rx.recv().await {
                if watch.feed(&chunk) {
                    flag.store(true, Ordering::SeqCst);
                }
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = wr.shutdown().await;
        }))
    } else {
        let _ = wr.shutdown().await;
        None
    };
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let result = copy_output(rd, hj.buffered, s.tty, &mut stdout, &mut stderr).await;
    if let Some(t) = input {
        t.abort();
    }
    for task in [resizer, s.proxy].into_iter().flatten() {
        task.abort();
    }
    result?;
    Ok(detached.load(Ordering::SeqCst))
}

/// docker's `--sig-proxy`: forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to
/// `kill_path` (`/containers/{id}/kill`) until aborted. The handlers are installed before this
/// returns, so call it before starting the container. Used only without a TTY (with one, the
/// terminal delivers keys such as ctrl-c itself).
pub fn spawn_signal_proxy(
    client: Arc<crate::client::Client>,
    kill_path: String,
) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
    let mut listeners = Vec::new();
    for (kind, name) in kinds {
        let Ok(mut sig) = signal(kind) else { continue };
        let tx = tx.clone();
        listeners.push(tokio::spawn(async move {
            while sig.recv().await.is_some() {
                if tx.send(name).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    tokio::spawn(async move {
        struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                for l in &self.0 {
                    l.abort();
                }
            }
        }
        let _listeners = AbortOnDrop(listeners);
        while let Some(name) = rx.recv().await {
            let _ = client
                .post(&format!(
                    "{kill_path}{}",
                    query(&[("signal", name.to_string())])
                ))
                .await;
        }
    })
}

/// Inspects a container (for `Config.Tty`, `State`...).
pub async fn inspect_container(ctx: &Ctx, name: &str) -> Result<ContainerInspect> {
    ctx.client
        .get_json(&format!("/containers/{}/json", encode_path(name)))
        .await
}

pub const LOGS: Spec = Spec {
    name: "logs",
    usage: "[OPTIONS] CONTAINER",
    about: "Fetch the logs of a container",
    flags: &[
        switch("details", None, "Show extra details provided to logs"),
        switch("follow", Some('f'), "Follow log output"),
        value("since", None, "string", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
        value("tail", Some('n'), "string", "Number of lines to show from the end of the logs (default \"all\")"),
        switch("timestamps", Some('t'), "Show timestamps"),
        value("until", None, "string", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
    ],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// The query `logs` sends for its flags.
pub fn logs_query(p: &Parsed, now: i64) -> Result<String> {
    let mut q = vec![("stderr", "1".to_string()), ("stdout", "1".to_string())];
    for k in ["since", "until"] {
        if let Some(v) = p.string(k) {
            let ts = units::api_timestamp(v, now).ok_or_else(|| {
                CliError::Message(format!(
                    "invalid value for \"{k}\": {v:?} is not a timestamp or duration"
                ))
            })?;
            q.push((k, ts));
        }
    }
    if p.bool("timestamps") {
        q.push(("timestamps", "1".into()));
    }
    if p.bool("follow") {
        q.push(("follow", "1".into()));
    }
    q.push(("tail", p.string("tail").unwrap_or("all").to_string()));
    if p.bool("details") {
        q.push(("details", "1".into()));
    }
    Ok(query(&q))
}

pub async fn logs(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let name = &p.args[0];
    let info = inspect_container(ctx, name).await?;
    let tty = info.config.tty;
    let q = logs_query(&p, units::now_unix())?;
    let id = Some(info.id.as_str())
        .filter(|i| !i.is_empty())
        .unwrap_or(name);
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/logs{q}", encode_path(id)),
            body::empty(),
            &[],
        )
        .await?;
    let mut bodyin = resp.into_body();
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut demux = Demuxer::default();
    while let Some(chunk) = next_chunk(&mut bodyin).await? {
        if tty {
            stdout.write_all(&chunk).await?;
            stdout.flush().await?;
            continue;
        }
        demux.push(&chunk);
        while let Some(f) = demux.next_frame()? {
            match f {
                Frame::Stdout(b) => {
                    stdout.write_all(&b).await?;
                    stdout.flush().await?;
                }
                Frame::Stderr(b) => {
                    stderr.write_all(&b).await?;
                    stderr.flush().await?;
                }
                Frame::SystemError(m) => return Err(CliError::Message(m)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_query_like_docker() {
        let mut p = Parsed::default();
        assert_eq!(logs_query(&p, 0).unwrap(), "?stderr=1&stdout=1&tail=all");
        p.set("follow", "true");
        p.set("timestamps", "true");
        p.set("tail", "10");
        p.set("since", "10m");
        assert_eq!(
            logs_query(&p, 1000).unwrap(),
            "?follow=1&since=400&stderr=1&stdout=1&tail=10&timestamps=1"
        );
    }
}
