//! The json-file log, as Docker's `json-file` driver writes it: one JSON object per line of output,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-25T10:00:00.123456789Z"}`, the text escaped
//! as Go's encoder does (HTML characters as `\u003c`..., invalid UTF-8 as U+FFFD). Partial lines
//! wait for their newline up to [`MAX_LINE`] bytes (then they are written as they are), and are
//! flushed when the stream ends. Every batch of entries is one `write` on an `O_APPEND` file, so a
//! follower sees whole lines at once. Rotation (`max-size`, `max-file`) renames `file.log` to
//! `file.log.1`, shifting older ones up and dropping the oldest, as Docker does. When the file
//! system is full, output is dropped for a second before the next try, so the container is never
//! slowed down by writes that fail.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A partial line longer than this is written without waiting for its newline (Docker's 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// A log file could not be opened, written or rotated.
#[derive(Debug, thiserror::Error)]
#[error("json log {path}: {what}: {source}")]
pub struct LogError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
    /// The stdcopy stream byte.
    pub fn tag(self) -> u8 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// How long output is dropped after the log's file system is found full.
const FULL_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The writer of one container's json-file log.
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    /// The unfinished line of each stream.
    partial: [Vec<u8>; 2],
    /// The encoded entries of one batch (reused).
    out: Vec<u8>,
    /// After the file system answered ENOSPC: output until then is dropped, not written (each
    /// failing write costs ext4 journal commits, which would slow the whole container down).
    full_until: Option<std::time::Instant>,
}

impl JsonLog {
    /// Opens (appends to) `path`; `max_size` 0 never rotates.
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> Result<JsonLog, LogError> {
        let file = open_append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
            out: Vec::new(),
            full_until: None,
        })
    }

    /// Logs a chunk of `stream`'s output.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> Result<(), LogError> {
        if self
            .full_until
            .is_some_and(|t| std::time::Instant::now() < t)
        {
            return Ok(());
        }
        self.full_until = None;
        let time = log_time();
        let mut partial = std::mem::take(&mut self.partial[stream.index()]);
        while !data.is_empty() {
            let (line, rest) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => data.split_at(i + 1),
                None => (data, &data[data.len()..]),
            };
            data = rest;
            let complete = line.ends_with(b"\n");
            if partial.is_empty() && (complete || line.len() >= MAX_LINE) {
                self.entry(line, stream, &time)?;
                continue;
            }
            partial.extend_from_slice(line);
            if complete || partial.len() >= MAX_LINE {
                self.entry(&partial, stream, &time)?;
                partial.clear();
            }
        }
        self.partial[stream.index()] = partial;
        self.flush_out()
    }

    /// Writes the unfinished lines (the streams ended).
    pub fn finish(&mut self) -> Result<(), LogError> {
        let time = log_time();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let partial = std::mem::take(&mut self.partial[stream.index()]);
            if !partial.is_empty() {
                self.entry(&partial, stream, &time)?;
            }
        }
        self.flush_out()
    }

    /// Adds one entry to the batch; rotates first when the file is full (as Docker does, per
    /// entry, so a file exceeds `max_size` by at most one entry).
    fn entry(&mut self, line: &[u8], stream: Stream, time: &str) -> Result<(), LogError> {
        if self.max_size > 0 && self.size + self.out.len() as u64 >= self.max_size {
            self.flush_out()?;
            self.rotate()?;
        }
        encode_entry(&mut self.out, line, stream, time);
        Ok(())
    }

    fn flush_out(&mut self) -> Result<(), LogError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.out);
        if res
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENOSPC))
        {
            // Try again in a second; until then the output is dropped (and said once).
            self.full_until = Some(std::time::Instant::now() + FULL_PAUSE);
        }
        self.size += self.out.len() as u64;
        self.out.clear();
        if self.out.capacity() > 4 * MAX_LINE {
            self.out.shrink_to(MAX_LINE);
        }
        res.map_err(|source| LogError {
            what: "write",
            path: self.path.clone(),
            source,
        })
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        let err = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| LogError { what, path, source }
        };
        if self.max_file < 2 {
            self.file.set_len(0).map_err(err("truncate", &self.path))?;
            self.size = 0;
            return Ok(());
        }
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let oldest = numbered(self.max_file - 1);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(err("remove oldest rotated log", &oldest)(e))
            }
            _ => {}
        }
        for n in (1..self.max_file - 1).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err("shift rotated log", &numbered(n))(e))
                }
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1)).map_err(err("rotate", &self.path))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| LogError {
            what: "open",
            path: path.to_path_buf(),
            source,
        })
}

