//! What the docker CLI's legacy builder client prints of a build: the size of the context it
//! sent (`Sending build context to Docker daemon  2.048kB`) and each JSON message of the stream
//! as its `jsonmessage` display does without a terminal (`stream` text as it is, `status` lines
//! with their id, `aux` kept for the caller).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

/// The text the docker CLI prints for one message of the build stream (`None`: nothing, as for
/// `aux` and an empty message).
pub fn display(m: &Value) -> Option<String> {
    if m.get("aux").is_some() {
        return None;
    }
    let text = |k: &str| m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(s) = text("stream") {
        return Some(s.to_string());
    }
    let status = text("status")?;
    let mut line = String::new();
    if let Some(id) = text("id") {
        line.push_str(&format!("{id}: "));
    }
    if let Some(from) = text("from") {
        line.push_str(&format!("(from {from}) "));
    }
    match text("progress") {
        Some(p) => line.push_str(&format!("{status} {p}")),
        None => line.push_str(&format!("{status}\n")),
    }
    Some(line)
}

/// The line the docker CLI prints once the context is sent: its size as go-units' `HumanSize`
/// (4 significant digits, powers of 1000), right-aligned in 8 columns, ending `\r\r\n`.
pub fn sent_line(bytes: u64) -> String {
    format!(
        "Sending build context to Docker daemon {:>8}\r\r\n",
        human_size(bytes)
    )
}

/// go-units' `HumanSize` of a byte count.
fn human_size(bytes: u64) -> String {
    berth_api::units::human_size(bytes as f64)
}

/// A writer that counts what went through it.
pub struct Counting<W> {
    inner: W,
    pub count: Arc<AtomicU64>,
}

impl<W> Counting<W> {
    pub fn new(inner: W) -> Self {
        Counting {
            inner,
            count: Arc::default(),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_as_go_units_prints_them() {
        for (n, s) in [
            (0, "0B"),
            (512, "512B"),
            (1000, "1kB"),
            (1536, "1.536kB"),
            (2048, "2.048kB"),
            (10240, "10.24kB"),
            (123_456_789, "123.5MB"),
            (999_999, "1000kB"),
        ] {
            assert_eq!(human_size(n), s, "{n}");
        }
        assert_eq!(
            sent_line(2048),
            "Sending build context to Docker daemon  2.048kB\r\r\n"
        );
    }

    #[test]
    fn messages_as_the_docker_cli_shows_them() {
        let d = |v: Value| display(&v);
        assert_eq!(
            d(json!({"stream": "Step 1/2 : FROM x\n"})).as_deref(),
            Some("Step 1/2 : FROM x\n")
        );
        assert_eq!(
            d(json!({"status": "Pulling fs layer", "id": "abc"})).as_deref(),
            Some("abc: Pulling fs layer\n")
        );
        assert_eq!(
            d(json!({"status": "Digest: sha256:x"})).as_deref(),
            Some("Digest: sha256:x\n")
        );
        assert_eq!(d(json!({"aux": {"ID": "sha256:x"}})), None);
        assert_eq!(d(json!({})), None);
    }
}
