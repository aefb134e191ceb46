//! `logs`: reads the json-file log the shim writes (rotated files first, oldest to newest), filters
//! by stream and by `since`/`until`, keeps the last `tail` lines, and with `follow` keeps reading
//! what the shim appends until the container stops. Lines go out on a channel; the server frames
//! them (stdcopy without a tty, raw with one) and adds timestamps.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::ContainerService;
use crate::error::DaemonError;
use berth_oci::time::parse_rfc3339_nanos as unix_nanos;

/// How often a follower looks for new lines while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Lines in flight to the client.
const DEPTH: usize = 64;

/// What `logs` returns.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Only the last N lines (`None`: all).
    pub tail: Option<usize>,
    /// Nanoseconds since the epoch.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as recorded.
    pub time: String,
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

fn parse_line(line: &str) -> Option<LogLine> {
    let e: Entry = serde_json::from_str(line.trim_end()).ok()?;
    Some(LogLine {
        stream: if e.stream == "stderr" { 2 } else { 1 },
        time: e.time,
        data: e.log.into_bytes(),
    })
}

fn wanted(l: &LogLine, o: &LogOptions) -> bool {
    let stream_ok = (l.stream == 1 && o.stdout) || (l.stream == 2 && o.stderr);
    let t = unix_nanos(&l.time).unwrap_or(0);
    stream_ok && o.since.is_none_or(|s| t >= s) && o.until.is_none_or(|u| t <= u)
}

/// The log files of `path`, oldest first (`path.N` ... `path.1`, `path`).
fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = (1..100)
        .map(|n| (n, PathBuf::from(format!("{}.{n}", path.display()))))
        .take_while(|(_, p)| p.exists())
        .collect();
    rotated.reverse();
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    out.push(path.to_path_buf());
    out
}

/// Every recorded line that passes the filters (tail applied); returns the main file's end offset.
pub fn read_all(path: &Path, o: &LogOptions) -> (Vec<LogLine>, u64) {
    let mut lines = Vec::new();
    let mut end = 0;
    for f in files(path) {
        let Ok(file) = std::fs::File::open(&f) else {
            continue;
        };
        let mut reader = BufReader::new(file);
        let mut buf = String::new();
        let mut pos = 0u64;
        while let Ok(n) = reader.read_line(&mut buf) {
            if n == 0 || !buf.ends_with('\n') {
                break;
            }
            pos += n as u64;
            if let Some(l) = parse_line(&buf).filter(|l| wanted(l, o)) {
                lines.push(l);
            }
            buf.clear();
        }
        end = pos;
    }
    if let Some(n) = o.tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    (lines, end)
}

/// New complete lines of `path` from `pos`; returns them and the new offset.
fn read_from(path: &Path, pos: u64, o: &LogOptions) -> (Vec<LogLine>, u64) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return (Vec::new(), pos);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Rotated underneath us: start over on the new file.
    let pos = if len < pos { 0 } else { pos };
    if file.seek(SeekFrom::Start(pos)).is_err() {
        return (Vec::new(), pos);
    }
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut at = pos;
    let mut buf = String::new();
    while let Ok(n) = reader.read_line(&mut buf) {
        if n == 0 || !buf.ends_with('\n') {
            break;
        }
        at += n as u64;
        if let Some(l) = parse_line(&buf).filter(|l| wanted(l, o)) {
            out.push(l);
        }
        buf.clear();
    }
    (out, at)
}

impl ContainerService {
    /// `GET /containers/{id}/logs`: whether the container has a tty, and its lines.
    pub fn logs(
        &self,
        name_or_id: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogLine>), DaemonError> {
        let entry = self.lookup(name_or_id)?;
        let c = entry.snapshot();
        if c.settings.log.driver == super::settings::LogDriver::None {
            return Err(DaemonError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self.paths().log_path(&c.id);
        let (tx, rx) = mpsc::channel(DEPTH);
        let mut observed = entry.observed.subscribe();
        tokio::spawn(async move {
            let (p, o) = (path.clone(), opts.clone());
            let Ok((lines, mut pos)) = tokio::task::spawn_blocking(move || read_all(&p, &o)).await
            else {
                return;
            };
            for l in lines {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            loop {
                let active = {
                    let o = observed.borrow_and_update();
                    o.status.is_active() && !o.removed
                };
                let (p, o) = (path.clone(), opts.clone());
                let Ok((lines, next)) =
                    tokio::task::spawn_blocking(move || read_from(&p, pos, &o)).await
                else {
                    return;
                };
                pos = next;
                for l in lines {
                    if tx.send(l).await.is_err() {
                        return;
                    }
                }
                if !active {
                    return;
                }
                tokio::select! {
                    _ = observed.changed() => {}
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok((c.config.tty, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_streams_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let line = |s: &str, stream: &str, t: &str| {
            format!("{{\"log\":\"{s}\\n\",\"stream\":\"{stream}\",\"time\":\"{t}\"}}\n")
        };
        std::fs::write(
            format!("{}.1", path.display()),
            line("old", "stdout", "2026-01-01T00:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            &path,
            line("a", "stdout", "2026-01-01T00:00:01Z")
                + &line("b", "stderr", "2026-01-01T00:00:02Z"),
        )
        .unwrap();
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let (lines, _) = read_all(&path, &all);
        let texts: Vec<&[u8]> = lines.iter().map(|l| l.data.as_slice()).collect();
        assert_eq!(texts, vec![&b"old\n"[..], b"a\n", b"b\n"]);
        let (lines, _) = read_all(
            &path,
            &LogOptions {
                tail: Some(1),
                ..all.clone()
            },
        );
        assert_eq!(lines[0].stream, 2);
        let (lines, _) = read_all(
            &path,
            &LogOptions {
                stderr: false,
                ..all.clone()
            },
        );
        assert_eq!(lines.len(), 2);
        let since = unix_nanos("2026-01-01T00:00:01Z");
        let (lines, _) = read_all(&path, &LogOptions { since, ..all });
        assert_eq!(lines.len(), 2);
    }
}