/// The time of an entry: RFC 3339 UTC, nanoseconds without trailing zeros (Go's RFC3339Nano).
pub fn log_time() -> String {
    berth_oci::time::rfc3339_nanos_trimmed(berth_oci::time::now_nanos())
}

/// Appends one entry line to `out`.
pub fn encode_entry(out: &mut Vec<u8>, line: &[u8], stream: Stream, time: &str) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_into(out, line);
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// JSON string escaping as Go's `encoding/json` does it.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 15) as usize]);
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_full_file_system_pauses_the_log_instead_of_failing_every_write() {
        // /dev/full answers every write with ENOSPC.
        let mut log = JsonLog::open(Path::new("/dev/full"), 0, 1).expect("open /dev/full");
        let err = log.write(Stream::Stdout, b"first\n").expect_err("ENOSPC");
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOSPC));
        // Within the pause, output is dropped without a write.
        log.write(Stream::Stdout, b"second\n")
            .expect("dropped while the disk is full");
        log.full_until = Some(std::time::Instant::now());
        // After it, the next write tries again.
        assert!(log.write(Stream::Stdout, b"third\n").is_err());
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn entries_are_dockers() {
        let mut out = Vec::new();
        encode_entry(&mut out, b"a<b>&\"\\\x01\xff\n", Stream::Stderr, "T");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\u0001\u{fffd}\\n\",\"stream\":\"stderr\",\"time\":\"T\"}\n"
        );
    }

    #[test]
    fn times_trim_trailing_zeros() {
        let t = log_time();
        assert!(t.ends_with('Z') && t.starts_with("20"), "{t}");
        assert!(
            !t.trim_end_matches('Z').ends_with('0') || !t.contains('.'),
            "{t}"
        );
    }

    #[test]
    fn lines_are_split_and_partials_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, 0, 1).unwrap();
        log.write(Stream::Stdout, b"one\ntw").unwrap();
        log.write(Stream::Stderr, b"err\n").unwrap();
        log.write(Stream::Stdout, b"o\nthree").unwrap();
        let got = lines(&path);
        let logs: Vec<_> = got.iter().map(|v| v["log"].as_str().unwrap()).collect();
        assert_eq!(logs, ["one\n", "err\n", "two\n"]);
        assert_eq!(got[1]["stream"], "stderr");
        log.finish().unwrap();
        assert_eq!(lines(&path)[3]["log"], "three");
    }

    #[test]
    fn rotation_keeps_max_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&path, 100, 3).unwrap();
        for i in 0..20 {
            log.write(Stream::Stdout, format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert!(rotated(1).exists() && rotated(2).exists());
        assert!(!rotated(3).exists());
        for p in [path.clone(), rotated(1), rotated(2)] {
            assert!(
                std::fs::metadata(&p).unwrap().len() < 200,
                "{}",
                p.display()
            );
        }
        let last = lines(&path);
        assert_eq!(last.last().unwrap()["log"], "line 19\n");
        let mut one = JsonLog::open(&dir.path().join("one.log"), 50, 1).unwrap();
        for _ in 0..10 {
            one.write(Stream::Stdout, b"0123456789\n").unwrap();
        }
        assert!(std::fs::metadata(dir.path().join("one.log")).unwrap().len() < 150);
    }
}
